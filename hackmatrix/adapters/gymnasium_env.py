"""HackMatrix for NumPy users: a Gymnasium env and vector env (``pip install 'hackmatrix[gymnasium]'``).

``HackMatrixGymEnv`` is a ``gymnasium.Env`` (it passes ``gymnasium.utils.env_checker.
check_env``) for Stable-Baselines3 / sb3-contrib and other single-env code;
``HackMatrixVectorEnv`` is a ``gymnasium.vector.VectorEnv`` that steps N games with
one jitted batched step (CleanRL style). Both speak NumPy:

* observation: ``Box((1545,), float32)``, the flat vector of ``docs/rules.md``
  Part II §1.5 (bounds: ``hackmatrix.application.observation_bounds``);
* action: ``Discrete(28)`` (``MultiDiscrete([28] * N)`` for the vector env);
* action mask, the way maskable libraries read it: ``info["action_mask"]`` after
  ``reset`` and every ``step`` (the mask for the next action), and ``action_masks()``
  ((28,) or (N, 28) bool), the method sb3-contrib's ``MaskablePPO`` calls;
* reward: the sum of the 15 components, each also in ``info`` under its name, with
  the step's post-step ``stage``, ``score`` and ``hp``;
* an invalid action (masked, or outside 0..27) behaves as in the game: nothing
  changes, reward 0, ``terminated`` is True. The game has no time limit
  (``truncated`` is always False; wrap the single env in ``gymnasium.wrappers.
  TimeLimit`` for one);
* randomness: all of it comes from the env's ``np_random`` (seeded by
  ``reset(seed=...)``), so a seed replays the same games.

Auto-reset of the vector env is **same-step** (``metadata["autoreset_mode"] ==
AutoresetMode.SAME_STEP``, as in Stable-Baselines3's VecEnv): a game that ends on a
step is replaced in that same step, so the returned observation and
``info["action_mask"]`` are the fresh game's; the finished game's last observation is
in ``info["final_obs"]`` and its step information in ``info["final_info"]`` (both
with the Gymnasium ``_key`` masks marking the finished games), while the reward,
``terminated`` and the top-level reward components describe the step that ended it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
    from gymnasium.vector import AutoresetMode, VectorEnv
    from gymnasium.vector.utils import batch_space
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        "hackmatrix.adapters.gymnasium_env needs gymnasium >= 1.1: pip install 'hackmatrix[gymnasium]'"
    ) from error

from hackmatrix.application.observation_bounds import OBS_HIGH, OBS_LOW
from hackmatrix.application.render import render_frame
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE, REWARD_KEYS
from hackmatrix.domain.scenario import Scenario, build
from hackmatrix.domain.state import EnvParams

ENDED_KEYS = ("stage", "score", "hp")
ENV_ID = "HackMatrix-v0"


def observation_space() -> spaces.Box:
    """The (1545,) float32 Box every observation lies in."""
    return spaces.Box(OBS_LOW, OBS_HIGH, (OBS_FLAT_SIZE,), np.float32)


def _action_index(action: Any) -> int:
    """The engine's action for a Gymnasium one: anything outside 0..27 is the invalid -1."""
    value = np.asarray(action)
    if value.size != 1:
        raise ValueError(f"expected one action, got an array of shape {value.shape}")
    a = int(value.reshape(()))
    return a if 0 <= a < NUM_ACTIONS else -1


# ---- the jitted engine calls (compiled once per EnvParams and batch size) ---------------


@partial(jax.jit, static_argnums=(1,))
def _reset_one(key: jax.Array, params: EnvParams):
    state, _ = engine.reset(key, params)
    return state, engine.flat_observation(state), engine.valid_actions(state)


@jax.jit
def _view_one(state):
    return engine.flat_observation(state), engine.valid_actions(state)


@partial(jax.jit, static_argnums=(3,))
def _step_one(state, action, key, params: EnvParams):
    state, _, reward, done, breakdown = engine.step(state, action, key, params)
    return state, engine.flat_observation(state), engine.valid_actions(state), reward, done, breakdown


@partial(jax.jit, static_argnums=(1,))
def _reset_many(keys: jax.Array, params: EnvParams):
    states, _ = jax.vmap(engine.reset, in_axes=(0, None))(keys, params)
    return states, jax.vmap(engine.flat_observation)(states), jax.vmap(engine.valid_actions)(states)


@partial(jax.jit, static_argnums=(4,))
def _step_many(states, actions, keys, reset_keys, params: EnvParams):
    """The batched step, then fresh games where done (same-step auto-reset)."""
    states, reward, done, breakdown, ended = engine.batched_step_auto_reset(
        states, actions, keys, reset_keys, params)
    info = {name: breakdown[name] for name in REWARD_KEYS}
    info.update(stage=ended["stage"], score=ended["score"], hp=ended["hp"])
    return (states, jax.vmap(engine.flat_observation)(states), jax.vmap(engine.valid_actions)(states),
            reward, done, info, ended["obs"])


def _keys(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Raw JAX PRNG keys (uint32 pairs) drawn from a Gymnasium generator."""
    return rng.integers(0, 2**32, size=(*shape, 2), dtype=np.uint32)


# ---- one game -----------------------------------------------------------------------------


class HackMatrixGymEnv(gym.Env):
    """One HackMatrix game as a ``gymnasium.Env``.

    ``reset(seed=..., options={"scenario": ...})`` starts from a scenario (a
    ``Scenario``, its dict or its JSON text; format in ``docs/rules.md`` Part I §9.1)
    instead of a generated game.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(self, params: EnvParams | None = None, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.params = EnvParams() if params is None else params
        self.render_mode = render_mode
        self.observation_space = observation_space()
        self.action_space = spaces.Discrete(NUM_ACTIONS)
        self._state: Any = None
        self._mask = np.zeros(NUM_ACTIONS, bool)
        self._last: dict[str, Any] = {}
        self._steps = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        scenario = (options or {}).get("scenario")
        if scenario is None:
            self._state, obs, mask = _reset_one(_keys(self.np_random), self.params)
        else:
            if isinstance(scenario, str):
                scenario = Scenario.from_json(scenario)
            self._state = build(scenario, self.params)
            obs, mask = _view_one(self._state)
        self._mask = np.array(mask, dtype=bool)
        self._last = {}
        self._steps = 0
        return np.array(obs, dtype=np.float32), {"action_mask": self._mask.copy()}

    def step(self, action: Any):
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        out = _step_one(self._state, np.int32(_action_index(action)), _keys(self.np_random), self.params)
        self._state = out[0]  # stays on the device
        obs, mask, reward, done, breakdown, ended = jax.device_get(
            out[1:] + ((self._state.stage, self._state.player.score, self._state.player.hp),))
        self._mask = np.array(mask, dtype=bool)
        info: dict[str, Any] = {"action_mask": self._mask.copy()}
        info.update({name: float(breakdown[name]) for name in REWARD_KEYS})
        info.update({key: int(value) for key, value in zip(ENDED_KEYS, ended, strict=True)})
        self._steps += 1
        self._last = {"action": _action_index(action), "reward": float(reward), "breakdown": breakdown,
                      "done": bool(done)}
        if self.render_mode == "human":
            print(self.render_text())
        return np.array(obs, dtype=np.float32), float(reward), bool(done), False, info

    def action_masks(self) -> np.ndarray:
        """(28,) bool: the valid actions now (sb3-contrib ``MaskablePPO`` reads this)."""
        return self._mask.copy()

    def render_text(self) -> str:
        """The board as ``watch`` draws it (``hackmatrix.application.render``)."""
        if self._state is None:
            return ""
        last = self._last
        if not last:
            return render_frame(self._state)
        if last["action"] < 0:  # an index outside 0..27: nothing to name
            return f"step {self._steps}: action outside 0..27 (invalid)\n" + render_frame(self._state, done=last["done"])
        return render_frame(
            self._state, step=self._steps, action=last["action"], reward=last["reward"],
            breakdown={k: float(last["breakdown"][k]) for k in REWARD_KEYS}, done=last["done"],
        )

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.render_text()
        if self.render_mode == "human":
            print(self.render_text())
        return None


# ---- N games ----------------------------------------------------------------------------


class HackMatrixVectorEnv(VectorEnv):
    """N HackMatrix games stepped together by one jitted batched step, same-step auto-reset."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int, params: EnvParams | None = None):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.params = EnvParams() if params is None else params
        self.single_observation_space = observation_space()
        self.single_action_space = spaces.Discrete(NUM_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._states: Any = None
        self._masks = np.zeros((self.num_envs, NUM_ACTIONS), bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._states, obs, masks = _reset_many(_keys(self.np_random, self.num_envs), self.params)
        self._masks = np.array(masks, dtype=bool)
        return np.array(obs, dtype=np.float32), {"action_mask": self._masks.copy(),
                                                  "_action_mask": np.ones(self.num_envs, bool)}

    def step(self, actions: Any):
        if self._states is None:
            raise RuntimeError("call reset() before step()")
        actions = np.asarray(actions).reshape(self.num_envs).astype(np.int64)
        actions = np.where((actions >= 0) & (actions < NUM_ACTIONS), actions, -1).astype(np.int32)
        keys = _keys(self.np_random, 2, self.num_envs)
        out = _step_many(self._states, actions, keys[0], keys[1], self.params)
        self._states, obs, masks, reward, done, parts, final_obs = out
        obs, masks, reward, done, parts, final_obs = jax.device_get((obs, masks, reward, done, parts, final_obs))
        self._masks = np.array(masks, dtype=bool)
        done = np.array(done, dtype=bool)
        everyone = np.ones(self.num_envs, bool)
        infos: dict[str, Any] = {"action_mask": self._masks.copy(), "_action_mask": everyone}
        for name, value in parts.items():
            infos[name] = np.asarray(value)
            infos[f"_{name}"] = everyone
        if done.any():
            finals = np.full(self.num_envs, None, dtype=object)
            for i in np.flatnonzero(done):
                finals[i] = np.array(final_obs[i], dtype=np.float32)
            infos["final_obs"], infos["_final_obs"] = finals, done.copy()
            final_info: dict[str, Any] = {}
            for name, value in parts.items():
                final_info[name] = np.where(done, np.asarray(value), np.zeros_like(np.asarray(value)))
                final_info[f"_{name}"] = done.copy()
            infos["final_info"], infos["_final_info"] = final_info, done.copy()
        return (np.array(obs, dtype=np.float32), np.array(reward, dtype=np.float32), done,
                np.zeros(self.num_envs, bool), infos)

    def action_masks(self) -> np.ndarray:
        """(N, 28) bool: the valid actions of every game now."""
        return self._masks.copy()


# ``gymnasium.make("HackMatrix-v0")`` and ``gymnasium.make_vec("HackMatrix-v0", num_envs=N,
# vectorization_mode="vector_entry_point")`` once this module is imported.
if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point=f"{__name__}:HackMatrixGymEnv",
                 vector_entry_point=f"{__name__}:HackMatrixVectorEnv")
