"""The trainer's calls on the one env class: compact observations and the batched step
give ``jax.vmap(step)``'s games exactly, time limit included."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application.gymnax_env import SPLITS_TRUNCATION, HackMatrixGymnax
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import REWARD_KEYS

N, T = 6, 12


def _vmapped_step(env, params):
    """``vmap(step)`` as (obs, state, reward, done, info, cut) for either gymnax step API;
    ``cut``: truncated by the time limit (gymnax < 1.0 does not tell: the limit reached)."""
    def one(key, state, action):
        out = env.step(key, state, action, params)
        if SPLITS_TRUNCATION:
            return out[0], out[1], out[2], out[3] | out[4], out[-1], out[4]
        cut = out[3] & (state.time + 1 >= params.max_steps_in_episode)
        return out[0], out[1], out[2], out[3], out[-1], cut
    return jax.jit(jax.vmap(one))


def _same(a, b):
    # The undo ring's stale rows after a reset are not part of a game (its count is 0).
    strip = lambda s: s.replace(game=s.game.replace(undo=None))  # noqa: E731
    for x, y in zip(jax.tree_util.tree_leaves(strip(a)), jax.tree_util.tree_leaves(strip(b))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("limit", [None, 5])
def test_batched_step_compact_plays_the_games_of_vmapped_step(limit):
    env = HackMatrixGymnax() if limit is None else HackMatrixGymnax(max_steps_in_episode=limit)
    params = env.default_params
    step, batched = _vmapped_step(env, params), jax.jit(env.batched_step_compact)
    keys = jax.random.split(jax.random.PRNGKey(3), N)
    codes, states = jax.jit(jax.vmap(lambda k: env.reset_compact(k)))(keys)
    obs, expected = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(keys, params)
    assert codes.dtype == jnp.int8 and codes.shape == (N, 1545)
    np.testing.assert_array_equal(np.asarray(env.decode_observation(codes)), np.asarray(obs))
    _same(states, expected)
    dones = truncations = 0
    for t in range(T):
        masks = jax.vmap(env.action_mask)(states)
        # Game 0 plays an invalid action at step 2 (the episode ends and a new one starts).
        actions = jnp.argmax(masks, axis=1).astype(jnp.int32)
        if t == 2:
            actions = actions.at[0].set(jnp.argmin(masks[0]).astype(jnp.int32))
        step_keys = jax.random.split(jax.random.PRNGKey(100 + t), N)
        codes, states, reward, done, info = batched(step_keys, states, actions)
        obs, expected, reward_v, done_v, info_v, cut = step(step_keys, expected, actions)
        np.testing.assert_array_equal(np.asarray(env.decode_observation(codes)), np.asarray(obs))
        _same(states, expected)
        np.testing.assert_array_equal(np.asarray(reward), np.asarray(reward_v))
        np.testing.assert_array_equal(np.asarray(done), np.asarray(done_v))
        assert set(info) == set(REWARD_KEYS) | {"stage", "score", "hp"}
        for key in info:
            np.testing.assert_array_equal(np.asarray(info[key]), np.asarray(info_v[key]))
        dones += int(done.sum())
        truncations += int(np.asarray(cut).sum())
    assert dones >= 1
    # With the limit, games that lived 5 steps were cut and started afresh.
    assert (truncations >= N // 2) if limit else truncations == 0


def test_the_env_is_hashable_by_its_parameters_so_equal_envs_share_compiled_programs():
    assert HackMatrixGymnax() == HackMatrixGymnax()
    assert hash(HackMatrixGymnax()) == hash(HackMatrixGymnax())
    assert HackMatrixGymnax() != HackMatrixGymnax(max_steps_in_episode=5)

    class Variant(HackMatrixGymnax):  # a subclass may change the game
        pass

    assert Variant() != HackMatrixGymnax() and hash(Variant()) != hash(HackMatrixGymnax())


def test_reset_compact_codes_the_new_games_credits_in_player_entry_3():
    env = HackMatrixGymnax()
    codes, states = jax.jit(jax.vmap(lambda k: env.reset_compact(k)))(
        jax.random.split(jax.random.PRNGKey(5), 8))
    # Player entry 3 is min(credits, 50) (over 50); a new game has 0 or 10 credits.
    assert codes[:, 3].tolist() == np.minimum(np.asarray(states.game.player.credits), 50).tolist()
    assert set(np.asarray(states.game.player.credits).tolist()) <= {0, 10}
    np.testing.assert_array_equal(np.asarray(env.decode_observation(codes)),
                                  np.asarray(jax.vmap(engine.flat_observation)(states.game)))
