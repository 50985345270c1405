"""Per-step facts the reward needs (game-rules §2.6, Appendix A)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from hackmatrix.domain.state import Replaceable


@struct.dataclass
class Events(Replaceable):
    success: jax.Array  # () bool: the action executed (else: invalid, nothing changes)
    kills: jax.Array  # () int32: enemies + transmissions destroyed, scheduled-task ones excluded
    collected_siphon: jax.Array  # () bool: a data siphon picked up by walking
    exit_reached: jax.Array  # () bool: moved onto the exit content / WARP onto exit_row/col
    ends_turn: jax.Array  # () bool: move, attack, siphon or WAIT
    siphon_done: jax.Array  # () bool
    missed_credits: jax.Array  # () int32 (siphon quality)
    missed_energy: jax.Array  # () int32
    program_waste: jax.Array  # () bool: RESET at exactly 2 HP


def no_events(success=False, ends_turn=False) -> Events:
    f = jnp.bool_(False)
    z = jnp.int32(0)
    return Events(
        success=jnp.bool_(success), kills=z, collected_siphon=f, exit_reached=f,
        ends_turn=jnp.bool_(ends_turn), siphon_done=f, missed_credits=z, missed_energy=z,
        program_waste=f,
    )
