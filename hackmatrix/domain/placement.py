"""Transmission placement (game-rules §5.8): the original's distribution, in closed form."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import draws
from hackmatrix.domain.constants import GRID, MAX_TRANSMISSIONS, NUM_CELLS
from hackmatrix.domain.grid import COLS, ROWS
from hackmatrix.domain.line_of_sight import line_of_fire
from hackmatrix.domain.lists import append_transmission, count, occupancy
from hackmatrix.domain.state import EnvState

# The original draws up to 100 uniform cells for an empty one out of the line of fire,
# then up to 100 for any empty one. ``MISS[n]`` = (1 - n/36)^100 is the chance that 100
# draws all miss a set of n cells (computed in float64, stored as float32).
DRAWS_PER_SEARCH = 100
MISS = np.array([(1.0 - n / NUM_CELLS) ** DRAWS_PER_SEARCH for n in range(NUM_CELLS + 1)], np.float32)


def _choose(noise: jax.Array, candidates: jax.Array) -> jax.Array:
    """Uniform index among the set cells of a flat (36,) mask (``noise``: 36 uniform floats)."""
    return jnp.argmax(jnp.where(candidates, noise, -1.0))


def choose_cell(words: jax.Array, empty: jax.Array, lof: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One placement of §5.8 from 37 random words: (found, flat cell index).

    With k empty cells out of the line of fire and e empty cells: one of the k with
    probability 1 - MISS[k]; else one of the e with probability 1 - MISS[e]; else none.
    One uniform ``u`` decides which: below 1 - MISS[k] the first search succeeds, below
    1 - MISS[k] * MISS[e] the second one does (the original's two loops, without them).
    """
    preferred = empty & jnp.logical_not(lof)
    k = jnp.sum(preferred.astype(jnp.int32))
    e = jnp.sum(empty.astype(jnp.int32))
    u = draws.unit(words[NUM_CELLS])
    first = u < 1.0 - jnp.asarray(MISS)[k]
    found = u < 1.0 - jnp.asarray(MISS)[k] * jnp.asarray(MISS)[e]
    idx = _choose(draws.unit(words[:NUM_CELLS]), jnp.where(first, preferred, empty))
    return found, idx


def place_transmissions(
    state: EnvState, n: jax.Array, from_siphon: bool, from_scheduled: bool, key: jax.Array
) -> EnvState:
    """Create ``n`` transmissions (timer 1, uniform type) one after the other.

    A placement that finds no cell creates nothing; the next one tries again. Once no
    empty cell or no free slot is left, every later placement fails too, so the loop
    stops there whatever ``n`` is (a siphon may queue millions), with the same result.
    Each try with an empty cell left succeeds with probability >= 1 - MISS[1] (~94 %),
    so the loop rarely runs much past the number of empty cells.
    """
    lof = line_of_fire(state).reshape(-1)
    player_cell = ((ROWS == state.player.row) & (COLS == state.player.col)).reshape(-1)
    fixed_blocked = player_cell | (state.board.block_kind > 0).reshape(-1) | (
        occupancy(state.enemies) > 0
    ).reshape(-1)

    def empty_cells(trans):
        return jnp.logical_not(fixed_blocked | (occupancy(trans) > 0).reshape(-1))

    def more(carry):
        i, trans = carry
        return (i < n) & jnp.any(empty_cells(trans)) & (count(trans) < MAX_TRANSMISSIONS)

    def body(carry):
        i, trans = carry
        # One block of words per transmission: 36 for the cell, 1 for the search, 1 for the type.
        words = jax.random.bits(jax.random.fold_in(key, i), (NUM_CELLS + 2,))
        found, idx = choose_cell(words, empty_cells(trans), lof)
        kind = draws.below(words[NUM_CELLS + 1], 4)
        trans = append_transmission(
            trans, idx // GRID, idx % GRID, kind, jnp.bool_(from_siphon), jnp.bool_(from_scheduled), found,
        )
        return i + 1, trans

    _, trans = jax.lax.while_loop(more, body, (jnp.int32(0), state.transmissions))
    return state.replace(transmissions=trans)
