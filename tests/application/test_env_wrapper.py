"""Gymnax-style wrapper: info keys, auto-reset with a separate key, flat observations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application.env_wrapper import HackMatrixEnv
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import REWARD_KEYS

INFO_KEYS = set(REWARD_KEYS) | {"stage", "score", "hp"}


@pytest.fixture(scope="module")
def wrapper():
    env = HackMatrixEnv()
    return env, jax.jit(env.reset), jax.jit(env.step), jax.jit(env.action_mask)


@pytest.fixture(scope="module")
def flat_observation():
    return jax.jit(engine.flat_observation)


def test_reset_gives_flat_observation_and_a_valid_action(wrapper, flat_observation):
    env, reset, _, action_mask = wrapper
    obs, state = reset(jax.random.PRNGKey(0))
    assert obs.shape == (1545,) and obs.dtype == jnp.float32
    np.testing.assert_array_equal(obs, flat_observation(state))
    assert int(state.stage) == 1
    mask = action_mask(state)
    assert mask.shape == (28,) and mask.dtype == jnp.bool_ and bool(mask.any())


def test_valid_step_continues_and_info_has_15_components_plus_stage_score_hp(
    wrapper, flat_observation
):
    env, reset, step, action_mask = wrapper
    obs, state = reset(jax.random.PRNGKey(0))
    action = jnp.int32(int(np.argmax(np.asarray(action_mask(state)))))
    key = jax.random.PRNGKey(5)
    obs2, state2, reward, done, info = step(key, state, action)
    assert set(info) == INFO_KEYS
    assert not bool(done)
    for k in REWARD_KEYS:
        assert info[k].shape == () and info[k].dtype == jnp.float32
    assert float(info["step_penalty"]) == pytest.approx(-0.01)
    total = sum(float(info[k]) for k in REWARD_KEYS)
    assert float(reward) == pytest.approx(total, abs=1e-5)
    # Not done: the game continues and obs/info describe the post-step state.
    np.testing.assert_array_equal(obs2, flat_observation(state2))
    assert int(info["stage"]) == int(state2.stage)
    assert int(info["hp"]) == int(state2.player.hp)
    assert int(info["score"]) == int(state2.player.score)


def test_done_auto_resets_to_a_fresh_game_drawn_with_the_separate_key(wrapper):
    env, reset, step, action_mask = wrapper
    obs, state = reset(jax.random.PRNGKey(0))
    invalid = jnp.int32(int(np.argmin(np.asarray(action_mask(state)))))
    assert not bool(action_mask(state)[invalid])
    key = jax.random.PRNGKey(9)
    obs2, state2, reward, done, info = step(key, state, invalid)
    # README decision 5: an invalid action ends the episode with every component 0.
    assert bool(done) and float(reward) == 0.0
    assert all(float(info[k]) == 0.0 for k in REWARD_KEYS)
    # info describes the ended game (post-step, pre-reset).
    assert int(info["stage"]) == int(state.stage) and int(info["hp"]) == int(state.player.hp)
    # The new observation is a fresh game from the reset half of the key (§6 D27).
    _, k_reset = jax.random.split(key)
    fresh_obs, fresh_state = reset(k_reset)
    np.testing.assert_array_equal(obs2, fresh_obs)
    # Everything but the undo buffer's stale contents (its count is 0, so UNDO is masked).
    assert int(state2.undo_count) == 0
    for a, b in zip(
        jax.tree_util.tree_leaves(state2.replace(undo=None)),
        jax.tree_util.tree_leaves(fresh_state.replace(undo=None)),
    ):
        np.testing.assert_array_equal(a, b)
    assert int(state2.stage) == 1 and int(state2.turn) == 0


def test_batched_step_equals_vmapping_the_single_step(wrapper):
    env = wrapper[0]
    n = 6
    keys = jax.random.split(jax.random.PRNGKey(3), n)
    obs, states = jax.jit(jax.vmap(env.reset))(keys)
    masks = jax.vmap(env.action_mask)(states)
    # one invalid action (episode ends and auto-resets) and valid ones elsewhere
    actions = jnp.where(jnp.arange(n) == 0, jnp.argmin(masks[0]), jnp.argmax(masks, axis=1)).astype(jnp.int32)
    step_keys = jax.random.split(jax.random.PRNGKey(4), n)
    batched = jax.jit(env.batched_step)(step_keys, states, actions)
    vmapped = jax.jit(jax.vmap(env.step))(step_keys, states, actions)
    assert bool(batched[3][0]) and float(batched[2][0]) == 0.0
    for a, b in zip(
        jax.tree_util.tree_leaves((batched[0], batched[1].replace(undo=None), batched[2:])),
        jax.tree_util.tree_leaves((vmapped[0], vmapped[1].replace(undo=None), vmapped[2:])),
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_compact_reset_and_step_give_int8_codes_of_the_same_observations(wrapper):
    # What the PPO rollout stores: a quarter of the bytes, decoded exactly.
    env = wrapper[0]
    n = 6
    keys = jax.random.split(jax.random.PRNGKey(5), n)
    codes, states = jax.jit(jax.vmap(env.reset_compact))(keys)
    obs, states_f = jax.jit(jax.vmap(env.reset))(keys)
    assert codes.dtype == jnp.int8 and codes.shape == (n, 1545)
    np.testing.assert_array_equal(np.asarray(env.decode_observation(codes)), np.asarray(obs))
    # Player entry 3 is min(credits, 50) (over 50); a new game has 0 or 10 credits.
    assert codes[:, 3].tolist() == np.minimum(np.asarray(states.player.credits), 50).tolist()
    actions = jnp.argmax(jax.vmap(env.action_mask)(states), axis=1).astype(jnp.int32)
    step_keys = jax.random.split(jax.random.PRNGKey(6), n)
    compact = jax.jit(env.batched_step_compact)(step_keys, states, actions)
    plain = jax.jit(env.batched_step)(step_keys, states, actions)
    assert compact[0].dtype == jnp.int8
    np.testing.assert_array_equal(np.asarray(env.decode_observation(compact[0])), np.asarray(plain[0]))
    for a, b in zip(jax.tree_util.tree_leaves(compact[2:]), jax.tree_util.tree_leaves(plain[2:])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
