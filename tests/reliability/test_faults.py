"""Tracker faults never stop training: a tracker raising on every call, or dying mid-run
(like a killed tracking server), is dropped by ResilientLogger while training finishes
with the very same parameters and the other trackers get every record. A tracker that
cannot even start is skipped with one warning while the others start; only when none
starts does the run stop, at start-up, before any training."""

from __future__ import annotations

import logging

import jax
import numpy as np
import pytest

from hackmatrix.adapters.logging.composite import CompositeLogger
from hackmatrix.adapters.logging.resilient import ResilientLogger
from hackmatrix.adapters.logging.stdout import StdoutLogger
from hackmatrix.application.errors import TrackerStartError
from hackmatrix.containers import start_trackers
from tests.application.fakes import RecordingLogger
from tests.reliability.test_determinism import tiny_run


class BrokenTracker:
    """Raises on every call from call number ``healthy_calls + 1`` on (0: always)."""

    def __init__(self, healthy_calls: int = 0) -> None:
        self.healthy_calls = healthy_calls
        self.calls = 0

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.calls > self.healthy_calls:
            raise ConnectionError("tracking server unreachable")

    def log_config(self, config) -> None:
        self._maybe_fail()

    def log_metrics(self, metrics, step) -> None:
        self._maybe_fail()

    def close(self) -> None:
        self._maybe_fail()


@pytest.fixture(scope="module")
def reference():
    return tiny_run()


def _same_params(a, b) -> bool:
    return all(np.asarray(x).tobytes() == np.asarray(y).tobytes()
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


@pytest.mark.parametrize("healthy_calls", [0, 2], ids=["raises on every call", "dies mid-run"])
def test_a_failing_tracker_never_stops_training(reference, healthy_calls, caplog):
    ref_result, ref_logger = reference
    broken = ResilientLogger(BrokenTracker(healthy_calls), "broken", retries=2, backoff_s=0.0)
    good = RecordingLogger()
    with caplog.at_level(logging.WARNING, logger="hackmatrix.tracking"):
        result, _ = tiny_run(logger=CompositeLogger([broken, good]))
    assert result.num_updates == ref_result.num_updates == 3
    assert broken.is_dropped
    assert sum("broken tracker failed" in r.getMessage() for r in caplog.records) == 1  # one warning
    # Raising on every call: dropped at log_config, before any update; else after update 1.
    assert result.trackers_stopped == {"broken": 0 if healthy_calls == 0 else 1}
    # The healthy tracker saw the whole run, and training was not perturbed.
    assert [s for s, _ in good.records] == [s for s, _ in ref_logger.records]
    assert good.closed == 1
    assert _same_params(result.params, ref_result.params)


def test_an_unwrapped_always_raising_tracker_alone_is_also_survived_when_wrapped(reference):
    """The container wraps every tracker; a run whose only tracker is broken still finishes."""
    result, _ = tiny_run(logger=ResilientLogger(BrokenTracker(), "only", retries=0, backoff_s=0.0))
    assert result.num_updates == 3
    assert _same_params(result.params, reference[0].params)


def _unreachable():
    raise ConnectionError("no route to host")


def test_a_tracker_that_cannot_start_raises_tracker_start_error_naming_it():
    with pytest.raises(TrackerStartError, match="could not start the mlflow tracker: no route to host"):
        ResilientLogger(_unreachable, "mlflow")


def test_a_tracker_that_cannot_start_is_skipped_with_one_warning_while_the_others_run(caplog):
    good = RecordingLogger()
    trackers = {"stdout": lambda: ResilientLogger(lambda: good, "stdout"),
                "mlflow": lambda: ResilientLogger(_unreachable, "mlflow")}
    with caplog.at_level(logging.WARNING, logger="hackmatrix.tracking"):
        logger = start_trackers(["mlflow", "stdout"], trackers)
    assert isinstance(logger, CompositeLogger) and [t.inner for t in logger.loggers] == [good]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["could not start the mlflow tracker: no route to host; "
                        "training goes on with the other tracker(s)"]
    logger.log_metrics({"a/b": 1.0}, step=3)
    assert good.records == [(3, {"a/b": 1.0})]


def test_when_no_tracker_starts_the_error_names_each_one():
    trackers = {"wandb": lambda: ResilientLogger(_unreachable, "wandb"),
                "mlflow": lambda: ResilientLogger(_unreachable, "mlflow")}
    with pytest.raises(TrackerStartError, match=r"^could not start the mlflow tracker: no route"):
        start_trackers(["mlflow"], trackers)
    with pytest.raises(TrackerStartError) as error:
        start_trackers(["wandb", "mlflow"], trackers)
    assert str(error.value) == (
        "no tracker could start: could not start the wandb tracker: no route to host; "
        "could not start the mlflow tracker: no route to host"
    )


def test_an_unwritable_run_folder_fails_when_the_tracker_is_built(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        StdoutLogger(run_dir=blocker / "run")
