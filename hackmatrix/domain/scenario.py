"""Declarative scenarios (game-rules §9) and their JSON format (docs/rules.md Part I §9.1).

``build(scenario)`` follows the original's ``setState`` procedure (§9.2); ``describe(state)``
goes back; ``hidden_fields(state)`` is the internal-state readout of §9.3.

Validation choices (stricter than the original's lenient builder, which silently skips
bad entries): unknown keys, wrong types, off-board positions, unknown enemy / block /
program names, two blocks on one cell, a block on a data siphon or on the exit (5,5),
negative counts, integers outside int32 and a stage outside 1..8 raise ``ValueError``
naming the field. A player HP outside 0..3 becomes 3, and a transmission timer of 0 or
below hatches at the next tick, exactly as in the original (§9.2, §5.4).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import (
    ENEMY_NAMES, FIRST_PROGRAM_ACTION, GRID, MAX_ENEMIES, MAX_TRANSMISSIONS, NUM_PROGRAMS,
    PROGRAM_ALIASES, PROGRAM_NAMES, BlockKind, Special,
)
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

    # --- JSON ------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Scenario":
        """Parse and validate the scenario JSON object; raises ValueError naming the field."""
        return _parse_scenario(data)

    @classmethod
    def from_json(cls, text: str) -> "Scenario":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"scenario: not valid JSON ({exc})") from exc
        return cls.from_dict(data)

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


# --- parsing / validation ----------------------------------------------------------------

_FIELD_TYPES = {int: "an integer", bool: "a boolean", str: "a string"}


def _get(obj: dict, key: str, kind: type, where: str, default: Any = dataclasses.MISSING):
    if key not in obj:
        if default is dataclasses.MISSING:
            raise ValueError(f"{where}.{key}: missing required field")
        return default
    value = obj[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"{where}.{key}: expected an integer, got {value!r}")
    if kind is int and not -(2**31) <= value < 2**31:
        raise ValueError(f"{where}.{key}: {value} does not fit the engine's int32")
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{where}.{key}: expected a boolean, got {value!r}")
    if kind is str and not isinstance(value, str):
        raise ValueError(f"{where}.{key}: expected a string, got {value!r}")
    return value


def _check_keys(obj: Any, allowed: set[str], where: str) -> dict:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected an object, got {obj!r}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}")
    return obj


def _check_cell(obj: dict, where: str) -> tuple[int, int]:
    row = _get(obj, "row", int, where)
    col = _get(obj, "col", int, where)
    if not 0 <= row < GRID:
        raise ValueError(f"{where}.row: {row} is off the 6x6 board")
    if not 0 <= col < GRID:
        raise ValueError(f"{where}.col: {col} is off the 6x6 board")
    return row, col


def _non_negative(value: int, where: str) -> int:
    if value < 0:
        raise ValueError(f"{where}: must be >= 0, got {value}")
    return value


def enemy_type_index(name: str, where: str = "enemy type") -> int:
    key = name.lower() if isinstance(name, str) else name
    if key not in ENEMY_NAMES:
        raise ValueError(f"{where}: unknown enemy type {name!r} (expected one of {list(ENEMY_NAMES)})")
    return ENEMY_NAMES.index(key)


def program_index(name: Any, where: str = "program") -> int:
    """Program index 0..22 from a name (case-insensitive, §9.2 aliases) or an action index 5..27."""
    if isinstance(name, int) and not isinstance(name, bool):
        if FIRST_PROGRAM_ACTION <= name < FIRST_PROGRAM_ACTION + NUM_PROGRAMS:
            return name - FIRST_PROGRAM_ACTION
        raise ValueError(f"{where}: action index {name} is not a program (5..27)")
    if not isinstance(name, str):
        raise ValueError(f"{where}: expected a program name, got {name!r}")
    canonical = PROGRAM_ALIASES.get(name.lower(), name.upper())
    if canonical not in PROGRAM_NAMES:
        raise ValueError(f"{where}: unknown program {name!r}")
    return PROGRAM_NAMES.index(canonical)


def _parse_scenario(data: Any) -> Scenario:
    allowed = {f.name for f in dataclasses.fields(Scenario)}
    d = _check_keys(data, allowed, "scenario")
    if "player" not in d:
        raise ValueError("scenario.player: missing required field")
    pd = _check_keys(d["player"], {f.name for f in dataclasses.fields(PlayerSpec)}, "player")
    row, col = _check_cell(pd, "player")
    player = PlayerSpec(
        row=row, col=col, hp=_get(pd, "hp", int, "player", 3),
        credits=_non_negative(_get(pd, "credits", int, "player", 0), "player.credits"),
        energy=_non_negative(_get(pd, "energy", int, "player", 0), "player.energy"),
        data_siphons=_non_negative(_get(pd, "data_siphons", int, "player", 0), "player.data_siphons"),
        attack_damage=_get(pd, "attack_damage", int, "player", 1),
        score=_non_negative(_get(pd, "score", int, "player", 0), "player.score"),
    )
    if player.attack_damage < 1:
        raise ValueError(f"player.attack_damage: must be >= 1, got {player.attack_damage}")

    def as_list(key: str) -> list:
        value = d.get(key, [])
        if not isinstance(value, list):
            raise ValueError(f"scenario.{key}: expected a list, got {value!r}")
        return value

    enemies = []
    for i, e in enumerate(as_list("enemies")):
        w = f"enemies[{i}]"
        _check_keys(e, {f.name for f in dataclasses.fields(EnemySpec)}, w)
        r, c = _check_cell(e, w)
        kind = _get(e, "type", str, w)
        enemy_type_index(kind, f"{w}.type")
        enemies.append(EnemySpec(
            type=kind.lower(), row=r, col=c, hp=_non_negative(_get(e, "hp", int, w), f"{w}.hp"),
            stunned=_get(e, "stunned", bool, w, False),
            spawned_from_siphon=_get(e, "spawned_from_siphon", bool, w, False),
            from_scheduled_task=_get(e, "from_scheduled_task", bool, w, False),
        ))
    if len(enemies) > MAX_ENEMIES:
        raise ValueError(f"scenario.enemies: {len(enemies)} entries exceed the {MAX_ENEMIES} slots")

    transmissions = []
    for i, t in enumerate(as_list("transmissions")):
        w = f"transmissions[{i}]"
        _check_keys(t, {f.name for f in dataclasses.fields(TransmissionSpec)}, w)
        r, c = _check_cell(t, w)
        kind = _get(t, "enemy_type", str, w)
        enemy_type_index(kind, f"{w}.enemy_type")
        transmissions.append(TransmissionSpec(
            row=r, col=c, turns_remaining=_get(t, "turns_remaining", int, w), enemy_type=kind.lower()
        ))
    if len(transmissions) > MAX_TRANSMISSIONS:
        raise ValueError(
            f"scenario.transmissions: {len(transmissions)} entries exceed the {MAX_TRANSMISSIONS} slots"
        )

    blocks = []
    block_cells: dict[tuple[int, int], int] = {}
    for i, b in enumerate(as_list("blocks")):
        w = f"blocks[{i}]"
        _check_keys(b, {f.name for f in dataclasses.fields(BlockSpec)}, w)
        r, c = _check_cell(b, w)
        kind = _get(b, "kind", str, w)
        if kind not in ("data", "program"):
            raise ValueError(f"{w}.kind: unknown block kind {kind!r} (expected 'data' or 'program')")
        if (r, c) in block_cells:
            raise ValueError(f"{w}: cell ({r}, {c}) already holds blocks[{block_cells[(r, c)]}]")
        if (r, c) == (GRID - 1, GRID - 1):
            raise ValueError(f"{w}: cell (5, 5) is the exit and cannot hold a block")
        block_cells[(r, c)] = i
        program = None
        if kind == "program":
            program = _get(b, "program", str, w)
            program = PROGRAM_NAMES[program_index(program, f"{w}.program")]
        elif "program" in b and b["program"] is not None:
            raise ValueError(f"{w}.program: a data block has no program (got {b['program']!r})")
        blocks.append(BlockSpec(
            row=r, col=c, kind=kind,
            points=_non_negative(_get(b, "points", int, w, 0), f"{w}.points"),
            spawn_count=_non_negative(_get(b, "spawn_count", int, w, 0), f"{w}.spawn_count"),
            siphoned=_get(b, "siphoned", bool, w, False), program=program,
        ))

    resources = []
    for i, res in enumerate(as_list("resources")):
        w = f"resources[{i}]"
        _check_keys(res, {f.name for f in dataclasses.fields(ResourceSpec)}, w)
        r, c = _check_cell(res, w)
        spec = ResourceSpec(
            row=r, col=c,
            credits=_non_negative(_get(res, "credits", int, w, 0), f"{w}.credits"),
            energy=_non_negative(_get(res, "energy", int, w, 0), f"{w}.energy"),
            data_siphon=_get(res, "data_siphon", bool, w, False),
        )
        if spec.data_siphon and (r, c) in block_cells:
            raise ValueError(f"{w}: a data siphon cannot share cell ({r}, {c}) with a block")
        if spec.data_siphon and (r, c) == (GRID - 1, GRID - 1):
            raise ValueError(f"{w}: a data siphon cannot lie on the exit (5, 5)")
        resources.append(spec)

    owned = []
    for i, name in enumerate(as_list("owned_programs")):
        owned.append(PROGRAM_NAMES[program_index(name, f"owned_programs[{i}]")])

    stage = _get(d, "stage", int, "scenario", 1)
    if not 1 <= stage <= 8:
        raise ValueError(f"scenario.stage: must be in 1..8, got {stage}")
    turn = _non_negative(_get(d, "turn", int, "scenario", 0), "scenario.turn")
    return Scenario(
        player=player, enemies=tuple(enemies), transmissions=tuple(transmissions),
        blocks=tuple(blocks), resources=tuple(resources), owned_programs=tuple(owned),
        stage=stage, turn=turn,
        show_activated=_get(d, "show_activated", bool, "scenario", False),
        scheduled_tasks_disabled=_get(d, "scheduled_tasks_disabled", bool, "scenario", False),
    )


# --- build / describe ----------------------------------------------------------------------

def build(scenario: Scenario | dict, params: EnvParams = EnvParams()) -> EnvState:
    """The original's setState (§9.2): exit (5,5), interval = next = 12, empty history."""
    if isinstance(scenario, dict):
        scenario = Scenario.from_dict(scenario)
    if not isinstance(scenario, Scenario):
        raise ValueError(f"scenario: expected a Scenario or a scenario dict, got {type(scenario).__name__}")
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
