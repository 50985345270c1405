"""HackMatrix as a gymnax environment: the one env class, which the trainer runs too.

``HackMatrixGymnax`` subclasses ``gymnax.environments.environment.Environment``, so
gymnax's and PureJaxRL's wrappers (``LogWrapper``, ``FlattenObservationWrapper``, ...)
and training loops run on it unchanged, under ``jit``, ``vmap`` and ``lax.scan``::

    env = HackMatrixGymnax()
    params = env.default_params
    obs, state = env.reset(key, params)                       # obs: (1545,) float32
    action = ...                                              # from info["action_mask"]
    obs, state, reward, done, info = env.step(key, state, action, params)   # gymnax < 1.0
    obs, state, reward, terminated, truncated, info = env.step(...)         # gymnax >= 1.0

* Observation: the flat (1545,) float32 vector of ``docs/rules.md`` Part II §1.5.
* Actions: ``Discrete(28)`` (0-3 up/down/left/right, 4 siphon, 5-27 programs).
  ``info["action_mask"]`` (28,) bool is the mask of the **returned** state, i.e. of
  the next action (the new game's after an auto-reset); ``action_mask(state)`` gives
  it for any state. An invalid action behaves as in the game: nothing changes,
  reward 0, the episode ends.
* Reward: the sum of the 15 components, each also in ``info`` under its name
  (``step_penalty``, ``stage_completion``, ...), with the post-step ``stage``,
  ``score`` and ``hp`` of the step (before any auto-reset).
* Episodes end by death, victory or an invalid action (``terminated``). The game has
  no time limit; ``params.max_steps_in_episode`` adds one (``truncated``; default:
  none).
* Auto-reset: when an episode ends, ``step`` returns the first observation and state
  of a fresh game drawn from a key split off the step key, like every gymnax env;
  only the finished game generates a board (``hackmatrix.domain.env.auto_reset``).
  With gymnax >= 1.0 ``info["final_observation"]`` holds the last observation of the
  finished game.
* For a batched trainer: ``reset_compact`` and ``batched_step_compact`` give the
  observations as int8 codes (a quarter of the bytes; ``decode_observation`` turns them
  back into the float observations exactly) and step N games with the engine's batched
  step, which generates boards only for the games that need one. Its games, rewards and
  ``done`` (terminated or truncated, as in gymnax < 1.0) are ``jax.vmap(step)``'s, game
  for game; its ``info`` holds the 15 components and ``stage``/``score``/``hp`` only (no
  ``action_mask``: the trainer asks ``action_mask`` of the states it steps next).

Importing this module imports gymnax, which starts JAX's backend: modules that the
train entry point loads before ``jax.distributed`` import it where they use it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from gymnax.environments import environment, spaces

from hackmatrix.application.observation_bounds import OBS_HIGH, OBS_LOW
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE, REWARD_KEYS
from hackmatrix.domain.observation import decode_observation as _decode
from hackmatrix.domain.observation import observation_code
from hackmatrix.domain.state import EnvParams, EnvState

# gymnax >= 1.0 steps return (obs, state, reward, terminated, truncated, info) and
# truncate through ``is_truncated``; earlier versions return (obs, state, reward, done, info).
SPLITS_TRUNCATION = hasattr(environment.Environment, "is_truncated")
NO_TIME_LIMIT = int(np.iinfo(np.int32).max)
INFO_STATE_KEYS = ("stage", "score", "hp")


@struct.dataclass
class HackMatrixGymnaxState(environment.EnvState):
    """gymnax's ``time`` (steps taken in this episode) plus the game."""

    game: EnvState
    terminated: jax.Array  # () bool: the last step ended the game (death, victory, invalid)


@struct.dataclass
class HackMatrixGymnaxParams(environment.EnvParams):
    """``game``: the engine's parameters (reward weights, UNDO depth); an optional time limit."""

    max_steps_in_episode: int = NO_TIME_LIMIT
    game: EnvParams = EnvParams()


class HackMatrixGymnax(environment.Environment):
    """The HackMatrix game behind gymnax's ``Environment`` interface."""

    def __init__(self, game_params: EnvParams | None = None, max_steps_in_episode: int = NO_TIME_LIMIT):
        super().__init__()
        self._default = HackMatrixGymnaxParams(
            max_steps_in_episode=max_steps_in_episode,
            game=EnvParams() if game_params is None else game_params,
        )

    @property
    def default_params(self) -> HackMatrixGymnaxParams:
        return self._default

    # Equal envs share compiled programs (jit's static arguments, the trainer's cache).
    # (A subclass may change the game: it never shares the base class's programs.)
    def __hash__(self) -> int:
        return hash((type(self), self._default))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._default == other._default

    @property
    def name(self) -> str:
        return "HackMatrix-v0"

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    def action_space(self, params: HackMatrixGymnaxParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    def observation_space(self, params: HackMatrixGymnaxParams | None = None) -> spaces.Box:
        return spaces.Box(jnp.asarray(OBS_LOW), jnp.asarray(OBS_HIGH), (OBS_FLAT_SIZE,), jnp.float32)

    # ---- the gymnax hooks -------------------------------------------------------------

    def reset_env(
        self, key: jax.Array, params: HackMatrixGymnaxParams
    ) -> tuple[jax.Array, HackMatrixGymnaxState]:
        game, _ = engine.reset(key, params.game)
        state = HackMatrixGymnaxState(time=jnp.int32(0), game=game, terminated=jnp.bool_(False))
        return self.get_obs(state), state

    def step_env(
        self, key: jax.Array, state: HackMatrixGymnaxState, action: Any, params: HackMatrixGymnaxParams
    ) -> tuple[jax.Array, HackMatrixGymnaxState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """One game step, no auto-reset. ``done`` is ``terminated`` with gymnax >= 1.0
        and ``terminated or truncated`` before (where step_env decided both)."""
        action = jnp.asarray(action, jnp.int32)
        game, _, reward, terminated, breakdown = engine.step(state.game, action, key, params.game)
        new = HackMatrixGymnaxState(time=state.time + 1, game=game, terminated=terminated)
        info: dict[str, jax.Array] = {name: breakdown[name].astype(jnp.float32) for name in REWARD_KEYS}
        info.update(
            stage=game.stage.astype(jnp.int32),
            score=game.player.score.astype(jnp.int32),
            hp=game.player.hp.astype(jnp.int32),
            action_mask=engine.valid_actions(game),
        )
        done = terminated if SPLITS_TRUNCATION else terminated | self.is_truncated(new, params)
        return self.get_obs(new), new, reward.astype(jnp.float32), done, info

    def get_obs(self, state: HackMatrixGymnaxState, params: Any = None, key: Any = None) -> jax.Array:
        return engine.flat_observation(state.game)

    def is_terminal(self, state: HackMatrixGymnaxState, params: HackMatrixGymnaxParams | None = None) -> jax.Array:
        params = self.default_params if params is None else params
        return state.terminated | self.is_truncated(state, params)

    def is_terminated(self, state: HackMatrixGymnaxState, params: HackMatrixGymnaxParams | None = None) -> jax.Array:
        return state.terminated

    def is_truncated(self, state: HackMatrixGymnaxState, params: HackMatrixGymnaxParams) -> jax.Array:
        return state.time >= params.max_steps_in_episode

    def discount(self, state: HackMatrixGymnaxState, params: HackMatrixGymnaxParams | None = None) -> jax.Array:
        return jnp.where(state.terminated, 0.0, 1.0)

    def action_mask(self, state: HackMatrixGymnaxState, params: Any = None) -> jax.Array:
        """(28,) bool: the valid actions of ``state`` (the mask of ``docs/rules.md`` Part II §2)."""
        return engine.valid_actions(state.game)

    # ---- step with auto-reset -----------------------------------------------------------

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: HackMatrixGymnaxState, action: Any,
        params: HackMatrixGymnaxParams | None = None,
    ):
        """gymnax's ``step``: ``step_env``, then a fresh game where the episode ended.

        The same contract as the base class (same key split, same outputs for the
        installed gymnax), with two differences a user can only gain from: the fresh
        game is generated only where needed (the base class generates one on every
        step), and ``info["action_mask"]`` is the mask of the returned state.
        """
        if params is None:
            params = self.default_params
        key_step, key_reset = jax.random.split(key)
        obs_st, state_st, reward, done_st, info = self.step_env(key_step, state, action, params)
        terminated = state_st.terminated
        truncated = self.is_truncated(state_st, params)
        done = terminated | truncated
        game = engine.auto_reset(state_st.game, done, key_reset, params.game)
        next_state = HackMatrixGymnaxState(
            time=jnp.where(done, 0, state_st.time).astype(jnp.int32),
            game=game,
            terminated=jnp.zeros_like(terminated),
        )
        obs = self.get_obs(next_state)  # == obs_st where the game goes on
        info = {**info, "action_mask": engine.valid_actions(game)}
        if not SPLITS_TRUNCATION:
            return obs, next_state, reward, done_st, info
        info.update(terminated=terminated, truncated=truncated, final_observation=obs_st)
        return obs, next_state, reward, terminated, truncated, info

    # ---- a batched trainer's calls: compact observations, one batched step ---------------

    def reset_compact(
        self, key: jax.Array, params: HackMatrixGymnaxParams | None = None
    ) -> tuple[jax.Array, HackMatrixGymnaxState]:
        """``reset`` with the observation as its (1545,) int8 code (``decode_observation``)."""
        params = self.default_params if params is None else params
        game, _ = engine.reset(key, params.game)
        return observation_code(game), HackMatrixGymnaxState(
            time=jnp.int32(0), game=game, terminated=jnp.bool_(False))

    def batched_step_compact(
        self, keys: jax.Array, states: HackMatrixGymnaxState, actions: jax.Array,
        params: HackMatrixGymnaxParams | None = None,
    ) -> tuple[jax.Array, HackMatrixGymnaxState, jax.Array, jax.Array, dict[str, jax.Array]]:
        """``jax.vmap(step)``'s games over N games (leading axis), the observations as
        (N, 1545) int8 codes: (codes, states, reward, done, info), ``done`` = terminated
        or truncated, ``info`` the 15 components and the post-step ``stage``/``score``/``hp``.

        The engine's ``batched_step_auto_reset`` steps the games and generates boards,
        in one pass, only for the games that enter a stage or end; a rollout buffer of
        codes feeds the network the same inputs for a quarter of the memory traffic.
        With a time limit, a step on which some game is cut runs a second pass that
        resets the cut games (over the whole batch: a time limit costs steps).
        """
        params = self.default_params if params is None else params
        split = jax.vmap(jax.random.split)(keys)
        key_step, key_reset = split[:, 0], split[:, 1]
        game, reward, terminated, breakdown, ended = engine.batched_step_auto_reset(
            states.game, jnp.asarray(actions, jnp.int32), key_step, key_reset, params.game)
        time = states.time + 1
        done = terminated
        limit = params.max_steps_in_episode
        if isinstance(limit, jax.core.Tracer) or limit < NO_TIME_LIMIT:
            # A time limit: games cut short start afresh as ``step`` starts them.
            cut = (time >= limit) & ~terminated
            game = jax.lax.cond(
                jnp.any(cut),
                lambda g: jax.vmap(engine.auto_reset, in_axes=(0, 0, 0, None))(g, cut, key_reset, params.game),
                lambda g: g,
                game,
            )
            done = terminated | cut
        next_states = HackMatrixGymnaxState(
            time=jnp.where(done, 0, time).astype(jnp.int32), game=game,
            terminated=jnp.zeros_like(terminated),
        )
        info = {key: ended[key].astype(jnp.int32) for key in INFO_STATE_KEYS}
        info.update({name: breakdown[name].astype(jnp.float32) for name in REWARD_KEYS})
        codes = jax.vmap(observation_code)(game)
        return codes, next_states, reward.astype(jnp.float32), done, info

    @staticmethod
    def decode_observation(codes: jax.Array) -> jax.Array:
        """(..., 1545) float32 observations of (..., 1545) int8 codes, exactly."""
        return _decode(codes)
