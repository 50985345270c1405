"""Random values carved from one block of random words.

Each ``jax.random`` call evaluates the threefry hash at its own site of the compiled
program (and ``randint`` twice). A phase that needs many small draws (a stage
generation, a transmission placement) takes one block of words with
``jax.random.bits`` and turns slices of it into values here: fewer hash sites make
``jit(env.step)`` compile faster. Same distributions as ``jax.random``'s: floats
are built exactly as ``jax.random.uniform`` builds them; small integers by a
remainder, whose bias (n / 2**32, under 1e-8 here) is below any test's resolution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def unit(words: jax.Array) -> jax.Array:
    """Uniform float32 in [0, 1) from uint32 words (``jax.random.uniform``'s construction)."""
    mantissa = (words >> jnp.uint32(9)) | jnp.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - jnp.float32(1.0)


def below(words: jax.Array, n: int) -> jax.Array:
    """Uniform int32 in [0, n) from uint32 words (``n`` small)."""
    return (words % jnp.uint32(n)).astype(jnp.int32)


def permutation(words: jax.Array) -> jax.Array:
    """A uniform permutation of ``range(len(words))``: the positions sorted by their
    random word (``jax.random.permutation``'s single shuffle round for short arrays)."""
    _, perm = jax.lax.sort_key_val(words, jnp.arange(words.shape[-1], dtype=jnp.int32))
    return perm
