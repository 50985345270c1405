"""The Gymnasium env and vector env: Gymnasium's checker, the action-mask protocol of
maskable libraries (info["action_mask"], action_masks()), invalid actions and the
same-step auto-reset."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

gym_env = pytest.importorskip("hackmatrix.adapters.gymnasium_env", exc_type=ImportError)
import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

from hackmatrix.domain.constants import REWARD_KEYS  # noqa: E402

N, T = 4, 80


def _random_valid(rng, masks):
    """One uniformly random valid action per row of ``masks`` (the SB3-style policy)."""
    masks = np.atleast_2d(masks)
    return np.array([rng.choice(np.flatnonzero(m)) for m in masks])


@pytest.fixture(scope="module")
def env():
    return gym_env.HackMatrixGymEnv(render_mode="ansi")


def test_gymnasium_env_checker_passes(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # The only remark left is that an env built without gymnasium.make has no spec.
    remarks = [str(w.message) for w in caught if "spec" not in str(w.message)]
    assert remarks == []


def test_registered_id_makes_the_env_and_the_checker_passes_through_make():
    made = gym.make(gym_env.ENV_ID)
    assert isinstance(made.unwrapped, gym_env.HackMatrixGymEnv)
    check_env(made.unwrapped)  # with a spec: also re-creates it for each render mode


def test_masked_random_episode_reports_masks_and_reward_components(env):
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=7)
    assert obs.shape == (1545,) and obs.dtype == np.float32 and obs in env.observation_space
    assert info["action_mask"].shape == (28,) and info["action_mask"].dtype == bool
    np.testing.assert_array_equal(info["action_mask"], env.action_masks())
    steps, terminated = 0, False
    while not terminated and steps < 500:
        action = int(_random_valid(rng, env.action_masks())[0])
        obs, reward, terminated, truncated, info = env.step(action)
        steps += 1
        assert obs in env.observation_space and truncated is False
        np.testing.assert_array_equal(info["action_mask"], env.action_masks())
        assert info["step_penalty"] == pytest.approx(-0.01)  # never an invalid action
        assert reward == pytest.approx(sum(info[k] for k in REWARD_KEYS), abs=1e-4)
    assert terminated, "random valid play ends a game (death) well within 500 steps"
    assert f"step {steps}" in env.render()


def test_the_same_seed_replays_the_same_game(env):
    def play(seed):
        rng = np.random.default_rng(1)
        obs, _ = env.reset(seed=seed)
        trace = [obs]
        for _ in range(15):
            obs, reward, terminated, _, _ = env.step(int(_random_valid(rng, env.action_masks())[0]))
            trace.append(np.append(obs, reward))
            if terminated:
                break
        return trace

    first, again, other = play(11), play(11), play(12)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("action", ["masked", 28, -1, 10**12])
def test_an_invalid_action_changes_nothing_pays_zero_and_terminates(env, action):
    obs, info = env.reset(seed=3)
    if action == "masked":
        action = int(np.flatnonzero(~info["action_mask"])[0])
    after, reward, terminated, truncated, info = env.step(action)
    assert reward == 0.0 and terminated is True and truncated is False
    assert all(info[k] == 0.0 for k in REWARD_KEYS)
    np.testing.assert_array_equal(after, obs)


def test_reset_can_start_from_a_scenario(env):
    obs, info = env.reset(options={"scenario": {"player": {"row": 0, "col": 0}}})
    # An empty board with the player in a corner: only up and right (mask example M1).
    assert np.flatnonzero(info["action_mask"]).tolist() == [0, 3]
    assert obs[0] == 0.0 and obs[1] == 0.0 and obs[2] == 1.0


# ---- the vector env ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def envs():
    return gym_env.HackMatrixVectorEnv(N)


def test_vector_env_spaces_and_autoreset_mode(envs):
    assert isinstance(envs, gym.vector.VectorEnv) and envs.num_envs == N
    assert envs.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert envs.single_action_space == gym.spaces.Discrete(28)
    assert envs.action_space == gym.spaces.MultiDiscrete([28] * N)
    assert envs.observation_space.shape == (N, 1545)


def test_vector_rollout_with_actions_from_action_masks_and_same_step_autoreset(envs):
    rng = np.random.default_rng(0)
    obs, info = envs.reset(seed=5)
    assert obs in envs.observation_space
    np.testing.assert_array_equal(info["action_mask"], envs.action_masks())
    finished = 0
    for _ in range(T):
        masks = envs.action_masks()
        assert masks.shape == (N, 28) and masks.dtype == bool
        obs, reward, terminated, truncated, info = envs.step(_random_valid(rng, masks))
        assert obs in envs.observation_space
        assert reward.shape == (N,) and not truncated.any()
        np.testing.assert_allclose(info["step_penalty"], -0.01, rtol=1e-6)
        np.testing.assert_allclose(reward, sum(info[k] for k in REWARD_KEYS), atol=1e-4)
        np.testing.assert_array_equal(info["action_mask"], envs.action_masks())
        if not terminated.any():
            assert "final_obs" not in info
            continue
        np.testing.assert_array_equal(info["_final_obs"], terminated)
        for i in np.flatnonzero(terminated):
            finished += 1
            final = info["final_obs"][i]
            # The ending step's own values: the player died (HP 0 in the last
            # observation and in the step's ``hp``) ...
            assert final.shape == (1545,) and final[2] == 0.0 and info["hp"][i] == 0
            assert info["final_info"]["hp"][i] == 0 and info["final_info"]["_hp"][i]
            # ... while the returned observation and mask are a fresh game's: full HP,
            # stage 1, one of the three starting bonuses.
            assert obs[i, 2] == 1.0 and obs[i, 5] == 0.0
            assert (obs[i, 3] > 0) + (obs[i, 4] > 0) + (obs[i, 6] > 0) == 1
    assert finished >= 1


def test_vector_invalid_action_ends_only_that_game(envs):
    envs.reset(seed=9)
    actions = _random_valid(np.random.default_rng(0), envs.action_masks())
    actions[0] = 99
    _, reward, terminated, _, info = envs.step(actions)
    assert terminated[0] and reward[0] == 0.0 and info["final_obs"][0] is not None
    assert all(info[k][0] == 0.0 for k in REWARD_KEYS)
    assert not terminated[1:].any()  # a step of valid actions is never the end here
    np.testing.assert_allclose(reward[1:], sum(info[k][1:] for k in REWARD_KEYS), atol=1e-4)


def test_make_vec_uses_the_batched_vector_env():
    made = gym.make_vec(gym_env.ENV_ID, num_envs=2, vectorization_mode="vector_entry_point")
    assert isinstance(made.unwrapped, gym_env.HackMatrixVectorEnv) and made.num_envs == 2
