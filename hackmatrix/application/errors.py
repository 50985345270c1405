"""Expected failures of the entry points, and the one line that reports them.

``train``, ``evaluate`` and ``watch`` turn an expected failure (a bad or incompatible
checkpoint, a full disk, an unwritable run folder, no tracker able to start, a bad
scenario file) into ONE line ``<prog>: error: <message>`` on stderr and exit status 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import IO, NoReturn

EXIT_USAGE = 2
_log = logging.getLogger("hackmatrix")


class TrackerStartError(RuntimeError):
    """A tracker could not be built (and, raised by the composition root: none could)."""


def one_line(error: BaseException | str) -> str:
    """The error's message with every run of whitespace (newlines included) made one space."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def report(prog: str, error: BaseException | str, stream: IO[str] | None = None) -> int:
    """Print ``<prog>: error: <message>`` as one line to stderr; returns exit status 2."""
    if isinstance(error, BaseException):
        _log.debug("%s failed", prog, exc_info=error)  # the traceback, for --debug logging
    print(f"{prog}: error: {one_line(error)}", file=stream if stream is not None else sys.stderr)
    return EXIT_USAGE


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors (unknown flag, bad value) are the same one
    line ``<prog>: error: <message>`` and exit status 2, without the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}\n")


def add_compilation_cache_option(parser: argparse.ArgumentParser) -> None:
    """``--compilation-cache-dir PATH|none``, as ``train`` has it (evaluate, watch)."""
    parser.add_argument(
        "--compilation-cache-dir", metavar="PATH|none",
        help="persistent JAX compilation cache folder, or 'none' to switch it off (default: "
        "$HACKMATRIX_COMPILATION_CACHE_DIR, else ~/.cache/hackmatrix/jax)",
    )


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type=`` converter: an integer >= ``minimum``, else one clear error."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return convert
