"""The wandb tracker, read back from its offline transaction log."""

from __future__ import annotations

import pytest

from hackmatrix.adapters.logging.wandb_logger import STEP_METRIC, WandbLogger, resolve_mode
from tests.adapters.helpers import REWARD_METRICS, update_metrics, wandb_offline_run


@pytest.fixture(autouse=True)
def _no_wandb_account(monkeypatch, tmp_path):
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))


def test_offline_run_records_every_update_at_env_step_with_all_reward_keys(tmp_path):
    logger = WandbLogger(tmp_path, project="tests", run_name="offline-check", config={"num_envs": 4})
    assert logger.mode == "offline"  # no API key: offline by default
    logger.log_config({"gamma": 0.99})
    for update in range(1, 4):
        logger.log_metrics(update_metrics(update), step=update * 32)
    logger.close()

    run = wandb_offline_run(tmp_path)
    assert [row["_step"] for row in run["history"]] == [32, 64, 96]
    assert [row[STEP_METRIC] for row in run["history"]] == [32, 64, 96]
    for update, row in enumerate(run["history"], start=1):
        for key, value in update_metrics(update).items():
            assert row[key] == pytest.approx(value), key
    assert set(REWARD_METRICS) <= set(run["summary"])
    assert run["summary"]["reward/kills"] == pytest.approx(update_metrics(3)["reward/kills"])
    # reward/*, actions/*, stats/*, train/* are plotted against env steps.
    for group in ("reward/*", "actions/*", "stats/*", "train/*"):
        assert run["metrics"][group] == STEP_METRIC
    assert "gamma" in run["config"] and "num_envs" in run["config"]


def test_a_page_is_an_html_panel_in_the_row_of_its_step(tmp_path):
    logger = WandbLogger(tmp_path, project="tests", run_name="html-check")
    logger.log_metrics(update_metrics(1), step=32)
    logger.log_metrics({"eval/win_rate": 0.5}, step=64)
    page = "<!DOCTYPE html><p>replay</p>"
    logger.log_html("eval/replay", page, step=64)
    logger.close()

    run = wandb_offline_run(tmp_path)
    assert [row["_step"] for row in run["history"]] == [32, 64]
    row = run["history"][1]
    assert row["eval/win_rate"] == 0.5 and row[STEP_METRIC] == 64
    assert row["eval/replay/_type"] == "html-file"  # wandb-core flattens the media record
    stored = list((tmp_path / "wandb").glob("offline-run-*/files/" + row["eval/replay/path"]))
    assert [p.read_text() for p in stored] == [page]  # no stylesheet injected


def test_disabled_mode_accepts_calls_and_writes_no_run(tmp_path):
    logger = WandbLogger(tmp_path, mode="disabled")
    logger.log_config({"a": 1})
    logger.log_metrics(update_metrics(1), step=1)
    logger.log_html("eval/replay", "<p>x</p>", step=1)
    logger.close()
    assert list((tmp_path).glob("wandb/offline-run-*")) == []


@pytest.mark.parametrize(
    ("mode", "environ", "expected"),
    [
        (None, {}, "offline"),
        (None, {"WANDB_API_KEY": "x" * 40}, "online"),
        (None, {"WANDB_MODE": "disabled", "WANDB_API_KEY": "k"}, "disabled"),
        ("offline", {"WANDB_API_KEY": "k"}, "offline"),
        (None, {"WANDB_MODE": "dryrun"}, "offline"),
    ],
)
def test_resolve_mode(mode, environ, expected):
    assert resolve_mode(mode, environ) == expected


def test_resolve_mode_rejects_unknown_mode_naming_it():
    with pytest.raises(ValueError, match="'sometimes'"):
        resolve_mode("sometimes", {})
