"""Values carved from blocks of random words (hackmatrix.domain.draws)."""

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import draws


def test_unit_builds_floats_exactly_as_jax_random_uniform():
    key = jax.random.PRNGKey(3)
    words = jax.random.bits(key, (1000,))
    np.testing.assert_array_equal(np.asarray(draws.unit(words)), np.asarray(jax.random.uniform(key, (1000,))))
    edges = draws.unit(jnp.asarray([0, 0xFFFFFFFF], jnp.uint32))
    assert float(edges[0]) == 0.0 and float(edges[1]) < 1.0


def test_below_is_uniform_over_its_range():
    words = jax.random.bits(jax.random.PRNGKey(5), (90_000,))
    counts = np.bincount(np.asarray(draws.below(words, 9)), minlength=9)
    assert counts.shape == (9,)
    assert np.all(np.abs(counts - 10_000) < 500)  # 5 sigma is ~470


def test_permutation_is_a_uniform_shuffle():
    words = jax.random.bits(jax.random.PRNGKey(7), (20_000, 23))
    perms = np.asarray(jax.vmap(draws.permutation)(words))
    assert all(sorted(p) == list(range(23)) for p in perms[:200])
    first = np.bincount(perms[:, 0], minlength=23)  # each program first ~1/23 of the time
    assert np.all(np.abs(first - 20_000 / 23) < 160)  # ~5.5 sigma
