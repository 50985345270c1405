"""Observation: player (10), programs (23), grid (6, 6, 42) (observation-reward-metrics §1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hackmatrix.domain.constants import (
    GRID, GRID_CHANNELS, NUM_CHANNELS, NUM_PROGRAMS, PLAYER_CHANNELS, PLAYER_FEATURES,
    PROGRAMS_CHANNEL, BlockKind, EnemyType, Special, channel_scales,
)
from hackmatrix.domain.lists import first_on_cell
from hackmatrix.domain.state import EnvState


@struct.dataclass
class Observation:
    player: jax.Array  # (10,) float32
    programs: jax.Array  # (23,) float32
    grid: jax.Array  # (6, 6, 42) float32


def _i(x) -> jax.Array:
    return jnp.asarray(x, jnp.int32)


def _to_int8(x: jax.Array) -> jax.Array:
    """``x`` (bool or int) as int8, integers clipped to -128..127."""
    if x.dtype == jnp.bool_:
        return x.astype(jnp.int8)
    return jnp.clip(x, -128, 127).astype(jnp.int8)


# Every observation value is an integer numerator over a fixed denominator (its scale),
# from the channel tables of constants.py.
_PLAYER_SCALE = channel_scales(PLAYER_CHANNELS)
_GRID_SCALE = channel_scales(GRID_CHANNELS)
OBS_SCALE = np.asarray(
    _PLAYER_SCALE + channel_scales((PROGRAMS_CHANNEL,)) + _GRID_SCALE * (GRID * GRID), np.float32
)
"""(1545,) float32: the denominator of each value of the flat observation."""


def player_numerators(state: EnvState) -> jax.Array:
    """(10,) int32 numerators of the player vector (scales in ``_PLAYER_SCALE``).

    min(credits / 50, 1) = min(credits, 50) / 50, and so for energy.
    """
    p = state.player
    features = {
        "row": _i(p.row), "col": _i(p.col), "hp": _i(p.hp),
        "credits": jnp.minimum(_i(p.credits), 50), "energy": jnp.minimum(_i(p.energy), 50),
        "stage": _i(state.stage) - 1, "data_siphons": _i(p.data_siphons),
        "attack_damage": _i(p.attack_damage) - 1,
        "show_activated": _i(state.show_activated),
        "scheduled_tasks_disabled": _i(state.scheduled_tasks_disabled),
    }
    return jnp.stack([features[ch.name] for ch in PLAYER_CHANNELS])


def enemy_visible(state: EnvState) -> jax.Array:
    """(MAX_ENEMIES,) bool: whether the player sees each enemy slot. A Cryptog is hidden
    unless it stands in the player's row or column or SHOW is active; the other kinds
    are always seen."""
    en, p = state.enemies, state.player
    return (
        (en.kind != EnemyType.CRYPTOG) | (en.row == p.row) | (en.col == p.col)
        | state.show_activated
    )  # fmt: skip


def grid_numerators(state: EnvState) -> jax.Array:
    """(6, 6, 42) int8 numerators of the grid channels (scales in ``_GRID_SCALE``)."""
    b = state.board
    en, tr = state.enemies, state.transmissions

    # Enemy channels 0-6: the first live (hp > 0) enemy of the cell, unless a hidden cryptog.
    has_e, e_slot = first_on_cell(en, en.alive & (en.hp > 0))
    kind = en.kind[e_slot]
    show_e = has_e & enemy_visible(state)[e_slot]
    enemy_onehot = (kind[..., None] == jnp.arange(4)) & show_e[..., None]
    enemy_hp = jnp.where(show_e, en.hp[e_slot], 0)
    enemy_stun = show_e & en.stunned[e_slot]
    enemy_siphon = show_e & en.from_siphon[e_slot]

    is_data = b.block_kind == BlockKind.DATA
    is_prog = b.block_kind == BlockKind.PROGRAM
    is_q = b.block_kind == BlockKind.QUESTION
    is_block = b.block_kind != BlockKind.NONE
    points = jnp.where(is_data, b.block_points, 0)
    prog_onehot = (b.block_program[..., None] == jnp.arange(NUM_PROGRAMS)) & is_prog[..., None]
    spawn = jnp.where(is_data | is_prog, b.block_spawn, 0)

    # min(timer / 4, 1) = min(timer, 4) / 4.
    has_t, t_slot = first_on_cell(tr, tr.alive)
    trans = jnp.where(has_t, jnp.minimum(tr.turns[t_slot], 4), 0)

    res_visible = ~is_block | b.siphoned
    credits = jnp.where(res_visible, b.res_credits, 0)
    energy = jnp.where(res_visible, b.res_energy, 0)

    channels = {  # name -> (6, 6, width), laid out in GRID_CHANNELS order
        "enemy_type": enemy_onehot,
        "enemy_hp": enemy_hp[..., None],
        "enemy_stunned": enemy_stun[..., None],
        "enemy_from_siphon": enemy_siphon[..., None],
        "data_block": is_data[..., None],
        "program_block": is_prog[..., None],
        "question_block": is_q[..., None],
        "block_points": points[..., None],
        "block_siphoned": (is_block & b.siphoned)[..., None],
        "block_program": prog_onehot,
        "block_spawn": spawn[..., None],
        "transmission": trans[..., None],
        "credits": credits[..., None],
        "energy": energy[..., None],
        "data_siphon": (b.special == Special.DATA_SIPHON)[..., None],
        "exit": (b.special == Special.EXIT)[..., None],
        "siphon_center": b.siphon_center[..., None],
    }
    assert channels.keys() == {ch.name for ch in GRID_CHANNELS}
    # Each channel goes to int8 before the concatenation: XLA fuses an int8 (or float)
    # concatenation of the channels but not an int32 one, which took twice as long.
    grid = jnp.concatenate([_to_int8(channels[ch.name]) for ch in GRID_CHANNELS], axis=-1)
    assert grid.shape == (GRID, GRID, NUM_CHANNELS)
    return grid


def observation_code(state: EnvState) -> jax.Array:
    """(1545,) int8: the flat observation's numerators, 4x smaller than the floats.

    ``decode_observation`` turns it into exactly ``flat_observation(state)``: a trainer
    can store a rollout's observations as codes and decode each minibatch. Numerators
    are clipped to int8 (-128..127); a game's stay far inside (the largest are
    capped credits and energy, 50).
    """
    return jnp.concatenate([
        _to_int8(player_numerators(state)), _to_int8(state.owned), grid_numerators(state).reshape(-1),
    ])


def decode_observation(code: jax.Array) -> jax.Array:
    """(…, 1545) float32 observation of (…, 1545) ``observation_code`` values."""
    return code.astype(jnp.float32) / OBS_SCALE


def flat_observation(state: EnvState) -> jax.Array:
    """(1545,) float32 policy input: player, programs, grid row-major over (row, col, channel)."""
    return decode_observation(observation_code(state))


def observe(state: EnvState) -> Observation:
    flat = flat_observation(state)
    programs_end = PLAYER_FEATURES + NUM_PROGRAMS
    return Observation(
        player=flat[:PLAYER_FEATURES],
        programs=flat[PLAYER_FEATURES:programs_end],
        grid=flat[programs_end:].reshape(GRID, GRID, NUM_CHANNELS),
    )


def flatten_observation(obs: Observation) -> jax.Array:
    """(…, 1545) policy input: player, programs, grid row-major over (row, col, channel)."""
    lead = obs.player.shape[:-1]
    return jnp.concatenate(
        [obs.player, obs.programs, obs.grid.reshape(lead + (GRID * GRID * NUM_CHANNELS,))], axis=-1
    )
