"""The game as pure JAX. Importing it changes no JAX setting and starts no JAX backend
(module constants are NumPy arrays).

The rules are in docs/rules.md; docstrings cite its Part I as ``game-rules §N``, its
Part II as ``observation-reward-metrics §N`` and its project decisions as ``decision N``.

The CPU lowering of threefry that makes batched steps faster is opt-in
(``hackmatrix.domain.prng.use_unrolled_threefry_on_cpu``); the entry points switch it
on through ``hackmatrix.adapters.runtime.setup_jax_runtime``.
"""
