"""The engine's batched enemy turn equals the reference oracle (tests/domain/reference_enemy_turn.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import env
from hackmatrix.domain.enemy_turn import batched_enemy_turn
from tests.domain.reference_enemy_turn import enemy_turn

N = 48


def _crowded_states():
    """Fresh games with 0..20 extra enemies each (stunned, disabled and stacked ones too)."""
    states, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), N), env.DEFAULT_PARAMS)
    rng = np.random.default_rng(1)
    en = jax.tree_util.tree_map(np.array, states.enemies)
    for i in range(N):
        k = int(rng.integers(0, 21)) if i % 4 else 0
        en.alive[i, :k] = True
        en.kind[i, :k] = rng.integers(0, 4, k)
        en.row[i, :k] = rng.integers(0, 6, k)
        en.col[i, :k] = rng.integers(0, 6, k)
        en.hp[i, :k] = rng.integers(0, 4, k)
        en.stunned[i, :k] = rng.random(k) < 0.2
        en.disabled[i, :k] = rng.random(k) < 0.2
        en.from_siphon[i, :k] = rng.random(k) < 0.3
    pending = jnp.asarray(rng.integers(0, 12, N) * (np.arange(N) % 3 == 0), jnp.int32)
    step_active = jnp.asarray(np.arange(N) % 7 == 0)
    return states.replace(
        enemies=jax.tree_util.tree_map(jnp.asarray, en), pending_siphon=pending, step_active=step_active
    )


def test_batched_enemy_turn_matches_the_single_environment_rule_on_crowded_boards():
    states = _crowded_states()
    keys = jax.random.split(jax.random.PRNGKey(7), N)
    do = jnp.asarray(np.arange(N) % 5 != 0)
    params = env.DEFAULT_PARAMS
    batched = jax.jit(lambda s, k, d: batched_enemy_turn(s, k, params, d))(states, keys, do)
    single = jax.jit(jax.vmap(lambda s, k, d: enemy_turn(s, k, params, d)))(states, keys, do)
    assert int(jnp.max(jnp.sum(states.enemies.alive, axis=1))) > 10  # visits past the first few
    assert int(jnp.sum(states.pending_siphon > 0)) > 3  # sub-batched spawns
    for a, b in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # The turn really happened: HP fell somewhere, spawns were placed, turns advanced.
    assert int(jnp.sum(batched.player.hp)) < int(jnp.sum(states.player.hp))
    assert int(jnp.sum(batched.transmissions.alive)) > int(jnp.sum(states.transmissions.alive))
    assert bool(jnp.all(batched.turn == states.turn + (do & ~states.step_active)))
