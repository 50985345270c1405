"""Checkpoints of TrainPolicy: exact resume, num_envs change, shape errors, NaN guard, SIGINT.

Same shapes as the session's ``training_run`` (tests/application/conftest.py TINY), so
every run here reuses its compiled chunk.
"""

from __future__ import annotations

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore, checkpoint_name
from hackmatrix.application.checkpointing import all_finite
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.use_cases import NonFiniteTrainingError, TrainPolicy
from tests.application.conftest import TINY
from tests.application.fakes import RecordingLogger

B = TINY["num_envs"] * TINY["num_steps"]  # 128 env steps per update
TIMING = "train/steps_per_second"


class TrackedLogger(RecordingLogger):
    """A tracker with a run id to carry across a resume."""

    def run_ids(self):
        return {"wandb_run_id": "run-7"}


def _config(updates: int, **extra) -> TrainConfig:
    return TrainConfig(**{**TINY, "seed": 5, **extra}, total_timesteps=updates * B)


def _same_tree(a, b) -> bool:
    same = jax.tree_util.tree_map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)
    return all(jax.tree_util.tree_leaves(same))


def _without_timing(records):
    return [(step, {k: v for k, v in r.items() if k != TIMING}) for step, r in records]


@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """6 updates in one go, and 3 + resume + 3 through msgpack files."""
    full_log = RecordingLogger()
    full = TrainPolicy(_config(6), full_log).run()
    store = MsgpackCheckpointStore(tmp_path_factory.mktemp("ckpt"), keep=2)
    first_log = TrackedLogger()
    first = TrainPolicy(_config(3), first_log, checkpoints=store).run()
    second_log = RecordingLogger()
    second = TrainPolicy(_config(6), second_log, checkpoints=store, resume_from="latest").run()
    return full, full_log, first, first_log, second, second_log, store


def test_n_plus_resume_plus_n_gives_bitwise_identical_params_and_runner_state(resumed):
    full, _, first, _, second, _, _ = resumed
    assert (first.num_updates, second.num_updates, full.num_updates) == (3, 6, 6)
    assert second.resumed_from.endswith(checkpoint_name(3 * B))
    assert _same_tree(second.params, full.params)
    assert _same_tree(second.runner, full.runner)  # optimizer, games, accumulators, key
    assert not _same_tree(first.params, full.params)


def test_resumed_run_logs_the_same_records_at_the_same_steps(resumed):
    _, full_log, _, first_log, _, second_log, _ = resumed
    assert [s for s, _ in first_log.records] == [B, 2 * B, 3 * B]
    assert [s for s, _ in second_log.records] == [4 * B, 5 * B, 6 * B]  # nothing re-logged
    assert _without_timing(first_log.records + second_log.records) == _without_timing(full_log.records)


def test_checkpoint_holds_the_update_config_and_tracker_ids(resumed):
    _, _, first, _, _, _, store = resumed
    payload, metadata = store.load(first.checkpoints[-1])
    assert metadata["update"] == 3 and metadata["env_steps"] == 3 * B and metadata["num_envs"] == 8
    assert metadata["config"] == _config(3).to_dict()
    assert metadata["resolved_config"]["num_minibatches"] == 4
    assert metadata["trackers"] == {"wandb_run_id": "run-7"}
    assert set(payload["runner"]) == {"params", "opt_state", "env_state", "obs",
                                      "episode_return", "episode_length", "discounted_return",
                                      "return_stats", "update", "key"}
    assert int(payload["runner"]["update"]) == 3
    assert payload["runner"]["obs"].shape == (8, 1545)


def test_other_num_envs_keeps_weights_resets_optimizer_and_games_and_warns(resumed):
    _, _, _, _, second, _, store = resumed
    config = TrainConfig(**{**TINY, "seed": 5, "num_envs": 4}, total_timesteps=6 * B)
    with pytest.warns(UserWarning, match=r"num_envs=4 \(checkpoint: 8\): keeping the weights"):
        result = TrainPolicy(config, RecordingLogger(), checkpoints=store, resume_from="latest").run()
    # The budget (768 env steps) is already spent: nothing trains, nothing compiles.
    assert (result.num_updates, result.env_steps, result.checkpoints) == (6, 6 * B, [])
    assert _same_tree(result.params, second.params)
    adam = result.runner.opt_state[1][0]
    assert int(adam.count) == 0 and float(jnp.abs(adam.mu["params"]["Dense_0"]["kernel"]).max()) == 0.0
    assert result.runner.obs.shape == (4, 1545)
    assert float(jnp.abs(result.runner.episode_length).max()) == 0


def test_a_checkpoint_of_bare_games_resumes_them_as_gymnax_states(resumed, tmp_path):
    # Checkpoints written before the trainer ran the gymnax env hold the games themselves
    # as env_state; they resume as games in progress with a step counter of 0.
    *_, second, _, store = resumed
    payload, metadata = store.load(store.latest())
    runner = dict(payload["runner"])
    runner["env_state"] = runner["env_state"]["game"]
    old = MsgpackCheckpointStore(tmp_path, keep=1)
    old.save(int(metadata["update"]), {"runner": runner}, metadata)
    result = TrainPolicy(_config(6), RecordingLogger(), checkpoints=old, resume_from="latest").run()
    assert result.num_updates == 6 and result.checkpoints == []
    assert _same_tree(result.runner.env_state.game, second.runner.env_state.game)
    assert np.asarray(result.runner.env_state.time).tolist() == [0] * TINY["num_envs"]
    assert not np.asarray(result.runner.env_state.terminated).any()
    assert _same_tree(result.params, second.params)


def test_incompatible_network_shape_fails_naming_the_shapes(resumed):
    *_, store = resumed
    config = TrainConfig(**{**TINY, "hidden_dim": 16}, total_timesteps=6 * B)
    latest = store.latest()
    with pytest.raises(ValueError, match=(
        rf"checkpoint '{latest}': params\['params'\]\['Dense_0'\]\['bias'\] has shape \(32,\), "
        r"but this network/config needs \(16,\)"
    )):
        TrainPolicy(config, RecordingLogger(), checkpoints=store, resume_from=latest).run()


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no checkpoint found to resume from"):
        TrainPolicy(_config(3), RecordingLogger(), checkpoints=MsgpackCheckpointStore(tmp_path),
                    resume_from="latest").run()
    with pytest.raises(ValueError, match="resume_from='x' needs a checkpoint store"):
        TrainPolicy(_config(3), RecordingLogger(), resume_from="x")


def test_nan_at_update_3_stops_naming_it_and_keeps_the_last_good_checkpoint(tmp_path):
    store = MsgpackCheckpointStore(tmp_path, keep=5)
    logger = RecordingLogger()

    def poison(next_update: int, runner):
        if next_update == 2:  # before the chunk holding updates 3 and 4
            nan = jax.tree_util.tree_map(lambda x: jnp.full_like(x, jnp.nan), runner.params)
            return runner.replace(params=nan)
        return runner

    policy = TrainPolicy(_config(6, save_interval=2), logger, checkpoints=store, before_chunk=poison)
    good = str(tmp_path / checkpoint_name(2 * B))
    with pytest.raises(NonFiniteTrainingError, match=(
        rf"training diverged at update 3: non-finite train/pg_loss=nan.*"
        rf"stopped without saving \(last good checkpoint: {good}\)"
    )) as error:
        policy.run()
    assert error.value.update == 3
    assert [s for s, _ in logger.records] == [B, 2 * B]
    assert logger.closed == 1
    assert store.latest() == good  # nothing saved after the NaN
    payload, metadata = store.load(good)
    assert metadata["update"] == 2 and all_finite(payload)


def test_sigint_stops_after_the_chunk_with_a_loadable_checkpoint(tmp_path):
    store = MsgpackCheckpointStore(tmp_path)

    def interrupt(next_update: int, runner):
        if next_update == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return runner

    before = signal.getsignal(signal.SIGINT)
    policy = TrainPolicy(_config(6, save_interval=100), RecordingLogger(), checkpoints=store,
                         handle_signals=True, before_chunk=interrupt)
    result = policy.run()
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    assert (result.interrupted_by, result.num_updates) == ("SIGINT", 4)
    assert result.checkpoints == [str(tmp_path / checkpoint_name(4 * B))]
    payload, metadata = store.load(result.checkpoints[0])
    assert metadata["update"] == 4 and _same_tree(payload["runner"]["params"], result.params)


def test_a_checkpoint_saved_before_the_network_setting_loads_as_the_mlp_it_was():
    """Checkpoints written before `network` existed hold the spec's MLP; evaluate and watch
    load them as one instead of refusing them under today's `ego` default."""
    from hackmatrix.application.checkpointing import policy_from_checkpoint
    from hackmatrix.application.network import count_params, init_params, make_network

    mlp = init_params(make_network("mlp", 16, 1), jax.random.PRNGKey(3))
    saved = {k: v for k, v in TrainConfig(hidden_dim=16, num_layers=1).to_dict().items()
             if k not in ("network", "teacher", "imitation_fraction", "normalize_returns",
                          "teacher_temperature")}
    config, params = policy_from_checkpoint({"runner": {"params": mlp}}, {"config": saved}, "old")
    assert (config.network, config.teacher, config.teacher_temperature) == ("mlp", "none", None)
    assert count_params(params) == 1545 * 16 + 16 + 16 * 28 + 28 + 16 + 1 == 25_229
    assert _same_tree(params, mlp)
    with pytest.raises(ValueError, match="does not match this network/config"):
        policy_from_checkpoint({"runner": {"params": mlp}},
                               {"config": {**saved, "network": "ego"}}, "old")


def test_a_separate_critic_checkpoint_loads_with_both_copies_and_not_as_a_shared_net():
    from hackmatrix.application.checkpointing import policy_from_checkpoint
    from hackmatrix.application.network import count_params, init_params, make_network

    split = init_params(make_network("ego", 16, 1, separate_critic=True), jax.random.PRNGKey(3))
    saved = TrainConfig(network="ego", hidden_dim=16, num_layers=1, separate_critic=True).to_dict()
    config, params = policy_from_checkpoint({"runner": {"params": split}}, {"config": saved}, "split")
    assert config.separate_critic is True and _same_tree(params, split)
    # Each copy: cell_embed 43*16+16, torso (121*16+33)*16+16, actor 16*28+28, critic 17.
    assert count_params(params) == 2 * (704 + 31_520 + 476 + 17) == 65_434
    with pytest.raises(ValueError, match="does not match this network/config"):
        policy_from_checkpoint({"runner": {"params": split}},
                               {"config": {**saved, "separate_critic": False}}, "split")
    # A checkpoint from before the setting holds one shared net, and loads as one.
    shared = init_params(make_network("ego", 16, 1), jax.random.PRNGKey(3))
    before = {k: v for k, v in saved.items() if k != "separate_critic"}
    config, params = policy_from_checkpoint({"runner": {"params": shared}}, {"config": before}, "old")
    assert config.separate_critic is False and _same_tree(params, shared)
