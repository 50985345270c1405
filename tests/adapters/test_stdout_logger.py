"""The stdout tracker: JSON lines on disk (the durable record) and a console display."""

from __future__ import annotations

import io
import json
import sys

import pytest

from hackmatrix.adapters.logging.stdout import StdoutLogger, format_duration
from tests.adapters.helpers import REWARD_METRICS, read_jsonl, update_metrics


def test_every_update_is_one_json_line_with_step_and_all_metrics(tmp_path):
    logger = StdoutLogger(tmp_path, stream=io.StringIO())
    for update in range(1, 4):
        logger.log_metrics(update_metrics(update), step=update * 32)
    logger.close()

    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [row["step"] for row in rows] == [32, 64, 96]
    for update, row in enumerate(rows, start=1):
        assert row == {"step": update * 32, **update_metrics(update)}
    assert set(REWARD_METRICS) <= set(rows[0])


def test_a_resumed_run_counts_updates_on_from_the_checkpoint(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, total_timesteps=4000, table_every=0, stream=out,
                          resume_step=3000, resume_update=3)
    logger.log_metrics({"train/steps_per_second": 500.0}, step=4000)
    logger.close()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("update 4 | env steps 4,000/4,000")
    assert lines[-1] == f"done: 1 update logged to {tmp_path / 'metrics.jsonl'} (update 4)"


def test_json_line_is_on_disk_before_close(tmp_path):
    logger = StdoutLogger(tmp_path, stream=io.StringIO())
    logger.log_metrics({"train/pg_loss": 1.5}, step=7)
    # Read while the logger is still open: a crash now must not lose the line.
    assert read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 7, "train/pg_loss": 1.5}]
    logger.close()


def test_numpy_scalars_are_written_as_plain_numbers(tmp_path):
    import numpy as np

    logger = StdoutLogger(tmp_path, stream=io.StringIO())
    logger.log_metrics({"stats/highest_stage": np.float32(3.0), "train/x": np.int64(4)}, step=1)
    logger.close()
    assert read_jsonl(tmp_path / "metrics.jsonl") == [
        {"step": 1, "stats/highest_stage": 3.0, "train/x": 4.0}
    ]


def test_plain_console_prints_one_progress_line_per_update_with_eta_and_return(tmp_path):
    out = io.StringIO()  # not a terminal: plain lines, no live display
    logger = StdoutLogger(tmp_path, total_timesteps=4000, table_every=0, stream=out)
    logger.log_metrics(update_metrics(1), step=1000)
    logger.log_metrics({"train/steps_per_second": 500.0}, step=2000)
    logger.close()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("update")]
    assert lines == [
        "update 1 | env steps 1,000/4,000 | 1,000 steps/s | ETA 0:00:03 | return 2.000",
        # No return in this update: the latest one seen is shown.
        "update 2 | env steps 2,000/4,000 | 500 steps/s | ETA 0:00:04 | return 2.000",
    ]


def test_the_progress_line_names_the_teachers_phase_while_it_lasts(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, total_timesteps=4000, table_every=0, stream=out)
    teacher = {"train/teacher_agreement": 0.8125}
    logger.log_metrics({**update_metrics(1), **teacher, "train/imitating": 1.0,
                        "train/teacher_coef": 1.0}, step=1000)
    logger.log_metrics({**update_metrics(2), **teacher, "train/imitating": 0.0,
                        "train/teacher_coef": 0.6}, step=2000)
    logger.log_metrics({**update_metrics(3), **teacher, "train/imitating": 0.0,
                        "train/teacher_coef": 0.0}, step=3000)
    logger.close()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("update")]
    assert lines[0].endswith("| return 2.000 | imitating the teacher, agreement 0.81")
    assert lines[1].endswith("| return 4.000 | teacher weight 0.60, agreement 0.81")
    assert lines[2].endswith("| return 6.000")  # the teacher's part is over


def test_an_update_with_eval_metrics_prints_one_evaluation_line(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, total_timesteps=4000, table_every=0, stream=out)
    logger.log_metrics(update_metrics(1), step=1000)
    logger.log_metrics({**update_metrics(2), "eval/mean_highest_stage": 2.25,
                        "eval/win_rate": 0.125, "eval/mean_return": 3.5}, step=2000)
    logger.close()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("evaluation")]
    assert lines == ["evaluation at update 2 (greedy, fixed games): mean highest stage 2.25 | "
                     "win rate 0.125 | return 3.50"]


def test_key_metric_table_is_printed_every_n_updates(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, table_every=2, stream=out)
    for update in range(1, 5):
        logger.log_metrics(update_metrics(update), step=update * 10)
    logger.close()
    text = out.getvalue()
    assert text.count("train/pg_loss") == 2  # updates 2 and 4
    assert "update 4 @ 40 env steps" in text
    assert "-2" in text  # pg_loss of update 4


def test_log_config_writes_config_json_and_sets_eta_budget(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, table_every=0, stream=out)
    logger.log_config({"num_envs": 4, "effective_total_timesteps": 100})
    logger.log_metrics({"train/steps_per_second": 10.0}, step=50)
    logger.close()
    assert json.loads((tmp_path / "config.json").read_text()) == {
        "effective_total_timesteps": 100,
        "num_envs": 4,
    }
    assert "env steps 50/100 | 10 steps/s | ETA 0:00:05 | return n/a" in out.getvalue()


def test_live_terminal_display_runs_without_error_and_still_writes_lines(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, total_timesteps=300, table_every=1, stream=out, force_terminal=True)
    for update in range(1, 4):
        logger.log_metrics(update_metrics(update), step=update * 100)
    logger.close()
    assert len(read_jsonl(tmp_path / "metrics.jsonl")) == 3
    assert "update 3" in out.getvalue()


def test_logging_after_close_raises_and_close_is_idempotent(tmp_path):
    logger = StdoutLogger(tmp_path, stream=io.StringIO())
    logger.close()
    logger.close()
    with pytest.raises(RuntimeError, match="closed"):
        logger.log_metrics({"a/b": 1.0}, step=1)


def test_a_page_is_written_to_the_run_folders_replays_and_announced(tmp_path):
    out = io.StringIO()
    logger = StdoutLogger(tmp_path, table_every=0, stream=out)
    logger.log_metrics({"eval/win_rate": 0.5}, step=640)
    logger.log_html("eval/replay", "<p>game 1</p>", step=640)
    logger.log_html("eval/replay", "<p>game 2</p>", step=1280)
    logger.close()
    pages = tmp_path / "replays"
    assert sorted(p.name for p in pages.iterdir()) == ["eval-replay-1280.html", "eval-replay-640.html"]
    assert (pages / "eval-replay-640.html").read_text() == "<p>game 1</p>"
    assert f"eval/replay at env step 640: {pages / 'eval-replay-640.html'}" in out.getvalue()


def test_stdout_logger_does_not_import_tracker_sdks():
    code = (
        "import sys, tempfile, io\n"
        "from hackmatrix.adapters.logging.stdout import StdoutLogger\n"
        "import hackmatrix.adapters.logging.wandb_logger, hackmatrix.adapters.logging.mlflow_logger\n"
        "l = StdoutLogger(tempfile.mkdtemp(), stream=io.StringIO()); l.log_metrics({'a/b': 1.0}, 1); l.close()\n"
        "print(sorted(m for m in ('wandb', 'mlflow') if m in sys.modules))\n"
    )
    import subprocess

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00:00"), (59.6, "0:01:00"), (3725, "1:02:05"), (float("nan"), "?")]
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
