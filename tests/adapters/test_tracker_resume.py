"""Trackers continue the same run after a resume: run ids, mlflow run reuse, wandb resume."""

from __future__ import annotations

import pytest

from hackmatrix.adapters.logging.composite import CompositeLogger
from hackmatrix.adapters.logging.mlflow_logger import MlflowLogger, default_tracking_uri
from hackmatrix.adapters.logging.resilient import ResilientLogger
from hackmatrix.adapters.logging.stdout import StdoutLogger
from hackmatrix.application.ports import ResumableLogger
from tests.adapters.helpers import read_jsonl


def test_mlflow_resumed_run_keeps_its_id_params_and_history(tmp_path):
    uri = default_tracking_uri(tmp_path)
    first = MlflowLogger(tmp_path, tracking_uri=uri, experiment_name="resume", run_name="r")
    assert isinstance(first, ResumableLogger)
    first.log_config({"num_envs": 4, "total_timesteps": 96})
    first.log_metrics({"train/pg_loss": 0.5}, step=32)
    first.close()
    run_id = first.run_ids()["mlflow_run_id"]

    second = MlflowLogger(tmp_path, tracking_uri=uri, experiment_name="resume", run_id=run_id)
    # A changed budget must not fail (mlflow params are immutable): the old value stays.
    second.log_config({"num_envs": 4, "total_timesteps": 192, "keep_checkpoints": 3})
    second.log_metrics({"train/pg_loss": 0.25}, step=64)
    second.close()
    run = second.client.get_run(run_id)
    assert second.run_id == run_id and run.info.status == "FINISHED"
    assert run.data.params == {"num_envs": "4", "total_timesteps": "96", "keep_checkpoints": "3"}
    history = sorted((m.step, m.value) for m in second.client.get_metric_history(run_id, "train/pg_loss"))
    assert history == [(32, 0.5), (64, 0.25)]
    assert len(second.client.search_runs([second.experiment_id])) == 1


def test_run_ids_pass_through_the_resilient_and_composite_wrappers(tmp_path):
    class Tracked(StdoutLogger):
        def run_ids(self):
            return {"wandb_run_id": "w1"}

    stdout = ResilientLogger(StdoutLogger(tmp_path / "a"), name="stdout")
    tracked = ResilientLogger(Tracked(tmp_path / "b"), name="wandb")
    composite = CompositeLogger([stdout, tracked])
    assert stdout.run_ids() == {} and composite.run_ids() == {"wandb_run_id": "w1"}
    composite.close()


def test_stdout_resume_appends_after_the_checkpoint_step(tmp_path):
    first = StdoutLogger(tmp_path)
    for step in (32, 64, 96):
        first.log_metrics({"x": float(step)}, step=step)
    first.close()
    second = StdoutLogger(tmp_path, resume_step=64)  # checkpoint at 64; 96 is logged again
    second.log_metrics({"x": 96.5}, step=96)
    second.close()
    assert [(r["step"], r["x"]) for r in read_jsonl(tmp_path / "metrics.jsonl")] == [
        (32, 32.0), (64, 64.0), (96, 96.5)
    ]


@pytest.mark.slow
def test_wandb_offline_resume_keeps_the_run_id(tmp_path, monkeypatch):
    from hackmatrix.adapters.logging.wandb_logger import WandbLogger

    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "cfg"))
    first = WandbLogger(tmp_path, mode="offline")
    run_id = first.run_ids()["wandb_run_id"]
    first.log_metrics({"train/pg_loss": 0.5}, step=32)
    first.close()
    second = WandbLogger(tmp_path, mode="offline", resume_id=run_id)
    assert second.run_ids() == {"wandb_run_id": run_id}
    second.log_metrics({"train/pg_loss": 0.25}, step=64)
    second.close()
