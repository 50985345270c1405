"""Stage completion, generation and initialisation (game-rules §7)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import (
    BLOCK_ATTEMPTS, CORNERS, GRID, MAX_BLOCKS, MAX_HP, MIN_BLOCKS, NUM_CELLS, NUM_PROGRAMS, NUM_STAGES, QUESTION_PROB, BlockKind, Special,
)
from hackmatrix.domain.programs import PROGRAM_SPAWN
from hackmatrix.domain import bitboard as bb
from hackmatrix.domain import draws
from hackmatrix.domain.lists import occupancy
from hackmatrix.domain.placement import place_transmissions
from hackmatrix.domain.state import Board, EnvParams, EnvState, empty_board

_IS_CORNER = np.zeros((GRID, GRID), np.bool_)
_IS_CORNER[CORNERS[:, 0], CORNERS[:, 1]] = True


ATTEMPTS_PER_ROUND = 10  # attempts checked side by side; 10 rounds make the original's 100

# Random words of a stage generation: exit corner noise (4), then the blocks' count (1),
# data/program (11), question (11), points (11) and program order (23), then the
# resources' amounts (36) and kinds (36).
_BLOCK_SIZES = (1, MAX_BLOCKS, MAX_BLOCKS, MAX_BLOCKS, NUM_PROGRAMS)
_BLOCK_SPLITS = [sum(_BLOCK_SIZES[:i]) for i in range(1, len(_BLOCK_SIZES))]
_BLOCK_WORDS = sum(_BLOCK_SIZES)
_STAGE_SIZES = (4, _BLOCK_WORDS, 2 * NUM_CELLS)
_STAGE_SPLITS = [sum(_STAGE_SIZES[:i]) for i in range(1, len(_STAGE_SIZES))]
_STAGE_WORDS = sum(_STAGE_SIZES)


def _attempt(noise: jax.Array, eligible: jax.Array, k: jax.Array, exit_lo, exit_hi, expand_lo, expand_hi):
    """One layout attempt (§7.3 2.2-2.4): a uniform k-subset in draw order, then validation.

    ``noise``: (36,) uniform floats, one per cell; the draw order is by decreasing noise.
    """
    prio = jnp.where(eligible, noise, -1.0)
    _, order = jax.lax.top_k(prio, MAX_BLOCKS)  # draw order: first k are the placed blocks
    placed = jnp.arange(MAX_BLOCKS) < k
    lo_bits, hi_bits = jax.vmap(bb.bit)(jnp.where(placed, order, -1))
    blk_lo, blk_hi = jnp.sum(lo_bits, dtype=bb.U32), jnp.sum(hi_bits, dtype=bb.U32)
    open_lo, open_hi = ~blk_lo & bb.FULL, ~blk_hi & bb.FULL
    start_lo, start_hi = bb.bit(0)
    reach_lo, reach_hi = bb.flood(start_lo, start_hi, open_lo, open_hi, open_lo & expand_lo, open_hi & expand_hi)
    connected = (reach_lo == open_lo) & (reach_hi == open_hi)
    n_lo, n_hi = bb.neighbours(open_lo, open_hi)
    siphonable = ((blk_lo & ~n_lo) == 0) & ((blk_hi & ~n_hi) == 0)
    return connected & siphonable, order


def _generate_blocks(
    k_layout: jax.Array, words: jax.Array, board: Board, state: EnvState, exit_row, exit_col, needed
) -> Board:
    """§7.3: up to 100 attempts (rounds of 10 side by side), the first valid layout wins.

    ``words``: ``_BLOCK_WORDS`` random words for the block count and the contents;
    ``k_layout`` keys the attempts.
    """
    w_count, w_kind, w_q, w_pts, w_prog = jnp.split(words, _BLOCK_SPLITS)
    occupied = (occupancy(state.enemies) > 0) | (occupancy(state.transmissions) > 0)
    eligible = (~_IS_CORNER & ~occupied).reshape(-1)
    count = MIN_BLOCKS + draws.below(w_count[0], MAX_BLOCKS + 1 - MIN_BLOCKS)
    k = jnp.minimum(count, jnp.sum(eligible))
    exit_idx = exit_row * GRID + exit_col
    exit_lo, exit_hi = bb.bit(exit_idx)
    # The exit is reached but not expanded, unless it is the start (0,0).
    expand_lo = jnp.where(exit_idx == 0, bb.FULL, ~exit_lo & bb.FULL)
    expand_hi = jnp.where(exit_idx == 0, bb.FULL, ~exit_hi & bb.FULL)

    def round_(carry):
        i, found, order = carry
        noise = draws.unit(jax.random.bits(jax.random.fold_in(k_layout, i), (ATTEMPTS_PER_ROUND, NUM_CELLS)))
        valid, orders = jax.vmap(lambda nz: _attempt(nz, eligible, k, exit_lo, exit_hi, expand_lo, expand_hi))(noise)
        first = jnp.argmax(valid)
        hit = jnp.any(valid)
        return i + 1, hit, jnp.where(hit, orders[first], order)

    rounds = BLOCK_ATTEMPTS // ATTEMPTS_PER_ROUND
    _, found, order = jax.lax.while_loop(
        lambda c: needed & ~c[1] & (c[0] < rounds),
        round_,
        (jnp.int32(0), jnp.bool_(False), jnp.zeros((MAX_BLOCKS,), jnp.int32)),
    )

    # Contents in placement (draw) order.
    placed = (jnp.arange(MAX_BLOCKS) < k) & found & needed
    is_data = draws.unit(w_kind) < 0.5
    is_question = draws.unit(w_q) < QUESTION_PROB
    points = 1 + draws.below(w_pts, 9)
    perm = draws.permutation(w_prog)
    prog_ordinal = jnp.cumsum(~is_data) - 1  # the j-th program block gets perm[j]
    program = perm[jnp.clip(prog_ordinal, 0, NUM_PROGRAMS - 1)]
    kind = jnp.where(is_question, BlockKind.QUESTION, jnp.where(is_data, BlockKind.DATA, BlockKind.PROGRAM))
    spawn = jnp.where(is_data, points, jnp.asarray(PROGRAM_SPAWN)[program])
    cell = jnp.where(placed, order, NUM_CELLS)

    def scatter(values, base):
        flat = base.reshape(-1).at[cell].set(values.astype(base.dtype), mode="drop")
        return flat.reshape(GRID, GRID)

    zeros = jnp.zeros((GRID, GRID), jnp.int32)
    return board.replace(
        block_kind=scatter(kind, zeros),
        block_points=scatter(jnp.where(is_data, points, 0), zeros),
        block_program=scatter(jnp.where(is_data, 0, program), zeros),
        block_spawn=scatter(spawn, zeros),
        question_is_data=scatter(is_question & is_data, jnp.zeros((GRID, GRID), jnp.bool_)),
    )


def _generate_resources(words: jax.Array, board: Board) -> Board:
    """§7.4: one resource on every empty or data-siphon cell (``words``: 2 x 36 random words)."""
    u = draws.unit(words[:NUM_CELLS]).reshape(GRID, GRID)
    amount = jnp.where(u < 0.45, 1, jnp.where(u < 0.9, 2, 3)).astype(jnp.int32)
    is_credits = (draws.unit(words[NUM_CELLS:]) < 0.5).reshape(GRID, GRID)
    eligible = (board.block_kind == BlockKind.NONE) & (board.special != Special.EXIT)
    return board.replace(
        res_credits=jnp.where(eligible & is_credits, amount, 0),
        res_energy=jnp.where(eligible & ~is_credits, amount, 0),
    )


def initialise_stage(state: EnvState, key: jax.Array, needed: jax.Array | bool = True) -> EnvState:
    """§7.2: reset stage-scoped fields, generate a new board and the stage's transmissions.

    ``needed`` gates the expensive work (block attempts, transmission placement) so that
    under ``vmap`` only the environments that really start a stage pay for it; the
    result for the others is meaningless and must be discarded by the caller.
    """
    needed = jnp.asarray(needed)
    # One block of words for every fixed-size draw (one hash site instead of a dozen).
    k_words, k_layout, k_trans = jax.random.split(key, 3)
    w_exit, w_blocks, w_res = jnp.split(jax.random.bits(k_words, (_STAGE_WORDS,)), _STAGE_SPLITS)
    p = state.player
    not_player = ~((CORNERS[:, 0] == p.row) & (CORNERS[:, 1] == p.col))
    noise = draws.unit(w_exit)
    e = jnp.argmax(jnp.where(not_player, noise, -1.0))
    exit_row, exit_col = jnp.asarray(CORNERS)[e, 0], jnp.asarray(CORNERS)[e, 1]
    siphon_corner = not_player & (jnp.arange(4) != e)

    special = jnp.zeros((GRID, GRID), jnp.int32)
    special = special.at[CORNERS[:, 0], CORNERS[:, 1]].set(
        jnp.where(siphon_corner, Special.DATA_SIPHON, Special.NONE)
    )
    special = special.at[exit_row, exit_col].set(Special.EXIT)
    board = empty_board().replace(special=special)
    board = _generate_blocks(k_layout, w_blocks, board, state, exit_row, exit_col, needed)
    board = _generate_resources(w_res, board)
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
    return place_transmissions(state, jnp.where(needed, state.stage, 0), False, False, k_trans)


def advance_stage(state: EnvState, do: jax.Array, params: EnvParams) -> tuple[EnvState, jax.Array]:
    """§7.1 where ``do``, up to the new board: heal 1 and, below stage 8, advance the
    stage (and its interval, and the undo history if configured). Returns (state,
    advance); where ``advance`` the caller must still ``initialise_stage`` it.
    Nothing else of the step reads the new board, so a batch can generate it later."""
    hp = jnp.where(do, jnp.minimum(MAX_HP, state.player.hp + 1), state.player.hp)
    advance = do & (state.stage < NUM_STAGES)
    stage = jnp.where(advance, state.stage + 1, state.stage)
    undo_count = state.undo_count
    if params.clear_undo_on_new_stage:
        undo_count = jnp.where(advance, 0, undo_count)
    out = state.replace(
        player=state.player.replace(hp=hp),
        stage=stage,
        scheduled_interval=jnp.where(advance, 13 - stage, state.scheduled_interval),
        undo_count=undo_count,
    )
    return out, advance

