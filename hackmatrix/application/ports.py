"""Ports of the application layer: Protocols fed host values only (no JAX types)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hackmatrix.application.config import TrainConfig


@runtime_checkable
class MetricsLogger(Protocol):
    """An experiment tracker: receives the config once, then one record per update.

    ``log_html`` hands it a self-contained HTML page (an evaluation's replay) under
    ``name`` (e.g. ``eval/replay``) at ``step``, after that step's metrics; a tracker
    that shows no pages may store it or ignore it.
    """

    def log_config(self, config: Mapping[str, object]) -> None: ...

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None: ...

    def log_html(self, name: str, html: str, step: int) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ResumableLogger(Protocol):
    """A tracker whose run can be continued later (optional extension of MetricsLogger).

    ``run_ids()`` returns host strings such as ``{"wandb_run_id": ...}``; the training
    use case stores them in checkpoint metadata so a resumed run logs into the same
    tracker run.
    """

    def run_ids(self) -> Mapping[str, str]: ...


@runtime_checkable
class DroppingLogger(Protocol):
    """A tracker that may give up mid-run (optional extension of MetricsLogger).

    ``dropped()`` names the trackers that failed for good so far (in the order they
    stopped); the training use case notes after which update each stopped, for the
    run's final summary.
    """

    def dropped(self) -> list[str]: ...


@runtime_checkable
class ConfigSource(Protocol):
    """Yields a validated TrainConfig."""

    def load(self) -> "TrainConfig": ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Saves and loads training checkpoints (host pytrees of numpy arrays plus metadata).

    ``save`` is atomic (a failed save leaves earlier checkpoints loadable) and returns
    the new checkpoint's path; ``load`` raises ValueError naming the path and the
    problem for a missing, truncated, corrupted or foreign file; ``latest`` is the
    newest checkpoint's path, or None.
    """

    def save(self, step: int, payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> str: ...

    def load(self, path: str) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def latest(self) -> str | None: ...
