"""batched_step_auto_reset: one generation pass, the same games as step then auto-reset;
its ``ended`` holds the post-step stage, score, hp and flat observation."""

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import env

N, T = 64, 40


def test_fused_step_and_auto_reset_equal_the_two_calls_bit_for_bit():
    params = env.DEFAULT_PARAMS

    def body(carry, key):
        a, b = carry
        k_act, k_step, k_reset = jax.random.split(key, 3)
        mask = jax.vmap(env.valid_actions)(a)
        actions = jax.random.categorical(k_act, jnp.where(mask, 0.0, -1e9), axis=-1).astype(jnp.int32)
        step_keys, reset_keys = jax.random.split(k_step, N), jax.random.split(k_reset, N)
        stepped, _, r1, d1, bd1 = env.batched_step(a, actions, step_keys, params)
        a = jax.vmap(env.auto_reset, in_axes=(0, 0, 0, None))(stepped, d1, reset_keys, params)
        b, r2, d2, bd2, ended = env.batched_step_auto_reset(b, actions, step_keys, reset_keys, params)
        same = jnp.all(jnp.stack([jnp.all(x == y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))]))
        same &= jnp.all(r1 == r2) & jnp.all(d1 == d2)
        same &= jnp.all(jnp.stack([jnp.all(bd1[k] == bd2[k]) for k in bd1]))
        same &= jnp.all(ended["stage"] == stepped.stage) & jnp.all(ended["score"] == stepped.player.score)
        same &= jnp.all(ended["hp"] == stepped.player.hp)
        same &= jnp.all(ended["obs"] == jax.vmap(env.flat_observation)(stepped))
        new_stage = jnp.sum(stepped.stage > carry[0].stage)
        return (a, b), (same, jnp.sum(d1), new_stage)

    start, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), N), params)
    run = jax.jit(lambda s, k: jax.lax.scan(body, (s, s), jax.random.split(k, T)))
    _, (same, dones, new_stages) = run(start, jax.random.PRNGKey(1))
    assert np.asarray(same).all(), np.nonzero(~np.asarray(same))
    # Both kinds of generation happened, and on some steps together.
    assert int(dones.sum()) > 20 and int(new_stages.sum()) > 3
    assert bool(jnp.any((dones > 0) & (new_stages > 0)))
