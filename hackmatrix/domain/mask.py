"""The 28-action mask (observation-reward-metrics §2, game-rules §3.2, §6.2).

Programs' applicability is each program's predicate in ``programs.PROGRAMS``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW
from hackmatrix.domain.grid import at, in_bounds
from hackmatrix.domain.lists import occupancy
from hackmatrix.domain.programs import program_valid
from hackmatrix.domain.state import EnvState

__all__ = ["direction_valid", "program_valid", "valid_actions"]


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
