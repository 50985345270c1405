"""Reference oracle of the enemy turn (game-rules §5): one environment, read as the spec.

Test-only. The engine runs ``hackmatrix.domain.enemy_turn.batched_enemy_turn`` (the same
rule on a batch, with batch-level shortcuts); ``test_batched_enemy_turn`` checks that it
equals ``jax.vmap`` of this oracle, leaf by leaf, on crowded boards. Each function here
follows one paragraph of §5: the visit order of §5.5, and §5.6's attempts A and B as
two breadth-first searches per moving enemy, without the engine's shared distance fields.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain import bitboard as bb
from hackmatrix.domain.constants import DIR_DCOL, DIR_DROW, ENEMY_STEPS, GRID, MAX_ENEMIES, EnemyType
from hackmatrix.domain.enemy_turn import tick_transmissions
from hackmatrix.domain.grid import at, in_bounds
from hackmatrix.domain.lists import occupancy
from hackmatrix.domain.pathfinding import INF, bfs_first_step
from hackmatrix.domain.placement import place_transmissions
from hackmatrix.domain.state import EnvParams, EnvState
from hackmatrix.domain.undo import join_history, push_snapshot, split_history

_STEPS = jnp.asarray(ENEMY_STEPS)
_DR = jnp.asarray(DIR_DROW)
_DC = jnp.asarray(DIR_DCOL)


def move_target(en, pr, pc, j: jax.Array, trans_occ: jax.Array, blocks: jax.Array, moves: jax.Array):
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


def enemy_step(
    state: EnvState, step_index: int, attacked: jax.Array, key: jax.Array, do: jax.Array
) -> tuple[EnvState, jax.Array]:
    """§5.5: every enemy, in a fresh random order, attacks if adjacent or else moves."""
    en = state.enemies
    # Only enemies allowed a step this round can act (all at step 0, viruses at step 1), so
    # a random order of just those is the original's random order of everyone.
    may_act = en.alive & (step_index < _STEPS[en.kind])
    order = jnp.argsort(jnp.where(may_act, jax.random.uniform(key, (MAX_ENEMIES,)), 2.0))
    n = jnp.where(do, jnp.sum(may_act.astype(jnp.int32)), 0)
    trans_occ = occupancy(state.transmissions) > 0
    blocks = bb.from_mask(state.board.block_kind > 0)
    pr, pc = state.player.row, state.player.col

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
        new_r, new_c = move_target(en, pr, pc, j, trans_occ, blocks, does_move)
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

    en, hp, attacked = jax.lax.fori_loop(0, n, visit, (en, state.player.hp, attacked))
    return state.replace(enemies=en, player=state.player.replace(hp=hp)), attacked


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
    state, history = split_history(state)
    return join_history(*push_snapshot(state, history, params, do))


def enemy_turn(state: EnvState, key: jax.Array, params: EnvParams, do: jax.Array | bool = True) -> EnvState:
    """§5.2: where ``do``, a set STEP flag is cleared and skips the whole turn; else a full turn."""
    do = jnp.asarray(do)
    skipped = do & state.step_active
    state = state.replace(step_active=state.step_active & ~skipped)
    return full_enemy_turn(state, key, params, do & ~skipped)
