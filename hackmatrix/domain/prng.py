"""How JAX's threefry hash is compiled for CPU: unrolled, as on GPU and TPU.

Every random draw of the engine (``jax.random.split``/``uniform``/``randint``/...)
evaluates the threefry2x32 hash. JAX lowers it on CPU as a ``fori_loop`` of 5 trips
(to keep programs small) and on GPU/TPU as straight-line code. A batched step makes
a few dozen small draws, and on CPU each one became its own XLA while loop, which
cannot fuse with its neighbours. With the straight-line lowering the same hash
produces the same bits (a test checks it), and the env rollout runs and compiles
faster on CPU (figures: docs/performance.md, "Batching knobs and other engine choices").

The choice is global to the process (a lowering rule of JAX's threefry primitive, for
the CPU platform only) and applies to programs lowered after it, so it is opt-in:
importing ``hackmatrix.domain`` changes nothing. The process-wide JAX set-up
(``hackmatrix.adapters.runtime.setup_jax_runtime``, used by the entry points; the
benchmarks; the test session) calls ``use_unrolled_threefry_on_cpu()``;
``use_unrolled_threefry_on_cpu(False)`` puts JAX's own rule back. The rule lives in
JAX internals (``jax._src``): where they moved, nothing changes and the function
returns False.
"""

from __future__ import annotations


def _threefry_rules():
    """(primitive, unrolled rule, JAX's CPU rule), or None where JAX's internals differ."""
    try:
        from jax._src.random import threefry2x32 as impl  # jax >= 0.6
    except ImportError:  # pragma: no cover - older jax kept it in prng.py
        try:
            from jax._src import prng as impl
        except ImportError:
            return None
    names = ("threefry2x32_p", "_threefry2x32_lowering_rule", "_threefry2x32_cpu_lowering_rule")
    if not all(hasattr(impl, name) for name in names):  # pragma: no cover - depends on jax
        return None
    return tuple(getattr(impl, name) for name in names)


def use_unrolled_threefry_on_cpu(enabled: bool = True) -> bool:
    """Compile threefry straight-line on CPU (``enabled``) or as JAX's rolled loop.

    Returns whether the rule could be set (False: JAX's internals differ, left alone).
    """
    rules = _threefry_rules()
    if rules is None:  # pragma: no cover - depends on jax
        return False
    try:
        from jax._src.interpreters import mlir
    except ImportError:  # pragma: no cover - depends on jax
        return False
    primitive, unrolled, rolled = rules
    mlir.register_lowering(primitive, unrolled if enabled else rolled, platform="cpu")
    return True
