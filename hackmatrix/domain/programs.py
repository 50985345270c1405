"""The 23 programs (game-rules §6). One ``lax.switch`` dispatches them.

Each effect takes the state *after* the cost was paid and returns
``(state, kills, exit_reached)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import (
    ENEMY_MAX_HP, MAX_ENEMIES, MAX_HP, MAX_TRANSMISSIONS, NUM_STAGES, PROGRAM_CREDITS,
    PROGRAM_ENERGY, RING_DCOL, RING_DROW, EnemyType,
)
from hackmatrix.domain.events import no_events
from hackmatrix.domain.grid import COLS, ROWS, in_bounds
from hackmatrix.domain.lists import compact, first_on_cell
from hackmatrix.domain.state import EnvParams, EnvState
from hackmatrix.domain.undo import pop_and_restore, top_snapshot

_CREDITS = jnp.asarray(PROGRAM_CREDITS)
_ENERGY = jnp.asarray(PROGRAM_ENERGY)
_MAX_HP = jnp.asarray(ENEMY_MAX_HP)
_NO_KILLS = jnp.int32(0)
_NO_EXIT = jnp.bool_(False)


# --- shared rules -------------------------------------------------------------------------

def strike(state: EnvState, hit: jax.Array, damage: jax.Array) -> EnvState:
    """Strike(e, d) for every enemy in ``hit``: lose d HP, survivors are stunned."""
    en = state.enemies
    hp = jnp.where(hit, jnp.maximum(0, en.hp - damage), en.hp)
    stunned = en.stunned | (hit & (hp > 0))
    return state.replace(enemies=en.replace(hp=hp, stunned=stunned))


def sweep_dead(state: EnvState) -> tuple[EnvState, jax.Array]:
    """Remove every enemy with hp <= 0 anywhere; each non-scheduled one is a kill."""
    en = state.enemies
    dead = en.alive & (en.hp <= 0)
    kills = jnp.sum((dead & ~en.from_scheduled).astype(jnp.int32))
    return state.replace(enemies=compact(en.replace(alive=en.alive & ~dead))), kills


def _first_in_list(mask: jax.Array) -> jax.Array:
    return jnp.argmax(mask)


def _remove_by_cell(entries, row, col, active):
    """Remove all entries on (row, col) when ``active``; 1 kill if the first of them is not scheduled."""
    here = entries.alive & (entries.row == row) & (entries.col == col) & active
    first = _first_in_list(here)
    kill = jnp.any(here) & ~entries.from_scheduled[first]
    return compact(entries.replace(alive=entries.alive & ~here)), kill.astype(jnp.int32)


def _sign(x):
    return jnp.sign(x).astype(jnp.int32)


def _displace(state: EnvState, away: bool) -> EnvState:
    """PUSH (away=True) / PULL (away=False), §6.3, with the list-order conflict rule."""
    en = state.enemies
    pr, pc = state.player.row, state.player.col
    sr = _sign(en.row - pr) if away else _sign(pr - en.row)
    sc = _sign(en.col - pc) if away else _sign(pc - en.col)
    cand_r = jnp.stack([en.row + sr, en.row + sr, en.row], axis=1)  # (N, 3)
    cand_c = jnp.stack([en.col + sc, en.col, en.col + sc], axis=1)
    allowed = jnp.stack([jnp.ones_like(sr, bool), sr != 0, sc != 0], axis=1) & in_bounds(cand_r, cand_c)
    if not away:
        allowed = allowed & ~((cand_r == pr) & (cand_c == pc))
    dist = jnp.abs(cand_r - pr) + jnp.abs(cand_c - pc)
    score = jnp.where(allowed, dist if away else -dist, -1000)
    k = jnp.argmax(score, axis=1)
    has = jnp.any(allowed, axis=1) & en.alive
    dest_r = jnp.take_along_axis(cand_r, k[:, None], axis=1)[:, 0]
    dest_c = jnp.take_along_axis(cand_c, k[:, None], axis=1)[:, 0]

    def one(taken, x):
        ok, r, c = x
        cell = r * 6 + c
        move = ok & ~taken[jnp.clip(cell, 0, 35)]
        taken = taken.at[jnp.where(move, cell, 36)].set(True, mode="drop")
        return taken, move

    _, moves = jax.lax.scan(one, jnp.zeros((36,), bool), (has, dest_r, dest_c))
    return state.replace(
        enemies=en.replace(row=jnp.where(moves, dest_r, en.row), col=jnp.where(moves, dest_c, en.col))
    )


# --- the 23 effects ----------------------------------------------------------------------

def _push(s, key, params):
    return _displace(s, True), _NO_KILLS, _NO_EXIT


def _pull(s, key, params):
    return _displace(s, False), _NO_KILLS, _NO_EXIT


def _crash(s, key, params):
    """Clear the 8 surrounding cells: blocks, enemies and transmissions (one kill per cell and kind)."""
    pr, pc = s.player.row, s.player.col
    ring = (jnp.abs(ROWS - pr) <= 1) & (jnp.abs(COLS - pc) <= 1) & ~((ROWS == pr) & (COLS == pc))
    en, tr = s.enemies, s.transmissions
    kills = jnp.int32(0)
    removed = []
    for entries in (en, tr):
        has, first = first_on_cell(entries, entries.alive)
        kills = kills + jnp.sum((ring & has & ~entries.from_scheduled[first]).astype(jnp.int32))
        hit = entries.alive & ring[entries.row, entries.col]
        removed.append(compact(entries.replace(alive=entries.alive & ~hit)))
    board = s.board
    board = board.replace(
        block_kind=jnp.where(ring, 0, board.block_kind),
        block_points=jnp.where(ring, 0, board.block_points),
        block_program=jnp.where(ring, 0, board.block_program),
        block_spawn=jnp.where(ring, 0, board.block_spawn),
        question_is_data=board.question_is_data & ~ring,
    )
    return s.replace(board=board, enemies=removed[0], transmissions=removed[1]), kills, _NO_EXIT


def _warp(s, key, params):
    en, tr = s.enemies, s.transmissions
    targets = jnp.concatenate([en.alive, tr.alive])
    noise = jax.random.uniform(key, targets.shape)
    t = jnp.argmax(jnp.where(targets, noise, -1.0))
    is_enemy = t < MAX_ENEMIES
    ti = jnp.where(is_enemy, t, t - MAX_ENEMIES)
    row = jnp.where(is_enemy, en.row[jnp.clip(ti, 0, MAX_ENEMIES - 1)], tr.row[jnp.clip(ti, 0, MAX_TRANSMISSIONS - 1)])
    col = jnp.where(is_enemy, en.col[jnp.clip(ti, 0, MAX_ENEMIES - 1)], tr.col[jnp.clip(ti, 0, MAX_TRANSMISSIONS - 1)])
    en, ke = _remove_by_cell(en, row, col, is_enemy)
    tr, kt = _remove_by_cell(tr, row, col, ~is_enemy)
    s = s.replace(enemies=en, transmissions=tr, player=s.player.replace(row=row, col=col))
    exit_reached = (row == s.exit_row) & (col == s.exit_col)
    return s, ke + kt, exit_reached


def _poly(s, key, params):
    en = s.enemies
    shift = jax.random.randint(key, (MAX_ENEMIES,), 1, 4)
    new_kind = (en.kind + shift) % 4
    damage = _MAX_HP[en.kind] - en.hp
    hp = _MAX_HP[new_kind] - damage
    becomes_cryptog = new_kind == EnemyType.CRYPTOG
    en = en.replace(
        kind=jnp.where(en.alive, new_kind, en.kind),
        hp=jnp.where(en.alive, hp, en.hp),
        last_row=jnp.where(en.alive & becomes_cryptog, en.row, en.last_row),
        last_col=jnp.where(en.alive & becomes_cryptog, en.col, en.last_col),
    )
    s, kills = sweep_dead(s.replace(enemies=en))
    return s, kills, _NO_EXIT


def _wait(s, key, params):
    return s, _NO_KILLS, _NO_EXIT


def _strike_and_sweep(s, hit, damage):
    s, kills = sweep_dead(strike(s, hit, damage))
    return s, kills, _NO_EXIT


def _debug(s, key, params):
    en = s.enemies
    on_block = s.board.block_kind[en.row, en.col] > 0
    return _strike_and_sweep(s, en.alive & on_block, s.player.attack_damage)


def _row(s, key, params):
    en = s.enemies
    return _strike_and_sweep(s, en.alive & (en.row == s.player.row), s.player.attack_damage)


def _col(s, key, params):
    en = s.enemies
    return _strike_and_sweep(s, en.alive & (en.col == s.player.col), s.player.attack_damage)


def _undo(s, key, params, snap):
    return pop_and_restore(s, snap, params), _NO_KILLS, _NO_EXIT


def _step(s, key, params):
    return s.replace(step_active=jnp.bool_(True)), _NO_KILLS, _NO_EXIT


def _siph_plus(s, key, params):
    p = s.player
    return s.replace(player=p.replace(data_siphons=p.data_siphons + 1)), _NO_KILLS, _NO_EXIT


def _exch(s, key, params):
    p = s.player
    return s.replace(player=p.replace(energy=p.energy + 4)), _NO_KILLS, _NO_EXIT


def _show(s, key, params):
    return s.replace(show_activated=jnp.bool_(True)), _NO_KILLS, _NO_EXIT


def _reset(s, key, params):
    return s.replace(player=s.player.replace(hp=jnp.int32(MAX_HP))), _NO_KILLS, _NO_EXIT


def _calm(s, key, params):
    return s.replace(scheduled_tasks_disabled=jnp.bool_(True)), _NO_KILLS, _NO_EXIT


def _d_bom(s, key, params):
    en = s.enemies
    pr, pc = s.player.row, s.player.col
    daemon = en.alive & (en.kind == EnemyType.DAEMON)
    dist = jnp.where(daemon, jnp.abs(en.row - pr) + jnp.abs(en.col - pc), 1000)
    t = jnp.argmin(dist)  # first in list order on ties
    dr, dc = en.row[t], en.col[t]
    kill = (~en.from_scheduled[t]).astype(jnp.int32)
    target = jnp.arange(MAX_ENEMIES) == t
    en = compact(en.replace(alive=en.alive & ~target))
    around = (jnp.abs(en.row - dr) <= 1) & (jnp.abs(en.col - dc) <= 1) & ~((en.row == dr) & (en.col == dc))
    s, kills = sweep_dead(strike(s.replace(enemies=en), en.alive & around, jnp.int32(1)))
    return s, kills + kill, _NO_EXIT


def _delay(s, key, params):
    tr = s.transmissions
    return s.replace(transmissions=tr.replace(turns=jnp.where(tr.alive, tr.turns + 3, tr.turns))), _NO_KILLS, _NO_EXIT


def _anti_v(s, key, params):
    en = s.enemies
    return _strike_and_sweep(s, en.alive & (en.kind == EnemyType.VIRUS), jnp.int32(1))


def _score(s, key, params):
    p = s.player
    return s.replace(player=p.replace(score=p.score + NUM_STAGES - s.stage)), _NO_KILLS, _NO_EXIT


def _reduc(s, key, params):
    b = s.board
    eligible = (b.block_kind > 0) & ~b.siphoned
    spawn = jnp.where(eligible, jnp.maximum(0, b.block_spawn - 1), b.block_spawn)
    return s.replace(board=b.replace(block_spawn=spawn)), _NO_KILLS, _NO_EXIT


def _atk_plus(s, key, params):
    p = s.player
    return (
        s.replace(player=p.replace(attack_damage=p.attack_damage + 1), atk_plus_uses=s.atk_plus_uses + 1),
        _NO_KILLS,
        _NO_EXIT,
    )


def _hack(s, key, params):
    en = s.enemies
    on_siphoned = s.board.siphoned[en.row, en.col]
    return _strike_and_sweep(s, en.alive & on_siphoned, s.player.attack_damage)


EFFECTS = (
    _push, _pull, _crash, _warp, _poly, _wait, _debug, _row, _col, _undo, _step, _siph_plus,
    _exch, _show, _reset, _calm, _d_bom, _delay, _anti_v, _score, _reduc, _atk_plus, _hack,
)


def program_action(state: EnvState, program: jax.Array, key: jax.Array, params: EnvParams, snap=None):
    """Pay the cost, then run the effect; returns (state, events) (validity is the mask's).

    ``snap`` is the top undo snapshot (taken from ``state`` when not given). The caller
    may pass a state whose ``undo`` is None: under ``vmap`` every branch's output is
    materialised and selected, and the ring buffer is most of the state's bytes.
    """
    if snap is None:
        snap = top_snapshot(state, params)
    p = state.player
    hp_before = p.hp
    paid = state.replace(
        player=p.replace(credits=p.credits - _CREDITS[program], energy=p.energy - _ENERGY[program])
    )
    branches = [
        (lambda s, k, f=f: f(s, k, params, snap)) if f is _undo else (lambda s, k, f=f: f(s, k, params))
        for f in EFFECTS
    ]
    new_state, kills, exit_reached = jax.lax.switch(program, branches, paid, key)
    is_wait = program == 5
    ev = no_events(success=True, ends_turn=is_wait).replace(
        kills=kills,
        exit_reached=exit_reached,
        program_waste=(program == 14) & (hp_before == MAX_HP - 1),
    )
    return new_state, ev
