"""The 23 programs (game-rules §6).

Each rule lives in its own small function below. ``program_action`` runs the chosen
one by *merging* instead of branching: the effects that share a mechanism are
computed once with the program index as data (one displacement for PUSH/PULL, one
strike-and-sweep for DEBUG/ROW/COL/ANTI-V/HACK/POLY/D_BOM, one removal-and-compaction
pass for every program that removes enemies or transmissions), and each state field
is picked with a ``where`` on the index. Under ``vmap`` a 23-way ``lax.switch``
would materialise and select 23 copies of the state; this costs one pass, and a new
program adds one small term instead of another copy of the step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain import draws
from hackmatrix.domain.constants import (
    ENEMY_MAX_HP, MAX_ENEMIES, MAX_HP, MAX_TRANSMISSIONS, NUM_STAGES, PROGRAM_CREDITS,
    PROGRAM_ENERGY, Action, EnemyType,
)
from hackmatrix.domain.events import Events, no_events
from hackmatrix.domain.grid import COLS, ROWS, in_bounds
from hackmatrix.domain.lists import compact, first_on_cell
from hackmatrix.domain.state import Enemies, EnvParams, EnvState, Snapshot
from hackmatrix.domain.undo import restore_snapshot, top_snapshot

_CREDITS = jnp.asarray(PROGRAM_CREDITS)
_ENERGY = jnp.asarray(PROGRAM_ENERGY)
_MAX_HP = jnp.asarray(ENEMY_MAX_HP)


def _p(action: Action) -> int:
    """Program index of an action."""
    return int(action) - 5


# --- rules --------------------------------------------------------------------------------

def displacement(state: EnvState, away: jax.Array) -> tuple[jax.Array, jax.Array]:
    """PUSH (away) / PULL (§6.3): new enemy rows/cols, with the list-order conflict rule.

    Destinations come from the original positions; an enemy stays if an earlier enemy
    already moved into its destination during the pass. Nothing else is checked.
    """
    en = state.enemies
    pr, pc = state.player.row, state.player.col
    sign_r = jnp.sign(en.row - pr).astype(jnp.int32)
    sign_c = jnp.sign(en.col - pc).astype(jnp.int32)
    sr = jnp.where(away, sign_r, -sign_r)
    sc = jnp.where(away, sign_c, -sign_c)
    cand_r = jnp.stack([en.row + sr, en.row + sr, en.row], axis=1)  # (N, 3): diagonal, row, col
    cand_c = jnp.stack([en.col + sc, en.col, en.col + sc], axis=1)
    allowed = jnp.stack([jnp.ones_like(sr, bool), sr != 0, sc != 0], axis=1) & in_bounds(cand_r, cand_c)
    allowed = allowed & (away | ~((cand_r == pr) & (cand_c == pc)))  # PULL never onto the player
    dist = jnp.abs(cand_r - pr) + jnp.abs(cand_c - pc)
    k = jnp.argmax(jnp.where(allowed, jnp.where(away, dist, -dist), -1000), axis=1)  # first on ties
    has = jnp.any(allowed, axis=1) & en.alive
    dest_r = jnp.take_along_axis(cand_r, k[:, None], axis=1)[:, 0]
    dest_c = jnp.take_along_axis(cand_c, k[:, None], axis=1)[:, 0]

    def one(taken, x):
        ok, r, c = x
        cell = r * 6 + c
        move = ok & ~taken[jnp.clip(cell, 0, 35)]
        return taken.at[jnp.where(move, cell, 36)].set(True, mode="drop"), move

    _, moves = jax.lax.scan(one, jnp.zeros((36,), bool), (has, dest_r, dest_c))
    return jnp.where(moves, dest_r, en.row), jnp.where(moves, dest_c, en.col)


def strike_targets(state: EnvState, program: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(hit mask, damage) of the strike programs: DEBUG, ROW, COL, ANTI-V (fixed 1), HACK."""
    en = state.enemies
    p = state.player
    on_block = state.board.block_kind[en.row, en.col] > 0
    on_siphoned = state.board.siphoned[en.row, en.col]
    hit = jnp.select(
        [
            program == _p(Action.DEBUG),
            program == _p(Action.ROW),
            program == _p(Action.COL),
            program == _p(Action.ANTI_V),
            program == _p(Action.HACK),
        ],
        [on_block, en.row == p.row, en.col == p.col, en.kind == EnemyType.VIRUS, on_siphoned],
        jnp.zeros_like(on_block),
    )
    damage = jnp.where(program == _p(Action.ANTI_V), 1, p.attack_damage)
    return hit & en.alive, damage


def poly(enemies: Enemies, words: jax.Array) -> Enemies:
    """POLY: every enemy becomes one of the three other types; damage taken carries over.

    ``words``: (36,) random uint32, one per enemy slot.
    """
    shift = 1 + draws.below(words, 3)
    new_kind = (enemies.kind + shift) % 4
    hp = _MAX_HP[new_kind] - (_MAX_HP[enemies.kind] - enemies.hp)
    to_cryptog = enemies.alive & (new_kind == EnemyType.CRYPTOG)
    return enemies.replace(
        kind=jnp.where(enemies.alive, new_kind, enemies.kind),
        hp=jnp.where(enemies.alive, hp, enemies.hp),
        last_row=jnp.where(to_cryptog, enemies.row, enemies.last_row),
        last_col=jnp.where(to_cryptog, enemies.col, enemies.last_col),
    )


def d_bom_target(state: EnvState) -> tuple[jax.Array, jax.Array]:
    """D_BOM: (one-hot of the nearest daemon, first in list order on ties; splash mask).

    The splash covers the 8 cells around the daemon, not its own cell.
    """
    en = state.enemies
    daemon = en.alive & (en.kind == EnemyType.DAEMON)
    dist = jnp.where(daemon, jnp.abs(en.row - state.player.row) + jnp.abs(en.col - state.player.col), 1000)
    t = jnp.argmin(dist)
    target = daemon & (jnp.arange(MAX_ENEMIES) == t)
    dr, dc = en.row[t], en.col[t]
    splash = (jnp.abs(en.row - dr) <= 1) & (jnp.abs(en.col - dc) <= 1) & ~((en.row == dr) & (en.col == dc))
    return target, splash & en.alive & ~target


def crash_ring(state: EnvState) -> jax.Array:
    """CRASH: the (6, 6) mask of the 8 cells around the player."""
    pr, pc = state.player.row, state.player.col
    return (jnp.abs(ROWS - pr) <= 1) & (jnp.abs(COLS - pc) <= 1) & ~((ROWS == pr) & (COLS == pc))


def cell_kills(entries, cells: jax.Array) -> jax.Array:
    """Kills of a removal by cell: 1 per cell in ``cells`` whose first entry is not scheduled."""
    has, first = first_on_cell(entries, entries.alive)
    return jnp.sum((cells & has & ~entries.from_scheduled[first]).astype(jnp.int32))


def warp_target(state: EnvState, words: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """WARP: a uniform entry of enemies (list order) + transmissions. Returns (is_enemy, row, col).

    ``words``: (72,) random uint32, one per entry.
    """
    en, tr = state.enemies, state.transmissions
    targets = jnp.concatenate([en.alive, tr.alive])
    t = jnp.argmax(jnp.where(targets, draws.unit(words), -1.0))
    is_enemy = t < MAX_ENEMIES
    ei = jnp.clip(t, 0, MAX_ENEMIES - 1)
    ti = jnp.clip(t - MAX_ENEMIES, 0, MAX_ENEMIES - 1)
    return is_enemy, jnp.where(is_enemy, en.row[ei], tr.row[ti]), jnp.where(is_enemy, en.col[ei], tr.col[ti])


# --- dispatch -------------------------------------------------------------------------------

def program_action(
    state: EnvState, program: jax.Array, key: jax.Array, params: EnvParams, snap: Snapshot | None = None
) -> tuple[EnvState, Events]:
    """Pay the cost, then apply program ``program`` (0..22); returns (state, events).

    Validity is the mask's business (the caller discards the result of an invalid
    program). ``snap`` is the top undo snapshot (taken from ``state`` when omitted); the
    state may come with ``undo=None``.
    """
    if snap is None:
        snap = top_snapshot(state, params)
    # One block of random words (one hash site, draws.py): one per WARP target, then one per enemy for POLY.
    n_warp = MAX_ENEMIES + MAX_TRANSMISSIONS
    words = jax.random.bits(key, (n_warp + MAX_ENEMIES,))
    w_warp, w_poly = words[:n_warp], words[n_warp:]

    def is_(action: Action) -> jax.Array:
        return program == _p(action)

    p = state.player
    hp_before = p.hp
    s = state.replace(
        player=p.replace(credits=p.credits - _CREDITS[program], energy=p.energy - _ENERGY[program])
    )
    en, tr, board, p = s.enemies, s.transmissions, s.board, s.player

    # PUSH / PULL: positions only.
    new_row, new_col = displacement(s, is_(Action.PUSH))
    moves = is_(Action.PUSH) | is_(Action.PULL)
    en = en.replace(row=jnp.where(moves, new_row, en.row), col=jnp.where(moves, new_col, en.col))

    # POLY, then the strike family and D_BOM, then one sweep of the dead.
    en = jax.tree_util.tree_map(lambda a, b: jnp.where(is_(Action.POLY), a, b), poly(en, w_poly), en)
    hit, damage = strike_targets(s, program)
    bom_target, bom_splash = d_bom_target(s)
    is_bom = is_(Action.D_BOM)
    bom_target = bom_target & is_bom
    hit = jnp.where(is_bom, bom_splash, hit)
    damage = jnp.where(is_bom, 1, damage)
    hp = jnp.where(hit, jnp.maximum(0, en.hp - damage), en.hp)
    en = en.replace(hp=hp, stunned=en.stunned | (hit & (hp > 0)))
    sweeps = is_(Action.DEBUG) | is_(Action.ROW) | is_(Action.COL) | is_(Action.ANTI_V) | is_(Action.HACK) \
        | is_(Action.POLY) | is_bom
    alive_after_target = en.alive & ~bom_target
    dead = alive_after_target & (en.hp <= 0) & sweeps
    kills = jnp.sum((dead & ~en.from_scheduled).astype(jnp.int32))
    kills = kills + jnp.sum((bom_target & ~en.from_scheduled).astype(jnp.int32))

    # CRASH and WARP remove by cell (one kill per cell and kind, judged by the first entry).
    ring = crash_ring(s) & is_(Action.CRASH)
    warp_enemy, warp_row, warp_col = warp_target(s, w_warp)
    is_warp = is_(Action.WARP)
    warp_cell = (ROWS == warp_row) & (COLS == warp_col) & is_warp
    en_cells = ring | (warp_cell & warp_enemy)
    tr_cells = ring | (warp_cell & ~warp_enemy)
    kills = kills + cell_kills(s.enemies, en_cells) + cell_kills(s.transmissions, tr_cells)
    en_removed = dead | bom_target | (en.alive & en_cells[en.row, en.col])
    tr_removed = tr.alive & tr_cells[tr.row, tr.col]
    en = compact(en.replace(alive=en.alive & ~en_removed))
    tr = compact(tr.replace(
        alive=tr.alive & ~tr_removed,
        turns=jnp.where(is_(Action.DELAY) & tr.alive, tr.turns + 3, tr.turns),  # DELAY
    ))

    # Board: CRASH removes blocks (resources and siphoned flags stay); REDUC lowers spawns.
    reduc = is_(Action.REDUC) & (board.block_kind > 0) & ~board.siphoned
    board = board.replace(
        block_kind=jnp.where(ring, 0, board.block_kind),
        block_points=jnp.where(ring, 0, board.block_points),
        block_program=jnp.where(ring, 0, board.block_program),
        block_spawn=jnp.where(ring, 0, jnp.where(reduc, jnp.maximum(0, board.block_spawn - 1), board.block_spawn)),
        question_is_data=board.question_is_data & ~ring,
    )

    # Player and flags: WARP, SIPH+, EXCH, RESET, SCORE, ATK+; STEP, SHOW, CALM.
    p = p.replace(
        row=jnp.where(is_warp, warp_row, p.row),
        col=jnp.where(is_warp, warp_col, p.col),
        data_siphons=p.data_siphons + is_(Action.SIPH_PLUS).astype(jnp.int32),
        energy=p.energy + 4 * is_(Action.EXCH).astype(jnp.int32),
        hp=jnp.where(is_(Action.RESET), MAX_HP, p.hp),
        score=p.score + jnp.where(is_(Action.SCORE), NUM_STAGES - s.stage, 0),
        attack_damage=p.attack_damage + is_(Action.ATK_PLUS).astype(jnp.int32),
    )
    out = s.replace(
        player=p, enemies=en, transmissions=tr, board=board,
        step_active=s.step_active | is_(Action.STEP),
        show_activated=s.show_activated | is_(Action.SHOW),
        scheduled_tasks_disabled=s.scheduled_tasks_disabled | is_(Action.CALM),
        atk_plus_uses=s.atk_plus_uses + is_(Action.ATK_PLUS).astype(jnp.int32),
    )
    # UNDO replaces everything the snapshot holds.
    restored = restore_snapshot(s, snap, params)
    out = jax.tree_util.tree_map(lambda a, b: jnp.where(is_(Action.UNDO), a, b), restored, out)

    warp_exit = is_warp & (warp_row == s.exit_row) & (warp_col == s.exit_col)
    ev = no_events(success=True, ends_turn=is_(Action.WAIT)).replace(
        kills=kills,
        exit_reached=warp_exit,
        program_waste=is_(Action.RESET) & (hp_before == MAX_HP - 1),
    )
    return out, ev
