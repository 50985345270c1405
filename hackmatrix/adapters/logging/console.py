"""What the entry points print besides the trackers' own lines.

* hackmatrix's INFO notices (compiling, resumed from, checkpoint saved) as plain
  lines on stdout, next to the progress lines;
* warnings and errors of every library as ``LEVEL name: message`` on stderr;
* third-party INFO chatter (mlflow creating its tables, jax.distributed and gloo
  connecting, absl) only with ``verbose``, which also shows hackmatrix's DEBUG
  messages (e.g. the traceback behind a one-line error).

The handlers look up ``sys.stdout``/``sys.stderr`` at each message, so a live
progress display (which swaps them) and captured output in tests see the lines.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import IO

OWN = "hackmatrix"


class _CurrentStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler writing to whatever ``sys.<name>`` is when a record comes."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name
        self.is_hackmatrix_console = True  # replaced, not stacked, by a second set-up

    def emit(self, record: logging.LogRecord) -> None:
        self.stream: IO[str] = getattr(sys, self._name)
        super().emit(record)


def _is_own_notice(record: logging.LogRecord) -> bool:
    return record.levelno == logging.INFO and (
        record.name == OWN or record.name.startswith(OWN + ".")
    )


def configure_console_logging(verbose: bool = False) -> None:
    """Set up the console as the module docstring says (idempotent).

    Args:
      verbose: also show INFO of every library and hackmatrix's DEBUG messages.
    """
    # mlflow installs its own INFO handler when imported; this is its documented knob.
    # (read when mlflow is imported; set by the user, it is kept unless verbose).
    if verbose:
        os.environ["MLFLOW_LOGGING_LEVEL"] = "INFO"
    else:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    if verbose:  # XLA's C++ INFO lines (jax itself defaults this to 1: warnings and up)
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "is_hackmatrix_console", False)]
    own = logging.getLogger(OWN)
    own.handlers = [h for h in own.handlers if not getattr(h, "is_hackmatrix_console", False)]

    notices = _CurrentStreamHandler("stdout")
    notices.setFormatter(logging.Formatter("%(message)s"))
    notices.addFilter(_is_own_notice)
    own.addHandler(notices)
    own.setLevel(logging.DEBUG if verbose else logging.INFO)

    rest = _CurrentStreamHandler("stderr")
    rest.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    rest.addFilter(lambda record: not _is_own_notice(record))
    root.addHandler(rest)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # mlflow's loggers do not propagate: when it is already imported, set them here.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
