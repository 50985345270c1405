"""Training sharded across devices and processes reproduces the single-device run.

Issue 7 item 4, on CPU: the same tiny training (8 envs x 8 steps, 3 updates, seed 0)
runs three ways through ``python -m hackmatrix.application.train``:

* on one device (the reference);
* on four host devices of one process (``--xla_force_host_platform_device_count=4``),
  the env batch split 2 envs per device;
* in two processes on 127.0.0.1 with two host devices each (``--coordinator``,
  ``--num-processes``, ``--process-id``; CPU collectives over gloo), one mesh of four.

Every logged metric of every update (PPO losses, the 15 reward means, action
fractions, episode statistics, highest stage) must match the reference within float
tolerance: the sharded runs only sum in a different order. The single-device and the
four-device runs go in parallel, then the two processes: about two minutes in all on
2 cores, mostly compiling.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.adapters.helpers import read_jsonl
from tests.e2e.helpers import flatten_tree

REPO = Path(__file__).resolve().parents[2]
ARGS = [
    "--num-envs", "8", "--num-steps", "8", "--total-timesteps", "192", "--hidden-dim", "32",
    "--log-interval", "3", "--table-every", "0", "--seed", "0",
]  # fmt: skip
TIMEOUT = 540  # seconds for each call of _finish
_COUNTER = itertools.count()
# Keys whose values are wall-clock measurements, not training results.
TIMING_KEYS = ("train/steps_per_second",)


def _env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HACKMATRIX_", "WANDB_"))}
    env["HACKMATRIX_EVAL_INTERVAL"] = "0"  # no end-of-run greedy evaluation (tested elsewhere)
    env["PYTHONPATH"] = str(REPO)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


@dataclasses.dataclass(frozen=True)
class _Run:
    """One training process and the file that holds its console output."""

    process: subprocess.Popen[str]
    console: Path


def _start(cwd: Path, run_dir: str, devices: int, *extra: str) -> _Run:
    """Start one training process; its console goes to a file, not a pipe.

    The test waits for one process after the other: a process whose unread pipe filled
    up would block on a write, and in a multi-process run every other process would
    wait for it at the next collective or at the shutdown barrier (jax.distributed
    then aborts them all).
    """
    console = cwd / f"console-{next(_COUNTER)}-{run_dir}.txt"
    with open(console, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hackmatrix.application.train", *ARGS, "--run-dir", run_dir,
             *extra],
            cwd=cwd, env=_env(devices), stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    return _Run(process, console)


def _finish(*runs: _Run) -> list[str]:
    """Wait for all of ``runs`` (together, so one cannot stall another); their outputs.

    As soon as one fails (or at the deadline), the others are killed and an
    AssertionError shows every run's exit status and the tail of its output.
    """
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        codes = [run.process.poll() for run in runs]
        if all(code is not None for code in codes) or any(code for code in codes):
            break
        time.sleep(0.5)
    for run in runs:
        if run.process.poll() is None:  # timed out, or another run failed
            run.process.kill()
            run.process.wait()
    outputs = [run.console.read_text() for run in runs]
    if any(run.process.returncode != 0 for run in runs):
        raise AssertionError("\n".join(
            f"--- {run.console.name}: exit status {run.process.returncode} (-9: killed, "
            f"after another run failed or at the {TIMEOUT} s deadline)\n{output[-3000:]}"
            for run, output in zip(runs, outputs)
        ))  # fmt: skip
    return outputs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, list[str]]]:
    """{name: (run folder, outputs)} for the reference, four-device and two-process runs."""
    root = tmp_path_factory.mktemp("sharded")
    single = _start(root, "single", 1)
    four = _start(root, "four", 4)
    outputs = _finish(single, four)
    out = {"single": (root / "single", outputs[:1]), "four": (root / "four", outputs[1:])}
    distributed = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2"]
    processes = [_start(root, "two", 2, *distributed, "--process-id", str(i)) for i in (0, 1)]
    out["two"] = (root / "two", _finish(*processes))
    return out


def _training_values(run_dir: Path) -> list[dict[str, float]]:
    rows = read_jsonl(run_dir / "metrics.jsonl")
    return [
        {k: v for k, v in row.items() if isinstance(v, (int, float)) and k not in TIMING_KEYS}
        for row in rows
    ]


def test_each_run_reports_its_devices(runs):
    assert "devices: 1 x cpu across 1 process(es), 8 envs each" in runs["single"][1][0]
    assert "devices: 4 x cpu across 1 process(es), 2 envs each" in runs["four"][1][0]
    first, second = runs["two"][1]
    assert "devices: 4 x cpu across 2 process(es), 2 envs each" in first
    assert "devices:" not in second  # process 1 neither prints nor logs
    assert "compiling the training program" in first and "compiling" not in second
    # jax.distributed's and gloo's INFO lines stay off the console (no --verbose).
    for output in (first, second):
        chatter = [line for line in output.splitlines()
                   if line.startswith("INFO") or re.match(r"I\d{4} ", line)]  # absl's C++ format
        assert not chatter, output


@pytest.mark.parametrize("name", ["four", "two"])
def test_sharded_metrics_match_the_single_device_run(runs, name):
    reference = _training_values(runs["single"][0])
    sharded = _training_values(runs[name][0])
    assert [row["step"] for row in reference] == [64, 128, 192]
    assert [row["step"] for row in sharded] == [64, 128, 192]
    for ref_row, row in zip(reference, sharded):
        assert set(row) == set(ref_row)
        assert {"train/pg_loss", "reward/step_penalty", "actions/move_frac",
                "stats/highest_stage"} <= set(row)  # fmt: skip
        for key, expected in ref_row.items():
            assert math.isclose(row[key], expected, rel_tol=2e-4, abs_tol=1e-6), (
                f"{name} update at step {row['step']}: {key} = {row[key]}, single device {expected}"
            )


def test_two_process_checkpoint_holds_the_same_weights_and_games(runs):
    from hackmatrix.containers import load_checkpoint

    single, _ = load_checkpoint(str(runs["single"][0] / "checkpoints" / "ckpt-000000000192.msgpack"))
    two, meta = load_checkpoint(str(runs["two"][0] / "checkpoints" / "ckpt-000000000192.msgpack"))
    assert meta["num_envs"] == 8 and meta["update"] == 3
    flat_single = flatten_tree(single)
    flat_two = flatten_tree(two)
    assert flat_single.keys() == flat_two.keys()
    for path, value in flat_single.items():
        other = flat_two[path]
        assert other.shape == value.shape, path  # the whole batch of games, gathered
        if np.issubdtype(value.dtype, np.floating):
            np.testing.assert_allclose(other, value, rtol=1e-3, atol=1e-5, err_msg=path)
        else:
            np.testing.assert_array_equal(other, value, err_msg=path)


def test_the_run_folder_of_the_two_process_run_is_written_once(runs):
    run_dir = runs["two"][0]
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["ckpt-000000000192.msgpack"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["num_envs"] == 8
    assert len(read_jsonl(run_dir / "metrics.jsonl")) == 3


def test_a_sharded_run_resumes_like_the_single_device_run(runs):
    """One more update from each run's checkpoint (the compiled programs come from the
    persistent cache): the fourth update agrees too, so the layout survives a resume."""
    root = runs["single"][0].parent
    more = ["--total-timesteps", "256"]
    resumed = [
        _start(root, name, devices, "--resume", str(root / name / "checkpoints"), *more)
        for name, devices in (("single", 1), ("four", 4))
    ]
    outputs = dict(zip(("single", "four"), _finish(*resumed)))
    assert "devices: 4 x cpu" in outputs["four"]
    single, four = (_training_values(root / name)[-1] for name in ("single", "four"))
    assert single["step"] == four["step"] == 256
    for key, expected in single.items():
        assert math.isclose(four[key], expected, rel_tol=2e-4, abs_tol=1e-6), (key, four[key], expected)
