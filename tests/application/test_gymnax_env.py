"""HackMatrix as a gymnax environment: gymnax's own LogWrapper runs on it unchanged."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gymnax.environments import environment, spaces
from gymnax.wrappers.purerl import LogWrapper

from hackmatrix.application import gymnax_env
from hackmatrix.domain.constants import REWARD_KEYS

N, T = 8, 48


def _flags(out):
    """(done, terminated, truncated) of a step's output, for either gymnax step API."""
    if len(out) == 6:
        _, _, _, terminated, truncated, _ = out
        return terminated | truncated, terminated, truncated
    done = out[3]
    return done, done, jnp.zeros_like(done)


@partial(jax.jit, static_argnums=(0,))
def _rollout(env, key, params):
    """N games under vmap for T steps (lax.scan) with uniformly random valid actions."""
    k_reset, k_run = jax.random.split(key)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, N), params)
    mask = jax.vmap(env.action_mask)(state.env_state)

    def one(carry, k):
        state, mask = carry
        k_act, k_step = jax.random.split(k)
        logits = jnp.where(mask, 0.0, -jnp.inf)
        action = jax.random.categorical(k_act, logits)  # (N,) from the mask
        out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(jax.random.split(k_step, N), state, action, params)
        obs, state, reward, info = out[0], out[1], out[2], out[-1]
        done, terminated, truncated = _flags(out)
        record = {
            "obs": obs, "reward": reward, "done": done, "terminated": terminated, "truncated": truncated,
            "step_penalty": info["step_penalty"], "components": sum(info[k] for k in REWARD_KEYS),
            "returned_episode": info["returned_episode"],
            "returned_episode_returns": info["returned_episode_returns"],
            "returned_episode_lengths": info["returned_episode_lengths"],
            "time": state.env_state.time,
        }
        return (state, info["action_mask"]), record

    _, records = jax.lax.scan(one, (state, mask), jax.random.split(k_run, T))
    return obs, records


def _episodes(reward, done):
    """Per env, the (return, length) of each episode that ended, from the raw rewards."""
    ended = []
    for i in range(reward.shape[1]):
        total, length = 0.0, 0
        for t in range(reward.shape[0]):
            total += float(reward[t, i])
            length += 1
            if done[t, i]:
                ended.append((t, i, total, length))
                total, length = 0.0, 0
    return ended


@pytest.fixture(scope="module")
def env():
    return LogWrapper(gymnax_env.HackMatrixGymnax())


@pytest.fixture(scope="module")
def rollout(env):
    return jax.device_get(_rollout(env, jax.random.PRNGKey(3), env.default_params))


def test_it_is_a_gymnax_environment_with_discrete_actions_and_a_flat_box(env):
    inner = gymnax_env.HackMatrixGymnax()
    assert isinstance(inner, environment.Environment)
    assert inner.num_actions == 28 and inner.name == "HackMatrix-v0"
    assert isinstance(inner.action_space(inner.default_params), spaces.Discrete)
    assert inner.action_space(inner.default_params).n == 28
    box = inner.observation_space(inner.default_params)
    assert isinstance(box, spaces.Box) and box.shape == (1545,) and box.dtype == jnp.float32


def test_log_wrapper_logs_the_episode_returns_over_jit_vmap_scan(env, rollout):
    reset_obs, rec = rollout
    assert reset_obs.shape == (N, 1545) and reset_obs.dtype == np.float32
    assert rec["obs"].shape == (T, N, 1545) and rec["obs"].dtype == np.float32
    box = gymnax_env.HackMatrixGymnax().observation_space(None)
    assert np.all(rec["obs"] >= np.asarray(box.low)) and np.all(rec["obs"] <= np.asarray(box.high))
    # Masked actions only: no step was invalid (an invalid one pays 0, not -0.01), so
    # info["action_mask"] was the mask of the state the next action was taken in,
    # the fresh game's after an auto-reset included.
    np.testing.assert_allclose(rec["step_penalty"], -0.01, rtol=1e-6)
    np.testing.assert_allclose(rec["components"], rec["reward"], atol=1e-4)
    ended = _episodes(rec["reward"], rec["done"])
    assert len(ended) >= 3, "random play should finish a few games in N x T steps"
    assert not rec["truncated"].any()
    np.testing.assert_array_equal(rec["returned_episode"], rec["done"])
    for t, i, total, length in ended:
        assert rec["returned_episode_lengths"][t, i] == length
        np.testing.assert_allclose(rec["returned_episode_returns"][t, i], total, rtol=1e-5, atol=1e-4)
        assert rec["time"][t, i] == 0  # the auto-reset game starts at time 0


def test_max_steps_in_episode_truncates_without_terminating(env):
    params = env.default_params.replace(max_steps_in_episode=5)
    _, rec = jax.device_get(_rollout(env, jax.random.PRNGKey(3), params))  # same compiled rollout
    assert rec["done"].any() and rec["returned_episode_lengths"].max() <= 5
    assert rec["time"].max() <= 4
    if gymnax_env.SPLITS_TRUNCATION:
        assert rec["truncated"].any()


def test_an_invalid_action_pays_nothing_ends_the_episode_and_resets():
    env = gymnax_env.HackMatrixGymnax()
    params = env.default_params
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    mask = np.asarray(env.action_mask(state))
    invalid = int(np.flatnonzero(~mask)[0])
    out = env.step(jax.random.PRNGKey(1), state, invalid, params)
    done, terminated, truncated = _flags(out)
    assert bool(terminated) and not bool(truncated)
    assert float(out[2]) == 0.0 and all(float(out[-1][k]) == 0.0 for k in REWARD_KEYS)
    assert int(out[1].time) == 0  # a fresh game
    np.testing.assert_array_equal(np.asarray(out[-1]["action_mask"]), np.asarray(env.action_mask(out[1])))
    if gymnax_env.SPLITS_TRUNCATION:
        np.testing.assert_array_equal(np.asarray(out[-1]["final_observation"]), np.asarray(obs))
