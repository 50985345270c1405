"""Find the checkpoint that ``--resume PATH|latest`` means.

Checkpoints live in ``<run_dir>/<checkpoint_dir>`` (``checkpoint_dir`` defaults to
``checkpoints``; an absolute ``checkpoint_dir`` is used as is).

- ``latest`` with a run folder given (``--run-dir``, env or file): that run's newest
  checkpoint; without one: the newest checkpoint of any run under ``runs/``.
- ``PATH`` to a file: that file. ``PATH`` to a folder: its newest checkpoint, or the
  newest in ``PATH/<checkpoint_dir>`` (so a run folder works too).

A checkpoint is data, not a command: its metadata supplies hyperparameters only.
Where a resumed run writes comes from the user's command (``--run-dir``,
``--checkpoint-dir``, file, env) or else from where the checkpoint file sits
(``<run>/<checkpoint_dir>/ckpt-*.msgpack`` resumes into ``<run>``; a checkpoint
anywhere else starts a fresh ``runs/<timestamp>``). ``run_dir`` and
``checkpoint_dir`` in the metadata are ignored; its ``keep_checkpoints`` counts only
when it keeps more than the default (a checkpoint cannot make a resume delete more);
tracker ids must be plain identifiers.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hackmatrix.adapters.checkpoints.msgpack_store import list_checkpoints
from hackmatrix.application.config import FIELD_DEFAULTS, FIELD_TYPES, saved_settings

RUN_ROOT = "runs"
# Settings that decide where a run writes or what it deletes: never from a checkpoint.
OUTPUT_FIELDS = ("run_dir", "checkpoint_dir", "keep_checkpoints")
TRACKER_ID_KEYS = ("wandb_run_id", "mlflow_run_id")
# wandb ids are [a-z0-9]{8}, mlflow ids 32 hex digits: no dots, slashes or spaces.
_PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_log = logging.getLogger("hackmatrix.checkpoints")


def checkpoint_directory(run_dir: str | Path | None, checkpoint_dir: str) -> Path:
    """Where a run's checkpoints go."""
    folder = Path(checkpoint_dir)
    if folder.is_absolute() or run_dir is None:
        return folder
    return Path(run_dir) / folder


def locate_checkpoint(
    spec: str, run_dir: str | None, checkpoint_dir: str, run_root: str | Path = RUN_ROOT,
    option: str = "--resume",
) -> Path:
    """Resolve ``spec`` (a path or ``latest``) to a checkpoint file; ValueError if none.

    ``option`` names the argument in the messages (``--resume``, ``CHECKPOINT``).
    """
    if spec == "latest":
        if run_dir is not None or Path(checkpoint_dir).is_absolute():
            folder = checkpoint_directory(run_dir, checkpoint_dir)
            found = list_checkpoints(folder)
            if not found:
                raise ValueError(f"{option} latest: no checkpoint in {str(folder)!r}")
            return found[-1]
        candidates = [
            found[-1]
            for run in sorted(Path(run_root).glob("*"))
            if (found := list_checkpoints(run / checkpoint_dir))
        ]
        if not candidates:
            raise ValueError(
                f"{option} latest: no checkpoint under {str(Path(run_root) / '*' / checkpoint_dir)!r}"
            )
        return max(candidates, key=lambda p: p.stat().st_mtime)
    path = Path(spec)
    if path.is_file():
        return path
    if path.is_dir():
        for folder in (path, path / checkpoint_dir):
            found = list_checkpoints(folder)
            if found:
                return found[-1]
        raise ValueError(f"{option} {spec!r}: no checkpoint file in that folder")
    raise ValueError(f"{option} {spec!r}: no such checkpoint file or folder")


def run_dir_of(checkpoint: Path, checkpoint_dir: str) -> Path | None:
    """The run folder a checkpoint file sits in: the parent of its folder when that folder
    is named ``checkpoint_dir`` (relative); None otherwise.

    The path is made absolute without resolving links: the folder is the one the user
    named, not where a link points.
    """
    folder = Path(os.path.abspath(checkpoint)).parent
    if Path(checkpoint_dir).is_absolute() or folder.name != Path(checkpoint_dir).name:
        return None
    return folder.parent


def hyperparameters(config: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """The settings of a checkpoint's saved config that a resume may take.

    TrainConfig fields minus the output ones (``OUTPUT_FIELDS``); a
    ``keep_checkpoints`` above the default is kept (it only keeps more). Anything else
    (paths, tracker or runtime settings a crafted file might carry) is dropped.
    """
    taken = {k: v for k, v in config.items() if k in FIELD_TYPES and k not in OUTPUT_FIELDS}
    keep = config.get("keep_checkpoints")
    default_keep = FIELD_DEFAULTS["keep_checkpoints"]
    if type(keep) is int and keep > default_keep:
        taken["keep_checkpoints"] = keep
    ignored = sorted(str(k) for k in config if k not in FIELD_TYPES)
    if ignored:
        _log.warning("%s: ignoring unknown setting(s) in its metadata: %s", origin, ", ".join(ignored))
    return taken


def tracker_ids(trackers: Any, origin: str) -> dict[str, str]:
    """The tracker run ids of a checkpoint's metadata; ValueError for one that is not
    a plain identifier (it must never become a path)."""
    if not isinstance(trackers, Mapping):
        return {}
    ids = {}
    for key in TRACKER_ID_KEYS:
        value = trackers.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not _PLAIN_ID.match(value):
            raise ValueError(
                f"{origin}: tracker id {key}={value!r} is not a plain identifier "
                "(letters, digits, '_' and '-'); refusing to resume from it"
            )
        ids[key] = value
    return ids


class ResumePoint:
    """What a resumed run needs from its checkpoint before training starts.

    Args:
      path: the checkpoint file.
      metadata: its metadata (untrusted).
      checkpoint_dir: the checkpoint folder name of the user's command (or the
        default): a checkpoint in ``<run>/<checkpoint_dir>/`` resumes into ``<run>``.
    """

    def __init__(self, path: Path, metadata: dict, checkpoint_dir: str = "checkpoints") -> None:
        self.path = str(path)
        origin = f"checkpoint {self.path!r}"
        try:
            self.step = int(metadata["env_steps"])
            self.update = int(metadata["update"])
            saved = metadata["config"]
            if not isinstance(saved, Mapping):
                raise TypeError(f"config is a {type(saved).__name__}, not a map")
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{origin} lacks training metadata ({error!r})") from None
        self.config = hyperparameters(saved_settings(saved), origin)
        self.trackers = tracker_ids(metadata.get("trackers"), origin)
        run_dir = run_dir_of(path, checkpoint_dir)
        if run_dir is not None:
            self.config["run_dir"] = str(run_dir)

    def __repr__(self) -> str:
        return f"ResumePoint(path={self.path!r}, step={self.step}, update={self.update})"


def read_resume_point(spec: str, run_dir: str | None, checkpoint_dir: str) -> ResumePoint:
    """Locate the checkpoint ``spec`` names and read its metadata (ValueError on problems)."""
    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore

    path = locate_checkpoint(spec, run_dir, checkpoint_dir)
    _, metadata = MsgpackCheckpointStore(path.parent).load(str(path))
    return ResumePoint(path, metadata, checkpoint_dir)
