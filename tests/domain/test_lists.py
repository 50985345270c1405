"""Slot lists (lists.py, game-rules §2.8): removing one entry keeps the list order."""

import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hackmatrix.domain.lists import compact, remove_one
from hackmatrix.domain.state import Transmissions


def _list(rows):
    n, count = 36, len(rows)
    pad = [(0, 0, 0, 0)] * (n - len(rows))
    r, c, t, k = (np.array([x[i] for x in rows + pad], np.int32) for i in range(4))
    return Transmissions(
        alive=jnp.asarray(np.arange(n) < count), row=jnp.asarray(r), col=jnp.asarray(c),
        turns=jnp.asarray(t), kind=jnp.asarray(k),
        from_siphon=jnp.asarray((np.arange(n) == 1) & (np.arange(n) < count)),
        from_scheduled=jnp.zeros(n, bool),
    )


def test_removing_the_second_of_three_entries_moves_the_third_into_its_slot():
    lst = _list([(0, 1, 1, 0), (2, 3, 2, 1), (4, 5, 3, 2)])
    out = remove_one(lst, jnp.arange(36) == 1)
    assert out.alive[:3].tolist() == [True, True, False]
    assert out.row[:3].tolist() == [0, 4, 0] and out.col[:3].tolist() == [1, 5, 0]
    assert out.kind[:3].tolist() == [0, 2, 0] and out.turns[:3].tolist() == [1, 3, 0]
    assert not bool(out.from_siphon.any())  # the removed entry's flag went with it


def test_removing_nothing_leaves_the_list_unchanged():
    lst = _list([(0, 1, 1, 0), (2, 3, 2, 1)])
    out = remove_one(lst, jnp.zeros(36, bool))
    for a, b in zip(out.__dict__.values(), lst.__dict__.values()):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 36), at=st.integers(-1, 35), seed=st.integers(0, 2**31 - 1))
def test_remove_one_equals_compact_after_dropping_the_entry(count, at, seed):
    rng = np.random.default_rng(seed)
    rows = [tuple(int(v) for v in rng.integers(1, 6, 4)) for _ in range(count)]
    lst = _list(rows)
    sel = (jnp.arange(36) == at) & lst.alive  # at most one alive entry
    a = remove_one(lst, sel)
    b = compact(lst.replace(alive=lst.alive & ~sel))
    for x, y in zip(a.__dict__.values(), b.__dict__.values()):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
