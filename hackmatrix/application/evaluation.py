"""Policy evaluation: greedy or sampled episodes of a trained policy, and a random baseline.

All three modes share one compiled program per (network shape, env, episodes, cap):
the mode is a traced argument, so evaluating greedy, sampled and random costs one compile.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.application import distribution
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.env_wrapper import HackMatrixEnv
from hackmatrix.application.network import ActorCritic, init_params
from hackmatrix.application.ppo import make_env
from hackmatrix.domain.constants import NUM_STAGES, REWARD_KEYS

DEFAULT_MAX_STEPS = 1000
MODE_GREEDY, MODE_SAMPLE, MODE_RANDOM = 0, 1, 2


@partial(jax.jit, static_argnums=(0, 1, 5, 6))
def _run_episodes(
    env: HackMatrixEnv, network: ActorCritic, params: Any, key: jax.Array, mode: jax.Array,
    num_episodes: int, max_steps: int,
) -> dict[str, jax.Array]:
    """Play ``num_episodes`` games in parallel until each ends once or max_steps pass."""
    k_reset, k_loop = jax.random.split(key)
    obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, num_episodes))
    zeros_f = jnp.zeros((num_episodes,), jnp.float32)
    zeros_i = jnp.zeros((num_episodes,), jnp.int32)
    active = jnp.ones((num_episodes,), jnp.bool_)
    parts = {name: zeros_f for name in REWARD_KEYS}  # per-episode sums of each component
    kinds = jnp.zeros((num_episodes, 3), jnp.int32)  # moves, siphons, programs taken
    init = (state, obs, active, zeros_f, zeros_i, jnp.ones_like(zeros_i),
            jnp.zeros((num_episodes,), jnp.bool_), parts, kinds, k_loop, jnp.int32(0))

    def policy(k_act, obs, mask):
        logits, _ = network.apply(params, obs)
        # The random baseline samples from equal logits: uniform over the valid actions.
        logits = jnp.where(mode == MODE_RANDOM, jnp.zeros_like(logits), logits)
        sampled = distribution.sample(k_act, logits, mask)
        return jnp.where(mode == MODE_GREEDY, distribution.greedy(logits, mask), sampled)

    def cond(carry):
        active, t = carry[2], carry[-1]
        return jnp.any(active) & (t < max_steps)

    def body(carry):
        state, obs, active, ret, length, stage, won, parts, kinds, key, t = carry
        key, k_act, k_env = jax.random.split(key, 3)
        mask = jax.vmap(env.action_mask)(state)
        action = policy(k_act, obs, mask)
        obs, state, reward, done, info = env.batched_step(
            jax.random.split(k_env, num_episodes), state, action
        )
        ret = ret + jnp.where(active, reward, 0.0)
        length = length + active.astype(jnp.int32)
        stage = jnp.where(active, jnp.maximum(stage, info["stage"]), stage)
        won = won | (active & done & (info["stage"] == NUM_STAGES) & (info["victory"] > 0))
        parts = {k: v + jnp.where(active, info[k], 0.0) for k, v in parts.items()}
        kind = jnp.where(action < 4, 0, jnp.where(action == 4, 1, 2))
        kinds = kinds + (jax.nn.one_hot(kind, 3, dtype=jnp.int32) * active[:, None])
        active = active & ~done
        return state, obs, active, ret, length, stage, won, parts, kinds, key, t + 1

    _, _, active, ret, length, stage, won, parts, kinds, _, _ = jax.lax.while_loop(
        cond, body, init
    )
    return {"return": ret, "length": length, "stage": stage, "won": won, "truncated": active,
            "breakdown": parts, "action_counts": kinds}


def summarize(raw: dict[str, np.ndarray]) -> dict[str, float]:
    """Host summary of per-episode arrays."""
    returns = np.asarray(raw["return"], np.float64)
    return {
        "num_episodes": float(returns.size),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(np.mean(raw["length"])),
        "highest_stage": float(np.max(raw["stage"])),
        "mean_highest_stage": float(np.mean(raw["stage"])),
        "win_rate": float(np.mean(raw["won"])),
        "truncated_frac": float(np.mean(raw["truncated"])),
    }


ACTION_KINDS = ("move", "siphon", "program")


def summarize_detailed(raw: dict[str, Any]) -> dict[str, float]:
    """``summarize`` plus, per episode, the mean of each of the 15 reward components
    (``reward/<key>``) and the share of moves/siphons/programs among all actions
    taken (``actions/<kind>_frac``)."""
    stats = summarize(raw)
    for name in REWARD_KEYS:
        stats[f"reward/{name}"] = float(np.mean(np.asarray(raw["breakdown"][name], np.float64)))
    counts = np.asarray(raw["action_counts"], np.float64).sum(axis=0)
    total = max(counts.sum(), 1.0)
    for i, kind in enumerate(ACTION_KINDS):
        stats[f"actions/{kind}_frac"] = float(counts[i] / total)
    return stats


def run_episodes(
    params: Any, config: TrainConfig, num_episodes: int, mode: int, seed: int,
    max_steps: int = DEFAULT_MAX_STEPS, env: HackMatrixEnv | None = None,
) -> dict[str, np.ndarray]:
    """Per-episode host arrays: return, length, stage (highest), won, truncated,
    breakdown (15 per-episode component sums) and action_counts ((E, 3) moves,
    siphons, programs)."""
    if not isinstance(num_episodes, int) or num_episodes < 1:
        raise ValueError(f"num_episodes must be an int >= 1, got {num_episodes!r}")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    env = make_env(config) if env is None else env
    network = ActorCritic(hidden_dim=config.hidden_dim, num_layers=config.num_layers)
    raw = _run_episodes(env, network, params, jax.random.PRNGKey(seed), jnp.int32(mode),
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
    env: HackMatrixEnv | None = None,
) -> dict[str, float]:
    """Evaluate a trained policy on ``num_episodes`` fresh games.

    Args:
      params: network parameters (as returned by TrainPolicy.run).
      config: gives the network shape and env parameters.
      greedy: argmax over masked logits if True, else sample.
      seed: games are drawn from PRNGKey(seed): the same seed gives the same first boards.
      max_steps: cap per episode; episodes still running are counted as truncated.
    Returns:
      mean_return, std_return, mean_length, highest_stage, mean_highest_stage, win_rate
      (stage 8 reached and the victory component paid), truncated_frac, num_episodes.
    """
    mode = MODE_GREEDY if greedy else MODE_SAMPLE
    return summarize(run_episodes(params, config, num_episodes, mode, seed, max_steps, env))


def evaluate_random_policy(
    config: TrainConfig,
    num_episodes: int = 100,
    seed: int = 0,
    *,
    max_steps: int = DEFAULT_MAX_STEPS,
    env: HackMatrixEnv | None = None,
) -> dict[str, float]:
    """The same statistics for a uniformly random valid policy, on the same seeds."""
    network = ActorCritic(hidden_dim=config.hidden_dim, num_layers=config.num_layers)
    params = init_params(network, jax.random.PRNGKey(0))  # ignored by the random mode
    return summarize(run_episodes(params, config, num_episodes, MODE_RANDOM, seed, max_steps, env))
