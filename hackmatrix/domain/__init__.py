"""The game as pure JAX. Importing it compiles threefry straight-line on CPU (see prng.py)."""

from hackmatrix.domain.prng import use_unrolled_threefry_on_cpu

use_unrolled_threefry_on_cpu()
