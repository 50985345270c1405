"""Declarative scenarios (game-rules §9) and their JSON format (docs/rules.md Part I §9.1).

``build(scenario)`` follows the original's ``setState`` procedure (§9.2); ``describe(state)``
goes back; ``hidden_fields(state)`` is the internal-state readout of §9.3.

Validation (``Scenario.validated``, run by ``from_dict``, ``from_json``, ``from_bytes`` and
``build`` alike) is stricter than the original's lenient builder, which silently skips
bad entries: unknown keys, wrong types, off-board positions, unknown enemy / block /
program names, two blocks on one cell, a block on a data siphon or on the exit (5,5),
more than 36 enemies or transmissions, a stage outside 1..8, and every count outside
``RANGES`` (negative, or above ``MAX_AMOUNT``, a cap far above what a game reaches that
keeps every later sum inside int32) raise ``ValueError`` naming the field and quoting at
most ~80 characters of the value. A player HP outside 0..3 becomes 3, and a transmission
timer of 0 hatches at the next tick, exactly as in the original (§9.2, §5.4); negative
timers, which the original also hatches, are rejected (the observation's range is 0..1).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import (
    ENEMY_NAMES, FIRST_PROGRAM_ACTION, GRID, MAX_ENEMIES, MAX_TRANSMISSIONS, NUM_PROGRAMS, NUM_STAGES, PROGRAM_ALIASES, BlockKind, Special,
)
from hackmatrix.domain.programs import PROGRAM_NAMES
from hackmatrix.domain.state import EnvParams, EnvState, empty_state


@dataclass(frozen=True)
class PlayerSpec:
    row: int
    col: int
    hp: int = 3
    credits: int = 0
    energy: int = 0
    data_siphons: int = 0
    attack_damage: int = 1
    score: int = 0


@dataclass(frozen=True)
class EnemySpec:
    type: str
    row: int
    col: int
    hp: int
    stunned: bool = False
    spawned_from_siphon: bool = False
    from_scheduled_task: bool = False


@dataclass(frozen=True)
class TransmissionSpec:
    row: int
    col: int
    turns_remaining: int
    enemy_type: str


@dataclass(frozen=True)
class BlockSpec:
    row: int
    col: int
    kind: str  # "data" or "program"
    points: int = 0
    spawn_count: int = 0
    siphoned: bool = False
    program: str | None = None


@dataclass(frozen=True)
class ResourceSpec:
    row: int
    col: int
    credits: int = 0
    energy: int = 0
    data_siphon: bool = False


@dataclass(frozen=True)
class Scenario:
    player: PlayerSpec
    enemies: tuple[EnemySpec, ...] = ()
    transmissions: tuple[TransmissionSpec, ...] = ()
    blocks: tuple[BlockSpec, ...] = ()
    resources: tuple[ResourceSpec, ...] = ()
    owned_programs: tuple[str, ...] = ()
    stage: int = 1
    turn: int = 0
    show_activated: bool = False
    scheduled_tasks_disabled: bool = False

    # --- validation and JSON ------------------------------------------------------------
    def validated(self) -> Scenario:
        """This scenario checked field by field and normalised (plain ints and bools,
        tuples, lower-case enemy types, canonical program names).

        Raises ValueError naming the first bad field (``player.credits``, ``blocks[2].row``,
        ...) and quoting at most ~80 characters of its value. ``build`` and ``from_dict``
        call it, so a scenario made in code is held to the same rules as JSON.
        """
        return _validate(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scenario:
        """Parse and validate the scenario JSON object; raises ValueError naming the field."""
        return _parse_scenario(data)

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        try:
            data = json.loads(text)
        except RecursionError:
            raise ValueError("scenario: not valid JSON (nested too deeply)") from None
        except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
            raise ValueError(f"scenario: not valid JSON ({_cut(str(exc))})") from None
        return cls.from_dict(data)

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "scenario") -> Scenario:
        """Parse the bytes of a scenario file (UTF-8 JSON); every ValueError names ``source``.

        The caller reads the file (the domain does no I/O), e.g.
        ``Scenario.from_bytes(Path(path).read_bytes(), path)``.
        """
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = show(exc.object[exc.start:exc.start + 4])
            raise ValueError(
                f"scenario {str(source)!r}: not UTF-8 text (byte {exc.start}: {bad})"
            ) from None
        try:
            return cls.from_json(text)
        except ValueError as exc:
            raise ValueError(f"scenario {str(source)!r}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("enemies", "transmissions", "blocks", "resources", "owned_programs"):
            out[key] = list(out[key])
        out["blocks"] = [
            {k: v for k, v in b.items() if not (k == "program" and v is None) and not (k == "points" and b["kind"] == "program")}
            for b in out["blocks"]
        ]
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


# --- limits ------------------------------------------------------------------------------

MAX_AMOUNT = 1_000_000
"""The largest value of every scenario count: player credits, energy, data siphons, score,
attack damage; turn; enemy HP; transmission timers; block points and spawn counts;
resource credits and energy.

A generated game stays far below it (block points 1..9, resources 1..3, attack at most
17, a few hundred credits or points), and no sequence of actions from a scenario inside
the caps reaches int32 (2**31 - 1): each cell's points, spawns and resources are
collected once per board, so a stage adds at most 37 x the cap to a counter, SCORE adds
7 per 5 energy, DELAY 3 per 2 energy, a turn 1. It also keeps a block's points below
the siphon-quality sentinel (siphon._BIG = 2**20).
"""
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# Allowed range of each integer field, by spec class (inclusive).
_BOARD = (0, GRID - 1)
_AMOUNT = (0, MAX_AMOUNT)
RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "PlayerSpec": {
        "row": _BOARD, "col": _BOARD,
        "hp": (INT32_MIN, INT32_MAX),  # outside 0..3 it becomes 3 (§9.2)
        "credits": _AMOUNT, "energy": _AMOUNT, "data_siphons": _AMOUNT,
        "attack_damage": (1, MAX_AMOUNT), "score": _AMOUNT,
    },
    "EnemySpec": {"row": _BOARD, "col": _BOARD, "hp": _AMOUNT},
    # Timers below 0 are rejected: the observation shows min(timer, 4) / 4 (obs §1.4).
    "TransmissionSpec": {"row": _BOARD, "col": _BOARD, "turns_remaining": _AMOUNT},
    "BlockSpec": {"row": _BOARD, "col": _BOARD, "points": _AMOUNT, "spawn_count": _AMOUNT},
    "ResourceSpec": {"row": _BOARD, "col": _BOARD, "credits": _AMOUNT, "energy": _AMOUNT},
    "Scenario": {"stage": (1, NUM_STAGES), "turn": _AMOUNT},
}

# --- messages ------------------------------------------------------------------------------

SHOW_LIMIT = 80
"""Error messages quote at most about this many characters of a bad value."""


def show(value: Any) -> str:
    """``repr(value)`` for an error message, cut to about ``SHOW_LIMIT`` characters.

    Never builds the full repr of a huge string, a long list or a deeply nested value.
    """
    return _cut(_bounded_repr(value, depth=3))


def _cut(text: str) -> str:
    return text if len(text) <= SHOW_LIMIT else text[: SHOW_LIMIT - 3] + "..."


def _bounded_repr(value: Any, depth: int) -> str:
    if isinstance(value, str):
        return repr(value[: SHOW_LIMIT + 1])
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 200 else f"<an integer of {value.bit_length()} bits>"
    if isinstance(value, (list, tuple, dict)):
        is_dict = isinstance(value, dict)
        open_, close = ("{", "}") if is_dict else ("[", "]") if isinstance(value, list) else ("(", ")")
        if depth == 0:
            return f"{open_}...{close}" if value else f"{open_}{close}"
        parts, size = [], 0
        for item in (value.items() if isinstance(value, dict) else value):
            if size > SHOW_LIMIT:
                parts.append("...")
                break
            if is_dict:
                part = f"{_bounded_repr(item[0], depth - 1)}: {_bounded_repr(item[1], depth - 1)}"
            else:
                part = _bounded_repr(item, depth - 1)
            parts.append(part)
            size += len(part) + 2
        if isinstance(value, tuple) and len(value) == 1 and parts != ["..."]:
            return f"({parts[0]},)"
        return open_ + ", ".join(parts) + close
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a message must not fail
        text = f"<{type(value).__name__}>"
    return text[: SHOW_LIMIT + 1]


# --- parsing (JSON shape) ------------------------------------------------------------------

_MISSING = dataclasses.MISSING


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object, got {show(obj)}")
    unknown = sorted((k for k in obj if k not in allowed), key=str)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {show(unknown)}")
    return obj


def _entry(cls: type, obj: Any, where: str, required: tuple[str, ...]):
    """A spec object from its JSON object: keys checked, values as given (checked later)."""
    obj = _check_keys(obj, _fields(cls), where)
    for key in required:
        if key not in obj:
            raise ValueError(f"{where}.{key}: missing required field")
    return cls(**obj)


def _parse_scenario(data: Any) -> Scenario:
    d = _check_keys(data, _fields(Scenario), "scenario")
    if "player" not in d:
        raise ValueError("scenario.player: missing required field")
    fields: dict[str, Any] = {"player": _entry(PlayerSpec, d["player"], "player", ("row", "col"))}
    required = {
        "enemies": (EnemySpec, ("type", "row", "col", "hp")),
        "transmissions": (TransmissionSpec, ("row", "col", "turns_remaining", "enemy_type")),
        "blocks": (BlockSpec, ("row", "col", "kind")),
        "resources": (ResourceSpec, ("row", "col")),
    }
    for key in ("enemies", "transmissions", "blocks", "resources", "owned_programs"):
        value = d.get(key, [])
        if not isinstance(value, list):
            raise ValueError(f"scenario.{key}: expected a list, got {show(value)}")
        if key in required:
            cls, keys = required[key]
            value = [_entry(cls, e, f"{key}[{i}]", keys) for i, e in enumerate(value)]
        fields[key] = tuple(value)
    for key in ("stage", "turn", "show_activated", "scheduled_tasks_disabled"):
        if key in d:
            fields[key] = d[key]
    return Scenario(**fields).validated()


# --- validation (any route) ----------------------------------------------------------------

def _int(value: Any, where: str, bounds: tuple[int, int]) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{where}: expected an integer, got {show(value)}")
    value = int(value)
    lo, hi = bounds
    if bounds == _BOARD and not lo <= value <= hi:
        raise ValueError(f"{where}: {show(value)} is off the 6x6 board (0..{hi})")
    if value < lo:
        raise ValueError(f"{where}: {show(value)} is below the minimum {lo}")
    if value > hi:
        raise ValueError(f"{where}: {show(value)} is above the maximum {hi}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: expected a boolean, got {show(value)}")
    return bool(value)


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {show(value)}")
    return value


def _checked(spec: Any, cls: type, where: str) -> dict[str, Any]:
    """The fields of ``spec`` (a ``cls``), integers range-checked and booleans type-checked."""
    if not isinstance(spec, cls):
        article = "an" if cls.__name__[0] in "AEIOU" else "a"
        raise ValueError(f"{where}: expected {article} {cls.__name__}, got {show(spec)}")
    ranges = RANGES[cls.__name__]
    out = {}
    for f in dataclasses.fields(cls):
        value = getattr(spec, f.name)
        if f.name in ranges:
            value = _int(value, f"{where}.{f.name}", ranges[f.name])
        elif f.type in ("bool", bool):
            value = _bool(value, f"{where}.{f.name}")
        out[f.name] = value
    return out


def _entries(value: Any, where: str) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}: expected a list, got {show(value)}")
    return tuple(value)


def enemy_type_index(name: Any, where: str = "enemy type") -> int:
    key = name.lower() if isinstance(name, str) else name
    if key not in ENEMY_NAMES:
        raise ValueError(f"{where}: unknown enemy type {show(name)} (expected one of {list(ENEMY_NAMES)})")
    return ENEMY_NAMES.index(key)


def program_index(name: Any, where: str = "program") -> int:
    """Program index 0..22 from a name (case-insensitive, §9.2 aliases) or an action index 5..27."""
    if isinstance(name, (int, np.integer)) and not isinstance(name, (bool, np.bool_)):
        if FIRST_PROGRAM_ACTION <= name < FIRST_PROGRAM_ACTION + NUM_PROGRAMS:
            return int(name) - FIRST_PROGRAM_ACTION
        raise ValueError(f"{where}: action index {show(int(name))} is not a program (5..27)")
    if not isinstance(name, str):
        raise ValueError(f"{where}: expected a program name, got {show(name)}")
    canonical = PROGRAM_ALIASES.get(name.lower(), name.upper())
    if canonical not in PROGRAM_NAMES:
        raise ValueError(f"{where}: unknown program {show(name)}")
    return PROGRAM_NAMES.index(canonical)


def _validate(s: Any) -> Scenario:
    """``s`` checked field by field (ValueError naming the first bad one), normalised:
    plain ints and bools, tuples, lower-case enemy types, canonical program names."""
    if not isinstance(s, Scenario):
        raise ValueError(f"scenario: expected a Scenario or a scenario dict, got {show(s)}")
    player = PlayerSpec(**_checked(s.player, PlayerSpec, "player"))

    enemies = []
    for i, e in enumerate(_entries(s.enemies, "scenario.enemies")):
        w = f"enemies[{i}]"
        f = _checked(e, EnemySpec, w)
        f["type"] = ENEMY_NAMES[enemy_type_index(_str(f["type"], f"{w}.type"), f"{w}.type")]
        enemies.append(EnemySpec(**f))
    if len(enemies) > MAX_ENEMIES:
        raise ValueError(f"scenario.enemies: {len(enemies)} entries exceed the {MAX_ENEMIES} slots")

    transmissions = []
    for i, t in enumerate(_entries(s.transmissions, "scenario.transmissions")):
        w = f"transmissions[{i}]"
        f = _checked(t, TransmissionSpec, w)
        kind = _str(f["enemy_type"], f"{w}.enemy_type")
        f["enemy_type"] = ENEMY_NAMES[enemy_type_index(kind, f"{w}.enemy_type")]
        transmissions.append(TransmissionSpec(**f))
    if len(transmissions) > MAX_TRANSMISSIONS:
        raise ValueError(
            f"scenario.transmissions: {len(transmissions)} entries exceed the {MAX_TRANSMISSIONS} slots"
        )

    blocks = []
    block_cells: dict[tuple[int, int], int] = {}
    for i, b in enumerate(_entries(s.blocks, "scenario.blocks")):
        w = f"blocks[{i}]"
        f = _checked(b, BlockSpec, w)
        r, c = f["row"], f["col"]
        kind = _str(f["kind"], f"{w}.kind")
        if kind not in ("data", "program"):
            raise ValueError(f"{w}.kind: unknown block kind {show(kind)} (expected 'data' or 'program')")
        if (r, c) in block_cells:
            raise ValueError(f"{w}: cell ({r}, {c}) already holds blocks[{block_cells[(r, c)]}]")
        if (r, c) == (GRID - 1, GRID - 1):
            raise ValueError(f"{w}: cell (5, 5) is the exit and cannot hold a block")
        block_cells[(r, c)] = i
        if kind == "program":
            if f["program"] is None:
                raise ValueError(f"{w}.program: missing required field (a program block needs one)")
            f["program"] = PROGRAM_NAMES[program_index(_str(f["program"], f"{w}.program"), f"{w}.program")]
        elif f["program"] is not None:
            raise ValueError(f"{w}.program: a data block has no program (got {show(f['program'])})")
        blocks.append(BlockSpec(**f))

    resources = []
    for i, res in enumerate(_entries(s.resources, "scenario.resources")):
        w = f"resources[{i}]"
        spec = ResourceSpec(**_checked(res, ResourceSpec, w))
        cell = (spec.row, spec.col)
        if spec.data_siphon and cell in block_cells:
            raise ValueError(f"{w}: a data siphon cannot share cell {cell} with a block")
        if spec.data_siphon and cell == (GRID - 1, GRID - 1):
            raise ValueError(f"{w}: a data siphon cannot lie on the exit (5, 5)")
        resources.append(spec)

    owned = tuple(
        PROGRAM_NAMES[program_index(name, f"owned_programs[{i}]")]
        for i, name in enumerate(_entries(s.owned_programs, "scenario.owned_programs"))
    )
    top = RANGES["Scenario"]
    return Scenario(
        player=player, enemies=tuple(enemies), transmissions=tuple(transmissions),
        blocks=tuple(blocks), resources=tuple(resources), owned_programs=owned,
        stage=_int(s.stage, "scenario.stage", top["stage"]),
        turn=_int(s.turn, "scenario.turn", top["turn"]),
        show_activated=_bool(s.show_activated, "scenario.show_activated"),
        scheduled_tasks_disabled=_bool(s.scheduled_tasks_disabled, "scenario.scheduled_tasks_disabled"),
    )


# --- build / describe ----------------------------------------------------------------------

def build(scenario: Scenario | dict, params: EnvParams = EnvParams()) -> EnvState:
    """The original's setState (§9.2): exit (5,5), interval = next = 12, empty history."""
    scenario = Scenario.from_dict(scenario) if isinstance(scenario, dict) else _validate(scenario)
    g = (GRID, GRID)
    kind = np.zeros(g, np.int32)
    points = np.zeros(g, np.int32)
    program = np.zeros(g, np.int32)
    spawn = np.zeros(g, np.int32)
    credits = np.zeros(g, np.int32)
    energy = np.zeros(g, np.int32)
    special = np.zeros(g, np.int32)
    siphoned = np.zeros(g, bool)

    for b in scenario.blocks:
        if b.kind == "data":
            kind[b.row, b.col] = BlockKind.DATA
            points[b.row, b.col] = b.points
            program[b.row, b.col] = 0
        else:
            kind[b.row, b.col] = BlockKind.PROGRAM
            points[b.row, b.col] = 0
            program[b.row, b.col] = program_index(b.program)
        spawn[b.row, b.col] = b.spawn_count
        if b.siphoned:
            siphoned[b.row, b.col] = True
    for r in scenario.resources:
        if r.data_siphon:
            special[r.row, r.col] = Special.DATA_SIPHON
            kind[r.row, r.col] = BlockKind.NONE
        elif r.credits > 0:
            credits[r.row, r.col], energy[r.row, r.col] = r.credits, 0
        elif r.energy > 0:
            credits[r.row, r.col], energy[r.row, r.col] = 0, r.energy
    special[GRID - 1, GRID - 1] = Special.EXIT
    kind[GRID - 1, GRID - 1] = BlockKind.NONE

    state = empty_state(params)
    p = scenario.player
    hp = p.hp if 0 <= p.hp <= 3 else 3
    i32 = lambda v: jnp.asarray(v, jnp.int32)  # noqa: E731
    player = state.player.replace(
        row=i32(p.row), col=i32(p.col), hp=i32(hp), credits=i32(p.credits), energy=i32(p.energy),
        data_siphons=i32(p.data_siphons), score=i32(p.score), attack_damage=i32(p.attack_damage),
    )
    clean = lambda a: np.where(kind > 0, a, 0)  # noqa: E731
    board = state.board.replace(
        block_kind=jnp.asarray(kind), block_points=jnp.asarray(clean(points)),
        block_program=jnp.asarray(clean(program)), block_spawn=jnp.asarray(clean(spawn)),
        res_credits=jnp.asarray(credits), res_energy=jnp.asarray(energy),
        special=jnp.asarray(special), siphoned=jnp.asarray(siphoned),
    )

    def slots(n, fill, dtype):
        return np.full((n,), fill, dtype)

    e_alive, e_kind, e_row, e_col, e_hp = (slots(MAX_ENEMIES, 0, t) for t in (bool, np.int32, np.int32, np.int32, np.int32))
    e_stun, e_sip, e_sch = (slots(MAX_ENEMIES, False, bool) for _ in range(3))
    for i, e in enumerate(scenario.enemies):
        e_alive[i] = True
        e_kind[i] = enemy_type_index(e.type)
        e_row[i], e_col[i], e_hp[i] = e.row, e.col, e.hp
        e_stun[i], e_sip[i], e_sch[i] = e.stunned, e.spawned_from_siphon, e.from_scheduled_task
    enemies = state.enemies.replace(
        alive=jnp.asarray(e_alive), kind=jnp.asarray(e_kind), row=jnp.asarray(e_row),
        col=jnp.asarray(e_col), hp=jnp.asarray(e_hp), stunned=jnp.asarray(e_stun),
        from_siphon=jnp.asarray(e_sip), from_scheduled=jnp.asarray(e_sch),
        last_row=jnp.asarray(e_row), last_col=jnp.asarray(e_col),
    )
    t_alive = slots(MAX_TRANSMISSIONS, False, bool)
    t_row, t_col, t_turns, t_kind = (slots(MAX_TRANSMISSIONS, 0, np.int32) for _ in range(4))
    for i, t in enumerate(scenario.transmissions):
        t_alive[i] = True
        t_row[i], t_col[i], t_turns[i] = t.row, t.col, t.turns_remaining
        t_kind[i] = enemy_type_index(t.enemy_type)
    trans = state.transmissions.replace(
        alive=jnp.asarray(t_alive), row=jnp.asarray(t_row), col=jnp.asarray(t_col),
        turns=jnp.asarray(t_turns), kind=jnp.asarray(t_kind),
    )
    owned = np.zeros((NUM_PROGRAMS,), bool)
    for name in scenario.owned_programs:
        owned[program_index(name)] = True
    return state.replace(
        player=player, board=board, enemies=enemies, transmissions=trans,
        stage=i32(scenario.stage), turn=i32(scenario.turn), owned=jnp.asarray(owned),
        show_activated=jnp.asarray(scenario.show_activated),
        scheduled_tasks_disabled=jnp.asarray(scenario.scheduled_tasks_disabled),
        exit_row=i32(GRID - 1), exit_col=i32(GRID - 1),
        scheduled_interval=i32(12), next_scheduled_turn=i32(12),
    )


def describe(state: EnvState) -> Scenario:
    """The scenario fields of a (single, unbatched) state.

    Question blocks cannot be described by the format; they come out as the data or
    program block they hide. Fields outside §9.1 (exit, timing, history, ...) are lost.
    """
    s = _host(state)
    p = s.player
    enemies = tuple(
        EnemySpec(
            type=ENEMY_NAMES[int(s.enemies.kind[i])], row=int(s.enemies.row[i]), col=int(s.enemies.col[i]),
            hp=int(s.enemies.hp[i]), stunned=bool(s.enemies.stunned[i]),
            spawned_from_siphon=bool(s.enemies.from_siphon[i]),
            from_scheduled_task=bool(s.enemies.from_scheduled[i]),
        )
        for i in range(MAX_ENEMIES) if s.enemies.alive[i]
    )
    transmissions = tuple(
        TransmissionSpec(
            row=int(s.transmissions.row[i]), col=int(s.transmissions.col[i]),
            turns_remaining=int(s.transmissions.turns[i]), enemy_type=ENEMY_NAMES[int(s.transmissions.kind[i])],
        )
        for i in range(MAX_TRANSMISSIONS) if s.transmissions.alive[i]
    )
    b = s.board
    blocks, resources = [], []
    for r in range(GRID):
        for c in range(GRID):
            k = int(b.block_kind[r, c])
            is_data = k == BlockKind.DATA or (k == BlockKind.QUESTION and bool(b.question_is_data[r, c]))
            if k != BlockKind.NONE:
                blocks.append(BlockSpec(
                    row=r, col=c, kind="data" if is_data else "program",
                    points=int(b.block_points[r, c]) if is_data else 0,
                    spawn_count=int(b.block_spawn[r, c]), siphoned=bool(b.siphoned[r, c]),
                    program=None if is_data else PROGRAM_NAMES[int(b.block_program[r, c])],
                ))
            if b.res_credits[r, c] or b.res_energy[r, c] or b.special[r, c] == Special.DATA_SIPHON:
                if b.res_credits[r, c] or b.res_energy[r, c]:
                    resources.append(ResourceSpec(row=r, col=c, credits=int(b.res_credits[r, c]), energy=int(b.res_energy[r, c])))
                if b.special[r, c] == Special.DATA_SIPHON:
                    resources.append(ResourceSpec(row=r, col=c, data_siphon=True))
    owned = tuple(PROGRAM_NAMES[i] for i in range(NUM_PROGRAMS) if s.owned[i])
    return Scenario(
        player=PlayerSpec(
            row=int(p.row), col=int(p.col), hp=int(p.hp), credits=int(p.credits), energy=int(p.energy),
            data_siphons=int(p.data_siphons), attack_damage=int(p.attack_damage), score=int(p.score),
        ),
        enemies=enemies, transmissions=transmissions, blocks=tuple(blocks), resources=tuple(resources),
        owned_programs=owned, stage=int(s.stage), turn=int(s.turn),
        show_activated=bool(s.show_activated), scheduled_tasks_disabled=bool(s.scheduled_tasks_disabled),
    )


def hidden_fields(state: EnvState) -> dict[str, Any]:
    """The internal-state readout of §9.3, in the golden traces' ``hidden`` format."""
    s = _host(state)
    en = s.enemies
    return {
        "turn": int(s.turn),
        "scheduled_task_interval": int(s.scheduled_interval),
        "next_scheduled_task_turn": int(s.next_scheduled_turn),
        "pending_siphon_transmissions": int(s.pending_siphon),
        "enemies": [
            {
                "type": ENEMY_NAMES[int(en.kind[i])], "row": int(en.row[i]), "col": int(en.col[i]),
                "hp": int(en.hp[i]), "disabled_turns": int(en.disabled[i]), "stunned": bool(en.stunned[i]),
                "spawned_from_siphon": bool(en.from_siphon[i]),
                "from_scheduled_task": bool(en.from_scheduled[i]),
            }
            for i in range(MAX_ENEMIES) if en.alive[i]
        ],
    }


def _host(state: EnvState):
    import jax

    return jax.tree_util.tree_map(np.asarray, state)
