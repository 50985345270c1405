"""Batch-level helpers: per-row selects and running a phase on the rows that take it."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax
import jax.numpy as jnp


T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class BatchingKnobs:
    """Every sub-batch size of the batched step, in one place.

    Each rare phase runs through ``on_rows`` on the rows that take it, in rounds of a
    fixed width. The knobs are Python ints: they shape the compiled program, never its
    results (a phase gives the same rows whatever the width; tests check the batched
    step against the per-environment rule). The measurements behind the defaults are in
    docs/performance.md ("Batching knobs").
    """

    generation_width: int = 32  # rows per round of board generation (stage starts, auto-reset)
    siphon_share: int = 64  # siphon phase: rounds of N / share rows
    program_share: int = 128  # program phase: rounds of N / share rows
    first_visits: int = 1  # enemy visits every row runs before the rest are gathered
    rest_share: int = 64  # the other visits: rounds of N / share rows ...
    rest_levels: int = 12  # ... longest rows first, bucketed into this many levels
    spawn_share: int = 64  # pending siphon spawns: rounds of N / share rows


KNOBS = BatchingKnobs()


def where_rows(pred: jax.Array, a: T, b: T) -> T:
    """Per-environment select of two batched pytrees (pred has shape (N,))."""
    return jax.tree_util.tree_map(
        lambda x, y: jnp.where(pred.reshape(pred.shape + (1,) * (x.ndim - 1)), x, y), a, b
    )


def on_rows(
    mask: jax.Array, fn, inputs, outputs, width: int | None = None, share: int = 16,
    priority: jax.Array | None = None, levels: int = 8,
) -> Any:
    """Apply ``fn`` to the rows of the batch where ``mask`` and write its results back.

    The selected rows are gathered into sub-batches of fixed width (a while loop runs
    as many rounds as needed), so a rare, costly phase (a board generation, a siphon,
    a program) is paid for the rows that take it, not for the whole batch. ``fn``
    maps (inputs rows, valid (W,)) to rows shaped like ``outputs``; other rows of
    ``outputs`` are returned unchanged. Same result, row by row, as applying ``fn``
    to every row and selecting with ``mask``.

    ``width`` (default: N / ``share``, at least 8) is the sub-batch size: a round costs
    about ``width`` rows of ``fn`` whatever the count, so it should be near the number
    of rows that usually take the phase: a phase taken by few rows wants a small one.

    ``priority`` (N,) ints, optional: selected rows are taken in decreasing priority
    (clipped to ``[0, levels)``; row order within a level). For a phase whose round
    costs in proportion to its costliest row (a loop as long as the longest row's),
    this groups the long rows into the same rounds instead of spreading them over all.
    """
    n = mask.shape[0]
    if n == 1:
        # One environment (``env.step``): a plain conditional, no gathering machinery.
        return jax.lax.cond(mask[0], lambda: fn(inputs, mask), lambda: outputs)
    width = min(n, max(8, n // share) if width is None else width)
    # Selected rows first, in row order (a prefix sum and a scatter: XLA's CPU sort is slow).
    if priority is None:
        running = jnp.cumsum(mask.astype(jnp.int32))
        rank, count = running - 1, running[-1]
    else:
        rank, count = _rank_by_level(mask, priority, levels)
    order = jnp.zeros((n,), jnp.int32).at[jnp.where(mask, rank, n)].set(
        jnp.arange(n, dtype=jnp.int32), mode="drop"
    )

    def round_(carry):
        r, out = carry
        pos = r * width + jnp.arange(width)
        valid = pos < count
        idx = order[jnp.clip(pos, 0, n - 1)]
        new = fn(jax.tree_util.tree_map(lambda x: x[idx], inputs), valid)
        picked = where_rows(valid, new, jax.tree_util.tree_map(lambda x: x[idx], out))
        target = jnp.where(valid, idx, n)  # rows past the count are dropped
        return r + 1, jax.tree_util.tree_map(lambda x, y: x.at[target].set(y, mode="drop"), out, picked)

    _, out = jax.lax.while_loop(lambda c: c[0] * width < count, round_, (jnp.int32(0), outputs))
    return out


def _rank_by_level(mask: jax.Array, priority: jax.Array, levels: int) -> tuple[jax.Array, jax.Array]:
    """(rank (N,), count): a counting sort of the selected rows by decreasing level."""
    bucket = levels - 1 - jnp.clip(priority, 0, levels - 1)  # bucket 0 = highest level
    hot = mask[:, None] & (bucket[:, None] == jnp.arange(levels))  # (N, levels)
    running = jnp.cumsum(hot.astype(jnp.int32), axis=0)  # per-level running counts
    per_level = running[-1]
    before = jnp.cumsum(per_level) - per_level  # selected rows in higher levels
    within = jnp.take_along_axis(running, bucket[:, None], axis=1)[:, 0] - 1
    return before[bucket] + within, jnp.sum(per_level)
