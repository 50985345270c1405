"""The enemy turn (game-rules §5): tick, enemy steps, scheduled task, pending spawns, reset, snapshot.

Every phase takes a ``do`` flag instead of running under ``lax.cond``: under ``vmap`` a
cond becomes a select that runs both branches, while a gated loop bound costs nothing
for the environments that do not take part.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain import bitboard as bb
from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, ENEMY_MAX_HP, ENEMY_STEPS, GRID, MAX_ENEMIES, EnemyType
from hackmatrix.domain.grid import at, in_bounds
from hackmatrix.domain.lists import compact, count, occupancy
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
    slot = count(en) + jnp.cumsum(hatch.astype(jnp.int32)) - 1
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


def enemy_step(state: EnvState, step_index: int, attacked: jax.Array, key: jax.Array, do: jax.Array):
    """§5.5: every enemy, in a fresh random order, attacks if adjacent or else moves."""
    order, n, trans_occ, blocks = _step_setup(state, step_index, key, do)
    carry = (state.enemies, state.player.hp, attacked)
    en, hp, attacked = _visits(
        step_index, carry, order, 0, n, state.player.row, state.player.col, trans_occ, blocks
    )
    return state.replace(enemies=en, player=state.player.replace(hp=hp)), attacked


FIRST_VISITS = 4  # visits run on the whole batch; the rest only on the rows with more enemies


def _batched_enemy_step(states: EnvState, step_index: int, attacked, keys, do):
    """``enemy_step`` for a batch: the first visits on every row, the rest on gathered rows."""
    order, n, trans_occ, blocks = jax.vmap(lambda s, k, d: _step_setup(s, step_index, k, d))(states, keys, do)
    pr, pc = states.player.row, states.player.col
    carry = (states.enemies, states.player.hp, attacked)
    run = jax.vmap(
        lambda c, o, a, b, r, q, t, bl: _visits(step_index, c, o, a, b, r, q, t, bl)
    )
    zeros = jnp.zeros_like(n)
    carry = run(carry, order, zeros, jnp.minimum(n, FIRST_VISITS), pr, pc, trans_occ, blocks)

    def rest(rows, valid):
        c, o, m, r, q, t, bl = rows
        stop = jnp.where(valid, m, FIRST_VISITS)
        return run(c, o, jnp.full_like(m, FIRST_VISITS), stop, r, q, t, bl)

    carry = on_rows(n > FIRST_VISITS, rest, (carry, order, n, pr, pc, trans_occ, blocks), carry)
    en, hp, attacked = carry
    return states.replace(enemies=en, player=states.player.replace(hp=hp)), attacked


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
    attacked = jnp.zeros((do.shape[0], MAX_ENEMIES), jnp.bool_)
    states, attacked = _batched_enemy_step(states, 0, attacked, k_step0, do)
    en = states.enemies
    has_virus = jnp.any(en.alive & (en.kind == EnemyType.VIRUS), axis=1)
    states, attacked = _batched_enemy_step(states, 1, attacked, k_step1, do & has_virus)

    due = do & ~states.scheduled_tasks_disabled & (states.turn >= states.next_scheduled_turn)
    states = jax.vmap(lambda s, d, k: place_transmissions(s, d.astype(jnp.int32), False, True, k))(
        states, due, k_sched
    )
    states = states.replace(
        next_scheduled_turn=jnp.where(due, states.turn + states.scheduled_interval, states.next_scheduled_turn)
    )
    spawning = do & (states.pending_siphon > 0)

    def spawn(rows, valid):
        s, k = rows
        placed = jax.vmap(
            lambda st, kk, v: place_transmissions(st, jnp.where(v, st.pending_siphon, 0), True, False, kk)
        )(s, k, valid)
        return placed.transmissions

    trans = on_rows(spawning, spawn, (states.replace(undo=None), k_pending), states.transmissions)
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
