"""Checkpoints as single msgpack files (flax.serialization), written atomically.

A checkpoint file ``ckpt-<env_step, 12 digits>.msgpack`` holds one msgpack map::

    {"magic": "hackmatrix-checkpoint", "format_version": 2,
     "metadata": "<JSON text, format_version included>",
     "payload": <bytes: msgpack of nested str-keyed maps of numpy arrays>,
     "sha256": "<hex SHA-256 of len(metadata) (8 bytes, big-endian), metadata, payload>"}

The digest is checked before anything is decoded, so a flipped bit anywhere in the
metadata or the arrays is refused (``ValueError``: checksum mismatch) instead of
loaded. Format 1 files (``payload`` a map, no digest; written before the digest was
added) still load, unchecked.

A save writes a temporary file (``.tmp-XXXXXXXX.msgpack``) in the same folder, fsyncs
it, then ``os.replace``s it into place (and fsyncs the folder), so a crash or error
mid-save leaves the previous checkpoints untouched and never leaves a half-written
``ckpt-*`` file. A temporary file left by a killed process is removed the next time
the folder is opened for writing (``ensure_writable``). After a save only the newest
``keep`` checkpoints remain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from flax import serialization

MAGIC = "hackmatrix-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1: no digest (loaded unchecked, for older runs)
PREFIX = "ckpt-"
SUFFIX = ".msgpack"
TEMP_PREFIX = ".tmp-"
PROBE_PREFIX = ".probe-"
_NAME = re.compile(rf"^{re.escape(PREFIX)}(\d+){re.escape(SUFFIX)}$")
# Exactly what tempfile.mkstemp makes of our prefixes: 8 characters of [a-z0-9_].
_STALE = re.compile(
    rf"^(?:{re.escape(TEMP_PREFIX)}[a-z0-9_]{{8}}{re.escape(SUFFIX)}|{re.escape(PROBE_PREFIX)}[a-z0-9_]{{8}})$"
)
_log = logging.getLogger("hackmatrix.checkpoints")


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


def digest(metadata: str, payload: bytes) -> str:
    """Hex SHA-256 over the metadata text and the payload bytes (length-prefixed)."""
    text = metadata.encode("utf-8")
    hasher = hashlib.sha256(len(text).to_bytes(8, "big"))
    hasher.update(text)
    hasher.update(payload)
    return hasher.hexdigest()


def encode(payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> bytes:
    """The bytes of a checkpoint file."""
    tree = serialization.msgpack_serialize(_to_numpy(dict(payload)))
    # Also inside the metadata, so readers of metadata alone see the format.
    text = json.dumps({**metadata, "format_version": FORMAT_VERSION}, sort_keys=True)
    document = {
        "magic": MAGIC,
        "format_version": FORMAT_VERSION,
        "metadata": text,
        "payload": tree,
        "sha256": digest(text, tree),
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
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ValueError(
            f"checkpoint {path!r} has format version {version!r}; this version of hackmatrix "
            f"reads formats {', '.join(map(str, READABLE_VERSIONS))}"
        )
    if version >= 2:
        document = _verified(document, path)
    try:
        metadata = json.loads(document["metadata"])
        payload = document["payload"]
    except (KeyError, TypeError, json.JSONDecodeError) as error:
        raise ValueError(f"checkpoint {path!r} is corrupted (bad metadata: {error})") from None
    if not isinstance(payload, dict) or not isinstance(metadata, dict):
        raise ValueError(f"checkpoint {path!r} is corrupted (payload or metadata is not a map)")
    return payload, metadata


def _verified(document: dict[str, Any], path: str) -> dict[str, Any]:
    """``document`` with its payload decoded, once the digest matched (ValueError if not)."""
    text, tree, stored = document.get("metadata"), document.get("payload"), document.get("sha256")
    if not isinstance(text, str) or not isinstance(tree, bytes) or not isinstance(stored, str):
        raise ValueError(
            f"checkpoint {path!r} is corrupted (metadata, payload or sha256 missing or of the "
            "wrong type)"
        )
    if not hmac.compare_digest(stored.encode("utf-8", "replace"), digest(text, tree).encode()):
        raise ValueError(
            f"checkpoint {path!r} is corrupted (checksum mismatch: the file changed after it "
            "was written)"
        )
    try:
        payload = serialization.msgpack_restore(tree)
    except Exception as error:  # msgpack raises several types for bad input
        raise ValueError(f"checkpoint {path!r} is corrupted (cannot decode payload: {error})") from None
    return {**document, "payload": payload}


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


def _naming(error: OSError, what: str) -> OSError:
    """An OSError of the same kind whose message says what failed."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.errno is None:
        return OSError(f"{what}: {reason}")
    return OSError(error.errno, f"{what}: {reason}")  # PermissionError etc. by errno


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
            self.remove_stale_temp_files()
            fd, probe = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=self.directory)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(b"\0" * 65536)
                    handle.flush()
                    os.fsync(handle.fileno())
            finally:
                os.unlink(probe)
        except OSError as error:
            raise ValueError(f"checkpoint folder {self.directory} is not writable: {error}") from error

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete the temporary and probe files a killed save or check left behind.

        Only names this store makes (``.tmp-XXXXXXXX.msgpack``, ``.probe-XXXXXXXX``)
        and only regular files; returns what was removed.
        """
        removed = []
        for path in self.directory.iterdir():
            if _STALE.match(path.name) and path.is_file() and not path.is_symlink():
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                removed.append(path)
        if removed:
            _log.info("removed %d stale temporary file(s) from %s", len(removed), self.directory)
        return removed

    def save(self, step: int, payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
        """Write ``ckpt-<step>.msgpack`` atomically and prune; returns its path.

        Raises:
          OSError naming the checkpoint (a full disk, a read-only folder...); earlier
          checkpoints are left as they were and no temporary file remains.
        """
        data = encode(payload, metadata)
        target = self.directory / checkpoint_name(step)
        tmp_name = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=SUFFIX, dir=self.directory)
            with os.fdopen(fd, "wb") as handle:
                self._write(handle, data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException as error:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except FileNotFoundError:
                    pass
            if isinstance(error, OSError):
                raise _naming(error, f"cannot save checkpoint {target}") from error
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
