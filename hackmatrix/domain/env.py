"""Public API of the game: reset, step, valid_actions, observe (and batched versions).

``step`` is the only place that wires the rules together (game-rules §3.1):
player action -> exit/stage completion or enemy turn -> done -> reward.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain import draws
from hackmatrix.domain.batching import on_rows as _on_rows
from hackmatrix.domain.batching import where_rows
from hackmatrix.domain.constants import CORNERS, FIRST_PROGRAM_ACTION, NUM_ACTIONS, NUM_STAGES
from hackmatrix.domain.enemy_turn import batched_enemy_turn
from hackmatrix.domain.events import Events
from hackmatrix.domain.mask import program_valid
from hackmatrix.domain.mask import valid_actions as _valid_actions
from hackmatrix.domain.observation import (
    Observation, decode_observation, flat_observation, flatten_observation, observation_code, observe,
)
from hackmatrix.domain.pathfinding import exit_distance
from hackmatrix.domain.player_action import direction_action
from hackmatrix.domain.programs import program_action
from hackmatrix.domain.rewards import RewardInputs, calculate_reward
from hackmatrix.domain.siphon import siphon_action
from hackmatrix.domain.stage import advance_stage, initialise_stage
from hackmatrix.domain.state import EnvParams, EnvState, empty_state, select_state

__all__ = [
    "EnvParams", "EnvState", "Observation", "reset", "step", "valid_actions", "observe",
    "flatten_observation", "flat_observation", "observation_code", "decode_observation",
    "batched_reset", "batched_step", "batched_step_auto_reset",
    "batched_valid_actions", "auto_reset", "batched_auto_reset",
]

_CORNERS = jnp.asarray(CORNERS)
DEFAULT_PARAMS = EnvParams()
# Sub-batch size of board generation (stage completions, auto-reset): a generation
# costs ~50 us per row on a CPU core and a step sees a few dozen of them in 2048 games,
# so rounds of 32 beat one round of the default N / 16 = 128 rows.
GENERATION_WIDTH = 32
# Share of the batch in one round of the siphon and program phases (width N / share).
# Random play at 2048 envs siphons on ~1.5 % of rows and runs a program on ~0.4 %:
# rounds of 32 and 16 rows beat the default 128 by ~15 % of the whole step.
SIPHON_SHARE = 64
PROGRAM_SHARE = 128


def valid_actions(state: EnvState) -> jax.Array:
    """(28,) bool mask of the legal actions (observation-reward-metrics §2)."""
    return _valid_actions(state)


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


def _new_game_base(key: jax.Array, params: EnvParams) -> tuple[EnvState, jax.Array]:
    """A new game before its stage 1 is generated: (state, key of the generation)."""
    k_words, k_stage = jax.random.split(key)
    words = jax.random.bits(k_words, (2,))  # one hash site for both draws (draws.py)
    state = empty_state(params)
    corner = draws.below(words[0], 4)
    bonus = draws.below(words[1], 3)
    player = state.player.replace(
        row=_CORNERS[corner, 0],
        col=_CORNERS[corner, 1],
        credits=jnp.where(bonus == 0, 10, 0).astype(jnp.int32),
        energy=jnp.where(bonus == 1, 11, 0).astype(jnp.int32),
        data_siphons=jnp.where(bonus == 2, 1, 0).astype(jnp.int32),
    )
    return state.replace(player=player, scheduled_interval=jnp.int32(12)), k_stage


def _new_game(key: jax.Array, params: EnvParams, needed: jax.Array) -> EnvState:
    state, k_stage = _new_game_base(key, params)
    return initialise_stage(state, k_stage, needed)


def _player_actions(
    states: EnvState, actions: jax.Array, keys: jax.Array, params: EnvParams
) -> tuple[EnvState, Events]:
    """The player part of the step for a batch: (new states, events)."""
    core = states.replace(undo=None)  # the undo buffer stays out of every select
    is_siphon = actions == 4
    is_program = (actions >= FIRST_PROGRAM_ACTION) & (actions < NUM_ACTIONS)
    program = jnp.clip(actions - FIRST_PROGRAM_ACTION, 0, 22)

    out, ev = jax.vmap(direction_action)(core, jnp.clip(actions, 0, 3))

    def siphon(rows, valid):
        return jax.vmap(siphon_action)(rows)

    def programs(rows, valid):
        st, prog, key, row = rows
        # UNDO's snapshot, read from the full buffer for the gathered rows only.
        snap = jax.tree_util.tree_map(lambda buf: buf[row, (st.undo_head - 1) % params.undo_depth], states.undo)
        new, e = jax.vmap(lambda a, b, c, d: program_action(a, b, c, params, d))(st, prog, key, snap)
        ok = jax.vmap(lambda a, b: program_valid(a)[b])(st, prog)
        return new, e.replace(success=ok)

    out, ev = _on_rows(is_siphon, siphon, core, (out, ev), share=SIPHON_SHARE)
    rows = jnp.arange(actions.shape[0])
    out, ev = _on_rows(is_program, programs, (core, program, keys, rows), (out, ev), share=PROGRAM_SHARE)
    return out.replace(undo=states.undo), ev


def _siphon_death(state: EnvState) -> jax.Array:
    """HP 0 and an orthogonally adjacent siphon-spawned enemy (§3.3.5)."""
    en = state.enemies
    adjacent = (jnp.abs(en.row - state.player.row) + jnp.abs(en.col - state.player.col)) == 1
    return (state.player.hp == 0) & jnp.any(en.alive & adjacent & en.from_siphon)


def _distance(state: EnvState) -> jax.Array:
    p = state.player
    return exit_distance(state.board.block_kind > 0, p.row, p.col, state.exit_row, state.exit_col)


def _step_before_generation(states: EnvState, actions: jax.Array, keys: jax.Array, params: EnvParams):
    """The batched step with the boards of newly entered stages not yet generated.

    Returns (states, reward, done, breakdown, advance, k_stage): rows where
    ``advance`` still need ``initialise_stage`` with their ``k_stage``. Nothing in
    the rest of the step reads that board: a completed stage has no enemy turn, and
    its reward uses the distance before the move (§3.3.2).
    """
    actions = jnp.asarray(actions, jnp.int32)
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    k_action, k_stage, k_enemy = split[:, 0], split[:, 1], split[:, 2]
    d_old = jax.vmap(_distance)(states)

    acted, ev = _player_actions(states, actions, k_action, params)
    # An index outside 0..27 is the invalid action (spec README decisions 5 and 12),
    # whatever the clipped index above would have done.
    ev = ev.replace(success=ev.success & (actions >= 0) & (actions < NUM_ACTIONS))
    s = jax.vmap(select_state)(ev.success, acted, states)

    completes = ev.success & ev.exit_reached
    s, advance = jax.vmap(advance_stage, in_axes=(0, 0, None))(s, completes, params)
    runs_turn = ev.success & ev.ends_turn
    # Nearly every step some environment ends its turn; a scalar conditional would only
    # add the copies of its operands, so the gated enemy turn runs directly.
    s = batched_enemy_turn(s, k_enemy, params, runs_turn)

    p0, p1 = states.player, s.player
    died = ev.success & (p1.hp == 0)
    won = completes & (states.stage >= NUM_STAGES)
    inputs = RewardInputs(
        score_before=p0.score, score_after=p1.score,
        hp_before=p0.hp, hp_after=p1.hp,
        credits_before=p0.credits, credits_after=p1.credits,
        energy_before=p0.energy, energy_after=p1.energy,
        distance_before=d_old, distance_after=jax.vmap(_distance)(s),
        stage_before=states.stage, died=died,
        siphon_death=runs_turn & jax.vmap(_siphon_death)(s),
    )
    reward, breakdown = jax.vmap(calculate_reward, in_axes=(0, 0, None))(ev, inputs, params)
    done = ~ev.success | died | won
    return s, reward, done, breakdown, advance, k_stage


def batched_step(
    states: EnvState, actions: jax.Array, keys: jax.Array, params: EnvParams = DEFAULT_PARAMS
) -> tuple[EnvState, Observation, jax.Array, jax.Array, dict[str, jax.Array]]:
    """``step`` for a batch of environments (leading axis N), with batch-level shortcuts.

    Identical, environment by environment, to ``jax.vmap(step)``; stage generation,
    which few environments need on a step, runs on the gathered rows that need it.
    """
    s, reward, done, breakdown, advance, k_stage = _step_before_generation(states, actions, keys, params)
    core = _on_rows(
        advance,
        lambda rows, valid: jax.vmap(initialise_stage)(rows[0], rows[1], valid),
        (s.replace(undo=None), k_stage),
        s.replace(undo=None),
        width=GENERATION_WIDTH,
    )
    s = core.replace(undo=s.undo)
    return s, jax.vmap(observe)(s), reward, done, breakdown


def batched_step_auto_reset(
    states: EnvState, actions: jax.Array, keys: jax.Array, reset_keys: jax.Array,
    params: EnvParams = DEFAULT_PARAMS,
) -> tuple[EnvState, jax.Array, jax.Array, dict[str, jax.Array], dict[str, jax.Array]]:
    """``batched_step`` then ``batched_auto_reset`` with ``reset_keys``, in one pass of
    board generation: the rows entering a new stage and the finished rows (never the
    same row) are gathered together, so a step pays its generation rounds once.

    Returns (next states, reward, done, breakdown, ended): the same next states,
    rewards, dones and breakdowns as the two calls, bit for bit; ``ended`` holds the
    ``stage``, ``score`` and ``hp`` of the post-step states (before any reset), which
    is all a caller can read of them here (the observation is of the next states).
    """
    s, reward, done, breakdown, advance, k_stage = _step_before_generation(states, actions, keys, params)
    ended = {"stage": s.stage, "score": s.player.score, "hp": s.player.hp}

    def generate(rows, valid):
        st, k_st, k_reset, is_done = rows
        fresh, k_fresh = jax.vmap(_new_game_base, in_axes=(0, None))(k_reset, params)
        base = where_rows(is_done, fresh.replace(undo=None), st)
        return jax.vmap(initialise_stage)(base, jnp.where(is_done[:, None], k_fresh, k_st), valid)

    core = _on_rows(
        advance | done, generate, (s.replace(undo=None), k_stage, reset_keys, done), s.replace(undo=None),
        width=GENERATION_WIDTH,
    )
    return core.replace(undo=s.undo), reward, done, breakdown, ended


def step(
    state: EnvState, action: jax.Array, key: jax.Array, params: EnvParams = DEFAULT_PARAMS
) -> tuple[EnvState, Observation, jax.Array, jax.Array, dict[str, jax.Array]]:
    """One action (game-rules §3.1). Returns (state, obs, reward, done, breakdown).

    ``breakdown`` holds the 15 reward components (float32 scalars) summing to
    ``reward``. An invalid action changes nothing, pays 0 and ends the episode.
    Works under jit, vmap and scan; for many environments ``batched_step`` is faster.
    """
    states, actions, keys = jax.tree_util.tree_map(
        lambda x: x[None], (state, jnp.asarray(action, jnp.int32), key)
    )
    out = batched_step(states, actions, keys, params)
    return jax.tree_util.tree_map(lambda x: x[0], out)


def batched_auto_reset(
    states: EnvState, done: jax.Array, keys: jax.Array, params: EnvParams = DEFAULT_PARAMS
) -> EnvState:
    """``auto_reset`` for a batch: fresh games where ``done``, the rest untouched.

    Only the finished environments generate boards (a board costs far more than a
    step), in fixed-size sub-batches. Same result, environment by environment, as
    ``jax.vmap(auto_reset)``.
    """
    def fresh(rows, valid):
        return jax.vmap(_new_game, in_axes=(0, None, 0))(rows, params, valid).replace(undo=None)

    core = _on_rows(done, fresh, keys, states.replace(undo=None), width=GENERATION_WIDTH)
    return core.replace(undo=states.undo)


batched_reset = jax.vmap(reset, in_axes=(0, None))
batched_valid_actions = jax.vmap(valid_actions)
