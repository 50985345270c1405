"""In-jit metric reductions and host flattening (§4.1–§4.2)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application.metrics import (
    REWARD_METRIC_KEYS,
    host_records,
    rollout_metrics,
    shifted_mean,
    to_host_float,
)
from hackmatrix.domain.constants import REWARD_KEYS


def _rollout(breakdown):
    # T=3, N=2. Env 0 finishes at t=1 (episode of 5 steps, return 2.5); env 1 never finishes.
    return rollout_metrics(
        rewards=jnp.array([[1.0, 0.0], [2.0, -1.0], [0.0, 0.0]]),
        dones=jnp.array([[False, False], [True, False], [False, False]]),
        actions=jnp.array([[0, 4], [5, 3], [27, 1]]),
        finished_return=jnp.array([[0.0, 0.0], [2.5, 0.0], [0.0, 0.0]]),
        finished_length=jnp.array([[0, 0], [5, 0], [0, 0]]),
        stage=jnp.array([[1, 2], [3, 2], [1, 2]]),
        breakdown=breakdown,
    )


def test_rollout_metrics_values():
    m = _rollout({"kills": jnp.array([[0.3, 0.0], [0.0, 0.0], [0.0, 0.6]])})
    assert float(m["train/mean_reward"]) == pytest.approx(2.0 / 6)
    assert float(m["train/num_episodes"]) == 1.0
    assert float(m["train/mean_episode_return"]) == 2.5
    assert float(m["train/mean_episode_length"]) == 5.0
    assert float(m["actions/move_frac"]) == pytest.approx(3 / 6)
    assert float(m["actions/siphon_frac"]) == pytest.approx(1 / 6)
    assert float(m["actions/program_frac"]) == pytest.approx(2 / 6)
    assert float(m["stats/highest_stage"]) == 3.0
    assert float(m["reward/kills"]) == pytest.approx(0.15)


def test_breakdown_aggregation_can_be_switched_off():
    m = _rollout({})
    assert not any(k.startswith("reward/") for k in m)
    assert "train/mean_reward" in m and "stats/highest_stage" in m


def test_shifted_mean_is_exact_for_constant_float32_arrays():
    x = jnp.full((128, 257), np.float32(-0.01))
    assert float(shifted_mean(x)) == float(np.float32(-0.01))
    assert float(shifted_mean(jnp.array([1.0, 2.0, 3.0, 6.0]))) == 3.0


def test_to_host_float_uses_shortest_float32_decimal():
    assert to_host_float(np.float32(-0.01)) == -0.01
    assert to_host_float(np.float32(2.5)) == 2.5
    assert np.isnan(to_host_float(np.float32("nan")))


def test_host_records_one_record_per_update_with_env_step_axis():
    metrics = {
        "train/mean_reward": np.array([0.5, -0.25, 9.0], np.float32),
        "train/num_episodes": np.array([2.0, 0.0, 9.0], np.float32),
        "train/mean_episode_return": np.array([1.5, 0.0, 9.0], np.float32),
        "train/mean_episode_length": np.array([7.0, 0.0, 9.0], np.float32),
    }
    records = host_records(metrics, 2, first_update=10, batch_size=64, steps_per_second=123.0)
    assert [step for step, _ in records] == [11 * 64, 12 * 64]  # third slot is padding
    first, second = records[0][1], records[1][1]
    assert first == {
        "train/mean_reward": 0.5, "train/num_episodes": 2.0,
        "train/mean_episode_return": 1.5, "train/mean_episode_length": 7.0,
        "train/update_step": 11.0, "train/steps_per_second": 123.0,
        "key/mean_reward": 0.5, "key/mean_episode_return": 1.5, "key/mean_episode_length": 7.0,
    }
    # No finished episode: the episode means are absent, not 0 (README decision 8).
    assert "train/mean_episode_return" not in second
    assert "key/mean_episode_length" not in second
    assert second["key/mean_reward"] == -0.25


def test_reward_metric_keys_are_the_15_components():
    assert len(REWARD_METRIC_KEYS) == 15
    assert REWARD_METRIC_KEYS == tuple(f"reward/{k}" for k in REWARD_KEYS)
