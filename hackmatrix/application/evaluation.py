"""Policy evaluation: greedy or sampled games of a trained policy, and the baselines.

Every mode (greedy, sampled, uniformly random valid, scripted) shares one compiled
program per (network, env, episodes, cap): the mode is a traced argument picking a
branch of a ``lax.switch``, so evaluating all of them costs one compile.

Per game it records the return, length, highest stage, whether it was won, how it
ended (won, killed with an enemy of each kind next to the player, killed with none
next to the player, or still running at the cap), whether the death counts as caused
by the player's own siphon (the ``siphon_death_penalty`` fired), the 15 reward
components and how often each of the 28 actions was taken.

The killer's kind is a choice this project made (the engine does not record who
struck): the first live enemy, in list order, orthogonally next to the player once
the fatal enemy turn is over. Every attack deals 1 damage from an adjacent cell
(game-rules §5.5), so some enemy next to the player dealt the blow unless it moved
away afterwards, which a virus can do only before attacking.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as scipy_stats

from hackmatrix.application import distribution
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.network import init_params, network_for
from hackmatrix.application.scripted_policy import batched_scripted_action
from hackmatrix.application.ppo import make_env
from hackmatrix.domain.constants import (
    ENEMY_NAMES, FIRST_PROGRAM_ACTION, NUM_ACTIONS, NUM_STAGES, REWARD_KEYS,
)
from hackmatrix.domain import env as engine  # the functional API: no auto-reset here
from hackmatrix.domain.programs import PROGRAM_NAMES

if TYPE_CHECKING:  # imported where used: gymnax starts JAX's backend at import
    from hackmatrix.application.gymnax_env import HackMatrixGymnax

DEFAULT_MAX_STEPS = 1000
MODE_GREEDY, MODE_SAMPLE, MODE_RANDOM, MODE_SCRIPTED = 0, 1, 2, 3
MODE_NAMES = {MODE_GREEDY: "greedy", MODE_SAMPLE: "sampled", MODE_RANDOM: "random",
              MODE_SCRIPTED: "scripted"}
# Evaluation games come from fold_in(PRNGKey(seed), EVAL_STREAM): training draws its
# games from PRNGKey(seed) split, never from this fold.
EVAL_STREAM = 0x6576616C  # "eval"

# How a game ended (``end`` per game).
END_RUNNING, END_WON, END_UNSEEN = 0, 1, 2
END_KILLED_BY = {name: 3 + i for i, name in enumerate(ENEMY_NAMES)}  # 3..6
END_NAMES = ("running", "won", "killed_unseen", *(f"killed_by_{n}" for n in ENEMY_NAMES))


def evaluation_key(seed: int) -> jax.Array:
    """The key the evaluation games of ``seed`` are drawn from (a stream training never uses)."""
    return jax.random.fold_in(jax.random.PRNGKey(seed), EVAL_STREAM)


def _killer_kind(state: Any) -> jax.Array:
    """Per game: the kind of the first live enemy orthogonally next to the player, or -1."""
    enemies, player = state.enemies, state.player
    dist = jnp.abs(enemies.row - player.row[:, None]) + jnp.abs(enemies.col - player.col[:, None])
    adjacent = enemies.alive & (dist == 1)
    first = jnp.argmax(adjacent, axis=1)
    kind = jnp.take_along_axis(enemies.kind, first[:, None], axis=1)[:, 0]
    return jnp.where(jnp.any(adjacent, axis=1), kind, -1)


def end_name(state: Any, won: bool) -> str:
    """How one finished game ended (a name of ``END_NAMES``): ``won``, else killed by the
    first enemy next to the player, else ``killed_unseen``."""
    if won:
        return END_NAMES[END_WON]
    batched = jax.tree_util.tree_map(lambda x: jnp.asarray(x)[None], state)
    killer = int(_killer_kind(batched)[0])
    return END_NAMES[3 + killer] if killer >= 0 else END_NAMES[END_UNSEEN]


@partial(jax.jit, static_argnums=(0, 1, 5, 6))
def _run_episodes(
    env: HackMatrixGymnax, network: nn.Module, params: Any, key: jax.Array, mode: jax.Array,
    num_episodes: int, max_steps: int,
) -> dict[str, Any]:
    """Play ``num_episodes`` games in parallel until each ends once or max_steps pass."""
    env_params = env.default_params.game
    k_reset, k_loop = jax.random.split(key)
    state, _ = jax.vmap(engine.reset, in_axes=(0, None))(
        jax.random.split(k_reset, num_episodes), env_params)
    zeros_f = jnp.zeros((num_episodes,), jnp.float32)
    zeros_i = jnp.zeros((num_episodes,), jnp.int32)
    active = jnp.ones((num_episodes,), jnp.bool_)
    parts = {name: zeros_f for name in REWARD_KEYS}  # per-game sums of each component
    counts = jnp.zeros((num_episodes, NUM_ACTIONS), jnp.int32)  # times each action was taken
    init = (state, active, zeros_f, zeros_i, state.stage.astype(jnp.int32), zeros_i,
            parts, counts, k_loop, jnp.int32(0))

    def policy(k_act, state, mask):
        def network_action(greedy: bool):
            def act(_):
                obs = jax.vmap(engine.flat_observation)(state)
                logits, _ = network.apply(params, obs)
                if greedy:
                    return distribution.greedy(logits, mask)
                return distribution.sample(k_act, logits, mask)
            return act

        def random_action(_):  # equal logits: uniform over the valid actions
            return distribution.sample(k_act, jnp.zeros(mask.shape, jnp.float32), mask)

        def scripted_action(_):
            return batched_scripted_action(state, jax.random.split(k_act, num_episodes))

        branches = (network_action(True), network_action(False), random_action, scripted_action)
        return jax.lax.switch(mode, branches, None).astype(jnp.int32)

    def cond(carry):
        active, t = carry[1], carry[-1]
        return jnp.any(active) & (t < max_steps)

    def body(carry):
        state, active, ret, length, stage, end, parts, counts, key, t = carry
        key, k_act, k_env = jax.random.split(key, 3)
        mask = jax.vmap(engine.valid_actions)(state)
        action = policy(k_act, state, mask)
        # No auto-reset: a finished game goes on from its last state, its steps masked out.
        new_state, _, reward, done, info = engine.batched_step(
            state, action, jax.random.split(k_env, num_episodes), env_params
        )
        ret = ret + jnp.where(active, reward, 0.0)
        length = length + active.astype(jnp.int32)
        stage = jnp.where(active, jnp.maximum(stage, new_state.stage), stage)
        finished = active & done
        won = finished & (new_state.stage == NUM_STAGES) & (info["victory"] > 0)
        killer = _killer_kind(new_state)
        how = jnp.where(won, END_WON, jnp.where(killer >= 0, 3 + killer, END_UNSEEN))
        end = jnp.where(finished, how, end)
        parts = {k: v + jnp.where(active, info[k], 0.0) for k, v in parts.items()}
        counts = counts + jax.nn.one_hot(action, NUM_ACTIONS, dtype=jnp.int32) * active[:, None]
        active = active & ~done
        return new_state, active, ret, length, stage, end, parts, counts, key, t + 1

    _, active, ret, length, stage, end, parts, counts, _, _ = jax.lax.while_loop(cond, body, init)
    return {"return": ret, "length": length, "stage": stage, "won": end == END_WON,
            "truncated": active, "end": end, "breakdown": parts, "action_counts": counts}


WIN_RATE_CONFIDENCE = 0.95


def win_rate_interval(wins: int, games: int) -> tuple[float, float]:
    """The Wilson score interval (``WIN_RATE_CONFIDENCE``) of a win rate of ``wins`` in
    ``games``: on 500 games, 35 wins (7 %) give 5.1-9.6 %, so two evaluations a point or
    two apart do not tell two policies apart."""
    ci = scipy_stats.binomtest(wins, games).proportion_ci(WIN_RATE_CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


def summarize(raw: Mapping[str, Any]) -> dict[str, float]:
    """Host summary of per-game arrays: return, length, stages, win rate (and its
    ``win_rate_interval``: ``win_rate_low``, ``win_rate_high``), truncation."""
    returns = np.asarray(raw["return"], np.float64)
    stage = np.asarray(raw["stage"])
    won = np.asarray(raw["won"])
    low, high = win_rate_interval(int(won.sum()), int(won.size))
    stats = {
        "num_episodes": float(returns.size),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(np.mean(raw["length"])),
        "highest_stage": float(np.max(stage)),
        "mean_highest_stage": float(np.mean(stage)),
        "win_rate": float(np.mean(won)),
        "win_rate_low": low,
        "win_rate_high": high,
        "truncated_frac": float(np.mean(raw["truncated"])),
    }
    for k in range(2, NUM_STAGES + 1):
        stats[f"reach_stage_{k}"] = float(np.mean(stage >= k))
    return stats


ACTION_KINDS = ("move", "siphon", "program")


def summarize_detailed(raw: Mapping[str, Any]) -> dict[str, float]:
    """``summarize`` plus, per game, the mean of each of the 15 reward components
    (``reward/<key>``), the shares of moves/siphons/programs among all actions
    (``actions/<kind>_frac``), how games ended (``ends/<how>``, shares of games, and
    ``ends/siphon_caused``: deaths with the siphon-death penalty) and how often each
    program was run per game (``programs/<NAME>``)."""
    stats = summarize(raw)
    for name in REWARD_KEYS:
        stats[f"reward/{name}"] = float(np.mean(np.asarray(raw["breakdown"][name], np.float64)))
    counts = np.asarray(raw["action_counts"], np.float64)
    per_action = counts.sum(axis=0)
    kinds = (per_action[:4].sum(), per_action[4], per_action[FIRST_PROGRAM_ACTION:].sum())
    total = max(per_action.sum(), 1.0)
    for kind, count in zip(ACTION_KINDS, kinds, strict=True):
        stats[f"actions/{kind}_frac"] = float(count / total)
    games = max(counts.shape[0], 1)
    stats["per_game/siphons"] = float(per_action[4] / games)
    end = np.asarray(raw["end"])
    for code, name in enumerate(END_NAMES):
        stats[f"ends/{name}"] = float(np.mean(end == code))
    siphon_death = np.asarray(raw["breakdown"]["siphon_death_penalty"]) < 0
    stats["ends/siphon_caused"] = float(np.mean(siphon_death))
    for i, name in enumerate(PROGRAM_NAMES):
        stats[f"programs/{name}"] = float(per_action[FIRST_PROGRAM_ACTION + i] / games)
    return stats


def run_episodes(
    params: Any, config: TrainConfig, num_episodes: int, mode: int, seed: int,
    max_steps: int = DEFAULT_MAX_STEPS, env: HackMatrixGymnax | None = None,
) -> dict[str, np.ndarray]:
    """Per-game host arrays: return, length, stage (highest), won, truncated, end (how
    it ended, ``END_NAMES``), breakdown (15 per-game component sums) and
    action_counts ((E, 28) times each action was taken). The games are those of
    ``evaluation_key(seed)``: the same seed gives every mode the same first boards."""
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an int >= 1, got {num_episodes!r}")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    if mode not in MODE_NAMES:
        raise ValueError(f"mode must be one of {sorted(MODE_NAMES)}, got {mode!r}")
    env = make_env(config) if env is None else env
    network = network_for(config)
    if params is None:  # the baselines ignore the network
        params = init_params(network, jax.random.PRNGKey(0))
    raw = _run_episodes(env, network, params, evaluation_key(seed), jnp.int32(mode),
                        num_episodes, max_steps)
    return jax.device_get(raw)


def evaluate(
    params: Any,
    config: TrainConfig,
    num_episodes: int = 100,
    greedy: bool = True,
    seed: int = 0,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    env: HackMatrixGymnax | None = None,
) -> dict[str, float]:
    """Evaluate a trained policy on ``num_episodes`` fresh games.

    Args:
      params: network parameters (as returned by TrainPolicy.run).
      config: gives the network and env parameters.
      greedy: argmax over masked logits if True, else sample.
      seed: games are drawn from ``evaluation_key(seed)``: the same seed gives the same
        first boards.
      max_steps: cap per game; games still running are counted as truncated.
    Returns:
      mean_return, std_return, mean_length, highest_stage, mean_highest_stage, win_rate
      (stage 8 completed), truncated_frac, num_episodes, reach_stage_2..8.
    """
    mode = MODE_GREEDY if greedy else MODE_SAMPLE
    return summarize(run_episodes(params, config, num_episodes, mode, seed, max_steps, env))


def evaluate_random_policy(
    config: TrainConfig,
    num_episodes: int = 100,
    seed: int = 0,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    env: HackMatrixGymnax | None = None,
) -> dict[str, float]:
    """The same statistics for a uniformly random valid policy, on the same games."""
    return summarize(run_episodes(None, config, num_episodes, MODE_RANDOM, seed, max_steps, env))


def evaluate_scripted_policy(
    config: TrainConfig,
    num_episodes: int = 100,
    seed: int = 0,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    env: HackMatrixGymnax | None = None,
) -> dict[str, float]:
    """The same statistics for the scripted baseline (``scripted_policy``), same games."""
    return summarize(run_episodes(None, config, num_episodes, MODE_SCRIPTED, seed, max_steps, env))
