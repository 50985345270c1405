"""Line of sight for player attacks (game-rules §3.3) and line of fire for spawns (§5.8)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.grid import at, ray_cells, scatter_mask
from hackmatrix.domain.lists import occupancy
from hackmatrix.domain.state import EnvState


def scan_target(state: EnvState, direction: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Scan from the player in ``direction`` (0..3).

    Returns (hits_transmission, hits_enemy, row, col): the first cell holding a
    transmission or an enemy before a bare block or the edge. A transmission wins
    over an enemy on the same cell.
    """
    rows, cols, inb = ray_cells(state.player.row, state.player.col)
    r, c, ok = rows[direction], cols[direction], inb[direction]
    trans = occupancy(state.transmissions) > 0
    enemy = occupancy(state.enemies) > 0
    block = state.board.block_kind > 0
    t_here = ok & at(trans, r, c, False)
    e_here = ok & at(enemy, r, c, False)
    b_here = ok & at(block, r, c, False)
    stop = t_here | e_here | b_here | jnp.logical_not(ok)
    k = jnp.argmax(stop)  # first stopping cell (ray always stops at the edge)
    return t_here[k], e_here[k] & jnp.logical_not(t_here[k]), r[k], c[k]


def line_of_fire(state: EnvState) -> jax.Array:
    """(6, 6) bool: cells in the player's row/column with no enemy or block strictly between."""
    rows, cols, inb = ray_cells(state.player.row, state.player.col)
    obstacle = (occupancy(state.enemies) > 0) | (state.board.block_kind > 0)
    obs_on_ray = inb & at(obstacle, rows, cols, False)
    # cell k is in line of fire iff no obstacle at distances 1..k-1
    before = jnp.cumsum(obs_on_ray.astype(jnp.int32), axis=1) - obs_on_ray.astype(jnp.int32)
    return scatter_mask(rows, cols, inb & (before == 0))
