"""A tracker that records nothing: for the processes other than 0 of a multi-process run."""

from __future__ import annotations

from collections.abc import Mapping


class NullLogger:
    """MetricsLogger that drops everything (process 0 does the logging)."""

    def log_config(self, config: Mapping[str, object]) -> None:
        del config

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        del metrics, step

    def log_html(self, name: str, html: str, step: int) -> None:
        del name, html, step

    def close(self) -> None:
        pass
