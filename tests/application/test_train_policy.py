"""TrainPolicy on the real engine at a tiny shape: every key, the §4.3 invariants, logging."""

from __future__ import annotations

import dataclasses
import math

import jax
import numpy as np
import pytest

from hackmatrix.application.config import TrainConfig
from hackmatrix.application.metrics import (
    ACTION_METRIC_KEYS,
    DIAGNOSTIC_METRIC_KEYS,
    PPO_METRIC_KEYS,
    REWARD_METRIC_KEYS,
)
from hackmatrix.application.use_cases import TrainPolicy
from hackmatrix.domain.constants import REWARD_KEYS
from tests.application.conftest import TINY
from tests.application.fakes import RecordingLogger

BATCH = 8 * 16
ALWAYS_KEYS = (
    set(PPO_METRIC_KEYS) | set(REWARD_METRIC_KEYS) | set(ACTION_METRIC_KEYS)
    | set(DIAGNOSTIC_METRIC_KEYS)
    | {"train/mean_reward", "train/num_episodes", "stats/highest_stage",
       "train/steps_per_second", "train/update_step", "key/mean_reward",
       "debug/first_minibatch_ratio_max_dev"}
)
EPISODE_KEYS = {"train/mean_episode_return", "train/mean_episode_length",
                "key/mean_episode_return", "key/mean_episode_length"}


def test_logger_gets_config_then_one_record_per_update_then_close(training_run, tiny_config):
    _, logger, _ = training_run
    resolved = tiny_config.auto_scale_for_batch_size()
    # The values as trained: auto-scaled num_minibatches/update_epochs and the derived sizes.
    assert logger.calls[0] == ("log_config", {**resolved.to_dict(), **resolved.derived()})
    assert logger.calls[0][1]["num_minibatches"] == resolved.resolved_num_minibatches is not None
    assert logger.calls[-1] == ("close", None)
    assert logger.closed == 1
    assert logger.pages == []  # no evaluation (eval_interval 0): no replay either
    # 5 updates (chunks of 1, 1, 2, 1: see below), each at the env steps consumed including itself.
    assert [step for step, _ in logger.records] == [BATCH * i for i in range(1, 6)]
    assert [r["train/update_step"] for _, r in logger.records] == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_chunks_start_with_one_update_then_run_about_a_second_up_to_log_interval():
    from hackmatrix.application.use_cases import PROGRESS_SECONDS, _updates_for_progress

    assert _updates_for_progress(None, 0, 10) == 1  # first progress line right after compiling
    assert _updates_for_progress(3.0, 1, 10) == 1  # slow updates: one progress line each
    assert _updates_for_progress(PROGRESS_SECONDS / 4, 1, 10) == 4
    assert _updates_for_progress(0.001, 1, 10) == 9  # fast: up to the next multiple of 10
    assert _updates_for_progress(0.001, 10, 10) == 10


def test_every_record_has_every_key_as_a_finite_python_float(training_run):
    _, logger, _ = training_run
    for _, record in logger.records:
        assert ALWAYS_KEYS <= set(record)
        assert set(record) - ALWAYS_KEYS <= EPISODE_KEYS
        has_episodes = record["train/num_episodes"] > 0
        assert (EPISODE_KEYS <= set(record)) == has_episodes
        for key, value in record.items():
            assert type(value) is float, key
            assert math.isfinite(value), key
    assert EPISODE_KEYS <= logger.keys()  # some episode finished in 640 steps


def test_invariants_of_section_4_3_hold_for_every_update(training_run):
    _, logger, _ = training_run
    for _, r in logger.records:
        fracs = [r[k] for k in ACTION_METRIC_KEYS]
        assert sum(fracs) == pytest.approx(1.0, abs=1e-6)
        assert all(0.0 <= f <= 1.0 for f in fracs)
        total = sum(r[f"reward/{k}"] for k in REWARD_KEYS)
        assert total == pytest.approx(r["train/mean_reward"], rel=1e-5, abs=1e-7)
        assert r["reward/step_penalty"] == -0.01  # invalid actions are never sampled
        assert 0.0 <= r["train/clip_frac"] <= 1.0
        assert r["train/approx_kl"] >= 0.0
        assert 0.0 <= r["train/entropy"] <= math.log(28) + 1e-6
        assert r["train/ent_loss"] == -r["train/entropy"]
        assert 1.0 <= r["stats/highest_stage"] <= 8.0
        assert r["stats/highest_stage"] == int(r["stats/highest_stage"])
        assert r["train/steps_per_second"] > 0.0
        # README decision 9: the first minibatch of the first epoch sees rho == 1 exactly.
        assert r["debug/first_minibatch_ratio_max_dev"] == 0.0
        if r["train/num_episodes"] > 0:
            assert r["train/mean_episode_length"] >= 1.0
            assert r["key/mean_episode_return"] == r["train/mean_episode_return"]
        assert r["key/mean_reward"] == r["train/mean_reward"]


def test_episode_statistics_account_for_every_step_and_reward_exactly(training_run):
    result, logger, _ = training_run
    finished_steps = sum(
        r["train/num_episodes"] * r.get("train/mean_episode_length", 0.0) for _, r in logger.records
    )
    in_progress = np.asarray(result.runner.episode_length)
    assert round(finished_steps) + int(in_progress.sum()) == 5 * BATCH
    finished_return = sum(
        r["train/num_episodes"] * r.get("train/mean_episode_return", 0.0) for _, r in logger.records
    )
    total_reward = sum(r["train/mean_reward"] * BATCH for _, r in logger.records)
    in_progress_return = float(np.asarray(result.runner.episode_return).sum())
    assert finished_return + in_progress_return == pytest.approx(total_reward, abs=1e-3)


def test_result_and_checkpoints(training_run, tiny_config):
    result, _, store = training_run
    assert (result.num_updates, result.env_steps) == (5, 5 * BATCH)
    assert result.config.num_minibatches == 4 and result.config.update_epochs == 4
    assert result.compile_seconds >= 0.0 and result.train_seconds > 0.0
    assert result.params["params"]["Dense_0"]["kernel"].shape == (1545, 32)
    # save_interval 2: after updates 2 and 4 (chunk boundaries), and at the end.
    assert [step for step, _, _ in store.saved] == [2 * BATCH, 4 * BATCH, 5 * BATCH]
    assert result.checkpoints == [f"mem://{s}" for s in (2 * BATCH, 4 * BATCH, 5 * BATCH)]
    step, payload, metadata = store.saved[-1]
    assert metadata["update"] == 5 and metadata["num_envs"] == 8
    assert metadata["config"]["hidden_dim"] == 32
    np.testing.assert_array_equal(
        payload["runner"]["params"]["params"]["Dense_3"]["bias"], result.params["params"]["Dense_3"]["bias"]
    )


def test_same_seed_reproduces_the_same_run(training_run, tiny_config):
    result, logger, _ = training_run
    again = RecordingLogger()
    rerun = TrainPolicy(tiny_config, again).run()  # reuses the compiled chunk
    assert rerun.compile_seconds < 1.0
    def strip(recs):
        return [{k: v for k, v in r.items() if k != "train/steps_per_second"} for _, r in recs]

    assert strip(again.records) == strip(logger.records)
    for a, b in zip(jax.tree_util.tree_leaves(rerun.params), jax.tree_util.tree_leaves(result.params)):
        np.testing.assert_array_equal(a, b)


def test_logger_is_closed_when_training_fails():
    class Failing(RecordingLogger):
        def log_config(self, config):
            raise RuntimeError("tracker down")

    logger = Failing()
    with pytest.raises(RuntimeError, match="tracker down"):
        TrainPolicy(TrainConfig(**TINY), logger).run()
    assert logger.closed == 1


def test_a_compiled_program_is_reused_only_by_configs_that_compile_the_same_program():
    # The in-process cache of compiled chunks: the seed, evaluation and checkpoint
    # settings and the run folder do not change the program; every training setting
    # does (these two imitation settings were once missing from the key), and so does
    # the run's length where a schedule spans it.
    from hackmatrix.application.use_cases import _program_key

    base = TrainConfig(**{**TINY, "teacher": "scripted", "imitation_fraction": 0.5})
    key = _program_key(base, env=None)
    same = dict(seed=7, eval_seed=3, eval_interval=2, eval_episodes=4, save_interval=1,
                keep_checkpoints=1, run_dir="elsewhere", checkpoint_dir="ckpts")
    for field, value in same.items():
        assert _program_key(dataclasses.replace(base, **{field: value}), env=None) == key, field
    different = dict(imitation_fraction=0.25, imitation_learning_rate=3e-4,
                     teacher_temperature=0.25, teacher_coef_final=0.5, ent_coef=0.01,
                     undo_depth=2, total_timesteps=8 * BATCH)
    for field, value in different.items():
        assert _program_key(dataclasses.replace(base, **{field: value}), env=None) != key, field
