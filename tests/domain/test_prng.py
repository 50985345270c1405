"""The CPU lowering of threefry (hackmatrix/domain/prng.py): same bits, no loop."""

import subprocess
import sys

import jax
import numpy as np
import pytest

from hackmatrix.domain.prng import use_unrolled_threefry_on_cpu


def _draws(key):
    k1, k2 = jax.random.split(key)
    return (
        jax.random.uniform(k1, (37,)),
        jax.random.randint(k2, (5, 3), 0, 9),
        jax.random.split(key, 4),
        jax.random.permutation(k2, 10),
    )


def _compiled(enabled: bool):
    """A fresh jit of the draws, lowered under the given rule."""
    use_unrolled_threefry_on_cpu(enabled)
    try:
        # A new function object each time, so no cached lowering is reused.
        return jax.jit(lambda k: _draws(k)).lower(jax.random.PRNGKey(0)).compile()
    finally:
        use_unrolled_threefry_on_cpu(True)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the rule is set for the CPU platform only")
def test_unrolled_threefry_gives_the_same_bits_as_jax_rolled_loop_without_a_while_loop():
    rolled, unrolled = _compiled(False), _compiled(True)
    assert " while(" in rolled.as_text()  # JAX's own CPU lowering: a 5-trip loop per hash
    assert " while(" not in unrolled.as_text()
    for seed in (0, 7, 123456789):
        key = jax.random.PRNGKey(seed)
        for a, b in zip(rolled(key), unrolled(key)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the rule is set for the CPU platform only")
def test_importing_the_domain_selects_the_unrolled_rule():
    # A fresh interpreter: JAX's rolled loop before the import, straight-line after it.
    code = (
        "import jax\n"
        "def text():\n"
        "    f = jax.jit(lambda k: jax.random.uniform(k, (8,)))\n"
        "    return f.lower(jax.random.PRNGKey(1)).compile().as_text()\n"
        "before = ' while(' in text()\n"
        "import hackmatrix.domain\n"
        "print(before, ' while(' in text())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
