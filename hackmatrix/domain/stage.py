"""Stage completion, generation and initialisation (game-rules §7)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import (
    BLOCK_ATTEMPTS, CORNERS, GRID, MAX_BLOCKS, MAX_HP, MIN_BLOCKS, NUM_CELLS, NUM_PROGRAMS,
    NUM_STAGES, PROGRAM_SPAWN, QUESTION_PROB, BlockKind, Special,
)
from hackmatrix.domain.grid import COLS, ROWS, any_neighbour, neighbour_values
from hackmatrix.domain.lists import occupancy
from hackmatrix.domain.placement import place_transmissions
from hackmatrix.domain.state import Board, EnvParams, EnvState, empty_board
from hackmatrix.domain.undo import clear_history

_CORNERS = jnp.asarray(CORNERS)
_SPAWN = jnp.asarray(PROGRAM_SPAWN)
_IS_CORNER = jnp.zeros((GRID, GRID), jnp.bool_).at[_CORNERS[:, 0], _CORNERS[:, 1]].set(True)


def _layout_valid(blocks: jax.Array, exit_row: jax.Array, exit_col: jax.Array) -> jax.Array:
    """§7.3 validation: connectivity from (0,0) (exit not expanded) and siphonability."""
    open_cells = ~blocks
    is_exit = (ROWS == exit_row) & (COLS == exit_col)
    exit_is_start = (exit_row == 0) & (exit_col == 0)
    expandable = open_cells & (~is_exit | exit_is_start)
    start = (ROWS == 0) & (COLS == 0)

    def body(carry):
        reached, _ = carry
        new = reached | (open_cells & any_neighbour(reached & expandable))
        return new, jnp.any(new != reached)

    reached, _ = jax.lax.while_loop(lambda c: c[1], body, (start, jnp.bool_(True)))
    connected = jnp.all(reached | blocks)
    siphonable = jnp.all(~blocks | jnp.any(neighbour_values(open_cells, False), axis=0))
    return connected & siphonable


def _generate_blocks(key: jax.Array, board: Board, state: EnvState, exit_row, exit_col) -> Board:
    k_count, k_layout, k_kind, k_q, k_pts, k_prog = jax.random.split(key, 6)
    occupied = (occupancy(state.enemies) > 0) | (occupancy(state.transmissions) > 0)
    eligible = (~_IS_CORNER & ~occupied).reshape(-1)
    k = jnp.minimum(jax.random.randint(k_count, (), MIN_BLOCKS, MAX_BLOCKS + 1), jnp.sum(eligible))

    # BLOCK_ATTEMPTS random layouts: each a uniform k-subset, ranked in draw order.
    prio = jax.random.uniform(k_layout, (BLOCK_ATTEMPTS, NUM_CELLS))
    prio = jnp.where(eligible[None, :], prio, 2.0)
    rank = jnp.argsort(jnp.argsort(prio, axis=1), axis=1)  # (A, 36) rank of each cell
    chosen = rank < k
    valid = jax.vmap(lambda b: _layout_valid(b.reshape(GRID, GRID), exit_row, exit_col))(chosen)
    first = jnp.argmax(valid)
    any_valid = jnp.any(valid)
    blocks = chosen[first] & any_valid  # (36,)
    cell_rank = rank[first]  # placement order

    # Contents in placement order (indexed by rank).
    is_data = jax.random.bernoulli(k_kind, 0.5, (NUM_CELLS,))
    is_question = jax.random.bernoulli(k_q, QUESTION_PROB, (NUM_CELLS,))
    points = jax.random.randint(k_pts, (NUM_CELLS,), 1, 10)
    perm = jax.random.permutation(k_prog, NUM_PROGRAMS)
    prog_ordinal = jnp.cumsum(~is_data) - 1  # j-th program block gets perm[j]
    prog_by_rank = perm[jnp.clip(prog_ordinal, 0, NUM_PROGRAMS - 1)]

    r = jnp.clip(cell_rank, 0, NUM_CELLS - 1)
    c_data, c_q, c_pts, c_prog = is_data[r], is_question[r], points[r], prog_by_rank[r]
    kind = jnp.where(c_q, BlockKind.QUESTION, jnp.where(c_data, BlockKind.DATA, BlockKind.PROGRAM))
    kind = jnp.where(blocks, kind, BlockKind.NONE)
    spawn = jnp.where(c_data, c_pts, _SPAWN[c_prog])
    shape = (GRID, GRID)
    return board.replace(
        block_kind=kind.reshape(shape).astype(jnp.int32),
        block_points=jnp.where(blocks & c_data, c_pts, 0).reshape(shape),
        block_program=jnp.where(blocks & ~c_data, c_prog, 0).reshape(shape),
        block_spawn=jnp.where(blocks, spawn, 0).reshape(shape),
        question_is_data=(blocks & c_q & c_data).reshape(shape),
    )


def _generate_resources(key: jax.Array, board: Board) -> Board:
    """§7.4: one resource on every empty or data-siphon cell."""
    k_amount, k_kind = jax.random.split(key)
    u = jax.random.uniform(k_amount, (GRID, GRID))
    amount = jnp.where(u < 0.45, 1, jnp.where(u < 0.9, 2, 3)).astype(jnp.int32)
    is_credits = jax.random.bernoulli(k_kind, 0.5, (GRID, GRID))
    eligible = (board.block_kind == BlockKind.NONE) & (board.special != Special.EXIT)
    return board.replace(
        res_credits=jnp.where(eligible & is_credits, amount, 0),
        res_energy=jnp.where(eligible & ~is_credits, amount, 0),
    )


def initialise_stage(state: EnvState, key: jax.Array) -> EnvState:
    """§7.2: reset stage-scoped fields, generate a new board and the stage's transmissions."""
    k_exit, k_blocks, k_res, k_trans = jax.random.split(key, 4)
    p = state.player
    not_player = ~((_CORNERS[:, 0] == p.row) & (_CORNERS[:, 1] == p.col))
    noise = jax.random.uniform(k_exit, (4,))
    e = jnp.argmax(jnp.where(not_player, noise, -1.0))
    exit_row, exit_col = _CORNERS[e, 0], _CORNERS[e, 1]
    siphon_corner = not_player & (jnp.arange(4) != e)

    special = jnp.zeros((GRID, GRID), jnp.int32)
    special = special.at[_CORNERS[:, 0], _CORNERS[:, 1]].set(
        jnp.where(siphon_corner, Special.DATA_SIPHON, Special.NONE)
    )
    special = special.at[exit_row, exit_col].set(Special.EXIT)
    board = empty_board().replace(special=special)
    board = _generate_blocks(k_blocks, board, state, exit_row, exit_col)
    board = _generate_resources(k_res, board)
    state = state.replace(
        board=board,
        exit_row=exit_row,
        exit_col=exit_col,
        turn=jnp.int32(0),
        next_scheduled_turn=state.scheduled_interval,
        show_activated=jnp.bool_(False),
        scheduled_tasks_disabled=jnp.bool_(False),
        step_active=jnp.bool_(False),
        atk_plus_uses=jnp.int32(0),
    )
    return place_transmissions(state, state.stage, False, False, k_trans)


def complete_stage(state: EnvState, key: jax.Array, params: EnvParams) -> EnvState:
    """§7.1: heal 1; stage 8 is victory (nothing generated); otherwise advance and generate."""
    healed = state.replace(player=state.player.replace(hp=jnp.minimum(MAX_HP, state.player.hp + 1)))

    def advance(s: EnvState) -> EnvState:
        stage = s.stage + 1
        s = s.replace(stage=stage, scheduled_interval=13 - stage)
        s = initialise_stage(s, key)
        return clear_history(s) if params.clear_undo_on_new_stage else s

    return jax.lax.cond(healed.stage >= NUM_STAGES, lambda s: s, advance, healed)
