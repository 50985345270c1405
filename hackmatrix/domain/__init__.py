"""The game as pure JAX. Importing it changes no JAX setting.

The CPU lowering of threefry that makes batched steps faster is opt-in
(``hackmatrix.domain.prng.use_unrolled_threefry_on_cpu``); the entry points switch it
on through ``hackmatrix.adapters.runtime.setup_jax_runtime``.
"""
