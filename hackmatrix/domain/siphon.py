"""Siphon (action 4, game-rules §4) and its quality check (§4.3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import GRID, MIN_INTERVAL, NUM_PROGRAMS, SIPHON_POSTPONE, BlockKind
from hackmatrix.domain.events import Events, no_events
from hackmatrix.domain.grid import COLS, ROWS, in_bounds
from hackmatrix.domain.state import EnvState

# Cross offsets: the cell itself, then U, D, L, R.
_CROSS_DR = np.array([0, 1, -1, 0, 0], np.int32)
_CROSS_DC = np.array([0, 0, 0, -1, 1], np.int32)
_BIG = np.int32(1 << 20)  # above any block's points (scenario.MAX_AMOUNT = 10**6)
_INT32_MAX = np.int32(2**31 - 1)


def _sort5(x: jax.Array) -> jax.Array:
    """Sort the last axis (length 5) with a 9-comparator network (cheaper than a sort op)."""
    cols = [x[..., i] for i in range(5)]
    for i, j in ((0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2)):
        lo, hi = jnp.minimum(cols[i], cols[j]), jnp.maximum(cols[i], cols[j])
        cols[i], cols[j] = lo, hi
    return jnp.stack(cols, axis=-1)


def _cross_of_all_cells():
    """(36, 5) rows, cols and in-bounds of the cross of every cell (row-major)."""
    r = ROWS.reshape(-1)[:, None] + _CROSS_DR[None, :]
    c = COLS.reshape(-1)[:, None] + _CROSS_DC[None, :]
    return r, c, in_bounds(r, c)


def cross_mask(row: jax.Array, col: jax.Array) -> jax.Array:
    """(6, 6) bool: (row, col) and its in-bounds orthogonal neighbours."""
    d = jnp.abs(ROWS - row) + jnp.abs(COLS - col)
    return d <= 1


def _yields(state: EnvState):
    """Yield of a siphon from every cell: sorted points (36,5), programs (36,23), credits, energy."""
    b = state.board
    kind = b.block_kind
    datalike = (kind == BlockKind.DATA) | ((kind == BlockKind.QUESTION) & b.question_is_data)
    proglike = (kind == BlockKind.PROGRAM) | ((kind == BlockKind.QUESTION) & ~b.question_is_data)
    prog_onehot = jax.nn.one_hot(b.block_program, NUM_PROGRAMS, dtype=jnp.bool_)
    new_prog = prog_onehot & proglike[..., None] & ~state.owned[None, None, :]
    nonblock = kind == BlockKind.NONE

    r, c, inb = _cross_of_all_cells()
    rc, cc = jnp.clip(r, 0, GRID - 1), jnp.clip(c, 0, GRID - 1)
    active = inb & ~b.siphoned[rc, cc]
    points = jnp.where(active & datalike[rc, cc], b.block_points[rc, cc], _BIG)
    points = _sort5(points)
    progs = jnp.any(new_prog[rc, cc] & active[..., None], axis=1)
    credits = jnp.sum(jnp.where(active & nonblock[rc, cc], b.res_credits[rc, cc], 0), axis=1)
    energy = jnp.sum(jnp.where(active & nonblock[rc, cc], b.res_energy[rc, cc], 0), axis=1)
    # A cell holding a block yields nothing.
    on_block = ~nonblock.reshape(-1)
    points = jnp.where(on_block[:, None], _BIG, points)
    progs = progs & ~on_block[:, None]
    credits = jnp.where(on_block, 0, credits)
    energy = jnp.where(on_block, 0, energy)
    return points, progs, credits, energy


def siphon_quality(state: EnvState) -> tuple[jax.Array, jax.Array]:
    """(missed_credits, missed_energy) of a siphon from the player's cell (§4.3)."""
    b = state.board
    points, progs, credits, energy = _yields(state)
    me = state.player.row * GRID + state.player.col
    cur_points, cur_progs, cur_c, cur_e = points[me], progs[me], credits[me], energy[me]
    has_value = jnp.any(cur_points < _BIG) | jnp.any(cur_progs)

    nonblock = (b.block_kind == BlockKind.NONE).reshape(-1)
    cross = cross_mask(state.player.row, state.player.col)
    reach_blocks = (cross & (b.block_kind != BlockKind.NONE) & ~b.siphoned).reshape(-1)  # (36,)
    # adjacency (36 candidates x 36 block cells): orthogonal neighbours only
    rr = ROWS.reshape(-1)
    cc = COLS.reshape(-1)
    adjacent = (jnp.abs(rr[:, None] - rr[None, :]) + jnp.abs(cc[:, None] - cc[None, :])) == 1
    covers_all = jnp.all(adjacent | ~reach_blocks[None, :], axis=1)
    candidates = nonblock & jnp.where(has_value, covers_all, True)

    same = jnp.all(points == cur_points[None, :], axis=1) & jnp.all(progs == cur_progs[None, :], axis=1)
    dominates = (
        candidates & same & (credits >= cur_c) & (energy >= cur_e)
        & ((credits > cur_c) | (energy > cur_e))
    )
    any_dom = jnp.any(dominates)
    best_c = jnp.max(jnp.where(dominates, credits, cur_c))
    best_e = jnp.max(jnp.where(dominates, energy, cur_e))
    return (
        jnp.where(any_dom, best_c - cur_c, 0).astype(jnp.int32),
        jnp.where(any_dom, best_e - cur_e, 0).astype(jnp.int32),
    )


def siphon_action(state: EnvState) -> tuple[EnvState, Events]:
    """Siphon the whole cross around the player; returns (state, events).

    The caller discards the new state when ``events.success`` is false.
    """
    success = state.player.data_siphons >= 1
    missed_c, missed_e = siphon_quality(state)
    b = state.board
    p = state.player
    cross = cross_mask(p.row, p.col)
    process = cross & ~b.siphoned
    kind = b.block_kind
    is_data = (kind == BlockKind.DATA) | ((kind == BlockKind.QUESTION) & b.question_is_data)
    is_prog = (kind == BlockKind.PROGRAM) | ((kind == BlockKind.QUESTION) & ~b.question_is_data)
    is_block = kind != BlockKind.NONE
    nonblock = ~is_block

    score_gain = jnp.sum(jnp.where(process & is_data, b.block_points, 0))
    pending_gain = jnp.sum(jnp.where(process & is_block, b.block_spawn, 0))
    acquired = jnp.any(
        jax.nn.one_hot(b.block_program, NUM_PROGRAMS, dtype=jnp.bool_) & (process & is_prog)[..., None],
        axis=(0, 1),
    )
    credit_gain = jnp.sum(jnp.where(process & nonblock, b.res_credits, 0))
    energy_gain = jnp.sum(jnp.where(process & nonblock, b.res_energy, 0))
    revealed_kind = jnp.where(
        process & (kind == BlockKind.QUESTION),
        jnp.where(b.question_is_data, BlockKind.DATA, BlockKind.PROGRAM),
        kind,
    )
    board = b.replace(
        block_kind=revealed_kind,
        block_spawn=jnp.where(process & is_block, 0, b.block_spawn),
        res_credits=jnp.where(process & nonblock, 0, b.res_credits),
        res_energy=jnp.where(process & nonblock, 0, b.res_energy),
        siphoned=b.siphoned | cross,
        siphon_center=b.siphon_center | ((ROWS == p.row) & (COLS == p.col)),
    )
    new_state = state.replace(
        board=board,
        player=p.replace(
            score=p.score + score_gain,
            credits=p.credits + credit_gain,
            energy=p.energy + energy_gain,
            data_siphons=p.data_siphons - 1,
        ),
        owned=state.owned | acquired,
        # Saturating: siphons skipped by STEP and reverted by UNDO can queue spawn counts
        # again and again; past NUM_CELLS the count only matters for the readout (§9.3).
        pending_siphon=state.pending_siphon + jnp.minimum(pending_gain, _INT32_MAX - state.pending_siphon),
        scheduled_interval=jnp.maximum(MIN_INTERVAL, state.scheduled_interval - 1),
        next_scheduled_turn=state.next_scheduled_turn + SIPHON_POSTPONE,
    )
    ev = no_events(success=success, ends_turn=success).replace(
        siphon_done=success, missed_credits=missed_c, missed_energy=missed_e
    )
    return new_state, ev
