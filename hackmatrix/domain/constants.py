"""Static tables of the game (game-rules §1, §6.2; observation-reward-metrics §1–§3)."""

from __future__ import annotations

import enum

import numpy as np

GRID = 6
NUM_CELLS = GRID * GRID
MAX_ENEMIES = 36
MAX_TRANSMISSIONS = 36
NUM_ACTIONS = 28
NUM_PROGRAMS = 23
NUM_CHANNELS = 42
PLAYER_FEATURES = 10
OBS_FLAT_SIZE = PLAYER_FEATURES + NUM_PROGRAMS + GRID * GRID * NUM_CHANNELS  # 1545

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

PROGRAM_NAMES = (
    "PUSH", "PULL", "CRASH", "WARP", "POLY", "WAIT", "DEBUG", "ROW", "COL", "UNDO",
    "STEP", "SIPH+", "EXCH", "SHOW", "RESET", "CALM", "D_BOM", "DELAY", "ANTI-V",
    "SCORE", "REDUC", "ATK+", "HACK",
)
# Per program index (action - 5): credit cost, energy cost, block spawn count.
PROGRAM_CREDITS = np.array(
    [0, 0, 3, 2, 1, 0, 3, 3, 3, 1, 0, 5, 4, 2, 0, 2, 3, 1, 3, 0, 2, 4, 2], dtype=np.int32
)
PROGRAM_ENERGY = np.array(
    [2, 2, 2, 2, 1, 1, 0, 1, 1, 0, 3, 0, 0, 0, 4, 4, 0, 2, 0, 5, 1, 4, 2], dtype=np.int32
)
PROGRAM_SPAWN = np.array(
    [4, 4, 6, 5, 3, 1, 4, 2, 2, 3, 4, 7, 3, 2, 2, 6, 4, 4, 4, 5, 3, 8, 4], dtype=np.int32
)

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
