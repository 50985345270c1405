"""Shared test helpers: realistic metric records and a reader for wandb's offline files."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path
from typing import Any

from hackmatrix.domain.constants import REWARD_KEYS

REWARD_METRICS = tuple(f"reward/{key}" for key in REWARD_KEYS)


def update_metrics(update: int) -> dict[str, float]:
    """One update's metrics with distinct, exactly representable values per key and update."""
    metrics = {key: update + index / 16 for index, key in enumerate(REWARD_METRICS)}
    metrics.update(
        {
            "train/pg_loss": -0.5 * update,
            "train/mean_episode_return": 2.0 * update,
            "train/steps_per_second": 1000.0,
            "actions/move_frac": 0.25,
            "stats/highest_stage": float(update % 8 + 1),
        }
    )
    return metrics


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


_BLOCK = 32768  # LevelDB log block size used by wandb's transaction log


def wandb_records(path: Path) -> list[Any]:
    """Decode a ``run-*.wandb`` file (LevelDB-log framing of ``Record`` protobufs)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B", data[:7]
    pos, pending, records = 7, b"", []
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:  # zero padding up to the block end
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 1:  # FULL
            payloads = [chunk]
        elif kind == 2:  # FIRST
            pending, payloads = chunk, []
        elif kind == 3:  # MIDDLE
            pending, payloads = pending + chunk, []
        else:  # LAST
            payloads, pending = [pending + chunk], b""
        for payload in payloads:
            record = pb.Record()
            record.ParseFromString(payload)
            records.append(record)
    return records


def _key(item: Any) -> str:
    # wandb-core stores some keys as a path in ``nested_key`` instead of ``key``.
    return item.key or "/".join(item.nested_key)


def wandb_offline_run(run_dir: Path, timeout_s: float = 60) -> dict[str, Any]:
    """History rows, final summary, config and metric definitions of the one offline run."""
    files = sorted((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    # finish() can return before wandb's service process has written the log out:
    # wait for the final ``exit`` record.
    deadline = time.monotonic() + timeout_s
    while not any(r.WhichOneof("record_type") == "exit" for r in wandb_records(files[0])):
        assert time.monotonic() < deadline, f"{files[0]} has no exit record"
        time.sleep(0.2)
    history: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    config: dict[str, Any] = {}
    step_metrics: dict[str, str] = {}
    for record in wandb_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            summary.update({_key(item): json.loads(item.value_json) for item in record.summary.update})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "run":
            config.update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "metric":
            name = record.metric.name or record.metric.glob_name
            step_metrics[name] = record.metric.step_metric
    return {"history": history, "summary": summary, "config": config, "metrics": step_metrics}
