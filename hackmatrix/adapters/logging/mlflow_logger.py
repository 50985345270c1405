"""MLflow tracker (module name avoids shadowing the ``mlflow`` package).

``mlflow`` is imported in the constructor. The tracking URI defaults to a SQLite
file in the run folder, so no server is needed. Metrics of one update go in
``MlflowClient.log_batch`` calls split under mlflow's batch limits; HTML pages (the
evaluations' replays) are artifacts ``replays/<name>-<step>.html``. Before the
import, mlflow's HTTP retry/timeout env vars get fail-fast defaults (unless the
user set them): by default its REST client retries for minutes, which would
stall training on a dead server instead of letting the resilience wrapper drop
the tracker.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hackmatrix.application.html_replay import page_file_name

# Limits from mlflow.utils.validation (MAX_METRICS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH,
# MAX_PARAM_VAL_LENGTH); copied so importing this module does not load mlflow.
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_VALUE_LENGTH = 6000

REPLAY_FOLDER = "replays"  # artifact folder of the HTML pages (log_html)

FAIL_FAST_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}


def default_tracking_uri(run_dir: str | Path) -> str:
    """``sqlite:///<absolute run_dir>/mlflow.db``."""
    return f"sqlite:///{Path(run_dir).resolve() / 'mlflow.db'}"


def chunked(items: list[Any], size: int) -> list[list[Any]]:
    """Split ``items`` into consecutive lists of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def flatten_params(config: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    """Nested mapping -> ``{"a.b": "value"}`` with values cut to mlflow's length limit."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_VALUE_LENGTH]
    return flat


class MlflowLogger:
    """Logs params once and one batch of metrics per update to an mlflow run.

    Args:
      run_dir: the run folder (default SQLite store and artifact root live here).
      tracking_uri: e.g. ``http://127.0.0.1:5000`` or ``sqlite:///...`` (None: default).
      experiment_name: created if missing.
      run_name: display name of the run.
      run_id: an existing run to continue (a resumed training); None creates a run.
        A continued run keeps the params it has (mlflow params are immutable): only
        params it lacks are logged.
    """

    def __init__(
        self,
        run_dir: str | Path,
        tracking_uri: str | None = None,
        experiment_name: str = "hackmatrix",
        run_name: str | None = None,
        run_id: str | None = None,
    ) -> None:
        for name, value in FAIL_FAST_ENV.items():
            os.environ.setdefault(name, value)
        from mlflow.entities import Metric, Param, RunStatus
        from mlflow.tracking import MlflowClient

        self._metric_cls = Metric
        self._param_cls = Param
        self._finished = RunStatus.to_string(RunStatus.FINISHED)
        run_path = Path(run_dir)
        run_path.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = tracking_uri or default_tracking_uri(run_path)
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment = self.client.get_experiment_by_name(experiment_name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            # A local store would otherwise put artifacts in ./mlruns of the cwd.
            is_local = not self.tracking_uri.startswith(("http://", "https://", "databricks"))
            location = (run_path.resolve() / "mlartifacts").as_uri() if is_local else None
            experiment_id = self.client.create_experiment(
                experiment_name, artifact_location=location
            )
        self._existing_params: dict[str, str] = {}
        if run_id:
            run = self.client.get_run(run_id)
            self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            self._existing_params = dict(run.data.params)
        else:
            run = self.client.create_run(experiment_id, run_name=run_name)
        self.experiment_id = experiment_id
        self.run_id: str = run.info.run_id
        self._closed = False

    def log_config(self, config: Mapping[str, object]) -> None:
        """Log the config as params (flattened, stringified, 100 per batch)."""
        params = [
            self._param_cls(k, v)
            for k, v in flatten_params(config).items()
            if k not in self._existing_params
        ]
        for batch in chunked(params, MAX_PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=batch)

    def run_ids(self) -> dict[str, str]:
        """``{"mlflow_run_id": ...}``, stored in checkpoints so a resume continues this run."""
        return {"mlflow_run_id": self.run_id}

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log one update's metrics at ``step``, in batches of at most 1000."""
        timestamp = int(time.time() * 1000)
        entries = [
            self._metric_cls(key, float(value), timestamp, int(step))
            for key, value in metrics.items()
        ]
        for batch in chunked(entries, MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=batch)

    def log_html(self, name: str, html: str, step: int) -> None:
        """Store the page as the run's artifact ``replays/<name>-<step>.html``."""
        self.client.log_text(self.run_id, html, f"{REPLAY_FOLDER}/{page_file_name(name, step)}")

    def close(self) -> None:
        """Mark the run FINISHED (idempotent)."""
        if not self._closed:
            self._closed = True
            self.client.set_terminated(self.run_id, status=self._finished)
