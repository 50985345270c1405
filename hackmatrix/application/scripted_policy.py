"""A scripted baseline policy written from the game rules (issue 15, item 3).

``scripted_action(state, key)`` picks one action for one ``EnvState``; it is pure JAX
(static shapes, no Python branching on traced values), so it runs under ``jit``,
``vmap`` and ``lax.scan``. ``batched_scripted_action(states, keys)`` is its ``vmap``.

How it plays (game-rules §3-§7):

* **Turn-ending actions** (the four directions, siphon, WAIT) are scored with a
  one-turn model of the enemy turn. A direction attacks the first target in line of
  sight (§3.3), else it moves. Every enemy that can act (not stunned by this action or
  an earlier program, not killed) and stands within its reach of the player's cell
  after the action attacks: distance 1, or 2 for a virus, which moves and then attacks
  (§5.5). Distances are breadth-first over non-block cells (Manhattan for glitches,
  which walk through blocks). The score adds: the exit reached (always taken: no enemy
  turn, +1 HP), the path distance to the exit, the HP lost (death is avoided at almost
  any price), a threat term for the turn after (enemies that will be in reach after
  they moved), the HP left on the board's enemies and the transmissions left (so hits
  and kills in line of sight are worth a turn), data siphons picked up, and, for the
  siphon, what the cross yields against the enemies it spawns.
* **Programs** (they do not end the turn, so they are used before the turn-ending
  action) follow simple rules: ATK+ while attack < 3; RESET at 1 HP; a strike program
  (CRASH, D_BOM, ROW, COL, ANTI-V, DEBUG, HACK) when it stuns or kills an enemy that
  would otherwise hit the player this turn under the best turn-ending plan, else STEP
  or PUSH; SIPH+ and EXCH to keep siphons and energy; SCORE with spare energy.
* The action is the argmax of the 28 scores over the valid actions only
  (``env.valid_actions``), so it is always legal; ties are broken by ``key``. When no
  action is valid (impossible in play) it returns 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import (
    DIR_DCOL, DIR_DROW, ENEMY_STEPS, FIRST_PROGRAM_ACTION, GRID, MAX_HP, NUM_ACTIONS,
    NUM_PROGRAMS, PROGRAM_CREDITS, PROGRAM_ENERGY, Action, BlockKind, EnemyType, Special,
)
from hackmatrix.domain.line_of_sight import scan_target
from hackmatrix.domain.lists import on_cell
from hackmatrix.domain.mask import valid_actions
from hackmatrix.domain.state import EnvState

FAR = 99  # distance of an unreachable cell

_DR = jnp.asarray(DIR_DROW)
_DC = jnp.asarray(DIR_DCOL)
_STEPS = jnp.asarray(ENEMY_STEPS)
_ROWS = jnp.arange(GRID, dtype=jnp.int32)[:, None]
_COLS = jnp.arange(GRID, dtype=jnp.int32)[None, :]

# Turn-ending candidates: U, D, L, R, siphon, WAIT.
_TURN_ACTIONS = np.array([0, 1, 2, 3, Action.SIPHON, Action.WAIT], np.int32)
N_TURN = len(_TURN_ACTIONS)

# Weights of the turn-ending score (distance units: one step toward the exit = 1).
W_EXIT = 1e5  # reaching the exit: always
W_DEATH = 1e4
W_DIST = 1.0
W_HP = 8.0  # per HP lost this turn
W_THREAT = 2.0  # per enemy in reach after the enemy turn
W_ENEMY_HP = 1.5  # per HP left on the board's enemies
W_TRANS = 3.0  # per transmission left on the board
W_PICK = 2.0  # a data siphon picked up by walking
W_WAIT = 0.5  # WAIT spends energy and gains nothing by itself

# Programs: a rule that holds gives score PROGRAM_BASE + priority (above every
# turn-ending score but the exit).
PROGRAM_BASE = 1e4

# What an owned program is worth when a siphon acquires it (score units).
PROGRAM_VALUE = np.zeros(NUM_PROGRAMS, np.float32)
for _name, _value in {
    "ATK_PLUS": 12.0, "RESET": 8.0, "STEP": 8.0, "ROW": 7.0, "COL": 7.0, "CRASH": 6.0,
    "D_BOM": 5.0, "ANTI_V": 4.0, "SIPH_PLUS": 4.0, "EXCH": 3.0, "PUSH": 3.0, "DEBUG": 2.0,
    "HACK": 2.0, "SCORE": 2.0, "CALM": 1.0, "WAIT": 1.0,
}.items():
    PROGRAM_VALUE[Action[_name] - FIRST_PROGRAM_ACTION] = _value
_PROGRAM_VALUE = jnp.asarray(PROGRAM_VALUE)
W_SIPHON_RES = 0.6  # per credit or energy collected
W_SIPHON_POINTS = 0.2  # per score point
W_SIPHON_SPAWN = 2.5  # per transmission the siphon queues
QUESTION_VALUE = 3.0  # an unrevealed question block (contents unknown)


def distance_fields(sources: jax.Array, passable: jax.Array) -> jax.Array:
    """Breadth-first distances (K, 6, 6) from each source set (K, 6, 6) over ``passable``.

    A source cell has distance 0 even when it is not passable; other cells that are not
    passable, or not reachable, get ``FAR``.
    """
    d0 = jnp.where(sources, 0, FAR).astype(jnp.int32)

    def body(carry):
        d, _ = carry
        p = jnp.pad(d, ((0, 0), (1, 1), (1, 1)), constant_values=FAR)
        nb = jnp.minimum(jnp.minimum(p[:, 2:, 1:-1], p[:, :-2, 1:-1]),
                         jnp.minimum(p[:, 1:-1, 2:], p[:, 1:-1, :-2]))
        new = jnp.where(passable[None], jnp.minimum(d, jnp.minimum(nb + 1, FAR)), d)
        return new, jnp.any(new != d)

    d, _ = jax.lax.while_loop(lambda c: c[1], body, (d0, jnp.bool_(True)))
    return d


def _first(mask: jax.Array) -> jax.Array:
    """One-hot of the first set entry (all False if none)."""
    return mask & (jnp.arange(mask.shape[-1]) == jnp.argmax(mask, axis=-1)[..., None])


def _cell(grid: jax.Array, row: jax.Array, col: jax.Array) -> jax.Array:
    return grid[jnp.clip(row, 0, GRID - 1), jnp.clip(col, 0, GRID - 1)]


def _siphon_value(state: EnvState) -> jax.Array:
    """What a siphon from the player's cell yields, minus the enemies it spawns (§4.1)."""
    b, p = state.board, state.player
    cross = (jnp.abs(_ROWS - p.row) + jnp.abs(_COLS - p.col)) <= 1
    live = cross & ~b.siphoned
    kind = b.block_kind
    block = kind != BlockKind.NONE
    points = jnp.sum(jnp.where(live & (kind == BlockKind.DATA), b.block_points, 0))
    prog = jax.nn.one_hot(b.block_program, NUM_PROGRAMS, dtype=jnp.bool_)
    gets = jnp.any(prog & (live & (kind == BlockKind.PROGRAM))[..., None], axis=(0, 1)) & ~state.owned
    programs = jnp.sum(jnp.where(gets, _PROGRAM_VALUE, 0.0))
    questions = jnp.sum(live & (kind == BlockKind.QUESTION))
    resources = jnp.sum(jnp.where(live & ~block, b.res_credits + b.res_energy, 0))
    spawn = jnp.sum(jnp.where(live & block, b.block_spawn, 0))
    return (W_SIPHON_POINTS * points + programs + QUESTION_VALUE * questions
            + W_SIPHON_RES * resources - W_SIPHON_SPAWN * spawn)


def _turn_model(state: EnvState):
    """Scores of the six turn-ending candidates and their predicted attackers.

    Returns (scores (6,), attackers (6, 36) bool, damage (6,)).
    """
    p, b, en, tr = state.player, state.board, state.enemies, state.transmissions
    block = b.block_kind != BlockKind.NONE

    # Line of sight per direction (§3.3): attack the first target, else move.
    hits_t, hits_e, tr_r, tr_c = jax.vmap(lambda d: scan_target(state, d))(jnp.arange(4))
    hit_e = jax.vmap(lambda r, c: _first(on_cell(en, r, c)))(tr_r, tr_c) & hits_e[:, None]
    hit_t = jax.vmap(lambda r, c: _first(on_cell(tr, r, c)))(tr_r, tr_c) & hits_t[:, None]
    nr, nc = p.row + _DR, p.col + _DC
    inb = (nr >= 0) & (nr < GRID) & (nc >= 0) & (nc < GRID)
    moves = ~(hits_e | hits_t) & inb & ~_cell(block, nr, nc)
    dest = _cell(b.special, nr, nc)
    exit_reached = moves & (dest == Special.EXIT)
    picks = moves & (dest == Special.DATA_SIPHON)

    # Distance fields: from the four neighbours, from the player's cell, from the exit.
    idx = jnp.arange(GRID * GRID).reshape(GRID, GRID)
    cand_r = jnp.concatenate([jnp.clip(nr, 0, GRID - 1), p.row[None]])
    cand_c = jnp.concatenate([jnp.clip(nc, 0, GRID - 1), p.col[None]])
    src = idx[None] == (cand_r * GRID + cand_c)[:, None, None]
    src = jnp.concatenate([src, (b.special == Special.EXIT)[None]])
    fields = distance_fields(src, ~block)  # (6, 6, 6)

    # Per candidate: the player's cell (index into the five cells) and what it hits.
    zeros36 = jnp.zeros((2, en.alive.shape[0]), jnp.bool_)
    pos = jnp.concatenate([jnp.where(moves, jnp.arange(4), 4), jnp.array([4, 4])])
    hit_e = jnp.concatenate([hit_e, zeros36])
    hit_t = jnp.concatenate([hit_t, zeros36[:, : tr.alive.shape[0]]])
    exit_reached = jnp.concatenate([exit_reached, jnp.zeros(2, jnp.bool_)])
    picks = jnp.concatenate([picks, jnp.zeros(2, jnp.bool_)])
    row, col = cand_r[pos], cand_c[pos]  # (6,)

    # Enemy distances to each candidate's cell.
    manh = jnp.abs(en.row[None] - row[:, None]) + jnp.abs(en.col[None] - col[:, None])
    bfs = fields[pos][:, jnp.clip(en.row, 0, 5), jnp.clip(en.col, 0, 5)]  # (6, 36)
    on_block = _cell(block, en.row, en.col)
    glitch = en.kind == EnemyType.GLITCH
    dist = jnp.where((glitch | on_block)[None], manh, bfs)
    virus = en.kind == EnemyType.VIRUS
    reach = jnp.where(virus, 2, 1)[None]

    new_hp = jnp.where(hit_e, jnp.maximum(en.hp[None] - p.attack_damage, 0), en.hp[None])
    dead = hit_e & (new_hp <= 0)
    alive = en.alive[None] & ~dead
    stunned = en.stunned[None] | hit_e
    turn_runs = ~exit_reached & ~state.step_active  # STEP skips the whole enemy turn
    acts = alive & ~stunned & (en.disabled[None] == 0) & turn_runs[:, None]
    attackers = acts & (dist >= 1) & (dist <= reach)
    damage = jnp.sum(attackers, axis=1)

    # Where the enemies stand after their turn, and how many can hit next turn.
    after = jnp.where(acts & ~attackers, jnp.maximum(dist - _STEPS[en.kind][None], 1), dist)
    closeness = jnp.where(after <= reach, 1.0, jnp.where(after <= reach + 1, 0.4,
                          jnp.where(after <= reach + 2, 0.15, 0.0)))
    threat = jnp.sum(jnp.where(alive, closeness, 0.0), axis=1)
    # Transmissions hatch into enemies that act from the turn after next (§5.4).
    t_manh = jnp.abs(tr.row[None] - row[:, None]) + jnp.abs(tr.col[None] - col[:, None])
    t_alive = tr.alive[None] & ~hit_t
    threat = threat + 0.5 * jnp.sum(jnp.where(t_alive & (t_manh <= 2), 1.0, 0.0), axis=1)
    enemy_hp = jnp.sum(jnp.where(alive, new_hp, 0), axis=1)
    n_trans = jnp.sum(t_alive, axis=1)

    hp_left = p.hp - damage
    exit_dist = fields[5][row, col]
    score = (
        -W_DIST * exit_dist
        - jnp.where(hp_left <= 0, W_DEATH, W_HP * damage)
        - W_THREAT * threat * jnp.where(hp_left <= 1, 2.0, 1.0)
        - W_ENEMY_HP * enemy_hp
        - W_TRANS * n_trans
        + W_PICK * picks
    )
    score = score.at[4].add(_siphon_value(state))
    score = score.at[5].add(-W_WAIT)
    score = jnp.where(exit_reached, W_EXIT, score)
    return score, attackers, damage


def _program_scores(state: EnvState, attackers: jax.Array, damage: jax.Array) -> jax.Array:
    """(23,) scores: PROGRAM_BASE + priority where a program's rule holds, else -inf.

    ``attackers`` (36,) and ``damage`` are those of the best turn-ending plan.
    """
    p, b, en = state.player, state.board, state.enemies
    alive = en.alive
    block = b.block_kind != BlockKind.NONE
    dmg = p.attack_damage
    cheb = jnp.maximum(jnp.abs(en.row - p.row), jnp.abs(en.col - p.col))
    in_row = alive & (en.row == p.row)
    in_col = alive & (en.col == p.col)
    dies = en.hp <= dmg

    # D_BOM: the nearest daemon (first in list order) and the 8 cells around it.
    daemon = alive & (en.kind == EnemyType.DAEMON)
    manh = jnp.abs(en.row - p.row) + jnp.abs(en.col - p.col)
    target = _first(daemon & (manh == jnp.min(jnp.where(daemon, manh, FAR))))
    t_row = jnp.sum(jnp.where(target, en.row, 0))
    t_col = jnp.sum(jnp.where(target, en.col, 0))
    splash = alive & (jnp.maximum(jnp.abs(en.row - t_row), jnp.abs(en.col - t_col)) == 1)

    def stops(hit):  # the rule: it stuns or kills an enemy that would hit us this turn
        return jnp.any(hit & attackers)

    energy_spare = p.energy - 4  # keep enough for a RESET
    rules = {
        Action.ATK_PLUS: (p.attack_damage < 3, 90.0),
        Action.RESET: ((p.hp <= 1) | ((p.hp == 2) & (damage >= 1) & (p.energy >= 8)), 80.0),
        Action.CRASH: (stops(alive & (cheb == 1)), 60.0),
        Action.D_BOM: (stops(target | splash), 55.0),
        Action.ROW: (stops(in_row) | (jnp.sum(in_row & dies) >= 2), 50.0),
        Action.COL: (stops(in_col) | (jnp.sum(in_col & dies) >= 2), 50.0),
        Action.ANTI_V: (stops(en.kind == EnemyType.VIRUS), 45.0),
        Action.DEBUG: (stops(_cell(block, en.row, en.col)), 44.0),
        Action.HACK: (stops(_cell(b.siphoned, en.row, en.col)), 43.0),
        Action.STEP: ((damage >= 1) & ~state.step_active, 30.0),
        Action.PUSH: (stops(en.kind != EnemyType.VIRUS), 20.0),
        Action.SIPH_PLUS: ((p.data_siphons == 0) & (p.credits >= 5 + 3), 5.0),
        Action.EXCH: ((p.energy < 4) & (p.credits >= 4 + 3), 4.0),
        Action.SCORE: ((damage == 0) & (energy_spare >= 5), 1.0),
    }
    scores = jnp.full((NUM_PROGRAMS,), -jnp.inf, jnp.float32)
    for action, (rule, priority) in rules.items():
        i = int(action) - FIRST_PROGRAM_ACTION
        scores = scores.at[i].set(jnp.where(rule, PROGRAM_BASE + priority, -jnp.inf))
    return scores


def action_scores(state: EnvState, key: jax.Array) -> jax.Array:
    """(28,) float32 scores; invalid actions are -inf."""
    turn_scores, attackers, damage = _turn_model(state)
    mask = valid_actions(state)
    turn_masked = jnp.where(mask[_TURN_ACTIONS], turn_scores, -jnp.inf)
    best = jnp.argmax(turn_masked)
    programs = _program_scores(state, attackers[best], damage[best])
    scores = jnp.full((NUM_ACTIONS,), -jnp.inf, jnp.float32)
    scores = scores.at[FIRST_PROGRAM_ACTION:].set(programs)
    scores = scores.at[_TURN_ACTIONS].set(jnp.maximum(scores[_TURN_ACTIONS], turn_scores))
    noise = jax.random.uniform(key, (NUM_ACTIONS,), minval=0.0, maxval=1e-3)
    scores = jnp.nan_to_num(scores, nan=-1e30, posinf=1e30, neginf=-1e30) + noise
    return jnp.where(mask, scores, -jnp.inf)


def scripted_action(state: EnvState, key: jax.Array) -> jax.Array:
    """int32 action for one state; always one that ``env.valid_actions(state)`` allows
    (0 when none is, which cannot happen in play)."""
    return jnp.argmax(action_scores(state, key)).astype(jnp.int32)


batched_scripted_action = jax.vmap(scripted_action)
