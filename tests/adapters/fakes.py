"""In-memory trackers for tests (fakes, not mocks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RecordingLogger:
    """Keeps every call; ``keys()`` is the union of metric keys seen."""

    def __init__(self) -> None:
        self.configs: list[dict[str, Any]] = []
        self.records: list[tuple[int, dict[str, float]]] = []
        self.pages: list[tuple[str, int, str]] = []  # (name, step, html)
        self.closed = 0

    def log_config(self, config: Mapping[str, object]) -> None:
        self.configs.append(dict(config))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.records.append((step, dict(metrics)))

    def log_html(self, name: str, html: str, step: int) -> None:
        self.pages.append((name, step, html))

    def close(self) -> None:
        self.closed += 1

    def keys(self) -> set[str]:
        return {key for _, metrics in self.records for key in metrics}


class FlakyLogger(RecordingLogger):
    """Raises on the calls whose 1-based index is in ``failing_calls``."""

    def __init__(self, failing_calls: set[int], close_fails: bool = False) -> None:
        super().__init__()
        self.failing_calls = failing_calls
        self.close_fails = close_fails
        self.calls = 0

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self.calls += 1
        if self.calls in self.failing_calls:
            raise ConnectionError(f"tracker down (call {self.calls})")
        super().log_metrics(metrics, step)

    def log_html(self, name: str, html: str, step: int) -> None:
        self.calls += 1
        if self.calls in self.failing_calls:
            raise ConnectionError(f"tracker down (call {self.calls})")
        super().log_html(name, html, step)

    def close(self) -> None:
        if self.close_fails:
            raise OSError("disk full")
        super().close()
