"""Play one game with a policy, step by step on the host, and keep what it did.

``moves`` yields the start state, then each state after a step with the action, its
probability under the policy, the reward and its 15 components: ``watch`` draws it
as text frames and, like the in-training evaluation, as an HTML replay
(``html_replay``). One jitted call per step (policy, then engine) keeps it cheap.

``evaluation_game`` replays game 0 of ``evaluation.run_episodes``'s greedy games,
with the same keys: the replay logged at an evaluation is one of the games the
``eval/*`` figures come from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hackmatrix.application import distribution
from hackmatrix.application.evaluation import evaluation_key
from hackmatrix.application.html_replay import ReplayStep
from hackmatrix.application.render import action_name, render_board, render_stats
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import REWARD_KEYS

if TYPE_CHECKING:  # imported where used: gymnax starts JAX's backend at import
    from hackmatrix.application.gymnax_env import HackMatrixGymnax


@dataclasses.dataclass(frozen=True)
class Move:
    """One step as the host sees it: what was played, how likely it was, what it paid."""

    step: int
    action: int
    probability: float
    reward: float
    breakdown: dict[str, float]
    done: bool


@partial(jax.jit, static_argnums=(0, 1, 2))
def _advance(
    network: nn.Module, env: HackMatrixGymnax, games: int | None, params: Any, state: Any,
    key: jax.Array, greedy: jax.Array,
) -> tuple[Any, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, dict[str, jax.Array]]:
    """One step: (state, key, action, probability, reward, done, breakdown).

    ``games``: the key schedule of game 0 in a batch of that many (as
    ``evaluation._run_episodes`` splits the step key), or None for a lone game.
    """
    key, k_act, k_env = jax.random.split(key, 3)
    if games is not None:
        k_env = jax.random.split(k_env, games)[0]
    obs = engine.flat_observation(state)
    mask = engine.valid_actions(state)
    logits, _ = network.apply(params, obs)
    log_probs = distribution.log_probs(logits, mask)
    action = jnp.where(greedy, distribution.greedy(logits, mask),
                       distribution.sample(k_act, logits, mask))
    state, _, reward, done, breakdown = engine.step(state, action, k_env, env.default_params.game)
    return state, key, action, jnp.exp(log_probs[action]), reward, done, breakdown


@partial(jax.jit, static_argnums=(0, 1))
def _reset_game_0(env: HackMatrixGymnax, games: int, key: jax.Array) -> Any:
    """Game 0 of ``vmap(engine.reset)(split(key, games))`` (jitted: an eager reset
    dispatches thousands of small ops)."""
    return engine.reset(jax.random.split(key, games)[0], env.default_params.game)[0]


def moves(
    network: nn.Module, params: Any, env: HackMatrixGymnax, state: Any, key: jax.Array, *,
    greedy: bool, max_steps: int, games: int | None = None,
) -> Iterator[tuple[Any, Move | None]]:
    """Yield ``(state, None)`` for the start, then ``(state, move)`` per step until the
    game ends or ``max_steps`` steps were played. States are host copies without the
    undo history."""
    yield _host(state), None
    is_greedy = jnp.bool_(greedy)
    for t in range(1, max_steps + 1):
        state, key, *out = _advance(network, env, games, params, state, key, is_greedy)
        action, prob, reward, done, parts = jax.device_get(out)
        move = Move(step=t, action=int(action), probability=float(prob), reward=float(reward),
                    breakdown={k: float(parts[k]) for k in REWARD_KEYS}, done=bool(done))
        yield _host(state), move
        if move.done:
            return


def _host(state: Any) -> Any:
    return jax.device_get(state.replace(undo=None))


def replay_step(state: Any, move: Move | None, step: int = 0) -> ReplayStep:
    """The HTML replay's frame of ``state`` (after ``move``; the start when None)."""
    frame = ReplayStep(step=step, board=render_board(state), stats=render_stats(state),
                       stage=int(state.stage), hp=int(state.player.hp),
                       score=int(state.player.score))
    if move is None:
        return frame
    return dataclasses.replace(
        frame, step=move.step, action=action_name(move.action), action_id=move.action,
        probability=move.probability, reward=move.reward, breakdown=move.breakdown,
        done=move.done,
    )


def evaluation_game(
    network: nn.Module, params: Any, env: HackMatrixGymnax, seed: int, games: int, max_steps: int,
) -> list[ReplayStep]:
    """Game 0 of the greedy evaluation games of ``seed`` (``games`` of them, capped at
    ``max_steps``), as replay frames."""
    k_reset, key = jax.random.split(evaluation_key(seed))
    state = _reset_game_0(env, games, k_reset)
    return [replay_step(s, move) for s, move in
            moves(network, params, env, state, key, greedy=True, max_steps=max_steps, games=games)]
