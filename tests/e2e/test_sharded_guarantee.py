"""What a sharded run promises against the one-device run, tested as stated (docs/scaling.md).

The same training (8 envs x 8 steps, hidden 32, seed 0, 30 updates) runs through
``python -m hackmatrix.application.train`` on one CPU device and on two fake ones
(``--xla_force_host_platform_device_count=2``, 4 envs per device). The sharded program
sums its gradients and statistics in another order, so its parameters differ in the
last bits from the first update on. The guarantee:

1. the first update's rollout is identical: the same games, bit for bit (every
   integer of the game state, the observations, the episode accumulators) and the
   same rollout statistics;
2. its losses and parameters agree within float tolerance;
3. over the longer run, the learning statistics (entropy, approx_kl, value loss, mean
   reward, action shares) agree loosely: a last-bit difference can flip a sampled
   action some time, and from then on the games differ.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.adapters.helpers import read_jsonl
from tests.e2e.helpers import flatten_tree

REPO = Path(__file__).resolve().parents[2]
UPDATES = 30
B = 64  # env steps per update
ARGS = [
    "--num-envs", "8", "--num-steps", "8", "--total-timesteps", str(UPDATES * B),
    "--hidden-dim", "32", "--table-every", "0", "--seed", "0",
    "--save-interval", "1", "--keep-checkpoints", str(UPDATES),
]  # fmt: skip
ROLLOUT_PREFIXES = ("reward/", "actions/", "stats/", "train/num_episodes", "train/mean_reward",
                    "train/mean_episode_")  # fmt: skip
LOSS_KEYS = ("train/pg_loss", "train/vf_loss", "train/entropy", "train/approx_kl",
             "train/total_loss")  # fmt: skip
LEARNING_KEYS = ("train/entropy", "train/approx_kl", "train/vf_loss", "train/mean_reward",
                 "actions/move_frac", "stats/highest_stage")  # fmt: skip


def _run(root: Path, devices: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HACKMATRIX_", "WANDB_"))}
    env.update(HACKMATRIX_EVAL_INTERVAL="0", PYTHONPATH=str(REPO), JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    return subprocess.Popen(
        [sys.executable, "-m", "hackmatrix.application.train", *ARGS, "--run-dir", f"d{devices}"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, Path]:
    root = tmp_path_factory.mktemp("guarantee")
    processes = {devices: _run(root, devices) for devices in (1, 2)}
    for devices, process in processes.items():
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output[-3000:]
        assert f"devices: {devices} x cpu" in output
    return {devices: root / f"d{devices}" for devices in (1, 2)}


def _runner(run_dir: Path, update: int) -> dict[str, np.ndarray]:
    from hackmatrix.containers import load_checkpoint

    payload, _ = load_checkpoint(str(run_dir / "checkpoints" / f"ckpt-{update * B:012d}.msgpack"))
    return flatten_tree(payload["runner"])


def test_the_first_update_plays_the_same_games_bit_for_bit(runs):
    one, two = _runner(runs[1], 1), _runner(runs[2], 1)
    assert one.keys() == two.keys()
    games = [k for k in one
             if k.startswith(("/env_state", "/obs", "/episode_", "/discounted_return", "/key"))]
    assert len(games) > 10
    for key in games:
        np.testing.assert_array_equal(two[key], one[key], err_msg=key)
    first_one, first_two = read_jsonl(runs[1] / "metrics.jsonl")[0], read_jsonl(runs[2] / "metrics.jsonl")[0]
    rollout = [k for k in first_one if k.startswith(ROLLOUT_PREFIXES)]
    assert "reward/step_penalty" in rollout and "actions/move_frac" in rollout
    for key in rollout:  # the same games; a mean may differ in its last bit only
        assert math.isclose(first_two[key], first_one[key], rel_tol=1e-6, abs_tol=1e-9), key


def test_the_first_updates_losses_and_parameters_agree_within_float_tolerance(runs):
    first_one, first_two = read_jsonl(runs[1] / "metrics.jsonl")[0], read_jsonl(runs[2] / "metrics.jsonl")[0]
    for key in LOSS_KEYS:
        assert math.isclose(first_two[key], first_one[key], rel_tol=2e-4, abs_tol=1e-7), key
    one, two = _runner(runs[1], 1), _runner(runs[2], 1)
    for key in (k for k in one if k.startswith("/params")):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_the_learning_statistics_of_the_longer_run_agree_loosely(runs):
    rows = {devices: read_jsonl(path / "metrics.jsonl") for devices, path in runs.items()}
    assert [r["step"] for r in rows[2]] == [r["step"] for r in rows[1]] == [
        B * u for u in range(1, UPDATES + 1)]
    for key in LEARNING_KEYS:
        mean_one = float(np.mean([r[key] for r in rows[1]]))
        mean_two = float(np.mean([r[key] for r in rows[2]]))
        assert math.isclose(mean_two, mean_one, rel_tol=0.1, abs_tol=0.01), (key, mean_one, mean_two)
