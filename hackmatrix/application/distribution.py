"""Masked categorical over the 28 actions (observation-reward-metrics §5.3), by hand.

Invalid logits become -1e9 (not -inf, which would give NaN gradients), probabilities
come from a log-softmax, sampling is Gumbel-max, entropy sums over p > 1e-8. If every
action is masked the distribution is uniform over all of them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MASKED_LOGIT = -1e9
ENTROPY_MIN_PROB = 1e-8


def masked_logits(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Replace invalid logits by -1e9; an all-masked row becomes all zeros (uniform)."""
    all_masked = ~jnp.any(mask, axis=-1, keepdims=True)
    masked = jnp.where(mask, logits, MASKED_LOGIT)
    return jnp.where(all_masked, jnp.zeros_like(logits), masked)


def log_probs(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Log-probabilities (..., A) of the masked distribution."""
    return jax.nn.log_softmax(masked_logits(logits, mask), axis=-1)


def sample(key: jax.Array, logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Gumbel-max sample (...,) int32 from the masked distribution."""
    z = masked_logits(logits, mask)
    gumbel = jax.random.gumbel(key, z.shape, dtype=z.dtype)
    return jnp.argmax(z + gumbel, axis=-1).astype(jnp.int32)


def greedy(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Most probable valid action (...,) int32."""
    return jnp.argmax(masked_logits(logits, mask), axis=-1).astype(jnp.int32)


def log_prob_of(all_log_probs: jax.Array, action: jax.Array) -> jax.Array:
    """Pick log p(action) from (..., A) log-probabilities."""
    return jnp.take_along_axis(all_log_probs, action[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(all_log_probs: jax.Array) -> jax.Array:
    """-sum p ln p over actions with p > 1e-8 (masked actions contribute nothing)."""
    probs = jnp.exp(all_log_probs)
    terms = jnp.where(probs > ENTROPY_MIN_PROB, probs * all_log_probs, 0.0)
    return -jnp.sum(terms, axis=-1)
