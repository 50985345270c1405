"""Breadth-first distances on the 6x6 grid (game-rules §5.6, observation-reward-metrics §3.3.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, GRID
from hackmatrix.domain import bitboard as bb
from hackmatrix.domain.grid import in_bounds

INF = np.int32(1000)


def exit_distance(
    blocks: jax.Array, start_row: jax.Array, start_col: jax.Array, exit_row: jax.Array, exit_col: jax.Array
) -> jax.Array:
    """Reward BFS distance from the player to the exit; unreachable counts as 0.

    Every block is impassable except the target; the start cell is always expanded.
    Breadth-first layers on bitboards, stopping when the exit is reached.
    """
    blk_lo, blk_hi = bb.from_mask(blocks)
    t_lo, t_hi = bb.bit(exit_row * GRID + exit_col)
    open_lo = (~blk_lo & bb.FULL) | t_lo
    open_hi = (~blk_hi & bb.FULL) | t_hi
    s_lo, s_hi = bb.bit(start_row * GRID + start_col)

    def cond(c):
        lo, hi, _, _, d = c
        reached = ((lo & t_lo) | (hi & t_hi)) != 0
        return ~reached & ((lo | hi) != 0)

    def body(c):
        lo, hi, vis_lo, vis_hi, d = c
        g_lo, g_hi = bb.neighbours(lo, hi)
        lo = g_lo & open_lo & ~vis_lo
        hi = g_hi & open_hi & ~vis_hi
        return lo, hi, vis_lo | lo, vis_hi | hi, d + 1

    lo, hi, _, _, d = jax.lax.while_loop(cond, body, (s_lo, s_hi, s_lo, s_hi, jnp.int32(0)))
    reached = ((lo & t_lo) | (hi & t_hi)) != 0
    return jnp.where(reached, d, 0).astype(jnp.int32)


def bfs_first_step(
    enter_lo: jax.Array, enter_hi: jax.Array, target: jax.Array, row: jax.Array, col: jax.Array,
    needed: jax.Array | bool = True,
) -> tuple[jax.Array, jax.Array]:
    """FirstStep(X) of game-rules §5.6 on bitboards.

    Breadth-first layers grow from ``target`` (cell index) through the enterable set;
    the first layer that contains an enterable neighbour of (row, col) gives the
    minimum distance, and the first such neighbour in U, D, L, R order wins.
    Returns (found, direction 0..3). With ``needed`` false the search is skipped
    (nothing found) so that, under ``vmap``, unneeded searches cost no iterations.
    """
    nr = row + jnp.asarray(DIR_DROW)
    nc = col + jnp.asarray(DIR_DCOL)
    n_lo, n_hi = jax.vmap(bb.bit)(jnp.where(in_bounds(nr, nc), nr * GRID + nc, -1))
    t_lo, t_hi = bb.bit(target)
    start_lo = jnp.where(needed, t_lo & enter_lo, bb.U32(0))
    start_hi = jnp.where(needed, t_hi & enter_hi, bb.U32(0))

    def hits(lo, hi):
        return ((n_lo & lo) | (n_hi & hi)) != 0  # (4,)

    def cond(c):
        lo, hi, _, _ = c
        return ((lo | hi) != 0) & ~jnp.any(hits(lo, hi))

    def body(c):
        lo, hi, vis_lo, vis_hi = c
        g_lo, g_hi = bb.neighbours(lo, hi)
        lo = g_lo & enter_lo & ~vis_lo
        hi = g_hi & enter_hi & ~vis_hi
        return lo, hi, vis_lo | lo, vis_hi | hi

    lo, hi, _, _ = jax.lax.while_loop(cond, body, (start_lo, start_hi, start_lo, start_hi))
    h = hits(lo, hi)
    return jnp.any(h), jnp.argmax(h)
