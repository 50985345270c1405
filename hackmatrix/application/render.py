"""Plain-text rendering of a game state (for ``watch``): pure, host-side, testable.

``render_frame(state, ...)`` draws the 6x6 board with row 5 at the top. Each cell
has two lines: what stands on it (``@`` the player; enemies as type letter + HP,
``V`` virus, ``D`` daemon, ``G`` glitch, ``C`` cryptog, ``!`` when stunned;
transmissions as ``T`` + turns left) and what lies on it (blocks ``[5]`` data with
its points, ``[PUSH]`` a program, ``[?]`` an unrevealed question block, ``*`` when
siphoned; ``c2``/``e1`` credits/energy; ``$`` a data-siphon pickup; ``EXIT``; ``+``
the siphon centre). Below come the player's stats and programs, the action with its
probability and the step's non-zero reward components.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from hackmatrix.domain.constants import GRID, Action, BlockKind, Special
from hackmatrix.domain.programs import PROGRAM_NAMES

CELL = 8
ENEMY_LETTERS = "VDGC"
LEGEND = (
    "legend: @ player | V/D/G/C virus/daemon/glitch/cryptog + HP (! stunned) | T transmission "
    "+ turns | [5] data block, [NAME] program block, [?] question block (* siphoned) | "
    "c/e credits/energy | $ data siphon | EXIT | + siphon centre"
)


def action_name(action: int) -> str:
    """``3`` -> ``RIGHT``, ``16`` -> ``SIPH+`` (programs by their game names)."""
    action = int(action)
    if action >= 5:
        return PROGRAM_NAMES[action - 5]
    return Action(action).name


def _cell_tokens(s: Any, row: int, col: int) -> tuple[str, str]:
    top: list[str] = []
    if int(s.player.row) == row and int(s.player.col) == col:
        top.append("@")
    en = s.enemies
    for i in np.flatnonzero(np.asarray(en.alive)):
        if int(en.row[i]) == row and int(en.col[i]) == col:
            top.append(f"{ENEMY_LETTERS[int(en.kind[i])]}{int(en.hp[i])}"
                       + ("!" if bool(en.stunned[i]) else ""))
    tr = s.transmissions
    for i in np.flatnonzero(np.asarray(tr.alive)):
        if int(tr.row[i]) == row and int(tr.col[i]) == col:
            top.append(f"T{int(tr.turns[i])}")
    board = s.board
    bottom: list[str] = []
    kind = int(board.block_kind[row, col])
    siphoned = "*" if bool(board.siphoned[row, col]) and kind else ""
    if kind == BlockKind.DATA:
        bottom.append(f"[{int(board.block_points[row, col])}]{siphoned}")
    elif kind == BlockKind.PROGRAM:
        bottom.append(f"[{PROGRAM_NAMES[int(board.block_program[row, col])]}]{siphoned}")
    elif kind == BlockKind.QUESTION:
        bottom.append(f"[?]{siphoned}")
    credits, energy = int(board.res_credits[row, col]), int(board.res_energy[row, col])
    if credits:
        bottom.append(f"c{credits}")
    if energy:
        bottom.append(f"e{energy}")
    special = int(board.special[row, col])
    if special == Special.DATA_SIPHON:
        bottom.append("$")
    elif special == Special.EXIT:
        bottom.append("EXIT")
    if bool(board.siphon_center[row, col]):
        bottom.append("+")
    return " ".join(top), " ".join(bottom)


def render_board(state: Any) -> str:
    """The 6x6 grid, row 5 at the top, column numbers below."""
    s = jax.device_get(state)
    rule = "   +" + ("-" * CELL + "+") * GRID
    lines = [rule]
    for row in range(GRID - 1, -1, -1):
        cells = [_cell_tokens(s, row, col) for col in range(GRID)]
        lines.append(f" {row} |" + "".join(f"{top[:CELL]:<{CELL}}|" for top, _ in cells))
        lines.append("   |" + "".join(f"{bottom[:CELL]:<{CELL}}|" for _, bottom in cells))
        lines.append(rule)
    lines.append(("    " + "".join(f"{col:^{CELL + 1}}" for col in range(GRID))).rstrip())
    return "\n".join(lines)


def render_stats(state: Any) -> str:
    """Player stats and owned programs."""
    s = jax.device_get(state)
    p = s.player
    owned = [PROGRAM_NAMES[i] for i in np.flatnonzero(np.asarray(s.owned))]
    flags = [name for name, on in (("SHOW", s.show_activated), ("CALM", s.scheduled_tasks_disabled),
                                   ("STEP", s.step_active)) if bool(on)]
    line = (
        f"HP {int(p.hp)}/3 | credits {int(p.credits)} | energy {int(p.energy)} | "
        f"siphons {int(p.data_siphons)} | attack {int(p.attack_damage)} | score {int(p.score)} | "
        f"stage {int(s.stage)} | turn {int(s.turn)}"
    )
    if flags:
        line += " | active: " + ", ".join(flags)
    return line + "\nprograms: " + (", ".join(owned) if owned else "none")


def render_reward(reward: float, breakdown: Mapping[str, float]) -> str:
    """``reward -0.010: step_penalty -0.010`` (non-zero components only)."""
    parts = [f"{k} {float(v):+.3f}" for k, v in breakdown.items() if float(v) != 0.0]
    return f"reward {float(reward):+.3f}: " + (", ".join(parts) if parts else "nothing")


def render_frame(
    state: Any,
    *,
    step: int | None = None,
    action: int | None = None,
    probability: float | None = None,
    reward: float | None = None,
    breakdown: Mapping[str, float] | None = None,
    done: bool = False,
) -> str:
    """One frame: header, board, stats, and (after a step) the action and its reward.

    ``state`` is the state *after* the action when ``action`` is given.
    """
    header = "start" if step is None or action is None else f"step {step}"
    lines = [f"=== {header} ==="]
    if action is not None:
        chance = "" if probability is None else f" (p={float(probability):.3f})"
        lines.append(f"action: {action_name(action)} [{int(action)}]{chance}")
        if reward is not None:
            lines.append(render_reward(reward, breakdown or {}))
    lines.append(render_board(state))
    lines.append(render_stats(state))
    if done:
        lines.append("episode over")
    if action is None:
        lines.append(LEGEND)
    return "\n".join(lines) + "\n"
