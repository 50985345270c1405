"""In-memory fakes of the application ports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RecordingLogger:
    """In-memory MetricsLogger: records every call in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.configs: list[dict[str, object]] = []
        self.records: list[tuple[int, dict[str, float]]] = []
        self.pages: list[tuple[str, int, str]] = []  # (name, step, html)
        self.closed = 0

    def log_config(self, config: Mapping[str, object]) -> None:
        self.calls.append(("log_config", dict(config)))
        self.configs.append(dict(config))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.calls.append(("log_metrics", step))
        self.records.append((step, dict(metrics)))

    def log_html(self, name: str, html: str, step: int) -> None:
        self.calls.append(("log_html", step))
        self.pages.append((name, step, html))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closed += 1

    def keys(self) -> set[str]:
        return {k for _, r in self.records for k in r}


class FakeCheckpointStore:
    """In-memory CheckpointStore."""

    def __init__(self) -> None:
        self.saved: list[tuple[int, dict[str, Any], dict[str, Any]]] = []

    def save(self, step: int, payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
        self.saved.append((step, dict(payload), dict(metadata)))
        return f"mem://{step}"

    def load(self, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
        step = int(path.split("//")[1])
        for s, payload, metadata in self.saved:
            if s == step:
                return payload, metadata
        raise KeyError(path)

    def latest(self) -> str | None:
        return f"mem://{self.saved[-1][0]}" if self.saved else None
