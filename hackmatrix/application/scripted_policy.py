"""A scripted baseline policy written from the game rules (issue 15, item 3).

``scripted_action(state, key)`` picks one action for one ``EnvState``; it is pure JAX
(static shapes, no Python branching on traced values), so it runs under ``jit``,
``vmap`` and ``lax.scan``. ``batched_scripted_action(states, keys)`` is its ``vmap``.
It reads the full state, not the observation (hidden Cryptogs and the spawn count of
question blocks included), as a hand-written player with a perfect memory would.

How it plays (game-rules §3-§7):

* **Where to go.** The exit, or first a detour: to a data siphon (worth ``pick_target``)
  or, holding a data siphon, to the cell whose siphon cross is worth most (programs not
  yet owned, credits and energy, score, against the enemies it spawns), when that value
  beats the extra steps, each costing more per enemy on the board.
* **Turn-ending actions** (the four directions, siphon, WAIT) are scored with a
  one-turn model of the enemy turn. A direction attacks the first target in line of
  sight (§3.3), else it moves. Every enemy that can act (not stunned by this action or
  an earlier program, not killed, no STEP) and is within its reach of the player's cell
  after the action attacks: distance 1, or 2 for a virus, which moves and then attacks
  (§5.5). Distances are breadth-first over non-block cells (Manhattan for glitches,
  which walk through blocks). The score adds: the exit reached (always taken: no enemy
  turn, +1 HP), the path distance to the goal, the HP lost (death is avoided at almost
  any price), a threat term for the turn after (enemies in reach once they moved, beyond
  the one a hit can stun, and those a step or two further), the HP left on the board's
  enemies and the transmissions left (so hits and kills in line of sight are worth a
  turn), a data siphon picked up, and for the siphon its cross's value.
* **Programs** (they do not end the turn, so they come before the turn-ending action)
  follow simple rules: ATK+ while attack < 3; RESET at 1 HP; a strike program (CRASH,
  D_BOM, ROW, COL, ANTI-V, DEBUG, HACK) when it stuns or kills an enemy that would hit
  the player this turn under the best turn-ending plan, else STEP or PUSH; SIPH+ and
  EXCH to keep a siphon and energy; SCORE with spare energy.
* The action is the argmax of the 28 scores over the valid actions only
  (``env.valid_actions``), so it is always legal; tiny random noise from ``key`` breaks
  ties. When no action is valid (impossible in play) it returns 0.

The weights are a pytree (``Weights``), so a tuning run can try other values without
recompiling; ``DEFAULT_WEIGHTS`` are the tuned ones (``benchmarks/scripted_baseline.py``).

**The lookahead policy** (``batched_lookahead_action``) keeps these scores and adds to
each turn-ending action ``lookahead`` (0.3) x the best turn-ending score one turn on, in
the state the engine itself reaches (``env.peek``: the action and one enemy turn sampled
from a fixed key), clipped below at ``-lookahead_floor`` (-100: every next action
lethal; a fifth of it when STEP or RESET is valid; a death in the simulated turn counts
-100, the exit 0). The one-turn model above never under-predicts this turn's damage;
what kills the scripted policy is a turn after which every action is lethal, which the
model does not see coming. It costs 9-16x as much per state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hackmatrix.domain import env
from hackmatrix.domain.constants import (
    DIR_DCOL, DIR_DROW, ENEMY_STEPS, FIRST_PROGRAM_ACTION, GRID, NUM_ACTIONS,
    NUM_PROGRAMS, Action, BlockKind, EnemyType, Special,
)
from hackmatrix.domain.line_of_sight import scan_target
from hackmatrix.domain.lists import on_cell
from hackmatrix.domain.programs import PROGRAM_CREDITS, PROGRAM_ENERGY
from hackmatrix.domain.state import EnvState

FAR = 99  # distance of an unreachable cell
TIE = 1e-3  # scores closer than this are a tie, broken at random
NO_GAIN = 1e6  # a detour target that is not one

_DR = np.asarray(DIR_DROW)  # NumPy: importing the policy starts no JAX backend
_DC = np.asarray(DIR_DCOL)
_STEPS = np.asarray(ENEMY_STEPS)
_CREDITS = np.asarray(PROGRAM_CREDITS)
_ENERGY = np.asarray(PROGRAM_ENERGY)

# Turn-ending candidates: U, D, L, R, siphon, WAIT.
_TURN_ACTIONS = np.array([0, 1, 2, 3, Action.SIPHON, Action.WAIT], np.int32)

# Programs: a rule that holds gives score PROGRAM_BASE + priority (above every
# turn-ending score but the exit).
PROGRAM_BASE = 1e4
W_EXIT = 1e5  # reaching the exit: always
W_DEATH = 1e4

# What owning a program is worth when a siphon acquires it (score units).
_PROGRAM_VALUES = {
    "ATK_PLUS": 36.0, "RESET": 24.0, "STEP": 24.0, "ROW": 21.0, "COL": 21.0, "CRASH": 18.0,
    "D_BOM": 15.0, "ANTI_V": 12.0, "SIPH_PLUS": 12.0, "EXCH": 9.0, "PUSH": 9.0, "DEBUG": 6.0,
    "HACK": 6.0, "SCORE": 6.0, "CALM": 3.0, "WAIT": 3.0,
}
PROGRAM_VALUE = np.zeros(NUM_PROGRAMS, np.float32)
for _name, _value in _PROGRAM_VALUES.items():
    PROGRAM_VALUE[Action[_name] - FIRST_PROGRAM_ACTION] = _value


@struct.dataclass
class Weights:
    """Weights of the turn-ending score (score units; a turn-ending action scores below 1e4).

    A pytree of floats, so a tuning run can pass other values without recompiling.
    """

    dist: float = 0.55  # per step of path distance to the goal (the exit or a detour target)
    hp: float = 8.0  # per HP lost this turn
    threat: float = 1.8  # per enemy in reach after the enemy turn
    threat_free: float = 1.0  # enemies in reach the next attack can handle (stun one)
    threat_near: float = 0.4  # ... one step beyond its reach
    threat_far: float = 0.15  # ... two steps beyond
    trans_threat: float = 0.5  # per transmission within 2 cells
    enemy_hp: float = 1.75  # per HP left on the board's enemies
    trans: float = 3.5  # per transmission left on the board
    pick: float = 1.6  # a data siphon picked up by walking
    detour: float = 0.0  # per step a data siphon or siphon spot adds to the way to the exit
    detour_enemy: float = 0.18  # ... plus this per enemy or transmission on the board
    pick_target: float = 6.0  # worth of fetching a data siphon, against the detour's cost
    siphon_min: float = 0.0  # a siphon spot is a goal when worth this plus the detour's cost
    wait: float = 0.5  # WAIT spends energy and gains nothing by itself
    siphon_res: float = 0.6  # per credit or energy a siphon collects
    siphon_points: float = 0.2  # per score point
    siphon_spawn: float = 2.5  # per transmission the siphon queues
    siphon_spawn2: float = 0.075  # per transmission squared (many at once are far worse)
    spawn_crowd: float = 0.0  # the spawn cost grows by this share per enemy on the board
    unaffordable: float = 0.5  # share of a program's value when the player cannot pay for it yet
    question: float = 3.5  # an unrevealed question block (contents unknown)
    score_reserve: float = 12.0  # energy SCORE leaves for STEP, RESET and ATK+
    # The lookahead policy only (``batched_lookahead_action``): its share of the next
    # turn's best turn-ending score, and the floor that score is clipped at (a trap whose
    # every next action is lethal scores the floor; a fifth of it when STEP or RESET is
    # valid there).
    lookahead: float = 0.3
    lookahead_floor: float = 100.0
    program_value: jax.Array = struct.field(default_factory=lambda: np.asarray(PROGRAM_VALUE, np.float32))


DEFAULT_WEIGHTS = Weights()


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


def _cross_sum(x: jax.Array) -> jax.Array:
    """(6, 6): for every cell, the sum of ``x`` over its siphon cross (itself and U, D, L, R)."""
    p = jnp.pad(x, 1)
    return x + p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2]


def siphon_values(state: EnvState, w: Weights) -> jax.Array:
    """(6, 6) what a siphon from each cell yields, minus the enemies it spawns (§4.1).

    Unsiphoned cells of the cross count: data points, programs not yet owned, question
    blocks (a fixed value), credits and energy of the non-block cells, and the spawn of
    every block. A cell holding a block gets -NO_GAIN (the player stands there only after
    WARP).
    """
    b, p = state.board, state.player
    kind = b.block_kind
    live = ~b.siphoned
    block = kind != BlockKind.NONE
    credits = _cross_sum(jnp.where(live & ~block, b.res_credits, 0))
    energy = _cross_sum(jnp.where(live & ~block, b.res_energy, 0))
    per_cell = jnp.where(
        live,
        jnp.where(kind == BlockKind.DATA, w.siphon_points * b.block_points, 0.0)
        + jnp.where(kind == BlockKind.QUESTION, w.question, 0.0)
        + jnp.where(block, 0.0, w.siphon_res * (b.res_credits + b.res_energy)),
        0.0,
    )
    # Programs not yet owned; one the player cannot pay for even with this siphon's
    # credits and energy is worth the share ``unaffordable`` of its value.
    q = jnp.clip(b.block_program, 0, NUM_PROGRAMS - 1)
    new_program = live & (kind == BlockKind.PROGRAM) & ~state.owned[q]
    tables = (jnp.asarray(w.program_value), jnp.asarray(_CREDITS), jnp.asarray(_ENERGY))
    padded = [jnp.pad(a, 1) for a in (new_program, *(table[q] for table in tables))]
    programs = jnp.zeros((GRID, GRID), jnp.float32)
    for dr, dc in ((0, 0), (1, 0), (-1, 0), (0, -1), (0, 1)):  # the cross: x + offset
        new, value, cost_c, cost_e = (a[1 + dr:GRID + 1 + dr, 1 + dc:GRID + 1 + dc] for a in padded)
        paid = (p.credits + credits >= cost_c) & (p.energy + energy >= cost_e)
        programs += jnp.where(new, value * jnp.where(paid, 1.0, w.unaffordable), 0.0)
    spawn = _cross_sum(jnp.where(live & block, b.block_spawn, 0)).astype(jnp.float32)
    n_enemies = jnp.sum(state.enemies.alive) + jnp.sum(state.transmissions.alive)
    per_spawn = w.siphon_spawn * (1.0 + w.spawn_crowd * n_enemies) / p.attack_damage
    value = _cross_sum(per_cell) + programs - per_spawn * spawn - w.siphon_spawn2 * spawn * spawn
    return jnp.where(block, -NO_GAIN, value)


def _turn_model(state: EnvState, w: Weights):
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
    after = jnp.where(acts & ~attackers, jnp.maximum(dist - jnp.asarray(_STEPS)[en.kind][None], 1), dist)
    closeness = jnp.where(after <= reach + 1, w.threat_near,
                          jnp.where(after <= reach + 2, w.threat_far, 0.0))
    in_reach = jnp.sum(alive & (after <= reach), axis=1)
    threat = jnp.maximum(in_reach - w.threat_free, 0.0) + jnp.sum(
        jnp.where(alive & (after > reach), closeness, 0.0), axis=1)
    # Transmissions hatch into enemies that act from the turn after next (§5.4).
    t_manh = jnp.abs(tr.row[None] - row[:, None]) + jnp.abs(tr.col[None] - col[:, None])
    t_alive = tr.alive[None] & ~hit_t
    threat = threat + w.trans_threat * jnp.sum(jnp.where(t_alive & (t_manh <= 2), 1.0, 0.0), axis=1)
    enemy_hp = jnp.sum(jnp.where(alive, new_hp, 0), axis=1)
    n_trans = jnp.sum(t_alive, axis=1)

    # Where to walk: the exit, or first a data siphon or a siphon spot worth the detour.
    values = siphon_values(state, w)
    base = fields[5][p.row, p.col]
    detour = (fields[4] + fields[5] - base) * (
        w.detour + w.detour_enemy * (jnp.sum(en.alive) + jnp.sum(tr.alive)))
    spot_gain = jnp.where(p.data_siphons > 0, values - w.siphon_min - detour, -NO_GAIN)
    pick_gain = jnp.where(b.special == Special.DATA_SIPHON, w.pick_target - detour, -NO_GAIN)
    gain = jnp.maximum(spot_gain, pick_gain).reshape(-1)
    target = jnp.argmax(gain)
    detouring = gain[target] > 0
    t_row, t_col = target // GRID, target % GRID
    goal_dist = jnp.where(detouring, fields[pos, t_row, t_col], fields[5][row, col])

    hp_left = p.hp - damage
    score = (
        -w.dist * goal_dist
        - jnp.where(hp_left <= 0, W_DEATH, w.hp * damage)
        - w.threat * threat * jnp.where(hp_left <= 1, 2.0, 1.0)
        - w.enemy_hp * enemy_hp
        - w.trans * n_trans
        + w.pick * picks
    )
    score = score.at[4].add(values[p.row, p.col])
    score = score.at[5].add(-w.wait)
    score = jnp.where(exit_reached, W_EXIT, score)
    return score, attackers, damage


def _program_scores(
    state: EnvState, attackers: jax.Array, damage: jax.Array, score_reserve: jax.Array | float
) -> jax.Array:
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

    # PUSH (§6.3) moves an enemy one cell away unless the grid edge is behind it.
    sr, sc = jnp.sign(en.row - p.row), jnp.sign(en.col - p.col)

    def inside(r, c):
        return (r >= 0) & (r < GRID) & (c >= 0) & (c < GRID)

    pushable = ((sr != 0) | (sc != 0)) & (
        inside(en.row + sr, en.col + sc) | ((sr != 0) & inside(en.row + sr, en.col))
        | ((sc != 0) & inside(en.row, en.col + sc)))

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
        Action.PUSH: (stops(pushable & (en.kind != EnemyType.VIRUS)), 20.0),
        Action.SIPH_PLUS: ((p.data_siphons == 0) & (p.credits >= 5 + 3), 5.0),
        Action.EXCH: ((p.energy < 4) & (p.credits >= 4 + 3), 4.0),
        Action.SCORE: ((damage == 0) & (p.energy >= 5 + score_reserve), 1.0),
    }
    scores = jnp.full((NUM_PROGRAMS,), -jnp.inf, jnp.float32)
    for action, (rule, priority) in rules.items():
        i = int(action) - FIRST_PROGRAM_ACTION
        scores = scores.at[i].set(jnp.where(rule, PROGRAM_BASE + priority, -jnp.inf))
    return scores


def _plain_scores(state: EnvState, weights: Weights) -> tuple[jax.Array, jax.Array]:
    """((28,) float32 scores before tie-breaking, (28,) bool valid actions)."""
    turn_scores, attackers, damage = _turn_model(state, weights)
    mask = env.valid_actions(state)
    turn_masked = jnp.where(mask[_TURN_ACTIONS], turn_scores, -jnp.inf)
    best = jnp.argmax(turn_masked)
    programs = _program_scores(state, attackers[best], damage[best], weights.score_reserve)
    scores = jnp.full((NUM_ACTIONS,), -jnp.inf, jnp.float32)
    scores = scores.at[FIRST_PROGRAM_ACTION:].set(programs)
    scores = scores.at[_TURN_ACTIONS].set(jnp.maximum(scores[_TURN_ACTIONS], turn_scores))
    return jnp.nan_to_num(scores, nan=-1e30, posinf=1e30, neginf=-1e30), mask


def action_scores(
    state: EnvState, key: jax.Array, weights: Weights = DEFAULT_WEIGHTS
) -> jax.Array:
    """(28,) float32 scores; invalid actions are -inf. Noise below ``TIE`` from ``key``
    breaks ties."""
    return _break_ties(*_plain_scores(state, weights), key)


def _break_ties(scores: jax.Array, mask: jax.Array, key: jax.Array) -> jax.Array:
    """(28,) ``scores`` plus noise in [0, ``TIE``) from ``key``; -inf where ``mask`` is not."""
    noise = jax.random.uniform(key, (NUM_ACTIONS,), minval=0.0, maxval=TIE)
    return jnp.where(mask, scores + noise, -jnp.inf)


def _valid_scores(state: EnvState, weights: Weights) -> tuple[jax.Array, jax.Array]:
    """(28,) scores without the tie-breaking noise, -inf where invalid; (28,) the mask."""
    scores, mask = _plain_scores(state, weights)
    return jnp.where(mask, scores, -jnp.inf), mask


def _best(scores: jax.Array, mask: jax.Array) -> jax.Array:
    return mask & (scores >= jnp.max(scores) - TIE)


def _soft(scores: jax.Array, mask: jax.Array, temperature: float) -> jax.Array:
    logits = jnp.where(mask, (scores - jnp.max(scores)) / jnp.float32(temperature), -jnp.inf)
    return jnp.where(mask, jax.nn.softmax(logits), 0.0)


def best_actions(state: EnvState, weights: Weights = DEFAULT_WEIGHTS) -> jax.Array:
    """(28,) bool: the valid actions scoring within ``TIE`` of the best, every action the
    tie-breaking noise could make ``scripted_action`` pick (a teacher's label set)."""
    return _best(*_valid_scores(state, weights))


def soft_labels(
    state: EnvState, temperature: float, weights: Weights = DEFAULT_WEIGHTS
) -> jax.Array:
    """(28,) float32: a softmax of the valid actions' scores / ``temperature``, 0 for
    invalid actions (a teacher's soft label: tied best actions share the top weight, an
    action ``d`` score units worse gets ``exp(-d / temperature)`` of it)."""
    return _soft(*_valid_scores(state, weights), temperature)


def batched_best_and_soft_labels(
    states: EnvState, temperature: float, weights: Weights = DEFAULT_WEIGHTS
) -> tuple[jax.Array, jax.Array]:
    """(N, 28) bool ``best_actions`` and (N, 28) float32 ``soft_labels`` for a batch of
    states, from one scoring of each state."""

    def one(state: EnvState) -> tuple[jax.Array, jax.Array]:
        scores, mask = _valid_scores(state, weights)
        return _best(scores, mask), _soft(scores, mask, temperature)

    return jax.vmap(one)(states)


def regret(state: EnvState, action: jax.Array, weights: Weights = DEFAULT_WEIGHTS) -> jax.Array:
    """() float32: how far below the best valid action the policy scores ``action`` (score
    units; at most ``TIE`` for an action in ``best_actions``, inf for an invalid one).
    Where a trained policy departs from the teacher, this says by how much."""
    scores, _ = _valid_scores(state, weights)
    return jnp.max(scores) - scores[jnp.asarray(action, jnp.int32)]


def batched_best_actions(states: EnvState, weights: Weights = DEFAULT_WEIGHTS) -> jax.Array:
    """(N, 28) bool: ``best_actions`` for a batch of states (leading axis N)."""
    return jax.vmap(best_actions, in_axes=(0, None))(states, weights)


def scripted_action(
    state: EnvState, key: jax.Array, weights: Weights = DEFAULT_WEIGHTS
) -> jax.Array:
    """int32 action for one state; always one that ``env.valid_actions(state)`` allows
    (0 when none is, which cannot happen in play). ``key`` breaks ties."""
    return jnp.argmax(action_scores(state, key, weights)).astype(jnp.int32)


def batched_scripted_action(
    states: EnvState, keys: jax.Array, weights: Weights = DEFAULT_WEIGHTS
) -> jax.Array:
    """(N,) int32: ``scripted_action`` for a batch of states (leading axis N) and keys."""
    return jax.vmap(scripted_action, in_axes=(0, 0, None))(states, keys, weights)


# --- The lookahead policy: the same scores, each turn-ending action judged one turn on ---

LOOKAHEAD_KEY = 7  # PRNGKey of the simulated enemy turns: the choice is a function of the state


def next_turn_value(state: EnvState, weights: Weights = DEFAULT_WEIGHTS) -> jax.Array:
    """() float32: the best turn-ending score at ``state`` (a player turn), clipped below
    at ``-lookahead_floor`` (every action lethal), or at a fifth of that when STEP or
    RESET is valid (either would turn the lethal enemy turn away). Reaching the exit
    counts 0 here: the exit's own score (``W_EXIT``) is for choosing it, not a value."""
    scores, _, _ = _turn_model(state, weights)
    valid = env.valid_actions(state)
    scores = jnp.where(scores >= W_EXIT, 0.0, scores)
    best = jnp.max(jnp.where(valid[_TURN_ACTIONS], scores, -jnp.inf))
    saved = state.step_active | valid[Action.STEP] | valid[Action.RESET]
    floor = jnp.where(saved, 0.2, 1.0) * weights.lookahead_floor
    return jnp.maximum(best, -floor)


def batched_lookahead_scores(
    states: EnvState, weights: Weights = DEFAULT_WEIGHTS
) -> tuple[jax.Array, jax.Array]:
    """((N, 28) float32 scores, -inf where invalid; (N, 28) the masks): the scripted
    scores, each turn-ending action's plus ``lookahead`` x ``next_turn_value`` of the
    state it leads to, played through the engine (``env.peek``: the action and one
    sampled enemy turn, with its movement order and spawns; every row draws the same
    keys). A death in that turn counts ``-lookahead_floor``; reaching the exit or winning
    counts 0 (the scores above already rate those)."""
    scores, mask = jax.vmap(lambda s: _plain_scores(s, weights))(states)
    n, k = scores.shape[0], _TURN_ACTIONS.shape[0]
    each = jax.tree_util.tree_map(lambda x: jnp.repeat(x, k, axis=0), states)
    keys = jnp.tile(jax.random.split(jax.random.PRNGKey(LOOKAHEAD_KEY), k), (n, 1))
    after, done, advance = env.peek(each, jnp.tile(jnp.asarray(_TURN_ACTIONS), n), keys)
    value = jax.vmap(next_turn_value, in_axes=(0, None))(after, weights)
    died = after.player.hp <= 0
    value = jnp.where(died, -weights.lookahead_floor, jnp.where(done | advance, 0.0, value))
    scores = scores.at[:, _TURN_ACTIONS].add(weights.lookahead * value.reshape(n, k))
    return jnp.where(mask, scores, -jnp.inf), mask


def batched_lookahead_action(
    states: EnvState, keys: jax.Array, weights: Weights = DEFAULT_WEIGHTS
) -> jax.Array:
    """(N,) int32: the lookahead policy's action per state, always a valid one; ``keys``
    (N, key) break ties as in ``scripted_action``."""
    scores, mask = batched_lookahead_scores(states, weights)
    return jnp.argmax(jax.vmap(_break_ties)(scores, mask, keys), axis=-1).astype(jnp.int32)
