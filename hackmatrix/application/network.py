"""Actor-critic network of observation-reward-metrics §5.2."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE

NETWORKS = ("mlp",)


class ActorCritic(nn.Module):
    """Shared ReLU torso, Dense(28) actor logits and Dense(1) critic, flax default init.

    At hidden_dim 256 and num_layers 2 it has 469,021 parameters.
    """

    hidden_dim: int = 256
    num_layers: int = 2
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: obs (..., 1545) float32. Returns: logits (..., 28), value (...)."""
        x = obs
        for _ in range(self.num_layers):
            x = nn.relu(nn.Dense(self.hidden_dim)(x))
        logits = nn.Dense(self.num_actions)(x)
        value = jnp.squeeze(nn.Dense(1)(x), axis=-1)
        return logits, value


def make_network(name: str = "mlp", hidden_dim: int = 256, num_layers: int = 2) -> nn.Module:
    """The actor-critic called ``name`` (one of NETWORKS)."""
    if name not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {name!r}")
    return ActorCritic(hidden_dim=hidden_dim, num_layers=num_layers)


def init_params(network: ActorCritic, key: jax.Array) -> dict:
    """Initialise the parameters from ``key`` with a dummy (1, 1545) observation."""
    return network.init(key, jnp.zeros((1, OBS_FLAT_SIZE), jnp.float32))


def count_params(params: object) -> int:
    """Total number of scalars in a parameter pytree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
