"""Shared fixtures: one tiny training run, compiled once per session."""

from __future__ import annotations

import pytest

from hackmatrix.application.config import SPEC_TRAINING, TrainConfig
from tests.application.fakes import FakeCheckpointStore, RecordingLogger

# eval_interval 0: no in-training evaluation (tested on its own in test_train_eval.py).
# The plain PPO path (the spec's MLP, no teacher): most tests are about the trainer's
# machinery, and the teacher and the ego network add compile time to every tiny run;
# tests/application/test_teacher.py and tests/e2e/test_train_entry_point.py train with
# the real defaults.
TINY = dict(num_envs=8, num_steps=16, hidden_dim=32, log_interval=2, seed=0, eval_interval=0,
            **SPEC_TRAINING)


@pytest.fixture(scope="session")
def tiny_config() -> TrainConfig:
    # 5 updates in chunks of 2, 2, 1: exercises the remainder chunk.
    return TrainConfig(**TINY, total_timesteps=5 * 8 * 16, save_interval=2)


@pytest.fixture(scope="session")
def training_run(tiny_config):
    from hackmatrix.application.use_cases import TrainPolicy

    logger = RecordingLogger()
    store = FakeCheckpointStore()
    result = TrainPolicy(tiny_config, logger, checkpoints=store).run()
    return result, logger, store
