"""Transmission placement (game-rules §5.8): out of the line of fire if possible."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain import draws
from hackmatrix.domain.constants import GRID, NUM_CELLS
from hackmatrix.domain.grid import COLS, ROWS
from hackmatrix.domain.line_of_sight import line_of_fire
from hackmatrix.domain.lists import append_transmission, occupancy
from hackmatrix.domain.state import EnvState


def _choose(noise: jax.Array, candidates: jax.Array) -> jax.Array:
    """Uniform index among the set cells of a flat (36,) mask (``noise``: 36 uniform floats)."""
    return jnp.argmax(jnp.where(candidates, noise, -1.0))


def place_transmissions(
    state: EnvState, n: jax.Array, from_siphon: bool, from_scheduled: bool, key: jax.Array
) -> EnvState:
    """Create ``n`` transmissions (timer 1, uniform type) one after the other.

    A placement either fills a free cell or, finding no free cell or slot, changes
    nothing, so neither can any later one: at most ``NUM_CELLS`` land, and the loop
    stops there whatever ``n`` is (a siphon may queue millions), with the same result.
    """
    lof = line_of_fire(state).reshape(-1)
    player_cell = ((ROWS == state.player.row) & (COLS == state.player.col)).reshape(-1)
    fixed_blocked = player_cell | (state.board.block_kind > 0).reshape(-1) | (
        occupancy(state.enemies) > 0
    ).reshape(-1)

    def body(i, trans):
        # One block of words per transmission: 36 for the cell, 1 for the type.
        words = jax.random.bits(jax.random.fold_in(key, i), (NUM_CELLS + 1,))
        empty = jnp.logical_not(fixed_blocked | (occupancy(trans) > 0).reshape(-1))
        preferred = empty & jnp.logical_not(lof)
        pool = jnp.where(jnp.any(preferred), preferred, empty)
        idx = _choose(draws.unit(words[:NUM_CELLS]), pool)
        kind = draws.below(words[NUM_CELLS], 4)
        return append_transmission(
            trans, idx // GRID, idx % GRID, kind, jnp.bool_(from_siphon),
            jnp.bool_(from_scheduled), jnp.any(pool),
        )

    trans = jax.lax.fori_loop(0, jnp.minimum(n, NUM_CELLS), body, state.transmissions)
    return state.replace(transmissions=trans)
