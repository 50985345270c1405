"""Fan one stream of metrics out to several trackers (e.g. ``stdout,mlflow``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hackmatrix.application.ports import MetricsLogger


class CompositeLogger:
    """Forwards every call to each tracker in order.

    Every tracker gets the call even when an earlier one raises; the first error
    is re-raised afterwards. (Trackers built by the container are wrapped in
    ``ResilientLogger`` and do not raise.)
    """

    def __init__(self, loggers: Sequence[MetricsLogger]) -> None:
        self.loggers = list(loggers)

    def log_config(self, config: Mapping[str, object]) -> None:
        self._each(lambda logger: logger.log_config(config))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self._each(lambda logger: logger.log_metrics(metrics, step))

    def log_html(self, name: str, html: str, step: int) -> None:
        self._each(lambda logger: logger.log_html(name, html, step))

    def run_ids(self) -> dict[str, str]:
        """The union of the trackers' run ids."""
        ids: dict[str, str] = {}
        for logger in self.loggers:
            run_ids = getattr(logger, "run_ids", None)
            if run_ids is not None:
                ids.update(run_ids())
        return ids

    def dropped(self) -> list[str]:
        """The names of the trackers that failed for good (those that can tell)."""
        names: list[str] = []
        for logger in self.loggers:
            dropped = getattr(logger, "dropped", None)
            if dropped is not None:
                names.extend(dropped())
        return names

    def close(self) -> None:
        self._each(lambda logger: logger.close())

    def _each(self, call) -> None:  # type: ignore[no-untyped-def]
        first_error: BaseException | None = None
        for logger in self.loggers:
            try:
                call(logger)
            except Exception as error:  # noqa: BLE001 - re-raised below
                first_error = first_error or error
        if first_error is not None:
            raise first_error
