"""The enemy turn (game-rules §5): tick, enemy steps, scheduled task, pending spawns, reset, snapshot."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, ENEMY_MAX_HP, ENEMY_STEPS, MAX_ENEMIES, EnemyType
from hackmatrix.domain.grid import COLS, ROWS, at, in_bounds
from hackmatrix.domain.lists import compact, count, occupancy
from hackmatrix.domain.pathfinding import INF, distance_field, first_step
from hackmatrix.domain.placement import place_transmissions
from hackmatrix.domain.state import EnvParams, EnvState, take_snapshot
from hackmatrix.domain.undo import push_snapshot

_MAX_HP = jnp.asarray(ENEMY_MAX_HP)
_STEPS = jnp.asarray(ENEMY_STEPS)


def tick_transmissions(state: EnvState) -> EnvState:
    """§5.4: timers <= 1 hatch into disabled enemies (appended in list order), others count down."""
    tr = state.transmissions
    en = state.enemies
    hatch = tr.alive & (tr.turns <= 1)
    slot = count(en) + jnp.cumsum(hatch.astype(jnp.int32)) - 1
    slot = jnp.where(hatch & (slot < MAX_ENEMIES), slot, MAX_ENEMIES)

    def put(arr, values):
        return arr.at[slot].set(values.astype(arr.dtype), mode="drop")

    ones = jnp.ones_like(tr.turns)
    en = en.replace(
        alive=put(en.alive, hatch),
        kind=put(en.kind, tr.kind),
        row=put(en.row, tr.row),
        col=put(en.col, tr.col),
        hp=put(en.hp, _MAX_HP[tr.kind]),
        disabled=put(en.disabled, ones),
        stunned=put(en.stunned, jnp.zeros_like(hatch)),
        from_siphon=put(en.from_siphon, tr.from_siphon),
        from_scheduled=put(en.from_scheduled, tr.from_scheduled),
        last_row=put(en.last_row, tr.row),
        last_col=put(en.last_col, tr.col),
    )
    tr = compact(tr.replace(alive=tr.alive & ~hatch, turns=jnp.where(hatch, tr.turns, tr.turns - 1)))
    return state.replace(enemies=en, transmissions=tr)


def _move_target(state: EnvState, j: jax.Array) -> tuple[jax.Array, jax.Array]:
    """§5.6: the cell enemy slot ``j`` moves to (its own cell if it stays)."""
    en = state.enemies
    pr, pc = state.player.row, state.player.col
    r, c = en.row[j], en.col[j]
    blocked = (state.board.block_kind > 0) & (en.kind[j] != EnemyType.GLITCH)
    others = jnp.arange(MAX_ENEMIES) != j
    occ = (occupancy(en, others) > 0) | (occupancy(state.transmissions) > 0)
    is_p = (ROWS == pr) & (COLS == pc)

    enter_a = ~blocked & (is_p | ~occ)
    found_a, ar, ac = first_step(distance_field(enter_a, pr, pc), enter_a, r, c)
    enter_b = ~blocked
    found_b, br, bc = first_step(distance_field(enter_b, pr, pc), enter_b, r, c)
    found_b = found_b & ~at(occ, br, bc, True)

    nr = r + jnp.asarray(DIR_DROW)
    nc = c + jnp.asarray(DIR_DCOL)
    free = in_bounds(nr, nc) & ~at(blocked, nr, nc, True) & ~at(occ, nr, nc, True)
    manhattan = jnp.where(free, jnp.abs(nr - pr) + jnp.abs(nc - pc), INF)
    k = jnp.argmin(manhattan)
    found_f = free[k]

    row = jnp.where(found_a, ar, jnp.where(found_b, br, jnp.where(found_f, nr[k], r)))
    col = jnp.where(found_a, ac, jnp.where(found_b, bc, jnp.where(found_f, nc[k], c)))
    return row, col


def enemy_step(state: EnvState, step_index: int, attacked: jax.Array, key: jax.Array):
    """§5.5: every enemy, in a fresh random order, attacks if adjacent or else moves."""
    en = state.enemies
    order = jnp.argsort(jnp.where(en.alive, jax.random.uniform(key, (MAX_ENEMIES,)), 2.0))
    n = count(en)

    def visit(i, carry):
        st, attacked = carry
        en = st.enemies
        j = order[i]
        can_act = (
            en.alive[j] & (en.disabled[j] <= 0) & ~en.stunned[j] & ~attacked[j]
            & (step_index < _STEPS[en.kind[j]])
        )
        pr, pc = st.player.row, st.player.col
        adjacent = (jnp.abs(en.row[j] - pr) + jnp.abs(en.col[j] - pc)) == 1
        does_attack = can_act & adjacent
        does_move = can_act & ~adjacent
        new_r, new_c = _move_target(st, j)
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
        player = st.player.replace(hp=jnp.where(does_attack, jnp.maximum(0, st.player.hp - 1), st.player.hp))
        return st.replace(enemies=en, player=player), attacked.at[j].set(attacked[j] | does_attack)

    return jax.lax.fori_loop(0, n, visit, (state, attacked))


def full_enemy_turn(state: EnvState, key: jax.Array, params: EnvParams) -> EnvState:
    """§5.3 phases 1-8 (not skipped)."""
    k_step0, k_step1, k_sched, k_pending = jax.random.split(key, 4)
    state = state.replace(turn=state.turn + 1)
    state = tick_transmissions(state)
    attacked = jnp.zeros((MAX_ENEMIES,), jnp.bool_)
    state, attacked = enemy_step(state, 0, attacked, k_step0)
    # Step 1 exists only when some enemy is a virus, and only viruses act in it, so
    # running it unconditionally changes nothing when there is none.
    state, attacked = enemy_step(state, 1, attacked, k_step1)

    due = ~state.scheduled_tasks_disabled & (state.turn >= state.next_scheduled_turn)
    state = place_transmissions(state, due.astype(jnp.int32), False, True, k_sched)
    state = state.replace(
        next_scheduled_turn=jnp.where(due, state.turn + state.scheduled_interval, state.next_scheduled_turn)
    )
    state = place_transmissions(state, state.pending_siphon, True, False, k_pending)
    en = state.enemies
    state = state.replace(
        pending_siphon=jnp.int32(0),
        enemies=en.replace(
            disabled=jnp.where(en.disabled > 0, en.disabled - 1, en.disabled),
            stunned=jnp.zeros_like(en.stunned),
        ),
    )
    return push_snapshot(state, take_snapshot(state), params)


def enemy_turn(state: EnvState, key: jax.Array, params: EnvParams) -> EnvState:
    """§5.2: a set STEP flag is cleared and skips the whole turn."""
    skipped = state.step_active
    return jax.lax.cond(
        skipped,
        lambda s: s.replace(step_active=jnp.bool_(False)),
        lambda s: full_enemy_turn(s, key, params),
        state,
    )
