"""The enemy turn (game-rules §5): tick, enemy steps, scheduled task, pending spawns, reset, snapshot.

Every phase takes a ``do`` flag instead of running under ``lax.cond``: under ``vmap`` a
cond becomes a select that runs both branches, while a gated loop bound costs nothing
for the environments that do not take part.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain import bitboard as bb
from hackmatrix.domain.constants import (
    DIR_DCOL, DIR_DROW, ENEMY_MAX_HP, ENEMY_STEPS, GRID, MAX_ENEMIES, NUM_CELLS, EnemyType,
)
from hackmatrix.domain.grid import at, in_bounds
from hackmatrix.domain.lists import compact, count, occupancy, prefix_sum
from hackmatrix.domain.pathfinding import INF, bfs_first_step
from hackmatrix.domain.placement import place_transmissions
from hackmatrix.domain.state import EnvParams, EnvState, take_snapshot
from hackmatrix.domain.undo import push_snapshot
from hackmatrix.domain.batching import on_rows

_MAX_HP = jnp.asarray(ENEMY_MAX_HP)
_STEPS = jnp.asarray(ENEMY_STEPS)
_DR = jnp.asarray(DIR_DROW)
_DC = jnp.asarray(DIR_DCOL)


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
        hp=put(en.hp, _MAX_HP[tr.kind]),
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


def _move_target(en, pr, pc, j: jax.Array, trans_occ: jax.Array, blocks: jax.Array, moves: jax.Array):
    """§5.6: the cell enemy slot ``j`` moves to (its own cell if it stays)."""
    r, c = en.row[j], en.col[j]
    is_glitch = en.kind[j] == EnemyType.GLITCH
    others = jnp.arange(MAX_ENEMIES) != j
    occ = (occupancy(en, others) > 0) | trans_occ
    occ_lo, occ_hi = bb.from_mask(occ)
    blk_lo = jnp.where(is_glitch, bb.U32(0), blocks[0])
    blk_hi = jnp.where(is_glitch, bb.U32(0), blocks[1])
    p_idx = pr * GRID + pc
    p_lo, p_hi = bb.bit(p_idx)

    # Attempt A: shortest path avoiding occupants (the player's cell is enterable).
    a_lo = ~blk_lo & (p_lo | ~occ_lo) & bb.FULL
    a_hi = ~blk_hi & (p_hi | ~occ_hi) & bb.FULL
    found_a, dir_a = bfs_first_step(a_lo, a_hi, p_idx, r, c, moves)
    # Attempt B: ignore occupants, take that single step only if it is free.
    found_b, dir_b = bfs_first_step(~blk_lo & bb.FULL, ~blk_hi & bb.FULL, p_idx, r, c, moves & ~found_a)
    br, bc = r + _DR[dir_b], c + _DC[dir_b]
    found_b = found_b & ~at(occ, br, bc, True)

    # Greedy fallback: free neighbour with the smallest Manhattan distance (may increase it).
    nr, nc = r + _DR, c + _DC
    block_grid = bb.to_mask(blk_lo, blk_hi)
    free = in_bounds(nr, nc) & ~at(block_grid, nr, nc, True) & ~at(occ, nr, nc, True)
    manhattan = jnp.where(free, jnp.abs(nr - pr) + jnp.abs(nc - pc), INF)
    k = jnp.argmin(manhattan)
    found_f = free[k]

    d = jnp.where(found_a, dir_a, jnp.where(found_b, dir_b, k))
    moves = found_a | found_b | found_f
    return jnp.where(moves, r + _DR[d], r), jnp.where(moves, c + _DC[d], c)


def _step_setup(state: EnvState, step_index: int, key: jax.Array, do: jax.Array):
    """Per-step inputs of §5.5: random order of the enemies that may act, their count, obstacles."""
    en = state.enemies
    # Only enemies allowed a step this round can act (all at step 0, viruses at step 1), so
    # a random order of just those is the original's random order of everyone.
    may_act = en.alive & (step_index < _STEPS[en.kind])
    order = jnp.argsort(jnp.where(may_act, jax.random.uniform(key, (MAX_ENEMIES,)), 2.0))
    n = jnp.where(do, jnp.sum(may_act.astype(jnp.int32)), 0)
    trans_occ = occupancy(state.transmissions) > 0
    blocks = bb.from_mask(state.board.block_kind > 0)
    return order, n, trans_occ, blocks


def _visits(step_index: int, carry, order, start, stop, pr, pc, trans_occ, blocks):
    """Visits ``start..stop-1`` of an enemy step: attack if adjacent, else move (§5.5, §5.6).

    The loop carries only the enemies, the player's HP and the attack flags: under
    ``vmap`` a loop whose trip count differs per environment selects its whole carry
    every iteration, so the carry must stay small.
    """

    def visit(i, carry):
        en, hp, attacked = carry
        j = order[i]
        can_act = (
            en.alive[j] & (en.disabled[j] <= 0) & ~en.stunned[j] & ~attacked[j]
            & (step_index < _STEPS[en.kind[j]])
        )
        adjacent = (jnp.abs(en.row[j] - pr) + jnp.abs(en.col[j] - pc)) == 1
        does_attack = can_act & adjacent
        does_move = can_act & ~adjacent
        new_r, new_c = _move_target(en, pr, pc, j, trans_occ, blocks, does_move)
        new_r = jnp.where(does_move, new_r, en.row[j])
        new_c = jnp.where(does_move, new_c, en.col[j])
        moved = (new_r != en.row[j]) | (new_c != en.col[j])
        seen = moved & (en.kind[j] == EnemyType.CRYPTOG) & ((new_r == pr) | (new_c == pc))
        en = en.replace(
            row=en.row.at[j].set(new_r),
            col=en.col.at[j].set(new_c),
            last_row=en.last_row.at[j].set(jnp.where(seen, new_r, en.last_row[j])),
            last_col=en.last_col.at[j].set(jnp.where(seen, new_c, en.last_col[j])),
        )
        hp = jnp.where(does_attack, jnp.maximum(0, hp - 1), hp)
        return en, hp, attacked.at[j].set(attacked[j] | does_attack)

    return jax.lax.fori_loop(start, stop, visit, carry)


def enemy_step(
    state: EnvState, step_index: int, attacked: jax.Array, key: jax.Array, do: jax.Array
) -> tuple[EnvState, jax.Array]:
    """§5.5: every enemy, in a fresh random order, attacks if adjacent or else moves."""
    order, n, trans_occ, blocks = _step_setup(state, step_index, key, do)
    carry = (state.enemies, state.player.hp, attacked)
    en, hp, attacked = _visits(
        step_index, carry, order, 0, n, state.player.row, state.player.col, trans_occ, blocks
    )
    return state.replace(enemies=en, player=state.player.replace(hp=hp)), attacked


# Visits run on the whole batch; the rest only on the gathered rows with more enemies.
# Most boards hold 0-1 enemies able to act (random play at 2048 envs: 90 % of rows
# at step 0, 98 % at step 1), so one visit for everyone beats four.
FIRST_VISITS = 1
# Rounds of N / 64 rows for the visits past the first (random play: ~10 % of rows; the
# width hardly matters there) and for pending siphon spawns (~1.5 % of rows).
REST_SHARE = 64
SPAWN_SHARE = 64
# Rows with more visits go first, so each round loops about as long as its own rows
# need (random play at 2048 envs: ~26 visits a step instead of ~66 in row order).
REST_LEVELS = 12
_SLOTS = jnp.arange(MAX_ENEMIES)


def _distance_fields(blk_lo, blk_hi, pr, pc):
    """(N, 36) breadth-first distances from the player: through non-block cells, and for
    glitches (which ignore blocks) the Manhattan distance; INF where unreachable.

    Attempt B of §5.6 searches these same sets for every enemy of the step, so its
    first step is read off them instead of searched per enemy.
    """
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
    return field, manhattan


def _move_targets(r, c, is_glitch, pr, pc, occ_lo, occ_hi, blk_lo, blk_hi, field, moves):
    """``_move_target`` for one enemy per row at (r, c), shapes (N,); fields from ``_distance_fields``.

    Attempt B is the first step to the neighbour nearest the player in ``field`` (U, D,
    L, R on ties). Attempt A searches a subset of B's cells (occupants removed), so it
    finds the same step unless an occupant lies nearer the player than that neighbour,
    or on it; only then is A searched.
    """
    blk_lo = jnp.where(is_glitch, bb.U32(0), blk_lo)
    blk_hi = jnp.where(is_glitch, bb.U32(0), blk_hi)
    p_idx = pr * GRID + pc
    p_lo, p_hi = bb.bit(p_idx)
    nr, nc = r[:, None] + _DR, c[:, None] + _DC  # (N, 4)
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
    search = moves & found_b & (nearer | on_step)
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
    return jnp.where(moves, r + _DR[d], r), jnp.where(moves, c + _DC[d], c)


def _batched_visits(carry, fixed, start, stop):
    """Visits ``start..stop-1`` (scalars shared by the batch) of an enemy step, on (N, 36) slots.

    The rule of ``_visits``: visit ``i`` takes the enemy with the ``i``-th smallest
    priority (``_step_setup``'s random order, ties to the lower slot as in its stable
    sort) by marking each visited slot past every other one, which is cheaper than
    sorting the batch. Occupancy is an OR of per-slot cell bits kept up to date as
    enemies move. Nothing else changes during a step, so whether an enemy may act is
    known before the loop.
    """
    pr, pc, n, can_act, glitch, cryptog, trans_lo, trans_hi, blk_lo, blk_hi, blocked_field, manhattan = fixed

    def visit(i, carry):
        prio, row, col, bit_lo, bit_hi, hp, attack, seen = carry
        low = jnp.min(prio, axis=1, keepdims=True)  # two plain reductions beat an argmin
        j = jnp.min(jnp.where(prio == low, _SLOTS, MAX_ENEMIES), axis=1)
        hot = _SLOTS == j[:, None]

        def pick(x):
            return jnp.take_along_axis(x, j[:, None], axis=1)[:, 0]

        r, c = pick(row), pick(col)
        act = (i < n) & pick(can_act)
        adjacent = (jnp.abs(r - pr) + jnp.abs(c - pc)) == 1
        does_attack = act & adjacent
        does_move = act & ~adjacent
        occ_lo = jnp.bitwise_or.reduce(jnp.where(hot, bb.U32(0), bit_lo), axis=1) | trans_lo
        occ_hi = jnp.bitwise_or.reduce(jnp.where(hot, bb.U32(0), bit_hi), axis=1) | trans_hi
        is_glitch = pick(glitch)
        field = jnp.where(is_glitch[:, None], manhattan, blocked_field)
        new_r, new_c = _move_targets(
            r, c, is_glitch, pr, pc, occ_lo, occ_hi, blk_lo, blk_hi, field, does_move
        )
        new_r = jnp.where(does_move, new_r, r)
        new_c = jnp.where(does_move, new_c, c)
        moved = (new_r != r) | (new_c != c)
        sees = moved & pick(cryptog) & ((new_r == pr) | (new_c == pc))
        b_lo, b_hi = bb.bit(new_r * GRID + new_c)
        moving = hot & moved[:, None]
        return (
            jnp.where(hot, 3.0, prio),
            jnp.where(hot, new_r[:, None], row),
            jnp.where(hot, new_c[:, None], col),
            jnp.where(moving, b_lo[:, None], bit_lo),
            jnp.where(moving, b_hi[:, None], bit_hi),
            jnp.where(does_attack, jnp.maximum(0, hp - 1), hp),
            attack | (hot & does_attack[:, None]),
            seen | (hot & sees[:, None]),
        )

    return jax.lax.fori_loop(start, stop, visit, carry)


def _turn_fields(states: EnvState):
    """What both enemy steps of a turn read and neither changes: the transmissions' and
    the blocks' cells and the distance fields from the player (who does not move)."""
    trans_lo, trans_hi = bb.from_mask(jax.vmap(occupancy)(states.transmissions) > 0)
    blk_lo, blk_hi = bb.from_mask(states.board.block_kind > 0)
    return (trans_lo, trans_hi, blk_lo, blk_hi,
            *_distance_fields(blk_lo, blk_hi, states.player.row, states.player.col))


def _batched_enemy_step(states: EnvState, step_index: int, attacked, keys, do, fields):
    """``enemy_step`` for a batch: the first visits on every row, the rest on gathered rows."""
    en = states.enemies
    may_act = en.alive & (step_index < _STEPS[en.kind])
    prio = jnp.where(may_act, jax.vmap(lambda k: jax.random.uniform(k, (MAX_ENEMIES,)))(keys), 2.0)
    n = jnp.where(do, jnp.sum(may_act.astype(jnp.int32), axis=1), 0)
    can_act = may_act & (en.disabled <= 0) & ~en.stunned & ~attacked
    bit_lo, bit_hi = bb.bit(jnp.where(en.alive, en.row * GRID + en.col, -1))
    fixed = (
        states.player.row, states.player.col, n, can_act, en.kind == EnemyType.GLITCH,
        en.kind == EnemyType.CRYPTOG, *fields,
    )
    no = jnp.zeros_like(can_act)
    carry = (prio, en.row, en.col, bit_lo, bit_hi, states.player.hp, no, no)
    if n.shape[0] == 1:
        # One environment (``env.step``): every visit in one loop, traced once.
        carry = _batched_visits(carry, fixed, 0, n[0])
        return _finish_step(states, attacked, carry)
    carry = _batched_visits(carry, fixed, 0, jnp.minimum(jnp.max(n), FIRST_VISITS))

    def rest(rows, valid):
        c, f = rows
        f = f[:2] + (jnp.where(valid, f[2], 0),) + f[3:]
        return _batched_visits(c, f, FIRST_VISITS, jnp.max(f[2]))

    carry = on_rows(n > FIRST_VISITS, rest, (carry, fixed), carry, share=REST_SHARE,
                    priority=n, levels=REST_LEVELS)
    return _finish_step(states, attacked, carry)


def _finish_step(states: EnvState, attacked, carry):
    en = states.enemies
    _, row, col, _, _, hp, attack, seen = carry
    en = en.replace(
        row=row, col=col,
        last_row=jnp.where(seen, row, en.last_row), last_col=jnp.where(seen, col, en.last_col),
    )
    states = states.replace(enemies=en, player=states.player.replace(hp=hp))
    return states, attacked | attack


def full_enemy_turn(state: EnvState, key: jax.Array, params: EnvParams, do: jax.Array) -> EnvState:
    """§5.3 phases 1-8 where ``do``; the state is unchanged elsewhere."""
    k_step0, k_step1, k_sched, k_pending = jax.random.split(key, 4)
    state = state.replace(turn=state.turn + do.astype(jnp.int32))
    state = tick_transmissions(state, do)
    attacked = jnp.zeros((MAX_ENEMIES,), jnp.bool_)
    state, attacked = enemy_step(state, 0, attacked, k_step0, do)
    # Step 1 exists only when some enemy is a virus, and only viruses act in it.
    has_virus = jnp.any(state.enemies.alive & (state.enemies.kind == EnemyType.VIRUS))
    state, attacked = enemy_step(state, 1, attacked, k_step1, do & has_virus)

    due = do & ~state.scheduled_tasks_disabled & (state.turn >= state.next_scheduled_turn)
    state = place_transmissions(state, due.astype(jnp.int32), False, True, k_sched)
    state = state.replace(
        next_scheduled_turn=jnp.where(due, state.turn + state.scheduled_interval, state.next_scheduled_turn)
    )
    state = place_transmissions(state, jnp.where(do, state.pending_siphon, 0), True, False, k_pending)
    en = state.enemies
    state = state.replace(
        pending_siphon=jnp.where(do, 0, state.pending_siphon),
        enemies=en.replace(
            disabled=jnp.where(do & (en.disabled > 0), en.disabled - 1, en.disabled),
            stunned=en.stunned & ~do,
        ),
    )
    return push_snapshot(state, take_snapshot(state), params, do)


def enemy_turn(state: EnvState, key: jax.Array, params: EnvParams, do: jax.Array | bool = True) -> EnvState:
    """§5.2: where ``do``, a set STEP flag is cleared and skips the whole turn; else a full turn."""
    do = jnp.asarray(do)
    skipped = do & state.step_active
    state = state.replace(step_active=state.step_active & ~skipped)
    return full_enemy_turn(state, key, params, do & ~skipped)


def batched_enemy_turn(states: EnvState, keys: jax.Array, params: EnvParams, do: jax.Array) -> EnvState:
    """``enemy_turn`` for a batch (leading axis N); same result row by row as vmapping it.

    Enemy visits beyond the first few, and pending siphon spawns, run only on the
    gathered rows that have them, so one crowded board does not make the whole batch
    loop as long as it does.
    """
    skipped = do & states.step_active
    states = states.replace(step_active=states.step_active & ~skipped)
    do = do & ~skipped
    split = jax.vmap(lambda k: jax.random.split(k, 4))(keys)
    k_step0, k_step1, k_sched, k_pending = split[:, 0], split[:, 1], split[:, 2], split[:, 3]
    states = states.replace(turn=states.turn + do.astype(jnp.int32))
    states = jax.vmap(tick_transmissions)(states, do)
    fields = _turn_fields(states)

    def enemy_steps(step_index, carry):
        # Both steps share one traced body (the step index is data), which keeps the
        # compiled program small. Step 1 exists only where some enemy is a virus.
        core, attacked = carry
        en = core.enemies
        has_virus = jnp.any(en.alive & (en.kind == EnemyType.VIRUS), axis=1)
        keys = jnp.where(step_index == 0, k_step0, k_step1)
        step_do = do & ((step_index == 0) | has_virus)
        return _batched_enemy_step(core, step_index, attacked, keys, step_do, fields)

    attacked = jnp.zeros((do.shape[0], MAX_ENEMIES), jnp.bool_)
    core, _ = jax.lax.fori_loop(0, 2, enemy_steps, (states.replace(undo=None), attacked))
    states = core.replace(undo=states.undo)

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

    core = states.replace(undo=None)
    if do.shape[0] == 1:
        # One environment (``env.step``): both placements traced once, under one conditional.
        trans = on_rows(due | spawning, place, (core, due, k_sched, k_pending), states.transmissions)
    else:
        states = states.replace(transmissions=jax.vmap(
            lambda s, d, k: place_transmissions(s, d.astype(jnp.int32), False, True, k).transmissions
        )(core, due, k_sched))

        def spawn(rows, valid):
            s, k = rows
            return jax.vmap(
                lambda st, kk, v: place_transmissions(st, jnp.where(v, st.pending_siphon, 0), True, False, kk)
            )(s, k, valid).transmissions

        trans = on_rows(
            spawning, spawn, (states.replace(undo=None), k_pending), states.transmissions, share=SPAWN_SHARE
        )
    states = states.replace(
        next_scheduled_turn=jnp.where(due, states.turn + states.scheduled_interval, states.next_scheduled_turn)
    )
    en = states.enemies
    states = states.replace(
        transmissions=trans,
        pending_siphon=jnp.where(do, 0, states.pending_siphon),
        enemies=en.replace(
            disabled=jnp.where(do[:, None] & (en.disabled > 0), en.disabled - 1, en.disabled),
            stunned=en.stunned & ~do[:, None],
        ),
    )
    return jax.vmap(lambda s, d: push_snapshot(s, take_snapshot(s), params, d))(states, do)
