"""Static tables of the game (game-rules §1, §6.2; observation-reward-metrics §1–§3)."""

from __future__ import annotations

import enum
from typing import NamedTuple

import numpy as np

GRID = 6
NUM_CELLS = GRID * GRID
MAX_ENEMIES = 36
MAX_TRANSMISSIONS = 36
NUM_ACTIONS = 28
NUM_PROGRAMS = 23


class Channel(NamedTuple):
    """One named part of the observation: ``width`` values, each an integer numerator
    over ``scale`` (observation-reward-metrics §1)."""

    name: str
    width: int
    scale: int


# The observation layout, in order (observation-reward-metrics §1.5). Offsets, sizes and
# the scale of every value are derived from these tables (hackmatrix/domain/observation.py).
PLAYER_CHANNELS: tuple[Channel, ...] = (
    Channel("row", 1, 5),
    Channel("col", 1, 5),
    Channel("hp", 1, 3),
    Channel("credits", 1, 50),  # min(credits, 50) / 50
    Channel("energy", 1, 50),  # min(energy, 50) / 50
    Channel("stage", 1, 7),  # (stage - 1) / 7
    Channel("data_siphons", 1, 10),  # not capped
    Channel("attack_damage", 1, 2),  # (attack_damage - 1) / 2, not capped
    Channel("show_activated", 1, 1),
    Channel("scheduled_tasks_disabled", 1, 1),
)
PROGRAMS_CHANNEL = Channel("owned", NUM_PROGRAMS, 1)  # one per program index
GRID_CHANNELS: tuple[Channel, ...] = (
    Channel("enemy_type", 4, 1),  # one-hot by EnemyType: virus, daemon, glitch, cryptog
    Channel("enemy_hp", 1, 3),
    Channel("enemy_stunned", 1, 1),
    Channel("enemy_from_siphon", 1, 1),
    Channel("data_block", 1, 1),
    Channel("program_block", 1, 1),
    Channel("question_block", 1, 1),
    Channel("block_points", 1, 9),
    Channel("block_siphoned", 1, 1),
    Channel("block_program", NUM_PROGRAMS, 1),  # one-hot by program index
    Channel("block_spawn", 1, 9),
    Channel("transmission", 1, 4),  # min(turns, 4) / 4
    Channel("credits", 1, 3),
    Channel("energy", 1, 3),
    Channel("data_siphon", 1, 1),
    Channel("exit", 1, 1),
    Channel("siphon_center", 1, 1),
)


def channel_slices(table: tuple[Channel, ...]) -> dict[str, slice]:
    """Name -> the slice of its values, for channels laid out in ``table`` order."""
    slices, start = {}, 0
    for ch in table:
        slices[ch.name] = slice(start, start + ch.width)
        start += ch.width
    return slices


def channel_scales(table: tuple[Channel, ...]) -> tuple[int, ...]:
    """The denominator of every value of ``table``, in order."""
    return tuple(ch.scale for ch in table for _ in range(ch.width))


GRID_CHANNEL_SLICES = channel_slices(GRID_CHANNELS)
PLAYER_CHANNEL_SLICES = channel_slices(PLAYER_CHANNELS)
NUM_CHANNELS = sum(ch.width for ch in GRID_CHANNELS)  # 42
PLAYER_FEATURES = sum(ch.width for ch in PLAYER_CHANNELS)  # 10
OBS_FLAT_SIZE = PLAYER_FEATURES + NUM_PROGRAMS + GRID * GRID * NUM_CHANNELS  # 1545


def channel(name: str) -> slice:
    """The slice of grid channel ``name`` in the last axis of ``Observation.grid``."""
    return GRID_CHANNEL_SLICES[name]


def player_feature(name: str) -> int:
    """The index of feature ``name`` in ``Observation.player``."""
    return PLAYER_CHANNEL_SLICES[name].start

MAX_HP = 3
NUM_STAGES = 8
INITIAL_INTERVAL = 12
MIN_INTERVAL = 4
SIPHON_POSTPONE = 5
ATK_PLUS_USES_PER_STAGE = 2
BLOCK_ATTEMPTS = 100
MIN_BLOCKS = 5
MAX_BLOCKS = 11
QUESTION_PROB = 0.1

# Directions U, D, L, R (row 0 is the bottom; up increases the row).
DIR_DROW = np.array([1, -1, 0, 0], dtype=np.int32)
DIR_DCOL = np.array([0, 0, -1, 1], dtype=np.int32)

CORNERS = np.array([[0, 0], [0, 5], [5, 0], [5, 5]], dtype=np.int32)

# 8-neighbourhood: row offset -1,0,+1 (outer) x col offset -1,0,+1 (inner), skipping (0,0).
RING_DROW = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int32)
RING_DCOL = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int32)


class Action(enum.IntEnum):
    UP = 0
    DOWN = 1
    LEFT = 2
    RIGHT = 3
    SIPHON = 4
    PUSH = 5
    PULL = 6
    CRASH = 7
    WARP = 8
    POLY = 9
    WAIT = 10
    DEBUG = 11
    ROW = 12
    COL = 13
    UNDO = 14
    STEP = 15
    SIPH_PLUS = 16
    EXCH = 17
    SHOW = 18
    RESET = 19
    CALM = 20
    D_BOM = 21
    DELAY = 22
    ANTI_V = 23
    SCORE = 24
    REDUC = 25
    ATK_PLUS = 26
    HACK = 27


FIRST_PROGRAM_ACTION = 5

# Aliases accepted by the original's scenario builder for program names (game-rules §9.2).
PROGRAM_ALIASES = {
    "siphplus": "SIPH+", "siph_plus": "SIPH+",
    "dbom": "D_BOM", "d_bomb": "D_BOM",
    "antiv": "ANTI-V", "anti_v": "ANTI-V",
    "atkplus": "ATK+", "atk_plus": "ATK+",
}


class EnemyType(enum.IntEnum):
    VIRUS = 0
    DAEMON = 1
    GLITCH = 2
    CRYPTOG = 3


ENEMY_NAMES = ("virus", "daemon", "glitch", "cryptog")
ENEMY_MAX_HP = np.array([2, 3, 2, 2], dtype=np.int32)
ENEMY_STEPS = np.array([2, 1, 1, 1], dtype=np.int32)


class BlockKind(enum.IntEnum):
    NONE = 0
    DATA = 1
    PROGRAM = 2
    QUESTION = 3


class Special(enum.IntEnum):
    NONE = 0
    DATA_SIPHON = 1
    EXIT = 2


STAGE_REWARDS = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0], dtype=np.float32)


class RewardComponent(enum.IntEnum):
    """The 15 breakdown keys, in the original's summation order."""

    STEP_PENALTY = 0
    STAGE_COMPLETION = 1
    SCORE_GAIN = 2
    KILLS = 3
    DATA_SIPHON = 4
    DISTANCE_SHAPING = 5
    VICTORY = 6
    DEATH_PENALTY = 7
    RESOURCE_GAIN = 8
    RESOURCE_HOLDING = 9
    DAMAGE_PENALTY = 10
    HP_RECOVERY = 11
    SIPHON_QUALITY = 12
    PROGRAM_WASTE = 13
    SIPHON_DEATH_PENALTY = 14


REWARD_KEYS = tuple(c.name.lower() for c in RewardComponent)
