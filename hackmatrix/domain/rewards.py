"""The 15-component reward (observation-reward-metrics §3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from hackmatrix.domain.constants import REWARD_KEYS, STAGE_REWARDS
from hackmatrix.domain.events import Events
from hackmatrix.domain.state import EnvParams

# Death penalty base by stage s: sum of R[0..s-2].
_DEATH_BASE = np.concatenate([np.zeros((1,), np.float32), np.cumsum(STAGE_REWARDS, dtype=np.float32)[:-1]])


@struct.dataclass
class RewardInputs:
    """Before/after quantities captured by the step (§3.1)."""

    score_before: jax.Array
    score_after: jax.Array
    hp_before: jax.Array
    hp_after: jax.Array
    credits_before: jax.Array
    credits_after: jax.Array
    energy_before: jax.Array
    energy_after: jax.Array
    distance_before: jax.Array
    distance_after: jax.Array
    stage_before: jax.Array
    died: jax.Array
    siphon_death: jax.Array


def _f(x) -> jax.Array:
    return jnp.asarray(x, jnp.float32)


def calculate_reward(ev: Events, r: RewardInputs, params: EnvParams) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Returns (total, breakdown) with the 15 keys; everything is 0 for an invalid action."""
    on = ev.success
    won = ev.exit_reached & (r.stage_before >= 8)
    delta_d = jnp.where(
        r.died, 0, jnp.where(ev.exit_reached, r.distance_before, r.distance_before - r.distance_after)
    )
    quality_missed = ev.siphon_done & ((ev.missed_credits + ev.missed_energy) > 0)
    hp_delta = r.hp_after - r.hp_before
    parts = {
        "step_penalty": _f(params.step_penalty),
        "stage_completion": jnp.where(ev.exit_reached, jnp.asarray(STAGE_REWARDS)[jnp.clip(r.stage_before - 1, 0, 7)], 0.0),
        "score_gain": _f(params.score_weight) * _f(r.score_after - r.score_before),
        "kills": _f(params.kill_weight) * _f(ev.kills),
        "data_siphon": jnp.where(ev.collected_siphon, _f(params.data_siphon_weight), 0.0),
        "distance_shaping": _f(params.distance_weight) * _f(jnp.maximum(delta_d, 0)),
        "victory": jnp.where(
            won, _f(params.victory_base) + _f(params.victory_score_weight) * _f(r.score_after), 0.0
        ),
        "death_penalty": jnp.where(
            r.died, _f(params.death_weight) * jnp.asarray(_DEATH_BASE)[jnp.clip(r.stage_before - 1, 0, 7)], 0.0
        ),
        "resource_gain": _f(params.resource_gain_weight) * _f(r.credits_after - r.credits_before)
        + _f(params.resource_gain_weight) * _f(r.energy_after - r.energy_before),
        "resource_holding": jnp.where(
            ev.exit_reached,
            _f(params.resource_holding_weight) * _f(r.credits_after)
            + _f(params.resource_holding_weight) * _f(r.energy_after),
            0.0,
        ),
        "damage_penalty": _f(params.damage_weight) * _f(jnp.maximum(-hp_delta, 0)),
        "hp_recovery": _f(params.recovery_weight) * _f(jnp.maximum(hp_delta, 0)),
        "siphon_quality": jnp.where(
            quality_missed,
            _f(params.siphon_quality_weight) * _f(ev.missed_credits)
            + _f(params.siphon_quality_weight) * _f(ev.missed_energy),
            0.0,
        ),
        "program_waste": jnp.where(ev.program_waste, _f(params.program_waste), 0.0),
        "siphon_death_penalty": jnp.where(r.died & r.siphon_death, _f(params.siphon_death_penalty), 0.0),
    }
    breakdown = {k: jnp.where(on, _f(parts[k]), 0.0) for k in REWARD_KEYS}
    total = jnp.float32(0.0)
    for k in REWARD_KEYS:
        total = total + breakdown[k]
    return total, breakdown
