"""The enemy turn (game-rules §5): tick, enemy steps, scheduled task, pending spawns, reset, snapshot.

The phases take the game without its undo history (``undo.split_history``): only the
last one, ``end_enemy_turn``, pushes a snapshot onto the history it is given.

Every phase takes a ``do`` flag instead of running under ``lax.cond``: under ``vmap`` a
cond becomes a select that runs both branches, while a gated loop bound costs nothing
for the environments that do not take part.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import bitboard as bb
from hackmatrix.domain.constants import (
    DIR_DCOL, DIR_DROW, ENEMY_MAX_HP, ENEMY_STEPS, GRID, MAX_ENEMIES, NUM_CELLS, EnemyType,
)
from hackmatrix.domain.grid import in_bounds
from hackmatrix.domain.lists import compact, count, occupancy, prefix_sum
from hackmatrix.domain.pathfinding import INF, bfs_first_step
from hackmatrix.domain.placement import place_transmissions
from hackmatrix.domain.state import EnvParams, EnvState, Snapshot
from hackmatrix.domain.undo import join_history, push_snapshot, split_history
from hackmatrix.domain.batching import KNOBS, on_rows


def tick_transmissions(state: EnvState, do: jax.Array) -> EnvState:
    """§5.4: timers <= 1 hatch into disabled enemies (appended in list order), others count down."""
    tr = state.transmissions
    en = state.enemies
    hatch = tr.alive & (tr.turns <= 1) & do
    slot = count(en) + prefix_sum(hatch.astype(jnp.int32)) - 1
    slot = jnp.where(hatch & (slot < MAX_ENEMIES), slot, MAX_ENEMIES)

    def put(arr, values):
        return arr.at[slot].set(values.astype(arr.dtype), mode="drop")

    en = en.replace(
        alive=put(en.alive, hatch),
        kind=put(en.kind, tr.kind),
        row=put(en.row, tr.row),
        col=put(en.col, tr.col),
        hp=put(en.hp, jnp.asarray(ENEMY_MAX_HP)[tr.kind]),
        disabled=put(en.disabled, jnp.ones_like(tr.turns)),
        stunned=put(en.stunned, jnp.zeros_like(hatch)),
        from_siphon=put(en.from_siphon, tr.from_siphon),
        from_scheduled=put(en.from_scheduled, tr.from_scheduled),
        last_row=put(en.last_row, tr.row),
        last_col=put(en.last_col, tr.col),
    )
    turns = jnp.where(do & ~hatch, tr.turns - 1, tr.turns)
    tr = tr.replace(alive=tr.alive & ~hatch, turns=turns)
    tr = jax.tree_util.tree_map(lambda a, b: jnp.where(do, a, b), compact(tr), tr)
    return state.replace(enemies=en, transmissions=tr)


_SLOTS = np.arange(MAX_ENEMIES, dtype=np.int32)


class TurnBoard(NamedTuple):
    """What both enemy steps of a turn read and neither changes, per row (N,): the
    transmissions' and blocks' cells (bitboards) and the distance fields from the
    player (who does not move during the enemy turn)."""

    trans_lo: jax.Array  # (N,) uint32
    trans_hi: jax.Array  # (N,) uint32
    blk_lo: jax.Array  # (N,) uint32
    blk_hi: jax.Array  # (N,) uint32
    walk_field: jax.Array  # (N, 36) int32 BFS distance to the player through non-block cells
    manhattan: jax.Array  # (N, 36) int32 Manhattan distance to the player


class StepInputs(NamedTuple):
    """What one enemy step (§5.5) reads and does not change, per row (N,)."""

    player_row: jax.Array  # (N,) int32
    player_col: jax.Array  # (N,) int32
    visits: jax.Array  # (N,) int32 enemies visited this step (0 where the step does not run)
    can_act: jax.Array  # (N, 36) bool enemy may attack or move when visited
    kind: jax.Array  # (N, 36) int32 EnemyType
    board: TurnBoard


class StepCarry(NamedTuple):
    """What the visits of one enemy step change, per row (N,)."""

    order: jax.Array  # (N, 36) float32 visit priority; a visited slot is set past all others
    row: jax.Array  # (N, 36) int32
    col: jax.Array  # (N, 36) int32
    bit_lo: jax.Array  # (N, 36) uint32 each slot's cell (bitboard; 0 if none)
    bit_hi: jax.Array  # (N, 36) uint32
    hp: jax.Array  # (N,) int32 the player's HP
    attacked: jax.Array  # (N, 36) bool attacked during this step
    seen: jax.Array  # (N, 36) bool Cryptog moved into the player's row or column


class MoveQuery(NamedTuple):
    """One moving enemy per row (N,) for §5.6, its kind's path rule already applied."""

    row: jax.Array  # (N,) int32 its cell
    col: jax.Array  # (N,) int32
    player_row: jax.Array  # (N,) int32
    player_col: jax.Array  # (N,) int32
    occ_lo: jax.Array  # (N,) uint32 other enemies and every transmission (bitboard)
    occ_hi: jax.Array  # (N,) uint32
    blk_lo: jax.Array  # (N,) uint32 cells it may not enter (bitboard)
    blk_hi: jax.Array  # (N,) uint32
    field: jax.Array  # (N, 36) int32 distance to the player through enterable cells
    moves: jax.Array  # (N,) bool it moves this visit (searches are skipped elsewhere)


# --- Enemy kinds (game-rules §5.5, §5.6): the only places that tell them apart ----------

def steps_per_turn(kind: jax.Array) -> jax.Array:
    """Enemy steps per turn: 2 for a virus, 1 for the others (§5.3)."""
    return jnp.asarray(ENEMY_STEPS)[kind]


def path_rule(kind: jax.Array, board: TurnBoard) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(blk_lo, blk_hi, field) a mover of ``kind`` (N,) walks by (§5.6 ``blocked``): a
    glitch crosses blocks, so nothing blocks it and its field is the Manhattan distance."""
    is_glitch = kind == EnemyType.GLITCH
    return (
        jnp.where(is_glitch, bb.U32(0), board.blk_lo),
        jnp.where(is_glitch, bb.U32(0), board.blk_hi),
        jnp.where(is_glitch[:, None], board.manhattan, board.walk_field),
    )


def is_seen(kind: jax.Array, moved: jax.Array, row, col, pr, pc) -> jax.Array:
    """A Cryptog that moved into the player's row or column updates its last-known cell (§5.6.4)."""
    return moved & (kind == EnemyType.CRYPTOG) & ((row == pr) | (col == pc))


# --- The rule -------------------------------------------------------------------------------

def _turn_board(states: EnvState) -> TurnBoard:
    """The ``TurnBoard`` of a batch (breadth-first layers on bitboards from the player).

    Attempt B of §5.6 searches these same sets for every enemy of the step, so its
    first step is read off the fields instead of searched per enemy.
    """
    trans_lo, trans_hi = bb.from_mask(jax.vmap(occupancy)(states.transmissions) > 0)
    blk_lo, blk_hi = bb.from_mask(states.board.block_kind > 0)
    pr, pc = states.player.row, states.player.col
    p_lo, p_hi = bb.bit(pr * GRID + pc)
    open_lo, open_hi = ~blk_lo & bb.FULL, ~blk_hi & bb.FULL

    def body(c):
        lo, hi, vis_lo, vis_hi, d, field = c
        field = jnp.where(bb.to_mask(lo, hi).reshape(-1, NUM_CELLS), d, field)
        g_lo, g_hi = bb.neighbours(lo, hi)
        lo = g_lo & open_lo & ~vis_lo
        hi = g_hi & open_hi & ~vis_hi
        return lo, hi, vis_lo | lo, vis_hi | hi, d + 1, field

    s_lo, s_hi = p_lo & open_lo, p_hi & open_hi
    init = (s_lo, s_hi, s_lo, s_hi, jnp.int32(0), jnp.full(pr.shape + (NUM_CELLS,), INF))
    field = jax.lax.while_loop(lambda c: jnp.any((c[0] | c[1]) != 0), body, init)[5]
    cells = jnp.arange(NUM_CELLS)
    manhattan = jnp.abs(cells // GRID - pr[:, None]) + jnp.abs(cells % GRID - pc[:, None])
    return TurnBoard(trans_lo, trans_hi, blk_lo, blk_hi, field, manhattan)


def move_targets(q: MoveQuery) -> tuple[jax.Array, jax.Array]:
    """§5.6 for one enemy per row: the cell it moves to (its own cell if it stays).

    Attempt B is the first step to the neighbour nearest the player in ``q.field`` (U,
    D, L, R on ties). Attempt A searches a subset of B's cells (occupants removed), so
    it finds the same step unless an occupant lies nearer the player than that
    neighbour, or on it; only then is A searched.
    """
    r, c, pr, pc = q.row, q.col, q.player_row, q.player_col
    occ_lo, occ_hi, blk_lo, blk_hi, field = q.occ_lo, q.occ_hi, q.blk_lo, q.blk_hi, q.field
    p_idx = pr * GRID + pc
    p_lo, p_hi = bb.bit(p_idx)
    nr, nc = r[:, None] + DIR_DROW, c[:, None] + DIR_DCOL  # (N, 4)
    inside = in_bounds(nr, nc)
    n_idx = jnp.where(inside, nr * GRID + nc, -1)
    n_lo, n_hi = bb.bit(n_idx)

    # Attempt B: ignore occupants.
    d4 = jnp.where(inside, jnp.take_along_axis(field, jnp.maximum(n_idx, 0), axis=1), INF)
    d_b = jnp.min(d4, axis=1)
    dir_b = jnp.argmin(d4, axis=1)
    found_b = d_b < INF

    # Attempt A: avoid occupants (the player's cell is enterable).
    eo_lo, eo_hi = occ_lo & ~p_lo, occ_hi & ~p_hi
    nearer = jnp.any(bb.to_mask(eo_lo, eo_hi).reshape(-1, NUM_CELLS) & (field < d_b[:, None]), axis=1)
    nb_lo, nb_hi = jnp.take_along_axis(n_lo, dir_b[:, None], 1)[:, 0], jnp.take_along_axis(n_hi, dir_b[:, None], 1)[:, 0]
    on_step = ((nb_lo & eo_lo) | (nb_hi & eo_hi)) != 0
    search = q.moves & found_b & (nearer | on_step)
    a_lo = ~blk_lo & (p_lo | ~occ_lo) & bb.FULL
    a_hi = ~blk_hi & (p_hi | ~occ_hi) & bb.FULL
    found_s, dir_s = jax.vmap(bfs_first_step)(a_lo, a_hi, p_idx, r, c, search)
    found_a = jnp.where(search, found_s, found_b)
    dir_a = jnp.where(search, dir_s, dir_b)

    occupied = ((n_lo & occ_lo[:, None]) | (n_hi & occ_hi[:, None])) != 0
    found_b = found_b & ~jnp.take_along_axis(occupied, dir_b[:, None], 1)[:, 0]

    # Greedy fallback: free neighbour with the smallest Manhattan distance (may increase it).
    blocked = ((n_lo & blk_lo[:, None]) | (n_hi & blk_hi[:, None])) != 0
    free = inside & ~blocked & ~occupied
    manhattan = jnp.where(free, jnp.abs(nr - pr[:, None]) + jnp.abs(nc - pc[:, None]), INF)
    k = jnp.argmin(manhattan, axis=1)
    found_f = jnp.take_along_axis(free, k[:, None], 1)[:, 0]

    d = jnp.where(found_a, dir_a, jnp.where(found_b, dir_b, k))
    moves = found_a | found_b | found_f
    return (jnp.where(moves, r + jnp.asarray(DIR_DROW)[d], r),
            jnp.where(moves, c + jnp.asarray(DIR_DCOL)[d], c))


def _visits(carry: StepCarry, fixed: StepInputs, start, stop) -> StepCarry:
    """Visits ``start..stop-1`` (scalars shared by the batch) of an enemy step (§5.5).

    Visit ``i`` takes the enemy with the ``i``-th smallest ``order`` (ties to the lower
    slot, as a stable sort would) by marking each visited slot past every other one,
    which is cheaper than sorting the batch. An adjacent enemy attacks, another moves
    (§5.6). Occupancy is an OR of per-slot cell bits kept up to date as enemies move.
    Nothing else changes during a step, so whether an enemy may act is known before
    the loop.
    """
    pr, pc = fixed.player_row, fixed.player_col

    def visit(i, carry: StepCarry) -> StepCarry:
        low = jnp.min(carry.order, axis=1, keepdims=True)  # two plain reductions beat an argmin
        j = jnp.min(jnp.where(carry.order == low, _SLOTS, MAX_ENEMIES), axis=1)
        hot = _SLOTS == j[:, None]

        def pick(x):
            return jnp.take_along_axis(x, j[:, None], axis=1)[:, 0]

        r, c, kind = pick(carry.row), pick(carry.col), pick(fixed.kind)
        act = (i < fixed.visits) & pick(fixed.can_act)
        adjacent = (jnp.abs(r - pr) + jnp.abs(c - pc)) == 1
        does_attack = act & adjacent
        does_move = act & ~adjacent
        occ_lo = jnp.bitwise_or.reduce(jnp.where(hot, bb.U32(0), carry.bit_lo), axis=1) | fixed.board.trans_lo
        occ_hi = jnp.bitwise_or.reduce(jnp.where(hot, bb.U32(0), carry.bit_hi), axis=1) | fixed.board.trans_hi
        blk_lo, blk_hi, field = path_rule(kind, fixed.board)
        new_r, new_c = move_targets(MoveQuery(
            row=r, col=c, player_row=pr, player_col=pc, occ_lo=occ_lo, occ_hi=occ_hi,
            blk_lo=blk_lo, blk_hi=blk_hi, field=field, moves=does_move,
        ))
        new_r = jnp.where(does_move, new_r, r)
        new_c = jnp.where(does_move, new_c, c)
        moved = (new_r != r) | (new_c != c)
        sees = is_seen(kind, moved, new_r, new_c, pr, pc)
        b_lo, b_hi = bb.bit(new_r * GRID + new_c)
        moving = hot & moved[:, None]
        return StepCarry(
            order=jnp.where(hot, 3.0, carry.order),
            row=jnp.where(hot, new_r[:, None], carry.row),
            col=jnp.where(hot, new_c[:, None], carry.col),
            bit_lo=jnp.where(moving, b_lo[:, None], carry.bit_lo),
            bit_hi=jnp.where(moving, b_hi[:, None], carry.bit_hi),
            hp=jnp.where(does_attack, jnp.maximum(0, carry.hp - 1), carry.hp),
            attacked=carry.attacked | (hot & does_attack[:, None]),
            seen=carry.seen | (hot & sees[:, None]),
        )

    return jax.lax.fori_loop(start, stop, visit, carry)


def _enemy_step(states: EnvState, step_index, attacked, keys, do, board: TurnBoard):
    """§5.5 for a batch: the first visits on every row, the rest on gathered rows.

    Only enemies allowed a step this round can act (all at step 0, viruses at step 1),
    so a random order of just those is the original's random order of everyone.
    """
    en = states.enemies
    may_act = en.alive & (step_index < steps_per_turn(en.kind))
    order = jnp.where(may_act, jax.vmap(lambda k: jax.random.uniform(k, (MAX_ENEMIES,)))(keys), 2.0)
    bit_lo, bit_hi = bb.bit(jnp.where(en.alive, en.row * GRID + en.col, -1))
    fixed = StepInputs(
        player_row=states.player.row, player_col=states.player.col,
        visits=jnp.where(do, jnp.sum(may_act.astype(jnp.int32), axis=1), 0),
        can_act=may_act & (en.disabled <= 0) & ~en.stunned & ~attacked,
        kind=en.kind, board=board,
    )
    no = jnp.zeros_like(may_act)
    carry = StepCarry(order, en.row, en.col, bit_lo, bit_hi, states.player.hp, no, no)
    if do.shape[0] == 1:
        # One environment (``env.step``): every visit in one loop, traced once.
        carry = _visits(carry, fixed, 0, fixed.visits[0])
        return _finish_step(states, attacked, carry)
    carry = _visits(carry, fixed, 0, jnp.minimum(jnp.max(fixed.visits), KNOBS.first_visits))

    def rest(rows, valid):
        c, f = rows
        f = f._replace(visits=jnp.where(valid, f.visits, 0))
        return _visits(c, f, KNOBS.first_visits, jnp.max(f.visits))

    carry = on_rows(fixed.visits > KNOBS.first_visits, rest, (carry, fixed), carry,
                    share=KNOBS.rest_share, priority=fixed.visits, levels=KNOBS.rest_levels)
    return _finish_step(states, attacked, carry)


def _finish_step(states: EnvState, attacked, carry: StepCarry):
    en = states.enemies
    en = en.replace(
        row=carry.row, col=carry.col,
        last_row=jnp.where(carry.seen, carry.row, en.last_row),
        last_col=jnp.where(carry.seen, carry.col, en.last_col),
    )
    states = states.replace(enemies=en, player=states.player.replace(hp=carry.hp))
    return states, attacked | carry.attacked


def turn_keys(keys: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The keys of one enemy turn per row: (the two enemy steps', the two spawn phases')."""
    split = jax.vmap(lambda k: jax.random.split(k, 4))(keys)
    return split[:, :2], split[:, 2:]


def enemy_moves(states: EnvState, step_keys: jax.Array, do: jax.Array) -> tuple[EnvState, jax.Array]:
    """§5.2 and §5.3 phases 1-4 for a batch (leading axis N), where ``do``.

    A set STEP flag is cleared and skips the whole turn (every later phase too: the
    returned ``runs`` is ``do`` less the skipped rows). Otherwise: turn + 1, the
    transmission tick, then the enemy steps. Enemy visits beyond the first few run only
    on the gathered rows that have them, so one crowded board does not make the whole
    batch loop as long as it does.
    """
    skipped = do & states.step_active
    states = states.replace(step_active=states.step_active & ~skipped)
    do = do & ~skipped
    states = states.replace(turn=states.turn + do.astype(jnp.int32))
    states = jax.vmap(tick_transmissions)(states, do)
    board = _turn_board(states)

    def enemy_steps(step_index, carry):
        # Both steps share one traced body (the step index is data), which keeps the
        # compiled program small. Step 1 exists only where some enemy is a virus.
        core, attacked = carry
        en = core.enemies
        has_second = jnp.any(en.alive & (steps_per_turn(en.kind) > 1), axis=1)  # a virus
        keys = jnp.where(step_index == 0, step_keys[:, 0], step_keys[:, 1])
        step_do = do & ((step_index == 0) | has_second)
        return _enemy_step(core, step_index, attacked, keys, step_do, board)

    attacked = jnp.zeros((do.shape[0], MAX_ENEMIES), jnp.bool_)
    states, _ = jax.lax.fori_loop(0, 2, enemy_steps, (states, attacked))
    return states, do


def spawn_transmissions(states: EnvState, spawn_keys: jax.Array, do: jax.Array) -> EnvState:
    """§5.3 phases 5-6 for a batch, where ``do``: the scheduled task (§5.7), then the
    pending siphon transmissions (§5.8), placed on the gathered rows that have any."""
    k_sched, k_pending = spawn_keys[:, 0], spawn_keys[:, 1]
    due = do & ~states.scheduled_tasks_disabled & (states.turn >= states.next_scheduled_turn)
    spawning = do & (states.pending_siphon > 0)

    def place(rows, valid):
        # The scheduled transmission (phase 0), then the pending siphon spawns (phase 1),
        # on the rows that have either: one traced placement, paid by those rows only.
        s, d, k_s, k_p = rows

        def phase(i, trans):
            n = jnp.where(i == 0, d.astype(jnp.int32), s.pending_siphon)
            n = jnp.where(valid, n, 0)
            k = jnp.where(i == 0, k_s, k_p)
            return jax.vmap(
                lambda st, nn, kk: place_transmissions(st, nn, i == 1, i == 0, kk).transmissions
            )(s.replace(transmissions=trans), n, k)

        return jax.lax.fori_loop(0, 2, phase, s.transmissions)

    if do.shape[0] == 1:
        # One environment (``env.step``): both placements traced once, under one conditional.
        trans = on_rows(due | spawning, place, (states, due, k_sched, k_pending), states.transmissions)
    else:
        states = states.replace(transmissions=jax.vmap(
            lambda s, d, k: place_transmissions(s, d.astype(jnp.int32), False, True, k).transmissions
        )(states, due, k_sched))

        def spawn(rows, valid):
            s, k = rows
            return jax.vmap(
                lambda st, kk, v: place_transmissions(st, jnp.where(v, st.pending_siphon, 0), True, False, kk)
            )(s, k, valid).transmissions

        trans = on_rows(
            spawning, spawn, (states, k_pending), states.transmissions,
            share=KNOBS.spawn_share,
        )
    return states.replace(
        transmissions=trans,
        pending_siphon=jnp.where(do, 0, states.pending_siphon),
        next_scheduled_turn=jnp.where(due, states.turn + states.scheduled_interval, states.next_scheduled_turn),
    )


def end_enemy_turn(
    states: EnvState, history: Snapshot, params: EnvParams, do: jax.Array
) -> tuple[EnvState, Snapshot]:
    """§5.3 phases 7-8 for a batch, where ``do``: disabled turns count down, stuns clear,
    and an undo snapshot is pushed onto ``history``. Returns (states, history)."""
    en = states.enemies
    states = states.replace(
        enemies=en.replace(
            disabled=jnp.where(do[:, None] & (en.disabled > 0), en.disabled - 1, en.disabled),
            stunned=en.stunned & ~do[:, None],
        ),
    )
    return jax.vmap(lambda s, h, d: push_snapshot(s, h, params, d))(states, history, do)


def batched_enemy_turn(states: EnvState, keys: jax.Array, params: EnvParams, do: jax.Array) -> EnvState:
    """The whole enemy turn (§5.2, §5.3) for a batch (leading axis N), where ``do``:
    ``enemy_moves``, ``spawn_transmissions``, ``end_enemy_turn``, as ``env`` runs them.

    Same result row by row as the one-environment reference oracle
    (tests/domain/reference_enemy_turn.py) under ``vmap``.
    """
    states, history = split_history(states)
    step_keys, spawn_keys = turn_keys(keys)
    states, runs = enemy_moves(states, step_keys, do)
    states = spawn_transmissions(states, spawn_keys, runs)
    return join_history(*end_enemy_turn(states, history, params, runs))
