"""Actor-critic networks: the spec's MLP (observation-reward-metrics §5.2) and alternatives.

``make_network(name)`` builds one of ``NETWORKS``; "mlp" is the spec's network;
``network_for(config)`` builds the one a training config names.
``separate_critic`` gives the value its own copy of the network instead of sharing the
actor's torso.
"""

from __future__ import annotations

from typing import Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import (
    GRID, NUM_ACTIONS, NUM_CHANNELS, NUM_PROGRAMS, OBS_FLAT_SIZE, PLAYER_FEATURES,
)


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


def init_params(network: nn.Module, key: jax.Array) -> dict:
    """Initialise the parameters from ``key`` with a dummy (1, 1545) observation."""
    return network.init(key, jnp.zeros((1, OBS_FLAT_SIZE), jnp.float32))


def count_params(params: object) -> int:
    """Total number of scalars in a parameter pytree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


# ---- Alternatives to the spec's MLP (issue 15 item 4) ---------------------------------
#
# Every network takes the flat observation (..., 1545) float32, any leading batch dims
# (none included), and returns logits (..., 28) and value (...), like ActorCritic.
# "mlp" is ActorCritic itself, untouched. The others use the initialisation common in
# PPO implementations: orthogonal kernels with gain sqrt(2) before a ReLU, 0.01 on the
# actor head (near-uniform initial policy), 1.0 on the critic head, zero biases.

_PROGRAMS_END = PLAYER_FEATURES + NUM_PROGRAMS  # 33: the grid starts here
_RELU_GAIN = float(np.sqrt(2.0))
_ACTOR_GAIN = 0.01
_CRITIC_GAIN = 1.0


def _ortho(scale: float) -> nn.initializers.Initializer:
    return nn.initializers.orthogonal(scale)


def _heads(x: jax.Array, num_actions: int) -> tuple[jax.Array, jax.Array]:
    """Orthogonal-init actor (gain 0.01) and critic (gain 1) heads on features ``x``."""
    logits = nn.Dense(num_actions, kernel_init=_ortho(_ACTOR_GAIN), name="actor")(x)
    value = nn.Dense(1, kernel_init=_ortho(_CRITIC_GAIN), name="critic")(x)
    return logits, jnp.squeeze(value, axis=-1)


def _torso(x: jax.Array, hidden_dim: int, num_layers: int) -> jax.Array:
    """``num_layers`` x (Dense(hidden_dim), ReLU), orthogonal gain sqrt(2)."""
    for i in range(num_layers):
        x = nn.relu(nn.Dense(hidden_dim, kernel_init=_ortho(_RELU_GAIN), name=f"torso_{i}")(x))
    return x


def _grid_and_player_cell(obs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(B, 1545) -> grid (B, 6, 6, 42), and the player's row and col (B,) int32 from
    player features 0 (row / 5) and 1 (col / 5)."""
    grid = obs[:, _PROGRAMS_END:].reshape(obs.shape[0], GRID, GRID, NUM_CHANNELS)
    row = jnp.round(obs[:, 0] * (GRID - 1)).astype(jnp.int32)
    col = jnp.round(obs[:, 1] * (GRID - 1)).astype(jnp.int32)
    return grid, row, col


def split_observation(obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(B, 1545) -> vector (B, 33) (player then programs) and board (B, 6, 6, 43).

    The board is the 42 grid channels plus a player plane: 1 on the player's cell, 0
    elsewhere, from player features 0 (row / 5) and 1 (col / 5). A convolution or a
    cell token sees the player's position only through this plane.
    """
    vector = obs[:, :_PROGRAMS_END]
    grid, row, col = _grid_and_player_cell(obs)
    cells = jnp.arange(GRID)
    plane = (cells[None, :, None] == row[:, None, None]) & (cells[None, None, :] == col[:, None, None])
    board = jnp.concatenate([grid, plane[..., None].astype(obs.dtype)], axis=-1)
    return vector, board


def _batched(fn):
    """Apply ``fn`` ((B, 1545) -> (B, 28), (B,)) to (..., 1545) observations."""

    def call(obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        lead = obs.shape[:-1]
        logits, value = fn(obs.reshape((-1, obs.shape[-1])))
        return logits.reshape(lead + logits.shape[-1:]), value.reshape(lead)

    return call


class OrthoActorCritic(nn.Module):
    """The spec's MLP (same layers, same parameter names as ActorCritic) with PPO init.

    Orthogonal kernels: gain sqrt(2) on the hidden layers, 0.01 on the actor head, 1.0
    on the critic head; zero biases. Parameter tree Dense_0..Dense_{num_layers+1}, as in
    ActorCritic, so the two share checkpoints' layout: 469,021 parameters at 256 x 2.
    """

    hidden_dim: int = 256
    num_layers: int = 2
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: obs (..., 1545) float32. Returns: logits (..., 28), value (...)."""
        x = obs
        for _ in range(self.num_layers):
            x = nn.relu(nn.Dense(self.hidden_dim, kernel_init=_ortho(_RELU_GAIN))(x))
        logits = nn.Dense(self.num_actions, kernel_init=_ortho(_ACTOR_GAIN))(x)
        value = jnp.squeeze(nn.Dense(1, kernel_init=_ortho(_CRITIC_GAIN))(x), axis=-1)
        return logits, value


class Conv3x3(nn.Module):
    """3x3 convolution, stride 1, SAME (zero) padding, over (B, 6, 6, C) boards.

    Computes what ``nn.Conv(features, (3, 3), padding="SAME")`` computes, with the same
    parameters (kernel (3, 3, C, features), bias), as one matrix product of the 3x3
    patches (B, 6, 6, 9 C) with the reshaped kernel. On CPU, XLA runs a convolution
    inside a loop (the trainer's ``lax.scan`` over minibatches and rollout steps) several
    times slower than outside one, which made training with ``nn.Conv`` ~27x slower than
    with the MLP; a matrix product does not slow down there.
    """

    features: int
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (3, 3, channels, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        rows, cols = x.shape[-3], x.shape[-2]
        padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        patches = jnp.concatenate(
            [padded[:, i:i + rows, j:j + cols] for i in range(3) for j in range(3)], axis=-1
        )
        return patches @ kernel.reshape(9 * channels, self.features) + bias


class ConvActorCritic(nn.Module):
    """Convolutions over the board, then the MLP torso and heads (orthogonal init).

    board (6, 6, 42 + player plane) -> per-cell Dense(embed_channels) (a 1x1
    convolution), ReLU -> conv_layers x [Conv3x3(conv_channels) (SAME), ReLU] ->
    flatten (36 x conv_channels) ++ player and program vector (33) -> num_layers x
    [Dense(hidden_dim), ReLU] -> actor Dense(28), critic Dense(1).

    The flatten keeps each cell's features at its place, so the torso still sees the
    whole board at once (line-of-sight attacks reach across it); the 3x3 convolution
    shares what is next to what across cells. The widths are small because on a 2-core
    CPU the cost of a PPO gradient step grows with the per-cell tensors (batch x 36 x
    channels), not with the parameter count. Measured with benchmarks/network_cost.py
    (2-core AMD EPYC, loaded): at the defaults an SGD step on 8192 observations costs
    1.9-2.1x the MLP's and PPO training at 256 x 128 runs at 0.79x the MLP's env steps/s;
    2 x Conv(32) straight on the 43 channels costs 6.4x per SGD step, 2 x Conv(64) 12x.
    232,429 parameters at the defaults.
    """

    hidden_dim: int = 256
    num_layers: int = 2
    embed_channels: int = 16  # 0: no per-cell embedding, the 3x3 convs see the 43 channels
    conv_channels: int = 16
    conv_layers: int = 1
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: obs (..., 1545) float32. Returns: logits (..., 28), value (...)."""
        return _batched(self._forward)(obs)

    def _forward(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        vector, x = split_observation(obs)
        if self.embed_channels:
            x = nn.relu(nn.Dense(self.embed_channels, kernel_init=_ortho(_RELU_GAIN), name="cell_embed")(x))
        for i in range(self.conv_layers):
            x = nn.relu(Conv3x3(self.conv_channels, kernel_init=_ortho(_RELU_GAIN), name=f"conv_{i}")(x))
        x = jnp.concatenate([x.reshape(x.shape[0], -1), vector], axis=-1)
        x = _torso(x, self.hidden_dim, self.num_layers)
        return _heads(x, self.num_actions)


class AttentionActorCritic(nn.Module):
    """Self-attention over 36 cell tokens plus a player and a program token.

    Tokens (width ``embed_dim``): each cell's 43 board values (with the player plane)
    through a shared Dense plus a learned position embedding; the player vector (10)
    and the program vector (23) each through its own Dense. ``blocks`` pre-norm blocks
    of [LayerNorm, multi-head self-attention (``heads`` heads), residual] and, when
    ``mlp_ratio`` > 0, [LayerNorm, Dense(mlp_ratio x embed_dim), ReLU, Dense(embed_dim),
    residual]; a final LayerNorm; the 38 tokens flattened (a cell's output stays at its
    place) ++ the raw player and program vector (33) -> num_layers x [Dense(hidden_dim),
    ReLU] -> heads.

    Token embeddings and the block MLP's output are orthogonal with gain 1, layers before
    a ReLU sqrt(2), heads 0.01 / 1.0; the attention projections keep Flax's default init
    (orthogonalising their (d, heads, d / heads) kernels as a whole would not make each
    head's projection orthogonal). Small by default (width 16, 1 head, 1 block, no block
    MLP) because on a 2-core CPU the per-token tensors and the (batch x heads x 38 x 38)
    attention weights cost more than the matmuls: an SGD step costs 2.7-3.2x the MLP's
    and PPO training at 256 x 128 runs at 0.56x its env steps/s; width 32 with 4 heads
    and a block MLP costs 7.9x per SGD step (benchmarks/network_cost.py). 240,589
    parameters at the defaults.
    """

    hidden_dim: int = 256
    num_layers: int = 2
    embed_dim: int = 16
    heads: int = 1
    blocks: int = 1
    mlp_ratio: int = 0
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: obs (..., 1545) float32. Returns: logits (..., 28), value (...)."""
        return _batched(self._forward)(obs)

    def _forward(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        d = self.embed_dim
        vector, board = split_observation(obs)
        n = obs.shape[0]
        cells = nn.Dense(d, kernel_init=_ortho(1.0), name="cell_embed")(board.reshape(n, GRID * GRID, -1))
        cells = cells + self.param("cell_position", nn.initializers.normal(0.02), (GRID * GRID, d))
        player = nn.Dense(d, kernel_init=_ortho(1.0), name="player_embed")(vector[:, :PLAYER_FEATURES])
        programs = nn.Dense(d, kernel_init=_ortho(1.0), name="program_embed")(vector[:, PLAYER_FEATURES:])
        x = jnp.concatenate([player[:, None], programs[:, None], cells], axis=1)  # (B, 38, d)
        for i in range(self.blocks):
            y = nn.LayerNorm(name=f"block_{i}_norm_attention")(x)
            x = x + nn.MultiHeadDotProductAttention(num_heads=self.heads, name=f"block_{i}_attention")(y)
            if self.mlp_ratio:
                y = nn.LayerNorm(name=f"block_{i}_norm_mlp")(x)
                y = nn.Dense(self.mlp_ratio * d, kernel_init=_ortho(_RELU_GAIN), name=f"block_{i}_mlp_in")(y)
                x = x + nn.Dense(d, kernel_init=_ortho(1.0), name=f"block_{i}_mlp_out")(nn.relu(y))
        x = nn.LayerNorm(name="final_norm")(x).reshape(n, -1)
        x = jnp.concatenate([x, vector], axis=-1)
        x = _torso(x, self.hidden_dim, self.num_layers)
        return _heads(x, self.num_actions)


class EgoActorCritic(nn.Module):
    """The board seen from the player: an 11x11 frame centred on the player's cell.

    The 6x6 board (42 channels plus an on-board plane, 1 on every real cell) is placed
    in an 11x11 frame so that the player sits at its centre (5, 5); frame cells off the
    board are all zero, on-board plane included. Every cell of the board stays in view
    wherever the player stands. Each frame cell goes through a shared Dense
    (``embed_channels``), ReLU; flattened (121 x embed_channels) ++ the player and
    program vector (33) -> num_layers x [Dense(hidden_dim), ReLU] -> heads (orthogonal
    init, as the other alternatives).

    What is next to the player, what lies in line of fire and where the exit is
    relative to the player then sit in the same inputs wherever the player stands, where
    the flat observation spreads them over 36 positions: rules written about the
    player's surroundings (attack the adjacent enemy, step away from what can reach you)
    are one pattern to learn instead of 36. The frame is a fixed function of the
    observation (two one-hot shift matrices), so the network reads exactly the spec's
    observation.
    """

    hidden_dim: int = 256
    num_layers: int = 2
    embed_channels: int = 16
    num_actions: int = NUM_ACTIONS

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: obs (..., 1545) float32. Returns: logits (..., 28), value (...)."""
        return _batched(self._forward)(obs)

    def _forward(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        frame = ego_frame(obs)
        x = nn.relu(nn.Dense(self.embed_channels, kernel_init=_ortho(_RELU_GAIN), name="cell_embed")(frame))
        x = jnp.concatenate([x.reshape(x.shape[0], -1), obs[:, :_PROGRAMS_END]], axis=-1)
        x = _torso(x, self.hidden_dim, self.num_layers)
        return _heads(x, self.num_actions)


EGO = 2 * GRID - 1  # 11: the frame's side


def ego_frame(obs: jax.Array) -> jax.Array:
    """(B, 1545) -> (B, 11, 11, 43): the board (42 channels and an on-board plane)
    shifted so that the player's cell is at (5, 5); cells off the board are zero."""
    n = obs.shape[0]
    grid, row, col = _grid_and_player_cell(obs)
    board = jnp.concatenate([grid, jnp.ones((n, GRID, GRID, 1), obs.dtype)], axis=-1)
    offsets = jnp.arange(EGO) - (GRID - 1)  # frame index i looks at board row player + i - 5
    cells = jnp.arange(GRID)
    rows = (row[:, None, None] + offsets[None, :, None] == cells[None, None, :]).astype(obs.dtype)
    cols = (col[:, None, None] + offsets[None, :, None] == cells[None, None, :]).astype(obs.dtype)
    return jnp.einsum("bir,bjs,brsc->bijc", rows, cols, board)


class SeparateCritic(nn.Module):
    """Two instances of one network (own keys), sharing nothing: logits from ``actor``,
    value from ``critic``.

    The shared torso serves two losses: the critic's gradient moves the features the actor
    reads, and the teacher's cross-entropy moves the features the critic reads. Here each
    copy learns from its own loss alone. Each copy keeps the head it does not use (the
    actor copy's Dense(1), the critic copy's Dense(28)); nothing reads them, XLA drops
    their compute, and they stay at their initial values (their gradient is 0).
    """

    actor: nn.Module
    critic: nn.Module

    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Args: obs (..., 1545) float32. Returns: logits (..., 28), value (...)."""
        logits, _ = self.actor(obs)
        _, value = self.critic(obs)
        return logits, value


NETWORKS = ("mlp", "mlp_ortho", "conv", "attention", "ego")
"""The names ``make_network`` accepts; "mlp" (the spec's network) is the default."""


def make_network(name: str = "mlp", hidden_dim: int = 256, num_layers: int = 2,
                 separate_critic: bool = False) -> nn.Module:
    """The network called ``name`` with a ``num_layers`` x Dense(``hidden_dim``) torso.

    ``separate_critic``: ``SeparateCritic`` over two copies of that network.

    "mlp": ActorCritic, the spec's network (§5.2), Flax default init.
    "mlp_ortho": the same layers with orthogonal (PPO) init.
    "conv": per-cell Dense(16), Conv(16, 3x3) over the board with a player plane, then
    the torso.
    "attention": one self-attention layer (width 16, 1 head) over 36 cell tokens and a
    player and a program token, then the torso.
    Every network maps obs (..., 1545) float32 to logits (..., 28) and value (...).
    """
    if separate_critic:
        return SeparateCritic(actor=make_network(name, hidden_dim, num_layers),
                              critic=make_network(name, hidden_dim, num_layers))
    if name == "mlp":
        return ActorCritic(hidden_dim=hidden_dim, num_layers=num_layers)
    if name == "mlp_ortho":
        return OrthoActorCritic(hidden_dim=hidden_dim, num_layers=num_layers)
    if name == "conv":
        return ConvActorCritic(hidden_dim=hidden_dim, num_layers=num_layers)
    if name == "attention":
        return AttentionActorCritic(hidden_dim=hidden_dim, num_layers=num_layers)
    if name == "ego":
        return EgoActorCritic(hidden_dim=hidden_dim, num_layers=num_layers)
    raise ValueError(f"unknown network {name!r}; expected one of {', '.join(NETWORKS)}")


class NetworkSettings(Protocol):
    """The settings of a config (``TrainConfig``) that decide its network."""

    @property
    def network(self) -> str: ...
    @property
    def hidden_dim(self) -> int: ...
    @property
    def num_layers(self) -> int: ...
    @property
    def separate_critic(self) -> bool: ...


def network_for(settings: NetworkSettings) -> nn.Module:
    """The network ``settings`` describe: the one place a config becomes a network."""
    return make_network(settings.network, settings.hidden_dim, settings.num_layers,
                        settings.separate_critic)
