"""Complete game state (game-rules §2) as flax.struct dataclasses.

Lists (enemies, transmissions) are fixed-size slot arrays kept *compacted*: the
active entries occupy slots 0..n-1 in the original's list order, so list order is
slot order. Removals re-compact with a stable sort (see ``lists.py``); appends
write slot n.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
from flax import struct

from hackmatrix.domain.constants import GRID, MAX_ENEMIES, MAX_TRANSMISSIONS, NUM_PROGRAMS

if TYPE_CHECKING:
    from typing import Self


class Replaceable:
    """Base of the state records: tells type checkers about the ``replace`` method that
    ``flax.struct.dataclass`` adds (nothing at run time)."""

    if TYPE_CHECKING:

        def replace(self, **changes: Any) -> Self: ...


@struct.dataclass
class Player(Replaceable):
    row: jax.Array  # () int32
    col: jax.Array  # () int32
    hp: jax.Array  # () int32, 0..3
    credits: jax.Array  # () int32
    energy: jax.Array  # () int32
    data_siphons: jax.Array  # () int32
    score: jax.Array  # () int32
    attack_damage: jax.Array  # () int32, >= 1, no cap


@struct.dataclass
class Board(Replaceable):
    """Per-cell arrays, indexed [row, col]."""

    block_kind: jax.Array  # (6, 6) int32: 0 none, 1 data, 2 program, 3 question
    block_points: jax.Array  # (6, 6) int32 (hidden for question blocks)
    block_program: jax.Array  # (6, 6) int32 program index 0..22 (hidden for question blocks)
    block_spawn: jax.Array  # (6, 6) int32
    question_is_data: jax.Array  # (6, 6) bool
    res_credits: jax.Array  # (6, 6) int32 (at most one of credits/energy non-zero)
    res_energy: jax.Array  # (6, 6) int32
    special: jax.Array  # (6, 6) int32: 0 none, 1 data siphon, 2 exit
    siphoned: jax.Array  # (6, 6) bool
    siphon_center: jax.Array  # (6, 6) bool


@struct.dataclass
class Enemies(Replaceable):
    """Enemy list; active entries are slots 0..count-1 in list order."""

    alive: jax.Array  # (36,) bool
    kind: jax.Array  # (36,) int32 EnemyType
    row: jax.Array  # (36,) int32
    col: jax.Array  # (36,) int32
    hp: jax.Array  # (36,) int32
    disabled: jax.Array  # (36,) int32 disabled turns
    stunned: jax.Array  # (36,) bool
    from_siphon: jax.Array  # (36,) bool
    from_scheduled: jax.Array  # (36,) bool
    last_row: jax.Array  # (36,) int32 cryptog last-known row (observation hint only)
    last_col: jax.Array  # (36,) int32


@struct.dataclass
class Transmissions(Replaceable):
    """Transmission list; active entries are slots 0..count-1 in list order."""

    alive: jax.Array  # (36,) bool
    row: jax.Array  # (36,) int32
    col: jax.Array  # (36,) int32
    turns: jax.Array  # (36,) int32 turns remaining
    kind: jax.Array  # (36,) int32 enemy type it will become
    from_siphon: jax.Array  # (36,) bool
    from_scheduled: jax.Array  # (36,) bool


@struct.dataclass
class Snapshot(Replaceable):
    """What UNDO restores (game-rules §6.4). Stored with a leading history axis."""

    player: Player
    board: Board
    enemies: Enemies
    transmissions: Transmissions
    turn: jax.Array
    owned: jax.Array  # (23,) bool
    show_activated: jax.Array
    scheduled_tasks_disabled: jax.Array
    atk_plus_uses: jax.Array


@struct.dataclass
class EnvState(Replaceable):
    player: Player
    board: Board
    enemies: Enemies
    transmissions: Transmissions
    stage: jax.Array  # () int32, 1..8
    turn: jax.Array  # () int32, full enemy turns in this stage
    owned: jax.Array  # (23,) bool
    show_activated: jax.Array  # () bool
    scheduled_tasks_disabled: jax.Array  # () bool (CALM)
    step_active: jax.Array  # () bool (STEP)
    atk_plus_uses: jax.Array  # () int32
    exit_row: jax.Array  # () int32
    exit_col: jax.Array  # () int32
    scheduled_interval: jax.Array  # () int32
    next_scheduled_turn: jax.Array  # () int32
    pending_siphon: jax.Array  # () int32 pending siphon transmissions
    undo: Snapshot  # leading axis H (ring buffer)
    undo_count: jax.Array  # () int32, 0..H
    undo_head: jax.Array  # () int32, slot of the next push


@struct.dataclass
class EnvParams:
    """Environment parameters. ``undo_depth`` and the undo switch are static."""

    undo_depth: int = struct.field(pytree_node=False, default=8)
    clear_undo_on_new_stage: bool = struct.field(pytree_node=False, default=False)
    # Reward weights (observation-reward-metrics §3.2).
    step_penalty: float = -0.01
    score_weight: float = 0.5
    kill_weight: float = 0.3
    data_siphon_weight: float = 1.0
    distance_weight: float = 0.05
    victory_base: float = 500.0
    victory_score_weight: float = 100.0
    death_weight: float = -0.5
    resource_gain_weight: float = 0.05
    resource_holding_weight: float = 0.01
    damage_weight: float = -1.0
    recovery_weight: float = 1.0
    siphon_quality_weight: float = -0.5 * 0.05
    program_waste: float = -0.3
    siphon_death_penalty: float = -10.0


def _i(shape=(), value=0) -> jax.Array:
    return jnp.full(shape, value, dtype=jnp.int32)


def _b(shape=(), value=False) -> jax.Array:
    return jnp.full(shape, value, dtype=jnp.bool_)


def empty_player(row=0, col=0) -> Player:
    return Player(
        row=_i((), row), col=_i((), col), hp=_i((), 3), credits=_i(), energy=_i(),
        data_siphons=_i(), score=_i(), attack_damage=_i((), 1),
    )


def empty_board() -> Board:
    g = (GRID, GRID)
    return Board(
        block_kind=_i(g), block_points=_i(g), block_program=_i(g), block_spawn=_i(g),
        question_is_data=_b(g), res_credits=_i(g), res_energy=_i(g), special=_i(g),
        siphoned=_b(g), siphon_center=_b(g),
    )


def empty_enemies() -> Enemies:
    n = (MAX_ENEMIES,)
    return Enemies(
        alive=_b(n), kind=_i(n), row=_i(n), col=_i(n), hp=_i(n), disabled=_i(n),
        stunned=_b(n), from_siphon=_b(n), from_scheduled=_b(n), last_row=_i(n), last_col=_i(n),
    )


def empty_transmissions() -> Transmissions:
    n = (MAX_TRANSMISSIONS,)
    return Transmissions(
        alive=_b(n), row=_i(n), col=_i(n), turns=_i(n), kind=_i(n),
        from_siphon=_b(n), from_scheduled=_b(n),
    )


def take_snapshot(state: EnvState) -> Snapshot:
    return Snapshot(
        player=state.player, board=state.board, enemies=state.enemies,
        transmissions=state.transmissions, turn=state.turn, owned=state.owned,
        show_activated=state.show_activated,
        scheduled_tasks_disabled=state.scheduled_tasks_disabled,
        atk_plus_uses=state.atk_plus_uses,
    )


def empty_state(params: EnvParams) -> EnvState:
    """An empty board at stage 1 with an empty undo history (not a playable reset)."""
    base = EnvState(
        player=empty_player(), board=empty_board(), enemies=empty_enemies(),
        transmissions=empty_transmissions(), stage=_i((), 1), turn=_i(),
        owned=_b((NUM_PROGRAMS,)), show_activated=_b(), scheduled_tasks_disabled=_b(),
        step_active=_b(), atk_plus_uses=_i(), exit_row=_i((), 5), exit_col=_i((), 5),
        scheduled_interval=_i((), 12), next_scheduled_turn=_i((), 12), pending_siphon=_i(),
        undo=None, undo_count=_i(), undo_head=_i(),  # type: ignore[arg-type]
    )
    snap = take_snapshot(base)
    history = jax.tree_util.tree_map(
        lambda x: jnp.zeros((params.undo_depth,) + x.shape, x.dtype), snap
    )
    return base.replace(undo=history)


def select_state(pred: jax.Array, a: EnvState, b: EnvState) -> EnvState:
    """``a`` where ``pred`` else ``b``, field by field — except the undo ring buffer's
    contents, which are always taken from ``b`` (callers only select between states
    whose buffers hold the same snapshots; ``undo_count``/``undo_head`` are selected).
    Skipping the buffer keeps the select cheap: it is most of the state's bytes.
    """
    a_rest = a.replace(undo=None)
    b_rest = b.replace(undo=None)
    picked = jax.tree_util.tree_map(lambda x, y: jnp.where(pred, x, y), a_rest, b_rest)
    return picked.replace(undo=b.undo)
