"""Direction actions: line-of-sight attack or move (game-rules §3.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, Special
from hackmatrix.domain.events import Events, no_events
from hackmatrix.domain.grid import at, in_bounds
from hackmatrix.domain.line_of_sight import scan_target
from hackmatrix.domain.lists import on_cell, remove_one
from hackmatrix.domain.state import EnvState


def _first(mask: jax.Array) -> jax.Array:
    """One-hot of the first set entry (all False if none)."""
    idx = jnp.argmax(mask)
    return mask & (jnp.arange(mask.shape[0]) == idx)


def direction_action(state: EnvState, direction: jax.Array) -> tuple[EnvState, Events]:
    """Attack the first target in line of sight, else step; returns (state, events)."""
    hits_t, hits_e, tr, tc = scan_target(state, direction)
    p = state.player

    # Transmission target: remove the first one on the cell.
    t_sel = _first(on_cell(state.transmissions, tr, tc)) & hits_t
    t_kill = jnp.any(t_sel & jnp.logical_not(state.transmissions.from_scheduled))
    trans = remove_one(state.transmissions, t_sel)

    # Enemy target: damage the first one on the cell; stun survivors, remove the dead.
    en = state.enemies
    e_sel = _first(on_cell(en, tr, tc)) & hits_e
    new_hp = jnp.where(e_sel, jnp.maximum(0, en.hp - p.attack_damage), en.hp)
    dies = e_sel & (new_hp <= 0)
    e_kill = jnp.any(dies & jnp.logical_not(en.from_scheduled))
    en = en.replace(hp=new_hp, stunned=en.stunned | (e_sel & (new_hp > 0)))
    en = remove_one(en, dies)

    # Move.
    nr = p.row + jnp.asarray(DIR_DROW)[direction]
    nc = p.col + jnp.asarray(DIR_DCOL)[direction]
    can_move = in_bounds(nr, nc) & (at(state.board.block_kind, nr, nc, 1) == 0)
    attack = hits_t | hits_e
    moves = jnp.logical_not(attack) & can_move
    dest_special = at(state.board.special, nr, nc, 0)
    picks = moves & (dest_special == Special.DATA_SIPHON)
    exit_reached = moves & (dest_special == Special.EXIT)
    special = state.board.special.at[jnp.clip(nr, 0, 5), jnp.clip(nc, 0, 5)].set(
        jnp.where(picks, Special.NONE, dest_special)
    )
    moved_player = p.replace(
        row=jnp.where(moves, nr, p.row),
        col=jnp.where(moves, nc, p.col),
        data_siphons=p.data_siphons + picks.astype(jnp.int32),
    )
    new_state = state.replace(
        player=moved_player,
        enemies=jax.tree_util.tree_map(lambda a, b: jnp.where(hits_e, a, b), en, state.enemies),
        transmissions=jax.tree_util.tree_map(
            lambda a, b: jnp.where(hits_t, a, b), trans, state.transmissions
        ),
        board=state.board.replace(special=jnp.where(moves, special, state.board.special)),
    )
    success = attack | can_move
    ev = no_events(success=success, ends_turn=success & jnp.logical_not(exit_reached))
    ev = ev.replace(
        kills=(t_kill & hits_t).astype(jnp.int32) + (e_kill & hits_e).astype(jnp.int32),
        collected_siphon=picks,
        exit_reached=exit_reached,
    )
    return new_state, ev
