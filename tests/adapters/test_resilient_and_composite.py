"""A failing tracker warns once, is retried a bounded number of times, then dropped."""

from __future__ import annotations

import logging

import pytest

from hackmatrix.adapters.logging.composite import CompositeLogger
from hackmatrix.adapters.logging.resilient import ResilientLogger
from hackmatrix.application.ports import MetricsLogger
from tests.adapters.fakes import FlakyLogger, RecordingLogger


def _warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING]


def test_a_transient_failure_is_retried_and_nothing_is_lost(caplog):
    flaky = FlakyLogger(failing_calls={2})
    logger = ResilientLogger(flaky, name="flaky", retries=2, backoff_s=0)
    for step in (1, 2, 3):
        logger.log_metrics({"a/b": float(step)}, step)
    assert [step for step, _ in flaky.records] == [1, 2, 3]
    assert not logger.is_dropped
    assert len(_warnings(caplog)) == 1
    assert "flaky tracker failed in log_metrics(step=2)" in _warnings(caplog)[0].getMessage()


def test_a_tracker_failing_past_its_retries_is_dropped_with_one_warning(caplog):
    flaky = FlakyLogger(failing_calls={2, 3, 4, 5, 6, 7})
    logger = ResilientLogger(flaky, name="flaky", retries=2, backoff_s=0)
    for step in (1, 2, 3, 4):
        logger.log_metrics({"a/b": float(step)}, step)
    logger.close()
    assert logger.is_dropped
    assert flaky.calls == 4  # call 1 ok, then 1 try + 2 retries for step 2, then nothing
    assert [step for step, _ in flaky.records] == [1]
    assert flaky.closed == 0  # a dropped tracker is not touched again
    assert len(_warnings(caplog)) == 1
    message = _warnings(caplog)[0].getMessage()
    assert "flaky tracker failed in log_metrics(step=2)" in message and "dropped" in message
    assert logger.dropped() == ["flaky"]


def test_a_composite_names_its_dropped_trackers():
    healthy = ResilientLogger(RecordingLogger(), name="rec")
    broken = ResilientLogger(FlakyLogger(failing_calls={1, 2}), name="flaky", retries=1, backoff_s=0)
    composite = CompositeLogger([healthy, broken])
    assert composite.dropped() == []
    composite.log_metrics({"a/b": 1.0}, 1)
    assert composite.dropped() == ["flaky"]


def test_close_errors_are_swallowed_with_a_warning(caplog):
    logger = ResilientLogger(FlakyLogger(set(), close_fails=True), name="disk")
    logger.close()
    assert "disk tracker failed to close: OSError('disk full')" in _warnings(caplog)[0].getMessage()


def test_a_factory_is_built_on_construction_and_its_errors_name_the_tracker():
    built = ResilientLogger(RecordingLogger, name="rec")
    assert isinstance(built.inner, RecordingLogger)

    def broken() -> MetricsLogger:
        raise ConnectionError("no server at http://127.0.0.1:9")

    with pytest.raises(RuntimeError, match="could not start the mlflow tracker: no server"):
        ResilientLogger(broken, name="mlflow")


def test_composite_fans_out_to_every_tracker_in_order():
    first, second = RecordingLogger(), RecordingLogger()
    logger = CompositeLogger([first, second])
    logger.log_config({"seed": 0})
    logger.log_metrics({"reward/kills": 0.3}, step=5)
    logger.close()
    for tracker in (first, second):
        assert tracker.configs == [{"seed": 0}]
        assert tracker.records == [(5, {"reward/kills": 0.3})]
        assert tracker.closed == 1


def test_composite_still_calls_later_trackers_when_one_raises_then_reraises():
    broken, healthy = FlakyLogger(failing_calls={1}), RecordingLogger()
    logger = CompositeLogger([broken, healthy])
    with pytest.raises(ConnectionError, match="call 1"):
        logger.log_metrics({"a/b": 1.0}, step=1)
    assert healthy.records == [(1, {"a/b": 1.0})]


def test_a_page_reaches_every_tracker_and_a_failing_one_loses_nothing_already_logged(caplog):
    # Tracker 1 fails on its 3rd call (the page) and every retry: it is dropped, keeps
    # what it had, and the other tracker gets the page and what follows.
    flaky, healthy = FlakyLogger(failing_calls={3, 4, 5}), RecordingLogger()
    logger = CompositeLogger([ResilientLogger(flaky, name="flaky", retries=2, backoff_s=0),
                              ResilientLogger(healthy, name="healthy")])
    logger.log_metrics({"a/b": 1.0}, step=1)
    logger.log_metrics({"eval/win_rate": 0.5}, step=2)
    logger.log_html("eval/replay", "<p>game</p>", step=2)
    logger.log_metrics({"a/b": 3.0}, step=3)
    logger.close()
    assert healthy.pages == [("eval/replay", 2, "<p>game</p>")]
    assert [step for step, _ in healthy.records] == [1, 2, 3]
    assert flaky.records == [(1, {"a/b": 1.0}), (2, {"eval/win_rate": 0.5})] and not flaky.pages
    assert "flaky tracker failed in log_html(eval/replay, step=2)" in _warnings(caplog)[0].getMessage()


def test_the_null_tracker_takes_a_page_and_keeps_nothing():
    from hackmatrix.adapters.logging.null import NullLogger

    logger = NullLogger()
    logger.log_html("eval/replay", "<p>game</p>", step=2)
    assert isinstance(logger, MetricsLogger)


def test_loggers_satisfy_the_port():
    assert isinstance(ResilientLogger(RecordingLogger(), name="r"), MetricsLogger)
    assert isinstance(CompositeLogger([]), MetricsLogger)
