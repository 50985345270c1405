"""36-cell bitboards for fast set algebra on the 6x6 grid.

A board is a pair of uint32 words: ``lo`` holds rows 0-2, ``hi`` rows 3-5; bit
``(row % 3) * 6 + col`` of the word. Shifts move whole sets one cell in a
direction in a handful of integer ops, so flood fills and breadth-first searches
cost a few ops per step instead of 6x6 array passes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

U32 = jnp.uint32
FULL = np.uint32((1 << 18) - 1)
COL0 = np.uint32(sum(1 << (r * 6) for r in range(3)))
COL5 = np.uint32(sum(1 << (r * 6 + 5) for r in range(3)))
ROW_LOW = np.uint32(0x3F)  # lowest row of a word
_POW_LO = np.array([1 << i if i < 18 else 0 for i in range(36)], np.uint32)
_POW_HI = np.array([1 << (i - 18) if i >= 18 else 0 for i in range(36)], np.uint32)


def from_mask(mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(…, 6, 6) bool -> (lo, hi) uint32 of shape (…)."""
    flat = mask.reshape(mask.shape[:-2] + (36,)).astype(U32)
    lo = jnp.sum(flat * _POW_LO, axis=-1, dtype=U32)
    hi = jnp.sum(flat * _POW_HI, axis=-1, dtype=U32)
    return lo, hi


def to_mask(lo: jax.Array, hi: jax.Array) -> jax.Array:
    """(lo, hi) -> (…, 6, 6) bool."""
    i = jnp.arange(18, dtype=U32)
    lo_bits = (lo[..., None] >> i) & 1
    hi_bits = (hi[..., None] >> i) & 1
    flat = jnp.concatenate([lo_bits, hi_bits], axis=-1).astype(jnp.bool_)
    return flat.reshape(flat.shape[:-1] + (6, 6))


def bit(index: jax.typing.ArrayLike) -> tuple[jax.Array, jax.Array]:
    """Bitboard of the single cell ``index`` = row * 6 + col (out of 0..35: empty)."""
    index = jnp.asarray(index, jnp.int32)
    ok = (index >= 0) & (index < 36)
    is_lo = index < 18
    sh = jnp.where(is_lo, index, index - 18).clip(0, 17).astype(U32)
    one = jnp.where(ok, U32(1) << sh, U32(0))
    return jnp.where(is_lo, one, U32(0)), jnp.where(is_lo, U32(0), one)


def neighbours(lo: jax.Array, hi: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Cells orthogonally adjacent to the set (the set itself excluded unless adjacent)."""
    up_lo = (lo << 6) & FULL
    up_hi = ((hi << 6) | (lo >> 12)) & FULL
    dn_lo = (lo >> 6) | ((hi & ROW_LOW) << 12)
    dn_hi = hi >> 6
    lf_lo = (lo >> 1) & ~COL5 & FULL
    lf_hi = (hi >> 1) & ~COL5 & FULL
    rt_lo = (lo << 1) & ~COL0 & FULL
    rt_hi = (hi << 1) & ~COL0 & FULL
    return up_lo | dn_lo | lf_lo | rt_lo, up_hi | dn_hi | lf_hi | rt_hi




def flood(
    seed_lo: jax.Array, seed_hi: jax.Array, open_lo: jax.Array, open_hi: jax.Array,
    expand_lo: jax.Array | None = None, expand_hi: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Cells of ``open`` reachable from ``seed``; only cells in ``expand`` (default: open) spread."""
    if expand_lo is None:
        expand_lo, expand_hi = open_lo, open_hi

    def body(c):
        lo, hi, _ = c
        n_lo, n_hi = neighbours(lo & expand_lo, hi & expand_hi)
        new_lo = lo | (n_lo & open_lo)
        new_hi = hi | (n_hi & open_hi)
        return new_lo, new_hi, (new_lo != lo) | (new_hi != hi)

    lo, hi, _ = jax.lax.while_loop(lambda c: c[2], body, (seed_lo, seed_hi, jnp.bool_(True)))
    return lo, hi
