"""Ctrl-C during ``python -m hackmatrix.application.train`` leaves a loadable checkpoint.

The resumed-equals-uninterrupted comparison through the CLI compiles three times and
is marked slow; tests/application/test_checkpoint_resume.py checks the same in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore
from hackmatrix.application.checkpointing import all_finite
from tests.adapters.helpers import read_jsonl

REPO = Path(__file__).resolve().parents[2]
# Compiled programs persist across runs of the suite (the train chunk takes a minute or
# more to compile on a small CPU): only the first run pays for it.
JAX_CACHE = REPO / ".pytest_cache" / "jax-compilation-cache"
TINY = ["--num-envs", "4", "--num-steps", "8", "--hidden-dim", "16", "--log-interval", "1"]
B = 32


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HACKMATRIX_", "WANDB_"))}
    env["HACKMATRIX_EVAL_INTERVAL"] = "0"  # no end-of-run greedy evaluation (tested elsewhere)
    env.update(WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"), PYTHONPATH=str(REPO),
               JAX_COMPILATION_CACHE_DIR=str(JAX_CACHE))
    return env


def _start(tmp_path: Path, *argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hackmatrix.application.train", *TINY, *argv],
        cwd=tmp_path, env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for_first_update(process, run_dir: Path) -> None:
    metrics = run_dir / "metrics.jsonl"
    deadline = time.monotonic() + 400
    while not (metrics.exists() and metrics.read_text().strip()):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no update was logged"
        time.sleep(0.05)


def _interrupt_after_first_update(tmp_path: Path, run_dir: Path, *argv: str):
    process = _start(tmp_path, "--run-dir", str(run_dir), *argv)
    _wait_for_first_update(process, run_dir)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def test_sigint_saves_a_loadable_checkpoint_and_exits_130(tmp_path):
    run_dir = tmp_path / "run"
    code, _, stderr = _interrupt_after_first_update(
        tmp_path, run_dir, "--total-timesteps", str(B * 100_000), "--save-interval", "100000"
    )
    assert code == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    rows = read_jsonl(run_dir / "metrics.jsonl")
    store = MsgpackCheckpointStore(run_dir / "checkpoints")
    latest = store.latest()
    assert latest is not None and f"stopped by SIGINT after update {len(rows)}" in stderr
    assert f"--resume {latest}" in stderr
    payload, metadata = store.load(latest)
    assert metadata["update"] == len(rows) and metadata["env_steps"] == rows[-1]["step"]
    assert metadata["num_envs"] == 4 and metadata["config"]["hidden_dim"] == 16
    assert payload["runner"]["obs"].shape == (4, 1545) and all_finite(payload)


def test_a_second_sigint_exits_130_without_a_traceback(tmp_path):
    run_dir = tmp_path / "run"
    process = _start(tmp_path, "--run-dir", str(run_dir), "--total-timesteps", str(B * 100_000),
                     "--save-interval", "100000")
    _wait_for_first_update(process, run_dir)
    process.send_signal(signal.SIGINT)
    seen = []
    assert process.stderr is not None
    for line in process.stderr:  # the first one is handled: training is stopping
        seen.append(line)
        if "SIGINT received" in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=300)
    stderr = "".join(seen) + rest
    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    # Mostly the abort; on a fast machine the stop may have completed before the second.
    last = stderr.splitlines()[-1]
    assert last == ("python -m hackmatrix.application.train: aborted by Ctrl-C "
                    "(nothing saved after the last checkpoint)") or "--resume" in last, stderr


@pytest.mark.slow
def test_interrupted_and_resumed_run_equals_an_uninterrupted_one(tmp_path):
    budget = ["--total-timesteps", str(B * 8), "--save-interval", "100"]
    whole = subprocess.run(
        [sys.executable, "-m", "hackmatrix.application.train", *TINY, *budget,
         "--run-dir", str(tmp_path / "whole")],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert whole.returncode == 0, whole.stderr[-3000:]
    code, _, stderr = _interrupt_after_first_update(tmp_path, tmp_path / "cut", *budget)
    assert code in (0, 130), stderr[-3000:]  # 0 if all 8 updates ran before the signal
    resumed = subprocess.run(
        [sys.executable, "-m", "hackmatrix.application.train", "--resume", "latest",
         "--run-dir", str(tmp_path / "cut")],
        cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=500,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    def rows(name):
        return [{k: v for k, v in r.items() if k != "train/steps_per_second"}
                for r in read_jsonl(tmp_path / name / "metrics.jsonl")]

    assert [r["step"] for r in rows("cut")] == [B * u for u in range(1, 9)]
    assert rows("cut") == rows("whole")
    a = MsgpackCheckpointStore(tmp_path / "whole" / "checkpoints")
    b = MsgpackCheckpointStore(tmp_path / "cut" / "checkpoints")
    pa, pb = a.load(a.latest())[0]["runner"]["params"], b.load(b.latest())[0]["runner"]["params"]
    flat_a = [np.asarray(x) for x in _leaves(pa)]
    flat_b = [np.asarray(x) for x in _leaves(pb)]
    assert len(flat_a) == 8 and all(np.array_equal(x, y) for x, y in zip(flat_a, flat_b))


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _leaves(tree[key])]
    return [tree]
