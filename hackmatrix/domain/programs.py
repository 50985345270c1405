"""The 23 programs (game-rules §6): one table, one small function per program.

``PROGRAMS`` is the table, in action order (action ``FIRST_PROGRAM_ACTION`` + index):
name, credit and energy cost, spawn count of its program block, applicability
predicate (§6.2) and effect (§6.3). Every per-program array is derived from it.

An effect function reads the game (after the cost is paid) and returns an ``Effect``:
what the program does, stated as the intents the shared mechanisms take (enemies struck
and for how much, cells cleared, the player's new fields, flags raised). It changes
nothing itself. ``program_action`` then applies the chosen program's intents in one
pass: each intent field is picked with a ``where`` on the program index, and the shared
mechanisms run once (one displacement for PUSH/PULL, one damage-and-sweep for the
strike programs, POLY and D_BOM, one removal-and-compaction for everything that
removes enemies or transmissions). Under ``vmap`` a 23-way ``lax.switch`` would
materialise and select 23 copies of the state; this keeps one.

Adding a program: one ``Program`` row in ``PROGRAMS``, one effect function, one
predicate (most reuse one below), and its action in ``constants.Action``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import draws
from hackmatrix.domain.constants import (
    ATK_PLUS_USES_PER_STAGE, ENEMY_MAX_HP, MAX_ENEMIES, MAX_HP, MAX_TRANSMISSIONS, NUM_PROGRAMS,
    NUM_STAGES, RING_DCOL, RING_DROW, EnemyType,
)
from hackmatrix.domain.events import Events, no_events
from hackmatrix.domain.grid import COLS, ROWS, at, in_bounds
from hackmatrix.domain.lists import compact, first_on_cell, occupancy
from hackmatrix.domain.state import Enemies, EnvParams, EnvState, Player, Snapshot
from hackmatrix.domain.undo import restore_snapshot, top_snapshot


# --- what a program sees and what it returns ----------------------------------------------

class Context(NamedTuple):
    """What an effect function reads."""

    state: EnvState  # the game, the program's cost already paid
    warp_words: jax.Array  # (72,) uint32: one random word per WARP target
    poly_words: jax.Array  # (36,) uint32: one random word per enemy slot, for POLY


class Effect(NamedTuple):
    """One program's effect as intents; ``None`` / ``False``: the program does not do it."""

    displace_away: bool | None = None  # PUSH (True) / PULL (False): move every enemy, §6.3
    enemies: Enemies | None = None  # the enemy list rewritten in place (POLY)
    hit: jax.Array | None = None  # (36,) bool: enemies struck (then stunned, the dead swept)
    damage: jax.Array | None = None  # () int32: damage of a strike (default: attack damage)
    destroy: jax.Array | None = None  # (36,) bool: enemies removed outright (D_BOM's target)
    enemy_cells: jax.Array | None = None  # (6, 6) bool: cells whose enemies are removed
    transmission_cells: jax.Array | None = None  # (6, 6) bool: cells whose transmissions are removed
    transmission_turns: jax.Array | None = None  # (36,) int32: new transmission timers
    clear_blocks: jax.Array | None = None  # (6, 6) bool: blocks removed (resources stay)
    reduce_spawn: jax.Array | None = None  # (6, 6) bool: block spawn counts lowered by 1
    player: Player | None = None  # the player's new fields
    step_active: bool = False  # STEP: the next turn's enemy movement is skipped
    show_activated: bool = False
    calm: bool = False  # scheduled tasks disabled
    atk_plus_use: bool = False  # counts against ATK+'s per-stage limit
    undo: bool = False  # restore the top undo snapshot
    ends_turn: bool = False
    exit_reached: jax.Array | None = None  # () bool
    program_waste: jax.Array | None = None  # () bool


class View(NamedTuple):
    """What the applicability predicates read, computed once per mask."""

    state: EnvState
    enemy_grid: jax.Array  # (6, 6) bool: a live enemy on the cell
    transmission_grid: jax.Array  # (6, 6) bool
    block: jax.Array  # (6, 6) bool


def view(state: EnvState) -> View:
    return View(state, occupancy(state.enemies) > 0, occupancy(state.transmissions) > 0,
                state.board.block_kind > 0)


# --- mechanisms shared by several programs ------------------------------------------------

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


def cell_kills(entries, cells: jax.Array) -> jax.Array:
    """Kills of a removal by cell: 1 per cell in ``cells`` whose first entry is not scheduled."""
    has, first = first_on_cell(entries, entries.alive)
    return jnp.sum((cells & has & ~entries.from_scheduled[first]).astype(jnp.int32))


def crash_ring(state: EnvState) -> jax.Array:
    """The (6, 6) mask of the 8 cells around the player."""
    pr, pc = state.player.row, state.player.col
    return (jnp.abs(ROWS - pr) <= 1) & (jnp.abs(COLS - pc) <= 1) & ~((ROWS == pr) & (COLS == pc))


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


def poly(enemies: Enemies, words: jax.Array) -> Enemies:
    """POLY: every enemy becomes one of the three other types; damage taken carries over.

    ``words``: (36,) random uint32, one per enemy slot.
    """
    shift = 1 + draws.below(words, 3)
    new_kind = (enemies.kind + shift) % 4
    max_hp = jnp.asarray(ENEMY_MAX_HP)
    hp = max_hp[new_kind] - (max_hp[enemies.kind] - enemies.hp)
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


# --- the effects, one per program (§6.3) ----------------------------------------------------

def push(c: Context) -> Effect:
    return Effect(displace_away=True)


def pull(c: Context) -> Effect:
    return Effect(displace_away=False)


def crash(c: Context) -> Effect:
    """Destroys everything on the 8 cells around the player: enemies, transmissions, blocks."""
    ring = crash_ring(c.state)
    return Effect(enemy_cells=ring, transmission_cells=ring, clear_blocks=ring)


def warp(c: Context) -> Effect:
    """Moves onto a random enemy or transmission, destroying it."""
    s = c.state
    is_enemy, row, col = warp_target(s, c.warp_words)
    cell = (ROWS == row) & (COLS == col)
    return Effect(
        enemy_cells=cell & is_enemy, transmission_cells=cell & ~is_enemy,
        player=s.player.replace(row=row, col=col),
        exit_reached=(row == s.exit_row) & (col == s.exit_col),
    )


def poly_program(c: Context) -> Effect:
    return Effect(enemies=poly(c.state.enemies, c.poly_words))


def wait(c: Context) -> Effect:
    return Effect(ends_turn=True)


def debug(c: Context) -> Effect:
    """Strikes every enemy standing on a block."""
    en = c.state.enemies
    return Effect(hit=c.state.board.block_kind[en.row, en.col] > 0)


def row(c: Context) -> Effect:
    return Effect(hit=c.state.enemies.row == c.state.player.row)


def col(c: Context) -> Effect:
    return Effect(hit=c.state.enemies.col == c.state.player.col)


def undo(c: Context) -> Effect:
    return Effect(undo=True)


def step(c: Context) -> Effect:
    return Effect(step_active=True)


def siph_plus(c: Context) -> Effect:
    p = c.state.player
    return Effect(player=p.replace(data_siphons=p.data_siphons + 1))


def exch(c: Context) -> Effect:
    p = c.state.player
    return Effect(player=p.replace(energy=p.energy + 4))


def show(c: Context) -> Effect:
    return Effect(show_activated=True)


def reset(c: Context) -> Effect:
    """Back to full HP; a waste (Appendix A) when it heals only 1."""
    p = c.state.player
    return Effect(player=p.replace(hp=jnp.int32(MAX_HP)), program_waste=p.hp == MAX_HP - 1)


def calm(c: Context) -> Effect:
    return Effect(calm=True)


def d_bom(c: Context) -> Effect:
    """Destroys the nearest daemon and strikes the 8 cells around it for 1."""
    target, splash = d_bom_target(c.state)
    return Effect(destroy=target, hit=splash, damage=jnp.int32(1))


def delay(c: Context) -> Effect:
    tr = c.state.transmissions
    return Effect(transmission_turns=jnp.where(tr.alive, tr.turns + 3, tr.turns))


def anti_v(c: Context) -> Effect:
    """Strikes every virus for 1."""
    return Effect(hit=c.state.enemies.kind == EnemyType.VIRUS, damage=jnp.int32(1))


def score(c: Context) -> Effect:
    p = c.state.player
    return Effect(player=p.replace(score=p.score + NUM_STAGES - c.state.stage))


def reduc(c: Context) -> Effect:
    b = c.state.board
    return Effect(reduce_spawn=(b.block_kind > 0) & ~b.siphoned)


def atk_plus(c: Context) -> Effect:
    p = c.state.player
    return Effect(player=p.replace(attack_damage=p.attack_damage + 1), atk_plus_use=True)


def hack(c: Context) -> Effect:
    """Strikes every enemy standing on a siphoned cell."""
    en = c.state.enemies
    return Effect(hit=c.state.board.siphoned[en.row, en.col])


# --- applicability predicates (§6.2), before ownership and cost ----------------------------

def always(v: View) -> jax.Array:
    return jnp.bool_(True)


def any_enemy(v: View) -> jax.Array:
    return jnp.any(v.state.enemies.alive)


def any_transmission(v: View) -> jax.Array:
    return jnp.any(v.state.transmissions.alive)


def any_enemy_or_transmission(v: View) -> jax.Array:
    return any_enemy(v) | any_transmission(v)


def something_around(v: View) -> jax.Array:
    """A block, enemy or transmission on one of the 8 cells around the player."""
    p = v.state.player
    rr = p.row + jnp.asarray(RING_DROW)
    rc = p.col + jnp.asarray(RING_DCOL)
    return jnp.any(in_bounds(rr, rc) & (
        at(v.block, rr, rc, False) | at(v.enemy_grid, rr, rc, False) | at(v.transmission_grid, rr, rc, False)
    ))


def enemy_on_block(v: View) -> jax.Array:
    return jnp.any(v.enemy_grid & v.block)


def enemy_in_row(v: View) -> jax.Array:
    en = v.state.enemies
    return jnp.any(en.alive & (en.row == v.state.player.row))


def enemy_in_col(v: View) -> jax.Array:
    en = v.state.enemies
    return jnp.any(en.alive & (en.col == v.state.player.col))


def history_not_empty(v: View) -> jax.Array:
    return v.state.undo_count > 0


def four_credits(v: View) -> jax.Array:
    return v.state.player.credits >= 4


def not_shown(v: View) -> jax.Array:
    return ~v.state.show_activated


def hurt(v: View) -> jax.Array:
    return v.state.player.hp < MAX_HP


def tasks_enabled(v: View) -> jax.Array:
    return ~v.state.scheduled_tasks_disabled


def _any_of_kind(kind: EnemyType) -> Callable[[View], jax.Array]:
    def pred(v: View) -> jax.Array:
        en = v.state.enemies
        return jnp.any(en.alive & (en.kind == kind))
    pred.__name__ = f"any_{kind.name.lower()}"
    return pred


any_daemon = _any_of_kind(EnemyType.DAEMON)
any_virus = _any_of_kind(EnemyType.VIRUS)


def before_last_stage(v: View) -> jax.Array:
    return v.state.stage < NUM_STAGES


def unsiphoned_block_that_spawns(v: View) -> jax.Array:
    b = v.state.board
    return jnp.any(v.block & ~b.siphoned & (b.block_spawn > 0))


def atk_plus_left(v: View) -> jax.Array:
    return v.state.atk_plus_uses < ATK_PLUS_USES_PER_STAGE


def siphoned_cell(v: View) -> jax.Array:
    return jnp.any(v.state.board.siphoned)


# --- the table --------------------------------------------------------------------------------

class Program(NamedTuple):
    """One program (game-rules §6.2, §6.3); its action is FIRST_PROGRAM_ACTION + its index."""

    name: str
    credits: int  # credit cost
    energy: int  # energy cost
    spawn: int  # spawn count of its program block
    applicable: Callable[[View], jax.Array]  # (§6.2), before ownership and cost
    effect: Callable[[Context], Effect]  # (§6.3)


PROGRAMS: tuple[Program, ...] = (
    Program("PUSH", credits=0, energy=2, spawn=4, applicable=any_enemy, effect=push),
    Program("PULL", credits=0, energy=2, spawn=4, applicable=any_enemy, effect=pull),
    Program("CRASH", credits=3, energy=2, spawn=6, applicable=something_around, effect=crash),
    Program("WARP", credits=2, energy=2, spawn=5, applicable=any_enemy_or_transmission, effect=warp),
    Program("POLY", credits=1, energy=1, spawn=3, applicable=any_enemy, effect=poly_program),
    Program("WAIT", credits=0, energy=1, spawn=1, applicable=always, effect=wait),
    Program("DEBUG", credits=3, energy=0, spawn=4, applicable=enemy_on_block, effect=debug),
    Program("ROW", credits=3, energy=1, spawn=2, applicable=enemy_in_row, effect=row),
    Program("COL", credits=3, energy=1, spawn=2, applicable=enemy_in_col, effect=col),
    Program("UNDO", credits=1, energy=0, spawn=3, applicable=history_not_empty, effect=undo),
    Program("STEP", credits=0, energy=3, spawn=4, applicable=always, effect=step),
    Program("SIPH+", credits=5, energy=0, spawn=7, applicable=always, effect=siph_plus),
    Program("EXCH", credits=4, energy=0, spawn=3, applicable=four_credits, effect=exch),
    Program("SHOW", credits=2, energy=0, spawn=2, applicable=not_shown, effect=show),
    Program("RESET", credits=0, energy=4, spawn=2, applicable=hurt, effect=reset),
    Program("CALM", credits=2, energy=4, spawn=6, applicable=tasks_enabled, effect=calm),
    Program("D_BOM", credits=3, energy=0, spawn=4, applicable=any_daemon, effect=d_bom),
    Program("DELAY", credits=1, energy=2, spawn=4, applicable=any_transmission, effect=delay),
    Program("ANTI-V", credits=3, energy=0, spawn=4, applicable=any_virus, effect=anti_v),
    Program("SCORE", credits=0, energy=5, spawn=5, applicable=before_last_stage, effect=score),
    Program("REDUC", credits=2, energy=1, spawn=3, applicable=unsiphoned_block_that_spawns, effect=reduc),
    Program("ATK+", credits=4, energy=4, spawn=8, applicable=atk_plus_left, effect=atk_plus),
    Program("HACK", credits=2, energy=2, spawn=4, applicable=siphoned_cell, effect=hack),
)
assert len(PROGRAMS) == NUM_PROGRAMS

PROGRAM_NAMES = tuple(p.name for p in PROGRAMS)
# Per program index (action - 5): credit cost, energy cost, block spawn count.
PROGRAM_CREDITS = np.array([p.credits for p in PROGRAMS], dtype=np.int32)
PROGRAM_ENERGY = np.array([p.energy for p in PROGRAMS], dtype=np.int32)
PROGRAM_SPAWN = np.array([p.spawn for p in PROGRAMS], dtype=np.int32)


def program_applicable(state: EnvState) -> jax.Array:
    """(23,) bool applicability of each program (§6.2), ignoring ownership and cost."""
    v = view(state)
    return jnp.stack([p.applicable(v) for p in PROGRAMS])


def program_valid(state: EnvState) -> jax.Array:
    """(23,) bool: owned, affordable and applicable."""
    p = state.player
    return state.owned & (p.credits >= PROGRAM_CREDITS) & (p.energy >= PROGRAM_ENERGY) & program_applicable(state)


# --- the single pass ------------------------------------------------------------------------

def _is_one_of(program: jax.Array, indices: Sequence[int]) -> jax.Array:
    out = jnp.bool_(False)
    for i in indices:
        out = out | (program == i)
    return out


def _chosen(program: jax.Array, effects: Sequence[Effect], flag: str) -> jax.Array:
    """() bool: the chosen program raises ``flag``."""
    return _is_one_of(program, [i for i, e in enumerate(effects) if getattr(e, flag)])


def _pick(program: jax.Array, effects: Sequence[Effect], field: str, default: Any) -> Any:
    """The chosen program's ``field`` (a pytree), ``default`` where it leaves it ``None``."""
    out = default
    for i, e in enumerate(effects):
        value = getattr(e, field)
        if value is not None:
            out = jax.tree_util.tree_map(lambda a, b, i=i: jnp.where(program == i, a, b), value, out)
    return out


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
    p = state.player
    s = state.replace(player=p.replace(
        credits=p.credits - jnp.asarray(PROGRAM_CREDITS)[program],
        energy=p.energy - jnp.asarray(PROGRAM_ENERGY)[program],
    ))
    effects = [prog.effect(Context(s, words[:n_warp], words[n_warp:])) for prog in PROGRAMS]

    def pick(field: str, default: Any) -> Any:
        return _pick(program, effects, field, default)

    def chosen(flag: str) -> jax.Array:
        return _chosen(program, effects, flag)

    en, tr, board = s.enemies, s.transmissions, s.board
    none36 = jnp.zeros((MAX_ENEMIES,), bool)
    no_cells = jnp.zeros_like(board.siphoned)

    # PUSH / PULL: positions only, from the enemies' original positions.
    moves = _is_one_of(program, [i for i, e in enumerate(effects) if e.displace_away is not None])
    new_row, new_col = displacement(s, chosen("displace_away"))
    en = en.replace(row=jnp.where(moves, new_row, en.row), col=jnp.where(moves, new_col, en.col))

    # Rewrites (POLY), strikes, outright destruction, then one sweep of the dead.
    en = pick("enemies", en)
    hit = pick("hit", none36) & en.alive
    damage = pick("damage", s.player.attack_damage)
    destroy = pick("destroy", none36)
    hp = jnp.where(hit, jnp.maximum(0, en.hp - damage), en.hp)
    en = en.replace(hp=hp, stunned=en.stunned | (hit & (hp > 0)))
    sweeps = _is_one_of(program, [i for i, e in enumerate(effects) if e.hit is not None or e.enemies is not None])
    dead = en.alive & ~destroy & (en.hp <= 0) & sweeps
    kills = jnp.sum(((dead | destroy) & ~en.from_scheduled).astype(jnp.int32))

    # Removal by cell (CRASH, WARP): one kill per cell and list, judged by the first entry.
    en_cells = pick("enemy_cells", no_cells)
    tr_cells = pick("transmission_cells", no_cells)
    kills = kills + cell_kills(s.enemies, en_cells) + cell_kills(s.transmissions, tr_cells)
    en = compact(en.replace(alive=en.alive & ~(dead | destroy | en_cells[en.row, en.col])))
    tr = compact(tr.replace(alive=tr.alive & ~tr_cells[tr.row, tr.col], turns=pick("transmission_turns", tr.turns)))

    # Board: removed blocks (their resources and siphoned flags stay); lowered spawn counts.
    cleared = pick("clear_blocks", no_cells)
    reduced = pick("reduce_spawn", no_cells)
    board = board.replace(
        block_kind=jnp.where(cleared, 0, board.block_kind),
        block_points=jnp.where(cleared, 0, board.block_points),
        block_program=jnp.where(cleared, 0, board.block_program),
        block_spawn=jnp.where(cleared, 0, jnp.where(reduced, jnp.maximum(0, board.block_spawn - 1), board.block_spawn)),
        question_is_data=board.question_is_data & ~cleared,
    )
    out = s.replace(
        player=pick("player", s.player), enemies=en, transmissions=tr, board=board,
        step_active=s.step_active | chosen("step_active"),
        show_activated=s.show_activated | chosen("show_activated"),
        scheduled_tasks_disabled=s.scheduled_tasks_disabled | chosen("calm"),
        atk_plus_uses=s.atk_plus_uses + chosen("atk_plus_use").astype(jnp.int32),
    )
    # UNDO replaces everything the snapshot holds.
    undo = chosen("undo")
    out = jax.tree_util.tree_map(lambda a, b: jnp.where(undo, a, b), restore_snapshot(s, snap, params), out)

    ev = no_events(success=True, ends_turn=chosen("ends_turn")).replace(
        kills=kills,
        exit_reached=pick("exit_reached", jnp.bool_(False)),
        program_waste=pick("program_waste", jnp.bool_(False)),
    )
    return out, ev

