"""The composition root: the Selector picks each tracker; fakes override it in use-case runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hackmatrix.adapters.logging.composite import CompositeLogger
from hackmatrix.adapters.logging.mlflow_logger import MlflowLogger
from hackmatrix.adapters.logging.resilient import ResilientLogger
from hackmatrix.adapters.logging.stdout import StdoutLogger
from hackmatrix.adapters.logging.wandb_logger import WandbLogger
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.use_cases import TrainPolicy
from hackmatrix.containers import container_for, create_container, tracking_settings
from tests.adapters.fakes import RecordingLogger
from tests.adapters.helpers import read_jsonl, update_metrics, wandb_offline_run

TINY = {"num_envs": 4, "num_steps": 8, "total_timesteps": 96, "hidden_dim": 16, "log_interval": 1}


@pytest.fixture(autouse=True)
def _offline_wandb(monkeypatch, tmp_path):
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))


def _values(tmp_path, **extra):
    return {**TINY, "run_dir": str(tmp_path / "run"), **extra}


def test_stdout_is_selected_by_default_and_wrapped_to_survive_failures(tmp_path):
    container = container_for(_values(tmp_path))
    logger = container.metrics_logger()
    assert isinstance(logger, ResilientLogger) and isinstance(logger.inner, StdoutLogger)
    assert container.metrics_logger() is logger  # one tracker per run
    logger.log_metrics(update_metrics(1), step=32)
    logger.close()
    assert read_jsonl(tmp_path / "run" / "metrics.jsonl") == [{"step": 32, **update_metrics(1)}]


def test_wandb_is_selected_and_records_offline_in_the_run_folder(tmp_path):
    container = container_for(_values(tmp_path), logger="wandb", project="p", run_name="w")
    logger = container.metrics_logger()
    assert isinstance(logger.inner, WandbLogger) and logger.inner.mode == "offline"
    logger.log_metrics(update_metrics(1), step=32)
    logger.close()
    run = wandb_offline_run(tmp_path / "run")
    assert run["history"][0]["reward/kills"] == update_metrics(1)["reward/kills"]
    assert run["config"]["num_envs"] == 4  # the TrainConfig reached wandb.init


def test_mlflow_is_selected_with_a_sqlite_store_in_the_run_folder(tmp_path):
    container = container_for(_values(tmp_path), logger="mlflow", mlflow_experiment="e", run_name="m")
    logger = container.metrics_logger()
    mlflow = logger.inner
    assert isinstance(mlflow, MlflowLogger)
    logger.log_metrics(update_metrics(2), step=64)
    logger.close()
    assert (tmp_path / "run" / "mlflow.db").is_file()
    run = mlflow.client.get_run(mlflow.run_id)
    assert run.info.run_name == "m" and run.info.status == "FINISHED"
    assert run.data.metrics["reward/kills"] == update_metrics(2)["reward/kills"]


def test_several_names_select_a_composite_of_exactly_those_trackers(tmp_path):
    container = container_for(_values(tmp_path), logger="stdout,wandb", wandb_mode="disabled")
    logger = container.metrics_logger()
    assert isinstance(logger, CompositeLogger)
    assert [type(t.inner).__name__ for t in logger.loggers] == ["StdoutLogger", "WandbLogger"]
    logger.log_metrics(update_metrics(1), step=32)
    logger.close()
    assert len(read_jsonl(tmp_path / "run" / "metrics.jsonl")) == 1
    assert not (tmp_path / "run" / "mlflow.db").exists()  # mlflow was never built


def test_train_policy_gets_the_typed_config_and_the_overridden_logger(tmp_path):
    container = container_for(_values(tmp_path, seed=3))
    fake = RecordingLogger()
    with container.metrics_logger.override(fake):
        policy = container.train_policy()
    assert isinstance(policy, TrainPolicy)
    assert policy.logger is fake
    assert policy.config == TrainConfig(**_values(tmp_path, seed=3))


def test_create_container_layers_env_and_flags(tmp_path):
    environ = {"HACKMATRIX_NUM_ENVS": "8", "HACKMATRIX_LOGGER": "stdout,mlflow"}
    container = create_container(
        ["--num-steps", "4", "--run-dir", str(tmp_path / "r"), "--run-name", "x"], environ
    )
    config = container.train_config()
    assert (config.num_envs, config.num_steps, config.run_dir) == (8, 4, str(tmp_path / "r"))
    assert container.config.tracking.backends() == ["stdout", "mlflow"]
    assert container.config.tracking.backend() == "composite"
    assert container.config.tracking.run_name() == "x"


def test_tracking_settings_rejects_unknown_options():
    with pytest.raises(ValueError, match="unknown tracking option"):
        tracking_settings("stdout", wandb_modes="offline")
    with pytest.raises(ValueError, match="unknown logger 'tb'"):
        tracking_settings("tb")


def test_a_stdout_run_imports_neither_wandb_nor_mlflow(tmp_path):
    code = (
        "import sys\n"
        "from hackmatrix.containers import container_for\n"
        f"c = container_for({{'run_dir': {str(tmp_path / 'run')!r}}})\n"
        "l = c.metrics_logger(); l.log_metrics({'a/b': 1.0}, 1); l.close()\n"
        "print(sorted(m for m in ('wandb', 'mlflow') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_train_policy_run_through_the_container_logs_every_update_to_the_fake(tmp_path):
    container = container_for(_values(tmp_path))
    fake = RecordingLogger()
    with container.metrics_logger.override(fake):
        container.train_policy().run()
    assert [step for step, _ in fake.records] == [32, 64, 96]
    assert fake.closed == 1
    assert {f"reward/{k}" for k in ("kills", "step_penalty", "victory")} <= fake.keys()
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # the real stdout was never built
