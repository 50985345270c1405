"""The mlflow tracker, read back with MlflowClient: local SQLite and a real server over HTTP."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from hackmatrix.adapters.logging.composite import CompositeLogger
from hackmatrix.adapters.logging.mlflow_logger import (
    MAX_METRICS_PER_BATCH,
    MlflowLogger,
    chunked,
    default_tracking_uri,
    flatten_params,
)
from hackmatrix.adapters.logging.resilient import ResilientLogger
from hackmatrix.adapters.logging.stdout import StdoutLogger
from tests.adapters.helpers import REWARD_METRICS, read_jsonl, update_metrics


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory):
    """One SQLite store for the module: creating mlflow's schema takes seconds."""
    return default_tracking_uri(tmp_path_factory.mktemp("mlflow-store"))


def _history(logger: MlflowLogger, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in logger.client.get_metric_history(logger.run_id, key)]


def test_sqlite_run_records_params_and_every_metric_per_step(tmp_path):
    logger = MlflowLogger(tmp_path, experiment_name="tests", run_name="sqlite-check")
    assert logger.tracking_uri == default_tracking_uri(tmp_path)
    logger.log_config({"num_envs": 4, "learning_rate": 2.5e-4, "num_minibatches": None})
    for update in range(1, 4):
        logger.log_metrics(update_metrics(update), step=update * 32)
    logger.close()

    run = logger.client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "sqlite-check"
    assert run.data.params == {"num_envs": "4", "learning_rate": "0.00025", "num_minibatches": "None"}
    for key in (*REWARD_METRICS, "train/pg_loss", "actions/move_frac", "stats/highest_stage"):
        expected = [(update * 32, update_metrics(update)[key]) for update in range(1, 4)]
        assert sorted(_history(logger, key)) == expected, key
    assert (tmp_path / "mlflow.db").is_file()
    experiment = logger.client.get_experiment(logger.experiment_id)
    assert experiment.artifact_location == (tmp_path.resolve() / "mlartifacts").as_uri()


def test_a_second_run_reuses_the_experiment(tmp_path, sqlite_uri):
    first = MlflowLogger(tmp_path, tracking_uri=sqlite_uri, experiment_name="shared")
    first.close()
    second = MlflowLogger(tmp_path, tracking_uri=sqlite_uri, experiment_name="shared")
    second.close()
    assert first.experiment_id == second.experiment_id
    assert first.run_id != second.run_id


def test_a_page_is_stored_as_an_html_artifact_per_step(tmp_path, sqlite_uri):
    logger = MlflowLogger(tmp_path, tracking_uri=sqlite_uri, experiment_name="replays")
    logger.log_metrics({"eval/win_rate": 0.5}, step=64)
    logger.log_html("eval/replay", "<p>game 1</p>", step=64)
    logger.log_html("eval/replay", "<p>game 2</p>", step=128)
    logger.close()
    listed = logger.client.list_artifacts(logger.run_id, "replays")
    assert sorted(a.path for a in listed) == ["replays/eval-replay-128.html",
                                              "replays/eval-replay-64.html"]
    local = logger.client.download_artifacts(logger.run_id, "replays/eval-replay-64.html",
                                             str(tmp_path / "down"))
    assert open(local, encoding="utf-8").read() == "<p>game 1</p>"
    assert _history(logger, "eval/win_rate") == [(64, 0.5)]  # the metrics are untouched


def test_an_update_larger_than_the_batch_limit_is_split_and_fully_recorded(tmp_path, sqlite_uri):
    logger = MlflowLogger(tmp_path, tracking_uri=sqlite_uri)
    many = {f"reward/k{index:04d}": float(index) for index in range(2 * MAX_METRICS_PER_BATCH + 5)}
    logger.log_metrics(many, step=8)
    logger.close()
    metrics = logger.client.get_run(logger.run_id).data.metrics
    assert len(metrics) == 2005
    assert metrics["reward/k2004"] == 2004.0


def test_more_than_100_params_are_logged_in_batches(tmp_path, sqlite_uri):
    logger = MlflowLogger(tmp_path, tracking_uri=sqlite_uri)
    logger.log_config({f"p{index}": index for index in range(250)})
    logger.close()
    params = logger.client.get_run(logger.run_id).data.params
    assert len(params) == 250 and params["p249"] == "249"


def test_chunked_and_flatten_params():
    assert chunked(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert flatten_params({"a": 1, "b": {"c": None, "d": "x" * 7000}}) == {
        "a": "1",
        "b.c": "None",
        "b.d": "x" * 6000,
    }


def test_http_defaults_fail_fast_unless_the_user_set_them(tmp_path, monkeypatch, sqlite_uri):
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "9")
    MlflowLogger(tmp_path, tracking_uri=sqlite_uri).close()
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "9"


# ---- a real tracking server -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    """``mlflow server`` on 127.0.0.1 with a SQLite backend; yields (uri, process)."""
    port = _free_port()
    store = tmp_path / "server"
    store.mkdir()
    log = open(store / "server.log", "w")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
            "--default-artifact-root", (store / "artifacts").as_uri(),
            "--workers", "1",
        ],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("mlflow server did not start:\n" + (store / "server.log").read_text()[-3000:])
        time.sleep(0.3)
    yield uri, process
    if process.poll() is None:
        os.killpg(process.pid, 9)
        process.wait(timeout=30)
    log.close()


def _kill(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 9)  # the server and its uvicorn/gunicorn workers
    process.wait(timeout=30)


def test_logs_over_http_to_a_real_server(tmp_path, mlflow_server):
    uri, _ = mlflow_server
    logger = MlflowLogger(tmp_path / "run", tracking_uri=uri, experiment_name="http", run_name="h")
    logger.log_config({"num_envs": 4})
    for update in range(1, 3):
        logger.log_metrics(update_metrics(update), step=update * 16)
    logger.close()

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)  # a fresh client: read from the server
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"num_envs": "4"}
    history = client.get_metric_history(logger.run_id, "reward/kills")
    assert sorted((m.step, m.value) for m in history) == [
        (16, update_metrics(1)["reward/kills"]),
        (32, update_metrics(2)["reward/kills"]),
    ]
    assert not (tmp_path / "run" / "mlflow.db").exists()


def test_server_killed_mid_run_drops_mlflow_and_stdout_lines_stay_complete(
    tmp_path, mlflow_server, caplog
):
    uri, process = mlflow_server
    stdout = ResilientLogger(StdoutLogger(tmp_path, stream=io.StringIO()), name="stdout")
    mlflow = ResilientLogger(
        MlflowLogger(tmp_path, tracking_uri=uri, run_name="killed"), name="mlflow", backoff_s=0.01
    )
    logger = CompositeLogger([stdout, mlflow])
    logger.log_config({"num_envs": 4})
    for update in range(1, 4):
        logger.log_metrics(update_metrics(update), step=update * 10)
    run_id = mlflow.inner.run_id  # type: ignore[union-attr]

    _kill(process)
    started = time.monotonic()
    for update in range(4, 11):
        logger.log_metrics(update_metrics(update), step=update * 10)
    logger.close()
    elapsed = time.monotonic() - started

    assert mlflow.is_dropped and not stdout.is_dropped
    assert elapsed < 30  # fails fast: no minutes of HTTP retries
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "mlflow tracker failed" in warnings[0].getMessage()
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [row["step"] for row in rows] == [10 * u for u in range(1, 11)]
    assert rows[-1] == {"step": 100, **update_metrics(10)}
    # What mlflow received before the kill is on the server's store.
    from mlflow.tracking import MlflowClient

    store = tmp_path / "server" / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    steps = sorted(m.step for m in client.get_metric_history(run_id, "reward/kills"))
    assert steps == [10, 20, 30]
