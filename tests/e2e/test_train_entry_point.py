"""``python -m hackmatrix.application.train`` as a user runs it, in a subprocess.

Real training runs take over a minute on a CPU (JIT compilation), so they are
marked slow; the fast tests here cover the entry point's error handling.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hackmatrix.domain.constants import REWARD_KEYS
from tests.adapters.helpers import read_jsonl, wandb_offline_run
from tests.adapters.test_mlflow_logger import mlflow_server  # noqa: F401 - fixture

REPO = Path(__file__).resolve().parents[2]
TINY = ["--num-envs", "4", "--num-steps", "8", "--hidden-dim", "16", "--log-interval", "1"]
REWARD_METRICS = {f"reward/{key}" for key in REWARD_KEYS}


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HACKMATRIX_", "WANDB_"))}
    env["HACKMATRIX_EVAL_INTERVAL"] = "0"  # no end-of-run greedy evaluation (tested elsewhere)
    env.update(WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"), PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def _train(tmp_path: Path, *argv: str, timeout: float = 500, **env: str):
    return subprocess.run(
        [sys.executable, "-m", "hackmatrix.application.train", *argv],
        cwd=tmp_path, env=_env(tmp_path, **env), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--num-envs", "-4"], {}, "num_envs must be >= 1, got -4"),
        (["--logger", "stdout,tensorboard"], {}, "unknown logger 'tensorboard'"),
        ([], {"HACKMATRIX_HIDEN_DIM": "16"}, "unknown environment variable HACKMATRIX_HIDEN_DIM='16'"),
    ],
)
def test_bad_input_exits_2_before_training_with_a_message_naming_it(tmp_path, argv, env, message):
    result = _train(tmp_path, *argv, timeout=120, **env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_default_stdout_run_writes_every_update_as_json_lines(tmp_path):
    result = _train(tmp_path, *TINY, "--total-timesteps", "96")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()  # runs/<timestamp>
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [row["step"] for row in rows] == [32, 64, 96]
    for row in rows:
        assert REWARD_METRICS <= set(row)
        assert row["reward/step_penalty"] == pytest.approx(-0.01)
        assert sum(row[k] for k in REWARD_METRICS) == pytest.approx(row["train/mean_reward"], rel=1e-5, abs=1e-7)
    assert json.loads((run_dir / "config.json").read_text())["num_envs"] == 4
    assert "update 3 | env steps 96/96" in result.stdout
    assert not (run_dir / "wandb").exists() and not (run_dir / "mlflow.db").exists()


@pytest.mark.slow
def test_file_env_and_flags_mixed_with_all_three_trackers(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text(
        'num_steps = 8\nhidden_dim = 16\nlog_interval = 1\nlogger = "stdout,wandb,mlflow"\n'
        'total_timesteps = 1000000\nproject = "e2e"\n'
    )
    run_dir = tmp_path / "run"
    result = _train(
        tmp_path, "--config", str(config), "--total-timesteps", "96", "--run-dir", str(run_dir),
        HACKMATRIX_NUM_ENVS="4", HACKMATRIX_RUN_NAME="mixed",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]

    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [row["step"] for row in rows] == [32, 64, 96]  # env 4 envs x file 8 steps, flag budget

    wandb_run = wandb_offline_run(run_dir)
    assert [row["env_step"] for row in wandb_run["history"]] == [32, 64, 96]
    assert REWARD_METRICS <= set(wandb_run["summary"])
    assert wandb_run["config"]["num_envs"] == 4

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hackmatrix").experiment_id])
    assert run.info.run_name == "mixed" and run.info.status == "FINISHED"
    assert run.data.params["num_envs"] == "4" and run.data.params["num_steps"] == "8"
    for key in REWARD_METRICS:
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        assert history == [(row["step"], pytest.approx(row[key])) for row in rows], key


@pytest.mark.slow
def test_training_finishes_when_the_mlflow_server_dies_mid_run(tmp_path, mlflow_server):  # noqa: F811
    uri, server = mlflow_server
    run_dir = tmp_path / "run"
    updates = 100
    process = subprocess.Popen(
        [sys.executable, "-m", "hackmatrix.application.train", *TINY,
         "--total-timesteps", str(32 * updates), "--run-dir", str(run_dir),
         "--logger", "stdout,mlflow", "--mlflow-tracking-uri", uri, "--run-name", "doomed"],
        cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    metrics_file = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 400
    # Two JSON lines mean mlflow has had update 1: the composite calls stdout, then mlflow.
    while not (metrics_file.exists() and len(metrics_file.read_text().splitlines()) >= 2):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no update was logged"
        time.sleep(0.05)
    os.killpg(server.pid, signal.SIGKILL)  # the server dies early in training
    server.wait(timeout=30)
    stdout, stderr = process.communicate(timeout=400)

    assert process.returncode == 0, stderr[-3000:]
    rows = read_jsonl(metrics_file)
    assert [row["step"] for row in rows] == [32 * u for u in range(1, updates + 1)]
    assert all(REWARD_METRICS <= set(row) for row in rows)
    assert stderr.count("mlflow tracker failed") == 1  # one warning, then dropped
    # What reached mlflow before the kill is intact on the server's store.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'server' / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("hackmatrix").experiment_id])
    steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "reward/kills"))
    assert 1 <= len(steps) < updates
    assert steps == [32 * u for u in range(1, len(steps) + 1)]
