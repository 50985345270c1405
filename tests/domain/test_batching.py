"""Batch helpers: running a phase on the rows that take it, longest rows first."""

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.batching import _rank_by_level, on_rows


def test_rank_by_level_orders_selected_rows_by_decreasing_priority_then_row():
    mask = jnp.asarray([True, False, True, True, True, False, True, True])
    priority = jnp.asarray([2, 9, 5, 2, 30, 7, 0, 5])  # 30 is clipped to the top level 7
    rank, count = _rank_by_level(mask, priority, 8)
    assert int(count) == 6
    selected = np.asarray(rank)[np.asarray(mask)]
    # rows 0, 2, 3, 4, 6, 7 -> order 4 (clipped 7), 2, 7 (level 5), 0, 3 (level 2), 6 (level 0)
    np.testing.assert_array_equal(selected, [3, 1, 4, 0, 5, 2])


def test_on_rows_with_priority_gives_the_same_rows_as_without():
    n = 40
    mask = jnp.asarray(np.arange(n) % 3 != 1)
    priority = jnp.asarray((np.arange(n) * 7) % 11)
    values = jnp.arange(n, dtype=jnp.int32)

    def fn(rows, valid):
        return rows * 10 + 1

    plain = on_rows(mask, fn, values, values, width=8)
    ranked = jax.jit(lambda m, v, p: on_rows(m, fn, v, v, width=8, priority=p, levels=6))(mask, values, priority)
    expected = np.where(np.asarray(mask), np.arange(n) * 10 + 1, np.arange(n))
    np.testing.assert_array_equal(np.asarray(plain), expected)
    np.testing.assert_array_equal(np.asarray(ranked), expected)
