"""Checkpoints as single msgpack files (flax.serialization), written atomically.

A checkpoint file ``ckpt-<env_step, 12 digits>.msgpack`` holds one msgpack map::

    {"magic": "hackmatrix-checkpoint", "format_version": 1,
     "metadata": "<JSON text, format_version included>",
     "payload": {nested str-keyed maps of numpy arrays}}

A save writes a temporary file in the same folder, fsyncs it, then ``os.replace``s it
into place (and fsyncs the folder), so a crash or error mid-save leaves the previous
checkpoints untouched and never leaves a half-written ``ckpt-*`` file. After a save
only the newest ``keep`` checkpoints remain.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import serialization

MAGIC = "hackmatrix-checkpoint"
FORMAT_VERSION = 1
PREFIX = "ckpt-"
SUFFIX = ".msgpack"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+){re.escape(SUFFIX)}$")


def checkpoint_name(step: int) -> str:
    """``ckpt-000000001024.msgpack`` for env step 1024 (names sort by step)."""
    return f"{PREFIX}{int(step):012d}{SUFFIX}"


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files of ``directory``, oldest (lowest step) first; [] if it is missing."""
    folder = Path(directory)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def encode(payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> bytes:
    """The bytes of a checkpoint file."""
    tree = _to_numpy(dict(payload))
    document = {
        "magic": MAGIC,
        "format_version": FORMAT_VERSION,
        # Also inside the metadata, so readers of metadata alone see the format.
        "metadata": json.dumps({**metadata, "format_version": FORMAT_VERSION}, sort_keys=True),
        "payload": tree,
    }
    return serialization.msgpack_serialize(document)


def decode(data: bytes, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse checkpoint bytes; any problem raises ValueError naming ``path``."""
    try:
        document = serialization.msgpack_restore(data)
    except Exception as error:  # msgpack raises several types for bad input
        raise ValueError(
            f"checkpoint {path!r} is truncated or corrupted (cannot decode msgpack: {error})"
        ) from None
    if not isinstance(document, dict) or document.get("magic") != MAGIC:
        raise ValueError(f"{path!r} is not a hackmatrix checkpoint (no {MAGIC!r} marker)")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path!r} has format version {version!r}; "
            f"this version of hackmatrix reads format {FORMAT_VERSION}"
        )
    try:
        metadata = json.loads(document["metadata"])
        payload = document["payload"]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"checkpoint {path!r} is corrupted (bad metadata: {error})") from None
    if not isinstance(payload, dict) or not isinstance(metadata, dict):
        raise ValueError(f"checkpoint {path!r} is corrupted (payload or metadata is not a map)")
    return payload, metadata


def _to_numpy(tree: Any) -> Any:
    if isinstance(tree, Mapping):
        return {str(k): _to_numpy(v) for k, v in tree.items()}
    return np.asarray(tree)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not supported on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class MsgpackCheckpointStore:
    """``CheckpointStore`` over a folder of msgpack files.

    Args:
      directory: where checkpoints go (created on the first save).
      keep: how many of the newest checkpoints a save leaves (older ones are deleted).
    """

    def __init__(self, directory: str | Path, keep: int = 3) -> None:
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an int >= 1, got {keep!r}")
        self.directory = Path(directory)
        self.keep = keep

    def ensure_writable(self) -> None:
        """Create the folder and write, sync and delete a probe file.

        Called before training starts so that an unwritable folder or a full disk
        fails at start-up with the folder named, not at the first save hours later.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe-", dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(b"\0" * 65536)
                    handle.flush()
                    os.fsync(handle.fileno())
            finally:
                os.unlink(probe)
        except OSError as error:
            raise ValueError(f"checkpoint folder {self.directory} is not writable: {error}") from error

    def save(self, step: int, payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
        """Write ``ckpt-<step>.msgpack`` atomically and prune; returns its path."""
        data = encode(payload, metadata)
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / checkpoint_name(step)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as handle:
                self._write(handle, data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
            raise
        _fsync_dir(self.directory)
        self._prune()
        return str(target)

    @staticmethod
    def _write(handle: Any, data: bytes) -> None:
        """Write in 1 MiB pieces (a seam tests use to fail a save midway)."""
        view = memoryview(data)
        for start in range(0, len(view), 1 << 20):
            handle.write(view[start : start + (1 << 20)])

    def load(self, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Read a checkpoint file; raises ValueError naming the path and the problem."""
        file = Path(path)
        if file.is_dir():
            raise ValueError(f"checkpoint {str(path)!r} is a folder, not a checkpoint file")
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"checkpoint {str(path)!r} does not exist") from None
        except OSError as error:
            raise ValueError(f"cannot read checkpoint {str(path)!r}: {error}") from None
        if not data:
            raise ValueError(f"checkpoint {str(path)!r} is empty (truncated)")
        return decode(data, str(path))

    def latest(self) -> str | None:
        """Path of the newest checkpoint in the folder, or None."""
        found = list_checkpoints(self.directory)
        return str(found[-1]) if found else None

    def _prune(self) -> None:
        for old in list_checkpoints(self.directory)[: -self.keep]:
            try:
                old.unlink()
            except FileNotFoundError:
                pass
