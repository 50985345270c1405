"""Observation: player (10), programs (23), grid (6, 6, 42) (observation-reward-metrics §1)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from hackmatrix.domain.constants import GRID, NUM_CHANNELS, NUM_PROGRAMS, BlockKind, EnemyType, Special
from hackmatrix.domain.lists import first_on_cell
from hackmatrix.domain.state import EnvState


@struct.dataclass
class Observation:
    player: jax.Array  # (10,) float32
    programs: jax.Array  # (23,) float32
    grid: jax.Array  # (6, 6, 42) float32


def _f(x) -> jax.Array:
    return jnp.asarray(x, jnp.float32)


def player_vector(state: EnvState) -> jax.Array:
    p = state.player
    return jnp.stack([
        _f(p.row) / 5.0,
        _f(p.col) / 5.0,
        _f(p.hp) / 3.0,
        jnp.minimum(_f(p.credits) / 50.0, 1.0),
        jnp.minimum(_f(p.energy) / 50.0, 1.0),
        (_f(state.stage) - 1.0) / 7.0,
        _f(p.data_siphons) / 10.0,
        (_f(p.attack_damage) - 1.0) / 2.0,
        _f(state.show_activated),
        _f(state.scheduled_tasks_disabled),
    ])


def grid_tensor(state: EnvState) -> jax.Array:
    b = state.board
    en, tr = state.enemies, state.transmissions
    p = state.player

    # Enemy channels 0-6: the first live (hp > 0) enemy of the cell, unless a hidden cryptog.
    has_e, e_slot = first_on_cell(en, en.alive & (en.hp > 0))
    kind = en.kind[e_slot]
    visible = (kind != EnemyType.CRYPTOG) | (en.row[e_slot] == p.row) | (en.col[e_slot] == p.col) | state.show_activated
    show_e = has_e & visible
    enemy_onehot = jax.nn.one_hot(kind, 4, dtype=jnp.float32) * show_e[..., None]
    enemy_hp = jnp.where(show_e, _f(en.hp[e_slot]) / 3.0, 0.0)
    enemy_stun = _f(show_e & en.stunned[e_slot])
    enemy_siphon = _f(show_e & en.from_siphon[e_slot])

    is_data = b.block_kind == BlockKind.DATA
    is_prog = b.block_kind == BlockKind.PROGRAM
    is_q = b.block_kind == BlockKind.QUESTION
    is_block = b.block_kind != BlockKind.NONE
    points = jnp.where(is_data, _f(b.block_points) / 9.0, 0.0)
    prog_onehot = jax.nn.one_hot(b.block_program, NUM_PROGRAMS, dtype=jnp.float32) * _f(is_prog)[..., None]
    spawn = jnp.where(is_data | is_prog, _f(b.block_spawn) / 9.0, 0.0)

    has_t, t_slot = first_on_cell(tr, tr.alive)
    trans = jnp.where(has_t, jnp.minimum(_f(tr.turns[t_slot]) / 4.0, 1.0), 0.0)

    res_visible = ~is_block | b.siphoned
    credits = jnp.where(res_visible, _f(b.res_credits) / 3.0, 0.0)
    energy = jnp.where(res_visible, _f(b.res_energy) / 3.0, 0.0)

    channels = [
        enemy_onehot,
        enemy_hp[..., None],
        enemy_stun[..., None],
        enemy_siphon[..., None],
        _f(is_data)[..., None],
        _f(is_prog)[..., None],
        _f(is_q)[..., None],
        points[..., None],
        _f(is_block & b.siphoned)[..., None],
        prog_onehot,
        spawn[..., None],
        trans[..., None],
        credits[..., None],
        energy[..., None],
        _f(b.special == Special.DATA_SIPHON)[..., None],
        _f(b.special == Special.EXIT)[..., None],
        _f(b.siphon_center)[..., None],
    ]
    grid = jnp.concatenate(channels, axis=-1)
    assert grid.shape == (GRID, GRID, NUM_CHANNELS)
    return grid


def observe(state: EnvState) -> Observation:
    return Observation(
        player=player_vector(state),
        programs=state.owned.astype(jnp.float32),
        grid=grid_tensor(state),
    )


def flatten_observation(obs: Observation) -> jax.Array:
    """(…, 1545) policy input: player, programs, grid row-major over (row, col, channel)."""
    lead = obs.player.shape[:-1]
    return jnp.concatenate(
        [obs.player, obs.programs, obs.grid.reshape(lead + (GRID * GRID * NUM_CHANNELS,))], axis=-1
    )
