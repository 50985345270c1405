"""Per-update training metrics: in-jit reductions and host flattening (§4.1, §4.2)."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import REWARD_KEYS

REWARD_METRIC_KEYS = tuple(f"reward/{k}" for k in REWARD_KEYS)
ACTION_METRIC_KEYS = ("actions/move_frac", "actions/siphon_frac", "actions/program_frac")
PPO_METRIC_KEYS = tuple(
    f"train/{k}"
    for k in ("pg_loss", "vf_loss", "ent_loss", "entropy", "total_loss", "approx_kl", "clip_frac")
)
# Training diagnostics and schedules (docs/training.md "Training features").
DIAGNOSTIC_METRIC_KEYS = tuple(
    f"train/{k}"
    for k in ("grad_norm", "explained_variance", "learning_rate", "ent_coef", "return_std")
)
EPISODE_METRIC_KEYS = ("train/mean_episode_return", "train/mean_episode_length")
KEY_DUPLICATES = {
    "train/mean_reward": "key/mean_reward",
    "train/mean_episode_return": "key/mean_episode_return",
    "train/mean_episode_length": "key/mean_episode_length",
}


def shifted_mean(x: jax.Array) -> jax.Array:
    """Mean computed as x0 + mean(x - x0): exact for constant arrays, better conditioned."""
    flat = x.reshape(-1).astype(jnp.float32)
    pivot = flat[0]
    return pivot + jnp.mean(flat - pivot)


def rollout_metrics(
    *,
    rewards: jax.Array,
    dones: jax.Array,
    actions: jax.Array,
    finished_return: jax.Array,
    finished_length: jax.Array,
    stage: jax.Array,
    breakdown: Mapping[str, jax.Array],
) -> dict[str, jax.Array]:
    """Reduce a (T, N) rollout to one scalar per metric (inside jit).

    Episode means are over the episodes that finished in this rollout (exact
    returns/lengths from per-env accumulators); with none finished they are 0 and
    ``train/num_episodes`` is 0, which the host turns into an absent key.
    """
    num_episodes = jnp.sum(dones.astype(jnp.int32))
    denom = jnp.maximum(num_episodes, 1).astype(jnp.float32)
    total = jnp.float32(actions.size)
    metrics = {
        "train/mean_reward": shifted_mean(rewards),
        "train/num_episodes": num_episodes.astype(jnp.float32),
        "train/mean_episode_return": jnp.sum(finished_return) / denom,
        "train/mean_episode_length": jnp.sum(finished_length).astype(jnp.float32) / denom,
        "actions/move_frac": jnp.sum(actions < 4).astype(jnp.float32) / total,
        "actions/siphon_frac": jnp.sum(actions == 4).astype(jnp.float32) / total,
        "actions/program_frac": jnp.sum(actions >= 5).astype(jnp.float32) / total,
        "stats/highest_stage": jnp.max(stage).astype(jnp.float32),
    }
    for name, values in breakdown.items():
        metrics[f"reward/{name}"] = shifted_mean(values)
    return metrics


def to_host_float(value: object) -> float:
    """float32 -> the Python float of its shortest decimal form (-0.01, not -0.00999999977)."""
    return float(str(np.float32(value)))


def host_records(
    metrics: Mapping[str, np.ndarray],
    num_updates: int,
    *,
    first_update: int,
    batch_size: int,
    steps_per_second: float,
) -> list[tuple[int, dict[str, float]]]:
    """Split a chunk's (chunk,) metric arrays into one record per update.

    Args:
      metrics: host arrays from ``train_chunk``, leading axis >= num_updates.
      num_updates: updates that actually ran in the chunk.
      first_update: 0-based absolute index of the chunk's first update.
      batch_size: env steps per update.
      steps_per_second: the chunk's env steps / wall seconds (reported on each update).
    Returns:
      ``[(step, record), ...]`` with step = env steps consumed including that update.
    """
    records = []
    for i in range(num_updates):
        record = {key: to_host_float(np.asarray(values)[i]) for key, values in metrics.items()}
        if record["train/num_episodes"] == 0:
            for key in EPISODE_METRIC_KEYS:
                record.pop(key, None)
        update_index = first_update + i
        record["train/update_step"] = float(update_index + 1)  # 1-based: updates done
        record["train/steps_per_second"] = float(steps_per_second)
        for src, dst in KEY_DUPLICATES.items():
            if src in record:
                record[dst] = record[src]
        records.append(((update_index + 1) * batch_size, record))
    return records
