"""render_frame: the board (row 5 on top), stats, action and reward lines, as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest

from hackmatrix.application.render import action_name, render_frame, render_reward
from hackmatrix.domain.scenario import Scenario, build

SCENARIO = Path(__file__).parent / "data" / "watch_scenario.json"

BOARD = """\
   +--------+--------+--------+--------+--------+--------+
 5 |        |        |        |        |        |        |
   |        |        |        |        |        |EXIT    |
   +--------+--------+--------+--------+--------+--------+
 4 |        |D3!     |        |        |        |        |
   |        |        |        |        |c2      |        |
   +--------+--------+--------+--------+--------+--------+
 3 |        |        |        |C1      |        |        |
   |        |        |        |[4]     |[SIPH+]*|        |
   +--------+--------+--------+--------+--------+--------+
 2 |        |        |        |V2      |        |        |
   |        |        |        |        |        |        |
   +--------+--------+--------+--------+--------+--------+
 1 |        |        |        |        |T2      |        |
   |        |        |        |        |e1      |        |
   +--------+--------+--------+--------+--------+--------+
 0 |@       |        |        |        |        |        |
   |        |        |        |        |        |$       |
   +--------+--------+--------+--------+--------+--------+
        0        1        2        3        4        5"""
STATS = "HP 2/3 | credits 5 | energy 3 | siphons 1 | attack 2 | score 7 | stage 2 | turn 4\nprograms: PUSH, WAIT"


@pytest.fixture(scope="module")
def state():
    return build(Scenario.from_json(SCENARIO.read_text()))


def test_start_frame_draws_every_kind_of_cell_content_and_the_stats(state):
    frame = render_frame(state)
    assert frame.startswith("=== start ===\n" + BOARD + "\n" + STATS + "\nlegend: @ player")
    assert "action:" not in frame and "reward" not in frame


def test_step_frame_names_the_action_its_probability_and_the_non_zero_rewards(state):
    frame = render_frame(state, step=3, action=16, probability=0.25, reward=0.49,
                         breakdown={"step_penalty": -0.01, "kills": 0.5, "victory": 0.0}, done=True)
    lines = frame.splitlines()
    assert lines[:3] == [
        "=== step 3 ===",
        "action: SIPH+ [16] (p=0.250)",
        "reward +0.490: step_penalty -0.010, kills +0.500",
    ]
    assert "\n".join(lines[3:23]) == BOARD
    assert lines[-1] == "episode over"


@pytest.mark.parametrize(("action", "name"), [(0, "UP"), (3, "RIGHT"), (4, "SIPHON"), (5, "PUSH"),
                                               (21, "D_BOM"), (23, "ANTI-V"), (27, "HACK")])
def test_action_names(action, name):
    assert action_name(action) == name


def test_a_step_with_no_reward_components_says_so():
    assert render_reward(0.0, {"kills": 0.0}) == "reward +0.000: nothing"
