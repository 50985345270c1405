"""Gymnax-style wrapper around the domain engine: flat observations, info dict, auto-reset."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE, REWARD_KEYS
from hackmatrix.domain.observation import decode_observation, observation_code
from hackmatrix.domain.state import EnvParams

INFO_STATE_KEYS = ("stage", "score", "hp")


class HackMatrixEnv:
    """The HackMatrix game as a single-agent env with automatic reset.

    Observation: (1545,) float32 (observation-reward-metrics §1.5).
    Action: int in [0, 28); ``action_mask(state)`` gives the valid ones (§2).
    Reward: sum of the 15 breakdown components (§3.2), returned in ``info``.
    Termination: death or victory. A finished episode is replaced on the same call
    by a fresh game drawn with a key split off separately from the step key (§6 D27);
    the returned observation and state are then the new game's, while ``info``
    describes the step that ended (post-step, pre-reset ``stage``, ``score``, ``hp``).
    """

    num_actions = NUM_ACTIONS
    obs_size = OBS_FLAT_SIZE

    def __init__(self, params: EnvParams | None = None, engine: ModuleType | None = None):
        self.params = EnvParams() if params is None else params
        # The engine module is injectable so its API can be faked; default: the domain env.
        self.engine = importlib.import_module("hackmatrix.domain.env") if engine is None else engine

    def __hash__(self) -> int:  # static argument of jitted helpers
        return hash((self.params, self.engine))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, HackMatrixEnv)
            and self.params == other.params
            and self.engine is other.engine
        )

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """Start a game. Returns (obs (1545,) float32, state)."""
        state, _ = self.engine.reset(key, self.params)
        return self.engine.flat_observation(state), state

    def action_mask(self, state: Any) -> jax.Array:
        """Valid actions of ``state``: (28,) bool."""
        return self.engine.valid_actions(state)

    def step(
        self, key: jax.Array, state: Any, action: jax.Array
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict[str, jax.Array]]:
        """Play ``action``; auto-reset when the episode ends.

        Returns:
          obs (1545,) float32 (the new game's on done), state, reward () float32,
          done () bool, info: ``stage``/``score``/``hp`` (int32, post-step) and the 15
          REWARD_KEYS (float32).
        """
        key_step, key_reset = jax.random.split(key)
        state_st, obs_st, reward, done, breakdown = self.engine.step(
            state, action, key_step, self.params
        )
        # auto_reset generates a board only where ``done`` (cheap under vmap, unlike a
        # full reset selected in); the step's own observation is then unused and XLA
        # drops it, so each step builds one observation.
        next_state = self.engine.auto_reset(state_st, done, key_reset, self.params)
        next_obs = self.engine.flat_observation(next_state)
        ended = {"stage": state_st.stage, "score": state_st.player.score, "hp": state_st.player.hp}
        return next_obs, next_state, reward.astype(jnp.float32), done.astype(jnp.bool_), _info(ended, breakdown)

    def batched_step(
        self, keys: jax.Array, states: Any, actions: jax.Array
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict[str, jax.Array]]:
        """``jax.vmap(self.step)`` with the same results, through the engine's batched
        step and auto-reset, which skip the work no environment of the batch needs
        (a vmapped single step computes every rare phase for every environment)."""
        codes, next_states, reward, done, info = self.batched_step_compact(keys, states, actions)
        return self.decode_observation(codes), next_states, reward, done, info

    # ---- compact observations: what a trainer stores --------------------------------

    def reset_compact(self, key: jax.Array) -> tuple[jax.Array, Any]:
        """``reset`` with the observation as its (1545,) int8 code (``decode_observation``)."""
        state, _ = self.engine.reset(key, self.params)
        return observation_code(state), state

    def batched_step_compact(
        self, keys: jax.Array, states: Any, actions: jax.Array
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, dict[str, jax.Array]]:
        """``batched_step`` with the observations as (N, 1545) int8 codes.

        A code is a quarter of the float observation's bytes and decodes to it exactly,
        so a rollout buffer of codes feeds the network the same inputs for less memory
        traffic (storing the float observations was ~15 % of a 2048-env rollout step).
        """
        split = jax.vmap(jax.random.split)(keys)
        key_step, key_reset = split[:, 0], split[:, 1]
        # One pass of board generation for new stages and finished games together.
        next_states, reward, done, breakdown, ended = self.engine.batched_step_auto_reset(
            states, actions, key_step, key_reset, self.params
        )
        codes = jax.vmap(observation_code)(next_states)
        return codes, next_states, reward.astype(jnp.float32), done.astype(jnp.bool_), _info(ended, breakdown)

    def decode_observation(self, codes: jax.Array) -> jax.Array:
        """(…, 1545) float32 observations of (…, 1545) int8 codes, exactly."""
        return decode_observation(codes)


def _info(ended: dict[str, jax.Array], breakdown: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """``stage``, ``score``, ``hp`` of the post-step (pre-reset) state(s) and the 15 components."""
    info = {key: ended[key].astype(jnp.int32) for key in INFO_STATE_KEYS}
    for name in REWARD_KEYS:
        info[name] = breakdown[name].astype(jnp.float32)
    return info
