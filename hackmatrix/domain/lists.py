"""Ordered enemy/transmission lists on fixed slot arrays (game-rules §2.8, §1.5).

Invariant: active entries are slots 0..count-1, in the original's list order.
Removing entries re-compacts with a stable sort, appending writes slot ``count``.
"""

from __future__ import annotations

from typing import TypeVar

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import GRID, MAX_TRANSMISSIONS, NUM_CELLS
from hackmatrix.domain.state import Enemies, Transmissions

Entries = TypeVar("Entries", Enemies, Transmissions)  # a slot list

def prefix_sum(x: jax.Array) -> jax.Array:
    """Inclusive prefix sum along the last axis in log2(n) shifted adds.

    XLA's CPU cumsum is a reduce-window whose cost grows with the square of the
    length: over the 36 slots of a batch of lists it is several times slower.
    """
    n = x.shape[-1]
    k = 1
    while k < n:
        x = x + jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(k, 0)])[..., :n]
        k *= 2
    return x


def compact(entries: Entries) -> Entries:
    """Move the alive entries to the front, keeping their order; zero dead slots.

    A prefix sum gives every alive entry its new slot (a scatter, cheaper than a sort).
    """
    alive = entries.alive
    n = alive.shape[0]
    dest = jnp.where(alive, prefix_sum(alive.astype(jnp.int32)) - 1, n)
    return jax.tree_util.tree_map(
        lambda x: jnp.zeros_like(x).at[dest].set(x, mode="drop"), entries
    )

def remove_one(entries: Entries, sel: jax.Array) -> Entries:
    """``compact`` after removing the entry at the one-hot ``sel`` (nothing if all False),
    for lists already compact: later entries move down one slot, the last is zeroed."""
    n = sel.shape[0]
    k = jnp.where(jnp.any(sel), jnp.argmax(sel), n)
    later = jnp.arange(n) >= k

    def shift(x):
        nxt = jnp.concatenate([x[1:], jnp.zeros_like(x[:1])])
        return jnp.where(later, nxt, x)

    return jax.tree_util.tree_map(shift, entries)


def count(entries) -> jax.Array:
    return jnp.sum(entries.alive.astype(jnp.int32))

def append_transmission(
    trans: Transmissions,
    row: jax.Array,
    col: jax.Array,
    kind: jax.Array,
    from_siphon: jax.Array,
    from_scheduled: jax.Array,
    do: jax.Array,
) -> Transmissions:
    """Append a new transmission (timer 1) when ``do``; dropped when no slot is free."""
    idx = count(trans)
    ok = do & (idx < MAX_TRANSMISSIONS)
    slot = jnp.where(ok, idx, MAX_TRANSMISSIONS)

    def put(arr, value):
        return arr.at[slot].set(jnp.asarray(value, arr.dtype), mode="drop")

    return Transmissions(
        alive=put(trans.alive, True),
        row=put(trans.row, row),
        col=put(trans.col, col),
        turns=put(trans.turns, 1),
        kind=put(trans.kind, kind),
        from_siphon=put(trans.from_siphon, from_siphon),
        from_scheduled=put(trans.from_scheduled, from_scheduled),
    )

def cell_index(row: jax.Array, col: jax.Array) -> jax.Array:
    return row * GRID + col

def occupancy(entries, extra_mask: jax.Array | None = None) -> jax.Array:
    """(6, 6) int32 count of alive entries (optionally filtered) on each cell."""
    valid = entries.alive if extra_mask is None else entries.alive & extra_mask
    idx = jnp.where(valid, cell_index(entries.row, entries.col), NUM_CELLS)
    counts = jnp.zeros((NUM_CELLS,), jnp.int32).at[idx].add(1, mode="drop")
    return counts.reshape(GRID, GRID)

def first_on_cell(entries, valid: jax.Array) -> tuple[jax.Array, jax.Array]:
    """For each cell: (has_any, slot of the first ``valid`` entry in list order), shape (6, 6)."""
    n = valid.shape[0]
    idx = jnp.where(valid, cell_index(entries.row, entries.col), NUM_CELLS)
    big = jnp.int32(n)
    first = jnp.full((NUM_CELLS,), big, jnp.int32).at[idx].min(
        jnp.arange(n, dtype=jnp.int32), mode="drop"
    )
    has = first < big
    return has.reshape(GRID, GRID), jnp.minimum(first, n - 1).reshape(GRID, GRID)

def on_cell(entries, row: jax.Array, col: jax.Array) -> jax.Array:
    """(N,) bool: alive entries standing on (row, col)."""
    return entries.alive & (entries.row == row) & (entries.col == col)
