"""Small 6x6 grid helpers shared by the rules: neighbour shifts and rays."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, GRID

# Row and column of each cell, (6, 6) int32. NumPy, as every module constant of the domain:
# a jax array built at import would start JAX's backend (before jax.distributed could).
ROWS = np.repeat(np.arange(GRID, dtype=np.int32)[:, None], GRID, axis=1)
COLS = np.ascontiguousarray(ROWS.T)

def in_bounds(row: jax.Array, col: jax.Array) -> jax.Array:
    return (row >= 0) & (row < GRID) & (col >= 0) & (col < GRID)

def at(grid: jax.Array, row: jax.Array, col: jax.Array, default=0) -> jax.Array:
    """grid[row, col] with ``default`` outside the board."""
    inside = in_bounds(row, col)
    value = grid[jnp.clip(row, 0, GRID - 1), jnp.clip(col, 0, GRID - 1)]
    return jnp.where(inside, value, jnp.asarray(default, grid.dtype))

def ray_cells(row: jax.Array, col: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Cells at distance 1..5 from (row, col) in the U, D, L, R directions.

    Returns rows, cols (4, 5) int32 and in-bounds mask (4, 5).
    """
    k = jnp.arange(1, GRID, dtype=jnp.int32)[None, :]
    rows = row + jnp.asarray(DIR_DROW)[:, None] * k
    cols = col + jnp.asarray(DIR_DCOL)[:, None] * k
    return rows, cols, in_bounds(rows, cols)

def scatter_mask(rows: jax.Array, cols: jax.Array, valid: jax.Array) -> jax.Array:
    """(6, 6) bool with the given cells set (invalid ones ignored)."""
    idx = jnp.where(valid, rows * GRID + cols, GRID * GRID).reshape(-1)
    flat = jnp.zeros((GRID * GRID,), jnp.bool_).at[idx].set(True, mode="drop")
    return flat.reshape(GRID, GRID)
