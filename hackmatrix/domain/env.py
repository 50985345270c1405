"""Public API of the game: reset, step, valid_actions, observe (and batched versions).

``step`` is the only place that wires the rules together (game-rules §3.1):
player action -> exit/stage completion or enemy turn -> done -> reward.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.constants import CORNERS, FIRST_PROGRAM_ACTION, NUM_STAGES
from hackmatrix.domain.enemy_turn import enemy_turn
from hackmatrix.domain.events import Events
from hackmatrix.domain.mask import program_valid
from hackmatrix.domain.mask import valid_actions as _valid_actions
from hackmatrix.domain.observation import Observation, flatten_observation, observe
from hackmatrix.domain.pathfinding import exit_distance
from hackmatrix.domain.player_action import direction_action
from hackmatrix.domain.programs import program_action
from hackmatrix.domain.rewards import RewardInputs, calculate_reward
from hackmatrix.domain.siphon import siphon_action
from hackmatrix.domain.undo import top_snapshot
from hackmatrix.domain.stage import complete_stage, initialise_stage
from hackmatrix.domain.state import EnvParams, EnvState, empty_state, select_state

__all__ = [
    "EnvParams", "EnvState", "Observation", "reset", "step", "valid_actions", "observe",
    "flatten_observation", "flat_observation", "batched_reset", "batched_step",
    "batched_valid_actions", "auto_reset", "batched_auto_reset",
]

_CORNERS = jnp.asarray(CORNERS)
DEFAULT_PARAMS = EnvParams()


def valid_actions(state: EnvState) -> jax.Array:
    """(28,) bool mask of the legal actions (observation-reward-metrics §2)."""
    return _valid_actions(state)


def flat_observation(state: EnvState) -> jax.Array:
    """(1545,) float32 policy input of ``state``."""
    return flatten_observation(observe(state))


def reset(key: jax.Array, params: EnvParams = DEFAULT_PARAMS) -> tuple[EnvState, Observation]:
    """The original's initial game (game-rules §7.8): random corner, bonus, generated stage 1."""
    state = _new_game(key, params, jnp.bool_(True))
    return state, observe(state)


def auto_reset(state: EnvState, done: jax.Array, key: jax.Array, params: EnvParams = DEFAULT_PARAMS) -> EnvState:
    """``state`` with a fresh game in its place where ``done``.

    Under ``vmap`` only the finished environments pay for generating a board, which
    makes this far cheaper than selecting between ``state`` and a full ``reset``.
    """
    fresh = _new_game(key, params, done)
    return select_state(done, fresh, state.replace(undo_count=jnp.where(done, 0, state.undo_count)))


def _new_game(key: jax.Array, params: EnvParams, needed: jax.Array) -> EnvState:
    k_corner, k_bonus, k_stage = jax.random.split(key, 3)
    state = empty_state(params)
    corner = jax.random.randint(k_corner, (), 0, 4)
    bonus = jax.random.randint(k_bonus, (), 0, 3)
    player = state.player.replace(
        row=_CORNERS[corner, 0],
        col=_CORNERS[corner, 1],
        credits=jnp.where(bonus == 0, 10, 0).astype(jnp.int32),
        energy=jnp.where(bonus == 1, 11, 0).astype(jnp.int32),
        data_siphons=jnp.where(bonus == 2, 1, 0).astype(jnp.int32),
    )
    state = state.replace(player=player, scheduled_interval=jnp.int32(12))
    return initialise_stage(state, k_stage, needed)


def _player_action(state: EnvState, action: jax.Array, key: jax.Array, params: EnvParams):
    branch = jnp.where(action < 4, 0, jnp.where(action == 4, 1, 2))
    program = jnp.clip(action - FIRST_PROGRAM_ACTION, 0, 22)

    def do_direction(s):
        return direction_action(s, jnp.clip(action, 0, 3))

    def do_siphon(s):
        return siphon_action(s)

    snap = top_snapshot(state, params)

    def do_program(s):
        new, ev = program_action(s, program, key, params, snap)
        return new, ev.replace(success=program_valid(s)[program])

    # The undo buffer stays out of the switch: under vmap every branch output is selected.
    core = state.replace(undo=None)
    new, ev = jax.lax.switch(branch, [do_direction, do_siphon, do_program], core)
    return new.replace(undo=state.undo), ev


def _siphon_death(state: EnvState) -> jax.Array:
    """HP 0 and an orthogonally adjacent siphon-spawned enemy (§3.3.5)."""
    en = state.enemies
    adjacent = (jnp.abs(en.row - state.player.row) + jnp.abs(en.col - state.player.col)) == 1
    return (state.player.hp == 0) & jnp.any(en.alive & adjacent & en.from_siphon)


def step(
    state: EnvState, action: jax.Array, key: jax.Array, params: EnvParams = DEFAULT_PARAMS
) -> tuple[EnvState, Observation, jax.Array, jax.Array, dict[str, jax.Array]]:
    """One action. Returns (state, obs, reward, done, breakdown) — breakdown has the 15 keys."""
    action = jnp.asarray(action, jnp.int32)
    k_action, k_stage, k_enemy = jax.random.split(key, 3)
    p0 = state.player
    blocks0 = state.board.block_kind > 0
    d_old = exit_distance(blocks0, p0.row, p0.col, state.exit_row, state.exit_col)

    acted, ev = _player_action(state, action, k_action, params)
    ev: Events
    s = select_state(ev.success, acted, state)

    completes = ev.success & ev.exit_reached
    s = complete_stage(s, k_stage, params, completes)
    runs_turn = ev.success & ev.ends_turn
    s = enemy_turn(s, k_enemy, params, runs_turn)

    died = ev.success & (s.player.hp == 0)
    won = completes & (state.stage >= NUM_STAGES)
    d_new = exit_distance(s.board.block_kind > 0, s.player.row, s.player.col, s.exit_row, s.exit_col)
    inputs = RewardInputs(
        score_before=p0.score, score_after=s.player.score,
        hp_before=p0.hp, hp_after=s.player.hp,
        credits_before=p0.credits, credits_after=s.player.credits,
        energy_before=p0.energy, energy_after=s.player.energy,
        distance_before=d_old, distance_after=d_new,
        stage_before=state.stage, died=died,
        siphon_death=runs_turn & _siphon_death(s),
    )
    reward, breakdown = calculate_reward(ev, inputs, params)
    done = ~ev.success | died | won
    return s, observe(s), reward, done, breakdown


batched_reset = jax.vmap(reset, in_axes=(0, None))
batched_step = jax.vmap(step, in_axes=(0, 0, 0, None))
batched_valid_actions = jax.vmap(valid_actions)
batched_auto_reset = jax.vmap(auto_reset, in_axes=(0, 0, 0, None))
