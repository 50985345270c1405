"""Determinism: the engine is a pure function of (state, action, key); training is a pure
function of (config, seed) on CPU: two runs give bit-identical metrics and parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hackmatrix.application.config import TrainConfig
from hackmatrix.domain import env, scenario
from tests.application.conftest import TINY as APP_TINY
from tests.application.fakes import RecordingLogger
from tests.reliability import engine as E
from tests.reliability.conftest import examples

RESET = jax.jit(env.reset)
TIMING_KEYS = {"train/steps_per_second"}  # wall-clock, the only legitimately varying metric


@settings(max_examples=examples("invalid"))
@given(d=E.scenarios(), action=st.integers(0, 27), seed=st.integers(0, 2**31 - 1))
def test_step_with_the_same_key_twice_gives_identical_results(d, action, seed):
    state = scenario.build(d, E.PARAMS)
    first = E.host(E.step(state, action, seed))
    second = E.host(E.step(state, action, seed))
    assert not E.trees_equal(first, second)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**31 - 1])
def test_reset_with_the_same_key_gives_the_same_game(seed):
    a = E.host(RESET(E.key(seed), E.PARAMS))
    b = E.host(RESET(E.key(seed), E.PARAMS))
    assert not E.trees_equal(a, b)


def test_different_keys_give_different_games():
    boards = {E.host(RESET(E.key(s), E.PARAMS))[0].board.block_kind.tobytes() for s in range(8)}
    assert len(boards) > 1


def test_a_stepped_random_game_replays_identically():
    """20 steps of a game from reset, played twice from the same keys, agree bit for bit."""
    def play(seed):
        state, _ = RESET(E.key(seed), E.PARAMS)
        trace = []
        for t in range(20):
            mask = np.asarray(E.VALID(state))
            action = int(np.flatnonzero(mask)[t % max(1, mask.sum())]) if mask.any() else 0
            out = E.step(state, action, seed * 100 + t)
            trace.append(E.host(out[1:]))
            state = out[0]
            if bool(out[3]):
                state, _ = RESET(E.key(seed + t + 1), E.PARAMS)
        return E.host(state), trace

    s1, t1 = play(3)
    s2, t2 = play(3)
    assert not E.trees_equal(s1, s2)
    assert not E.trees_equal(t1, t2)


# ---- training -------------------------------------------------------------------------------

# The network/batch shape of tests/application's tiny run, so that the compiled train chunk
# (cached per shape, seed and budget excluded) is shared when the whole suite runs; 3 updates.
TINY = {**APP_TINY, "seed": 7, "total_timesteps": 3 * APP_TINY["num_envs"] * APP_TINY["num_steps"]}


def tiny_run(config: TrainConfig | None = None, logger=None):
    from hackmatrix.application.use_cases import TrainPolicy

    logger = RecordingLogger() if logger is None else logger
    result = TrainPolicy(config or TrainConfig(**TINY), logger).run()
    return result, logger


@pytest.fixture(scope="module")
def two_runs():
    return tiny_run(), tiny_run()


def _without_timing(records):
    return [(step, {k: v for k, v in r.items() if k not in TIMING_KEYS}) for step, r in records]


def test_same_seed_and_config_give_bit_identical_metrics(two_runs):
    (_, a), (_, b) = two_runs
    assert len(a.records) == 3
    ra, rb = _without_timing(a.records), _without_timing(b.records)
    assert [s for s, _ in ra] == [s for s, _ in rb]
    for (step, x), (_, y) in zip(ra, rb):
        assert x.keys() == y.keys()
        diff = {k: (x[k], y[k]) for k in x if not (x[k] == y[k] or (np.isnan(x[k]) and np.isnan(y[k])))}
        assert not diff, f"update at step {step}: {diff}"


def test_same_seed_and_config_give_bit_identical_parameters(two_runs):
    (a, _), (b, _) = two_runs
    leaves_a = jax.tree_util.tree_leaves_with_path(a.params)
    leaves_b = jax.tree_util.tree_leaves_with_path(b.params)
    assert len(leaves_a) == len(leaves_b) > 0
    for (path, x), (_, y) in zip(leaves_a, leaves_b):
        assert np.asarray(x).tobytes() == np.asarray(y).tobytes(), jax.tree_util.keystr(path)


def test_the_runs_actually_trained(two_runs):
    """Guard against a vacuous pass: parameters moved away from their initial values."""
    from hackmatrix.application.ppo import init_runner_state, make_env

    (a, _), _ = two_runs
    cfg = a.config
    init = init_runner_state(cfg, make_env(cfg))
    moved = [not np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree_util.tree_leaves(jax.device_get(init.params)),
                             jax.tree_util.tree_leaves(a.params))]
    assert any(moved)


def test_another_seed_gives_other_parameters(two_runs):
    (a, _), _ = two_runs
    other, _ = tiny_run(TrainConfig(**{**TINY, "seed": 8}))
    same = [np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a.params),
                                                 jax.tree_util.tree_leaves(other.params))]
    assert not all(same)


def test_batched_step_is_deterministic_for_given_keys():
    keys = jax.random.split(E.key(5), E.BATCH)
    states = jax.tree_util.tree_map(jnp.asarray, E.stack([RESET(k, E.PARAMS)[0] for k in keys]))
    actions = jnp.zeros((E.BATCH,), jnp.int32)
    a = E.host(E.BATCHED_STEP(states, actions, keys, E.PARAMS))
    b = E.host(E.BATCHED_STEP(states, actions, keys, E.PARAMS))
    assert not E.trees_equal(a, b)
