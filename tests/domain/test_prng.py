"""The CPU lowering of threefry (hackmatrix/domain/prng.py): same bits, no loop; opt-in."""

import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from hackmatrix.domain.prng import use_unrolled_threefry_on_cpu

cpu_only = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="the rule is set for the CPU platform only"
)


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
        use_unrolled_threefry_on_cpu(True)  # the test session's setting (tests/conftest.py)


@cpu_only
def test_unrolled_threefry_gives_the_same_bits_as_jax_rolled_loop_without_a_while_loop():
    rolled, unrolled = _compiled(False), _compiled(True)
    assert " while(" in rolled.as_text()  # JAX's own CPU lowering: a 5-trip loop per hash
    assert " while(" not in unrolled.as_text()
    for seed in (0, 7, 123456789):
        key = jax.random.PRNGKey(seed)
        for a, b in zip(rolled(key), unrolled(key), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# A fresh interpreter: prints whether a compiled draw has JAX's rolled loop, after
# importing every module of the domain and the application, then after each runtime
# set-up.
_FRESH = textwrap.dedent(
    """
    import importlib, pkgutil
    import jax

    def rolled():
        f = jax.jit(lambda k: jax.random.uniform(k, (8,)))
        return " while(" in f.lower(jax.random.PRNGKey(1)).compile().as_text()

    import hackmatrix.domain, hackmatrix.application
    for package in (hackmatrix.domain, hackmatrix.application):
        for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    print("imports", rolled())

    from hackmatrix.adapters.runtime import setup_jax_runtime
    runtime = setup_jax_runtime(compilation_cache_dir="none", unrolled_threefry=False)
    print("opted-out", rolled(), runtime.unrolled_threefry)
    runtime = setup_jax_runtime(compilation_cache_dir="none")
    print("runtime", rolled(), runtime.unrolled_threefry)
    """
)


@cpu_only
def test_importing_the_game_leaves_jax_alone_and_the_runtime_setup_switches_the_rule_on():
    out = subprocess.run(
        [sys.executable, "-c", _FRESH], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.splitlines() == [
        "imports True",  # JAX's own rolled loop: no import changed a lowering rule
        "opted-out True False",
        "runtime False True",  # the entry points' set-up: straight-line
    ]
