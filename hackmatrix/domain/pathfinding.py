"""Breadth-first distances on the 6x6 grid (game-rules §5.6, observation-reward-metrics §3.3.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, GRID
from hackmatrix.domain.grid import COLS, ROWS, at, in_bounds, neighbour_values

INF = jnp.int32(1000)


def distance_field(enterable: jax.Array, target_row: jax.Array, target_col: jax.Array) -> jax.Array:
    """(6, 6) int32 shortest 4-connected path length from each cell to the target.

    Paths use only ``enterable`` cells; the target counts as enterable only if
    ``enterable`` says so (else everything is INF). Unreachable cells are INF.
    """
    is_target = (ROWS == target_row) & (COLS == target_col)
    start = jnp.where(is_target & enterable, 0, INF).astype(jnp.int32)

    def body(carry):
        dist, _ = carry
        nb = jnp.min(neighbour_values(dist, INF), axis=0) + 1
        new = jnp.where(enterable, jnp.minimum(dist, nb), INF)
        return new, jnp.any(new != dist)

    dist, _ = jax.lax.while_loop(lambda c: c[1], body, (start, jnp.bool_(True)))
    return jnp.minimum(dist, INF)


def first_step(
    dist: jax.Array, enterable: jax.Array, row: jax.Array, col: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """First U, D, L, R neighbour of (row, col) with the minimum finite distance.

    Returns (found, row, col).
    """
    nr = row + jnp.asarray(DIR_DROW)
    nc = col + jnp.asarray(DIR_DCOL)
    ok = in_bounds(nr, nc) & at(enterable, nr, nc, False)
    d = jnp.where(ok, at(dist, nr, nc, INF), INF)
    best = jnp.argmin(d)  # first minimum in U, D, L, R order
    found = d[best] < INF
    return found, nr[best], nc[best]


def exit_distance(
    blocks: jax.Array, start_row: jax.Array, start_col: jax.Array, exit_row: jax.Array, exit_col: jax.Array
) -> jax.Array:
    """Reward BFS distance from the player to the exit; unreachable counts as 0.

    Every block is impassable except the target; the start cell is always expanded.
    """
    is_target = (ROWS == exit_row) & (COLS == exit_col)
    passable = jnp.logical_not(blocks) | is_target
    dist = distance_field(passable, exit_row, exit_col)
    nr = start_row + jnp.asarray(DIR_DROW)
    nc = start_col + jnp.asarray(DIR_DCOL)
    via = jnp.min(jnp.where(in_bounds(nr, nc), at(dist, nr, nc, INF), INF)) + 1
    same = (start_row == exit_row) & (start_col == exit_col)
    d = jnp.where(same, 0, jnp.minimum(via, INF))
    return jnp.where(d >= INF, 0, d).astype(jnp.int32)
