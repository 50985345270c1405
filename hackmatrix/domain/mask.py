"""The 28-action mask (observation-reward-metrics §2, game-rules §3.2, §6.2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import (
    ATK_PLUS_USES_PER_STAGE, DIR_DCOL, DIR_DROW, MAX_HP, NUM_STAGES, PROGRAM_CREDITS,
    PROGRAM_ENERGY, RING_DCOL, RING_DROW, EnemyType,
)
from hackmatrix.domain.grid import at, in_bounds
from hackmatrix.domain.lists import occupancy
from hackmatrix.domain.state import EnvState

_CREDITS = jnp.asarray(PROGRAM_CREDITS)
_ENERGY = jnp.asarray(PROGRAM_ENERGY)


def program_applicable(state: EnvState) -> jax.Array:
    """(23,) bool applicability condition of each program (§6.2), ignoring ownership and cost."""
    p = state.player
    en, tr, b = state.enemies, state.transmissions, state.board
    any_enemy = jnp.any(en.alive)
    any_trans = jnp.any(tr.alive)
    enemy_grid = occupancy(en) > 0
    trans_grid = occupancy(tr) > 0
    block = b.block_kind > 0
    rr = p.row + jnp.asarray(RING_DROW)
    rc = p.col + jnp.asarray(RING_DCOL)
    ring_hit = in_bounds(rr, rc) & (
        at(block, rr, rc, False) | at(enemy_grid, rr, rc, False) | at(trans_grid, rr, rc, False)
    )
    t = jnp.bool_(True)
    return jnp.stack([
        any_enemy,  # PUSH
        any_enemy,  # PULL
        jnp.any(ring_hit),  # CRASH
        any_enemy | any_trans,  # WARP
        any_enemy,  # POLY
        t,  # WAIT
        jnp.any(enemy_grid & block),  # DEBUG
        jnp.any(en.alive & (en.row == p.row)),  # ROW
        jnp.any(en.alive & (en.col == p.col)),  # COL
        state.undo_count > 0,  # UNDO
        t,  # STEP
        t,  # SIPH+
        p.credits >= 4,  # EXCH
        ~state.show_activated,  # SHOW
        p.hp < MAX_HP,  # RESET
        ~state.scheduled_tasks_disabled,  # CALM
        jnp.any(en.alive & (en.kind == EnemyType.DAEMON)),  # D_BOM
        any_trans,  # DELAY
        jnp.any(en.alive & (en.kind == EnemyType.VIRUS)),  # ANTI-V
        state.stage < NUM_STAGES,  # SCORE
        jnp.any(block & ~b.siphoned & (b.block_spawn > 0)),  # REDUC
        state.atk_plus_uses < ATK_PLUS_USES_PER_STAGE,  # ATK+
        jnp.any(b.siphoned),  # HACK
    ])


def program_valid(state: EnvState) -> jax.Array:
    """(23,) bool: owned, affordable and applicable."""
    p = state.player
    return (
        state.owned & (p.credits >= _CREDITS) & (p.energy >= _ENERGY) & program_applicable(state)
    )


def direction_valid(state: EnvState) -> jax.Array:
    """(4,) bool: adjacent cell on the grid and (no block, or an enemy on it)."""
    p = state.player
    nr = p.row + jnp.asarray(DIR_DROW)
    nc = p.col + jnp.asarray(DIR_DCOL)
    block = at(state.board.block_kind > 0, nr, nc, True)
    enemy = at(occupancy(state.enemies) > 0, nr, nc, False)
    return in_bounds(nr, nc) & (~block | enemy)


def valid_actions(state: EnvState) -> jax.Array:
    """(28,) bool action mask."""
    siphon = state.player.data_siphons > 0
    return jnp.concatenate([direction_valid(state), siphon[None], program_valid(state)])
