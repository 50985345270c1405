"""Recording a game for the replays: the evaluation's game 0, step by step."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import jax
import numpy as np
import pytest

from hackmatrix.application.config import TrainConfig
from hackmatrix.application.evaluation import MODE_GREEDY, run_episodes
from hackmatrix.application.network import init_params, network_for
from hackmatrix.application.ppo import make_env
from hackmatrix.application.render import render_board, render_stats
from hackmatrix.application.replay import Move, evaluation_game, replay_step
from hackmatrix.domain.constants import REWARD_KEYS
from hackmatrix.domain.scenario import Scenario, build

SCENARIO = Path(__file__).parent / "data" / "watch_scenario.json"
GAMES, SEED, CAP = 4, 5, 60


def test_a_frame_holds_the_board_and_stats_watch_draws_and_the_move():
    state = build(Scenario.from_json(SCENARIO.read_text()))
    start = replay_step(state, None)
    assert (start.step, start.action, start.reward) == (0, None, None)
    assert start.board == render_board(state) and start.stats == render_stats(state)
    assert (start.stage, start.hp, start.score) == (2, 2, 7)
    parts = dict.fromkeys(REWARD_KEYS, 0.0) | {"step_penalty": -0.01}
    frame = replay_step(state, Move(step=3, action=16, probability=0.4, reward=-0.01,
                                    breakdown=parts, done=True))
    assert (frame.step, frame.action, frame.action_id, frame.probability) == (3, "SIPH+", 16, 0.4)
    assert frame.breakdown == parts and frame.done


@pytest.fixture(scope="module")
def game():
    cfg = TrainConfig(hidden_dim=32)
    env = make_env(cfg)
    network = network_for(cfg)
    params = jax.device_get(init_params(network, jax.random.PRNGKey(1)))
    raw = run_episodes(params, cfg, GAMES, MODE_GREEDY, SEED, CAP, env)
    return raw, evaluation_game(network, params, env, SEED, GAMES, CAP)


def test_the_evaluation_replay_is_game_0_of_the_greedy_evaluation(game):
    raw, frames = game
    played = frames[1:]
    assert frames[0].action is None and [f.step for f in played] == list(range(1, len(frames)))
    assert len(played) == int(raw["length"][0])
    assert frames[-1].done == (not bool(raw["truncated"][0]))
    assert sum(f.reward for f in played) == pytest.approx(float(raw["return"][0]), abs=1e-4)
    for key in REWARD_KEYS:
        total = sum(f.breakdown[key] for f in played)
        assert total == pytest.approx(float(raw["breakdown"][key][0]), abs=1e-4), key
    counts = Counter(f.action_id for f in played)
    assert [counts.get(a, 0) for a in range(raw["action_counts"].shape[1])] == \
        raw["action_counts"][0].tolist()
    assert max(f.stage for f in frames) == int(raw["stage"][0])
    assert all(0.0 < f.probability <= 1.0 for f in played)
    assert all(np.isclose(f.reward, sum(f.breakdown.values()), atol=1e-5) for f in played)
