"""Training features beyond the spec's PPO: schedules, return normalisation, diagnostics,
and the greedy evaluation during training (eval/*)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application.config import TrainConfig
from hackmatrix.application.ppo import (
    ReturnStats,
    ent_coef_at,
    explained_variance,
    initial_return_stats,
    learning_rate_at,
    merge_return_stats,
    reward_scale,
)
from tests.application.conftest import TINY
from tests.application.fakes import RecordingLogger

BATCH = TINY["num_envs"] * TINY["num_steps"]


def test_learning_rate_is_constant_unless_annealed_then_linear_to_zero():
    cfg = TrainConfig(num_envs=8, num_steps=16, total_timesteps=10 * 128)  # 10 updates x 16 steps
    assert cfg.num_updates == 10 and cfg.gradient_steps == 16
    assert float(learning_rate_at(cfg, 0)) == pytest.approx(2.5e-4)
    assert float(learning_rate_at(cfg, 159)) == pytest.approx(2.5e-4)
    annealed = dataclasses.replace(cfg, anneal_lr=True)
    assert float(learning_rate_at(annealed, 0)) == pytest.approx(2.5e-4)
    assert float(learning_rate_at(annealed, 80)) == pytest.approx(1.25e-4)  # half-way
    assert float(learning_rate_at(annealed, 160)) == 0.0
    assert float(learning_rate_at(annealed, 400)) == 0.0  # clipped after the horizon


def test_entropy_coefficient_schedule_runs_from_ent_coef_to_ent_coef_final():
    cfg = TrainConfig(num_envs=8, num_steps=16, total_timesteps=10 * 128)
    assert float(ent_coef_at(cfg, 7)) == pytest.approx(0.15)
    scheduled = dataclasses.replace(cfg, ent_coef_final=0.05)
    assert float(ent_coef_at(scheduled, 0)) == pytest.approx(0.15)
    assert float(ent_coef_at(scheduled, 5)) == pytest.approx(0.10)
    assert float(ent_coef_at(scheduled, 10)) == pytest.approx(0.05)
    assert float(ent_coef_at(scheduled, 20)) == pytest.approx(0.05)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_config_rejects_bad_ent_coef_final(bad):
    with pytest.raises(ValueError, match="ent_coef_final"):
        TrainConfig(ent_coef_final=bad)


@pytest.mark.parametrize("field,value", [("eval_interval", -1), ("eval_episodes", 0),
                                         ("eval_seed", -3)])
def test_config_rejects_bad_evaluation_settings(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_config_rejects_unknown_network_naming_it():
    with pytest.raises(ValueError, match="network must be one of .*'transformerx'"):
        TrainConfig(network="transformerx")


def test_return_statistics_merge_equals_the_statistics_of_all_samples():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3.0, 2.0, (16, 8)), rng.normal(-1.0, 0.5, (4, 8))
    stats = merge_return_stats(merge_return_stats(initial_return_stats(), a), b)
    both = np.concatenate([a.ravel(), b.ravel()])
    # The prior (count 1e-4, mean 0, var 1) is negligible against 160 samples.
    assert float(stats.count) == pytest.approx(160.0001)
    assert float(stats.mean) == pytest.approx(both.mean(), rel=1e-4)
    assert float(stats.var) == pytest.approx(both.var(), rel=1e-4)
    assert float(reward_scale(stats)) == pytest.approx(1.0 / both.std(), rel=1e-4)


def test_reward_scale_of_the_prior_is_one():
    assert float(reward_scale(ReturnStats(jnp.float32(1e-4), jnp.float32(0.0),
                                          jnp.float32(1.0)))) == pytest.approx(1.0, rel=1e-6)


def test_explained_variance_values():
    targets = jnp.array([1.0, 2.0, 3.0, 4.0])
    assert float(explained_variance(targets, targets)) == pytest.approx(1.0)
    assert float(explained_variance(jnp.full(4, 2.5), targets)) == pytest.approx(0.0)
    # Errors of -1, 1, -1, 1 (variance 1) against targets of variance 1.25: 1 - 1/1.25.
    assert float(explained_variance(targets + jnp.array([1.0, -1, 1, -1]), targets)) == \
        pytest.approx(0.2)
    assert float(explained_variance(jnp.zeros(3), jnp.full(3, 7.0))) == 0.0  # constant targets


@pytest.fixture(scope="module")
def evaluated_run():
    from hackmatrix.application.use_cases import TrainPolicy

    cfg = TrainConfig(**{**TINY, "log_interval": 3, "eval_interval": 2, "normalize_returns": True},
                      total_timesteps=5 * BATCH, eval_episodes=8, anneal_lr=True,
                      ent_coef_final=0.05)
    logger = RecordingLogger()
    TrainPolicy(cfg, logger).run()
    return cfg, logger


def test_eval_metrics_reach_the_tracker_every_eval_interval_updates_and_at_the_end(evaluated_run):
    _, logger = evaluated_run
    steps = [step for step, _ in logger.records]
    assert steps == [BATCH * i for i in range(1, 6)]  # one record per update, chunks cut at evals
    with_eval = [step for step, record in logger.records if "eval/mean_highest_stage" in record]
    assert with_eval == [2 * BATCH, 4 * BATCH, 5 * BATCH]  # updates 2, 4 and the last (5)
    record = dict(logger.records)[2 * BATCH]
    for key in ("eval/mean_return", "eval/mean_highest_stage", "eval/win_rate",
                "eval/mean_length", *(f"eval/reach_stage_{k}" for k in range(2, 9))):
        assert key in record, key
    assert 1.0 <= record["eval/mean_highest_stage"] <= 8.0
    assert 0.0 <= record["eval/win_rate"] <= record["eval/reach_stage_2"] <= 1.0


def test_each_evaluation_hands_the_tracker_one_replay_right_after_its_metrics(evaluated_run):
    from tests.application.test_html_replay import blob

    cfg, logger = evaluated_run
    steps = [2 * BATCH, 4 * BATCH, 5 * BATCH]
    assert [(name, step) for name, step, _ in logger.pages] == [("eval/replay", s) for s in steps]
    for step in steps:  # in the row of its step, after the metrics (wandb merges them)
        at = logger.calls.index(("log_html", step))
        assert logger.calls[at - 1] == ("log_metrics", step)
    for _, step, page in logger.pages:
        frames = blob(page)["steps"]
        assert frames[0]["action"] is None and len(frames) >= 2
        assert f"evaluation replay at {step:,} env steps" in page
        assert f"greedy game 0 of the {cfg.eval_episodes} evaluation games" in page
        assert f"{len(frames) - 1} steps" in page
        assert all(f["probability"] is not None for f in frames[1:])


def test_training_logs_the_new_diagnostics_with_their_schedules(evaluated_run):
    cfg, logger = evaluated_run
    records = [record for _, record in logger.records]
    for key in ("train/grad_norm", "train/explained_variance", "train/return_std"):
        assert all(np.isfinite(r[key]) for r in records), key
    assert all(r["train/grad_norm"] > 0 for r in records)
    # Update u (0-based) of 5 trains at lr 2.5e-4 x (1 - u/5) and ent 0.15 - 0.1 u/5.
    assert [r["train/learning_rate"] for r in records] == pytest.approx(
        [2.5e-4 * (1 - u / 5) for u in range(5)], rel=1e-5)
    assert [r["train/ent_coef"] for r in records] == pytest.approx(
        [0.15 - 0.1 * u / 5 for u in range(5)], rel=1e-5)


def test_in_training_evaluation_is_the_evaluate_tools_figure_on_the_same_games(evaluated_run):
    from hackmatrix.application.evaluation import evaluate

    cfg, logger = evaluated_run
    from hackmatrix.application.use_cases import TrainPolicy

    # The final parameters, evaluated by the public API on eval_seed's games, give the
    # record of the last update.
    result = TrainPolicy(cfg, RecordingLogger()).run()  # deterministic: same parameters
    figures = evaluate(result.params, cfg, num_episodes=cfg.eval_episodes, greedy=True,
                       seed=cfg.eval_seed)
    last = logger.records[-1][1]
    assert last["eval/mean_highest_stage"] == pytest.approx(figures["mean_highest_stage"])
    assert last["eval/mean_return"] == pytest.approx(figures["mean_return"])
