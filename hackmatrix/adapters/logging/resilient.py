"""Keep training when a tracker fails: warn once, retry a little, then drop it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from hackmatrix.application.errors import TrackerStartError
from hackmatrix.application.ports import MetricsLogger

_log = logging.getLogger("hackmatrix.tracking")


class ResilientLogger:
    """Wraps a tracker so that its errors never reach the training loop.

    On the first failure it logs ONE warning; each failed call is retried up to
    ``retries`` times (``backoff_s`` apart). A call that still fails drops the
    tracker, announced by one more warning: later calls are no-ops, so the run goes
    on with the other trackers (whose records are unaffected), and ``dropped()``
    names it for the run's final summary. A factory that fails raises
    ``TrackerStartError`` naming the tracker; the composition root then goes on with
    the other trackers, and stops the run only when none could start.

    Args:
      inner: the tracker, or a zero-argument factory building it.
      name: tracker name used in the warning.
      retries: extra attempts per failed call.
      backoff_s: pause before each retry.
    """

    def __init__(
        self,
        inner: MetricsLogger | Callable[[], MetricsLogger],
        name: str,
        retries: int = 2,
        backoff_s: float = 0.2,
    ) -> None:
        if isinstance(inner, type) or not hasattr(inner, "log_metrics"):  # a factory
            try:
                inner = inner()  # type: ignore[operator]
            except Exception as error:
                raise TrackerStartError(f"could not start the {name} tracker: {error}") from error
        self.inner: MetricsLogger | None = inner  # type: ignore[assignment]
        self.name = name
        self.retries = retries
        self.backoff_s = backoff_s
        self.has_warned = False
        self.is_dropped = False  # True once the tracker failed for good
        self.failures = 0

    def dropped(self) -> list[str]:
        """``[name]`` once the tracker failed for good, else ``[]``."""
        return [self.name] if self.is_dropped else []

    def log_config(self, config: Mapping[str, object]) -> None:
        self._call("log_config", lambda logger: logger.log_config(config))

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        self._call(f"log_metrics(step={step})", lambda logger: logger.log_metrics(metrics, step))

    def log_html(self, name: str, html: str, step: int) -> None:
        self._call(f"log_html({name}, step={step})", lambda logger: logger.log_html(name, html, step))

    def run_ids(self) -> dict[str, str]:
        """The wrapped tracker's run ids ({} when it has none or was dropped)."""
        run_ids = getattr(self.inner, "run_ids", None)
        if run_ids is None:
            return {}
        try:
            return dict(run_ids())
        except Exception as error:  # noqa: BLE001 - ids are a nicety, never fatal
            self._warn(f"{self.name} tracker failed in run_ids: {error!r}")
            return {}

    def close(self) -> None:
        if self.inner is None:
            return
        inner, self.inner = self.inner, None
        try:
            inner.close()
        except Exception as error:  # noqa: BLE001 - closing must not fail the run
            self._warn(f"{self.name} tracker failed to close: {error!r}")

    def _call(self, what: str, call: Callable[[MetricsLogger], None]) -> None:
        if self.inner is None:
            return
        first_error: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                call(self.inner)
            except Exception as error:  # noqa: BLE001 - a tracker must not stop training
                self.failures += 1
                first_error = first_error or error
                _log.debug("%s tracker: attempt %d of %s failed: %r", self.name, attempt + 1, what, error)
                if attempt < self.retries:
                    time.sleep(self.backoff_s)
                continue
            if first_error is not None:  # recovered on a retry: nothing lost
                self._warn(
                    f"{self.name} tracker failed in {what}: {first_error!r}; succeeded on "
                    f"retry {attempt} (a tracker failing {self.retries + 1} times in a row is dropped)"
                )
            return
        self.inner = None
        self.is_dropped = True
        # Once per tracker (it is dropped once), always at WARNING.
        _log.warning(
            "%s tracker failed in %s: %r (and on %d retries); dropped: it records nothing "
            "more in this run (other trackers continue)", self.name, what, first_error, self.retries,
        )

    def _warn(self, message: str) -> None:
        if not self.has_warned:
            self.has_warned = True
            _log.warning(message)
        else:
            _log.debug(message)
