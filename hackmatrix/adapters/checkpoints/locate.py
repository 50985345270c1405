"""Find the checkpoint that ``--resume PATH|latest`` means.

Checkpoints live in ``<run_dir>/<checkpoint_dir>`` (``checkpoint_dir`` defaults to
``checkpoints``; an absolute ``checkpoint_dir`` is used as is).

- ``latest`` with a run folder given (``--run-dir``, env or file): that run's newest
  checkpoint; without one: the newest checkpoint of any run under ``runs/``.
- ``PATH`` to a file: that file. ``PATH`` to a folder: its newest checkpoint, or the
  newest in ``PATH/<checkpoint_dir>`` (so a run folder works too).
"""

from __future__ import annotations

from pathlib import Path

from hackmatrix.adapters.checkpoints.msgpack_store import list_checkpoints

RUN_ROOT = "runs"


def checkpoint_directory(run_dir: str | Path | None, checkpoint_dir: str) -> Path:
    """Where a run's checkpoints go."""
    folder = Path(checkpoint_dir)
    if folder.is_absolute() or run_dir is None:
        return folder
    return Path(run_dir) / folder


def locate_checkpoint(
    spec: str, run_dir: str | None, checkpoint_dir: str, run_root: str | Path = RUN_ROOT
) -> Path:
    """Resolve ``spec`` (a path or ``latest``) to a checkpoint file; ValueError if none."""
    if spec == "latest":
        if run_dir is not None or Path(checkpoint_dir).is_absolute():
            folder = checkpoint_directory(run_dir, checkpoint_dir)
            found = list_checkpoints(folder)
            if not found:
                raise ValueError(f"--resume latest: no checkpoint in {str(folder)!r}")
            return found[-1]
        candidates = [
            found[-1]
            for run in sorted(Path(run_root).glob("*"))
            if (found := list_checkpoints(run / checkpoint_dir))
        ]
        if not candidates:
            raise ValueError(
                f"--resume latest: no checkpoint under {str(Path(run_root) / '*' / checkpoint_dir)!r}"
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
        raise ValueError(f"--resume {spec!r}: no checkpoint file in that folder")
    raise ValueError(f"--resume {spec!r}: no such checkpoint file or folder")


def run_dir_of(checkpoint: Path, checkpoint_dir: str) -> Path | None:
    """The run folder a checkpoint file belongs to (None when the layout is unusual)."""
    folder = checkpoint.resolve().parent
    if Path(checkpoint_dir).is_absolute() or folder.name != Path(checkpoint_dir).name:
        return None
    return folder.parent


class ResumePoint:
    """What a resumed run needs from its checkpoint before training starts."""

    def __init__(self, path: Path, metadata: dict) -> None:
        self.path = str(path)
        try:
            self.step = int(metadata["env_steps"])
            self.update = int(metadata["update"])
            self.config = dict(metadata["config"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"checkpoint {self.path!r} lacks training metadata ({error!r})"
            ) from None
        self.trackers = {str(k): str(v) for k, v in dict(metadata.get("trackers") or {}).items()}
        run_dir = run_dir_of(path, str(self.config.get("checkpoint_dir", "checkpoints")))
        if run_dir is not None:
            self.config["run_dir"] = str(run_dir)

    def __repr__(self) -> str:
        return f"ResumePoint(path={self.path!r}, step={self.step}, update={self.update})"


def read_resume_point(spec: str, run_dir: str | None, checkpoint_dir: str) -> ResumePoint:
    """Locate the checkpoint ``spec`` names and read its metadata (ValueError on problems)."""
    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore

    path = locate_checkpoint(spec, run_dir, checkpoint_dir)
    _, metadata = MsgpackCheckpointStore(path.parent).load(str(path))
    return ResumePoint(path, metadata)
