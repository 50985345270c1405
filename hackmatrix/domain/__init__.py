"""The game as pure JAX. Importing it compiles threefry straight-line on CPU (see prng.py).

The rules are in docs/rules.md; docstrings cite its Part I as ``game-rules §N``, its
Part II as ``observation-reward-metrics §N`` and its project decisions as ``decision N``.
"""

from hackmatrix.domain.prng import use_unrolled_threefry_on_cpu

use_unrolled_threefry_on_cpu()
