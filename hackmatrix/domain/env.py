"""Public API of the game, functional: ``reset``, ``step``, ``valid_actions``,
``observe`` / ``flat_observation``, ``auto_reset``, and for a batch (leading axis N)
``batched_step`` (``vmap(step)``'s results) and ``batched_step_auto_reset`` (the step
and fresh games in one pass, what a training loop runs) and ``peek`` (the step without
the new stage's board, for planners looking one action ahead). Batch resets and masks are
``jax.vmap(reset, in_axes=(0, None))`` and ``jax.vmap(valid_actions)``; the gymnax
``Environment`` around these is ``hackmatrix.application.gymnax_env``.

``step`` is the only place that wires the rules together: ``_step_phases`` lists the
phases of a step in order (game-rules §3.1).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from hackmatrix.domain import draws
from hackmatrix.domain.batching import KNOBS, where_rows
from hackmatrix.domain.batching import on_rows as _on_rows
from hackmatrix.domain.constants import CORNERS, FIRST_PROGRAM_ACTION, NUM_ACTIONS, NUM_STAGES
from hackmatrix.domain.enemy_turn import end_enemy_turn, enemy_moves, spawn_transmissions, turn_keys
from hackmatrix.domain.events import Events
from hackmatrix.domain.mask import program_valid
from hackmatrix.domain.mask import valid_actions as _valid_actions
from hackmatrix.domain.observation import Observation, flat_observation, observe
from hackmatrix.domain.pathfinding import exit_distance
from hackmatrix.domain.player_action import direction_action
from hackmatrix.domain.programs import program_action
from hackmatrix.domain.rewards import RewardInputs, calculate_reward
from hackmatrix.domain.siphon import siphon_action
from hackmatrix.domain.stage import advance_stage, initialise_stage
from hackmatrix.domain.state import EnvParams, EnvState, Snapshot, empty_state, select_state
from hackmatrix.domain.undo import join_history, split_history

__all__ = [
    "EnvParams", "EnvState", "Observation", "reset", "step", "valid_actions", "observe",
    "flat_observation", "auto_reset", "batched_step", "batched_step_auto_reset", "peek",
]

DEFAULT_PARAMS = EnvParams()


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
        row=jnp.asarray(CORNERS)[corner, 0],
        col=jnp.asarray(CORNERS)[corner, 1],
        credits=jnp.where(bonus == 0, 10, 0).astype(jnp.int32),
        energy=jnp.where(bonus == 1, 11, 0).astype(jnp.int32),
        data_siphons=jnp.where(bonus == 2, 1, 0).astype(jnp.int32),
    )
    return state.replace(player=player, scheduled_interval=jnp.int32(12)), k_stage


def _new_game(key: jax.Array, params: EnvParams, needed: jax.Array) -> EnvState:
    state, k_stage = _new_game_base(key, params)
    return initialise_stage(state, k_stage, needed)


def _player_actions(
    core: EnvState, history: Snapshot, actions: jax.Array, keys: jax.Array, params: EnvParams
) -> tuple[EnvState, Events]:
    """The player part of the step for a batch of games without their undo history:
    (new games, events). UNDO reads its snapshot from ``history``."""
    is_siphon = actions == 4
    is_program = (actions >= FIRST_PROGRAM_ACTION) & (actions < NUM_ACTIONS)
    program = jnp.clip(actions - FIRST_PROGRAM_ACTION, 0, 22)

    out, ev = jax.vmap(direction_action)(core, jnp.clip(actions, 0, 3))

    def siphon(rows, valid):
        return jax.vmap(siphon_action)(rows)

    def programs(rows, valid):
        st, prog, key, row = rows
        # UNDO's snapshot, read from the history for the gathered rows only.
        snap = jax.tree_util.tree_map(lambda buf: buf[row, (st.undo_head - 1) % params.undo_depth], history)
        new, e = jax.vmap(lambda a, b, c, d: program_action(a, b, c, params, d))(st, prog, key, snap)
        ok = jax.vmap(lambda a, b: program_valid(a)[b])(st, prog)
        return new, e.replace(success=ok)

    out, ev = _on_rows(is_siphon, siphon, core, (out, ev), share=KNOBS.siphon_share)
    rows = jnp.arange(actions.shape[0])
    out, ev = _on_rows(is_program, programs, (core, program, keys, rows), (out, ev), share=KNOBS.program_share)
    return out, ev


def _siphon_death(state: EnvState) -> jax.Array:
    """HP 0 and an orthogonally adjacent siphon-spawned enemy (§3.3.5)."""
    en = state.enemies
    adjacent = (jnp.abs(en.row - state.player.row) + jnp.abs(en.col - state.player.col)) == 1
    return (state.player.hp == 0) & jnp.any(en.alive & adjacent & en.from_siphon)


def _distance(state: EnvState) -> jax.Array:
    p = state.player
    return exit_distance(state.board.block_kind > 0, p.row, p.col, state.exit_row, state.exit_col)


class PhasesOut(NamedTuple):
    """What ``_step_phases`` leaves for the caller: the step's results, and the rows
    whose new stage's board is still to be generated (with the key to do it)."""

    states: EnvState  # without their undo history
    history: Snapshot  # (N, H, ...) the undo histories
    reward: jax.Array  # (N,) float32
    done: jax.Array  # (N,) bool
    breakdown: dict[str, jax.Array]  # 15 x (N,) float32
    advance: jax.Array  # (N,) bool: entered a new stage, board not generated yet
    k_stage: jax.Array  # (N, key) the generation's key


def _step_phases(
    states: EnvState, history: Snapshot, actions: jax.Array, keys: jax.Array, params: EnvParams,
    eager_generation: bool = False,
) -> PhasesOut:
    """The step for a batch, phase by phase (game-rules §3.1): the table of contents.

    The phases run on the games without their undo history (``undo.split_history``);
    only UNDO (phase 1) reads ``history`` and only phase 5 pushes onto it.

    1. player action: move or attack, siphon, or program (§3.3, §4, §6); an invalid
       action changes nothing (decisions 5 and 12);
    2. stage advance on reaching the exit (§7.1): heal and next stage; the new board is
       generated in phase 7;
    3. enemy turn after a turn-ending action (§5.2-§5.5): STEP skip, turn + 1,
       transmission tick, enemy steps;
    4. spawns (§5.7, §5.8): the scheduled transmission, the pending siphon ones;
    5. end of the enemy turn (§5.3): disable and stun reset, undo snapshot;
    6. reward and done (observation-reward-metrics §3);
    7. generation of the new stage's board (§7.2-§7.5).

    Deferred generation: phase 7 is left to the caller (``advance``, ``k_stage``), which
    runs it on the gathered rows that need it, with auto-reset's fresh games in the same
    pass. That is sound because nothing in phases 3-6 reads the new board: a stage is
    completed by reaching the exit, which ends no turn (no enemy turn runs), and its
    reward uses the distance before the move (§3.3.2). ``eager_generation`` runs phase 7
    right after phase 2 instead; a test checks both give the same steps.
    """
    actions = jnp.asarray(actions, jnp.int32)
    split = jax.vmap(lambda k: jax.random.split(k, 3))(keys)
    k_action, k_stage, k_enemy = split[:, 0], split[:, 1], split[:, 2]
    d_old = jax.vmap(_distance)(states)

    # 1. Player action.
    acted, ev = _player_actions(states, history, actions, k_action, params)
    # An index outside 0..27 is the invalid action (spec README decisions 5 and 12),
    # whatever the clipped index above would have done.
    ev = ev.replace(success=ev.success & (actions >= 0) & (actions < NUM_ACTIONS))
    s = jax.vmap(select_state)(ev.success, acted, states)

    # 2. Stage advance.
    completes = ev.success & ev.exit_reached
    s, advance = jax.vmap(advance_stage, in_axes=(0, 0, None))(s, completes, params)
    if eager_generation:
        s = where_rows(advance, jax.vmap(initialise_stage)(s, k_stage, advance), s)
        advance = jnp.zeros_like(advance)

    # 3-5. Enemy turn. Nearly every step some environment ends its turn; a scalar
    # conditional would only add the copies of its operands, so the gated phases run directly.
    runs_turn = ev.success & ev.ends_turn
    step_keys, spawn_keys = turn_keys(k_enemy)
    s, turn_ran = enemy_moves(s, step_keys, runs_turn)
    s = spawn_transmissions(s, spawn_keys, turn_ran)
    s, history = end_enemy_turn(s, history, params, turn_ran)

    # 6. Reward and done.
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
    # 7. Generation: the caller's (see above).
    return PhasesOut(s, history, reward, done, breakdown, advance, k_stage)


def batched_step(
    states: EnvState, actions: jax.Array, keys: jax.Array, params: EnvParams = DEFAULT_PARAMS
) -> tuple[EnvState, Observation, jax.Array, jax.Array, dict[str, jax.Array]]:
    """``step`` for a batch of environments (leading axis N), with batch-level shortcuts.

    Identical, environment by environment, to ``jax.vmap(step)``; stage generation,
    which few environments need on a step, runs on the gathered rows that need it.
    """
    s, history, reward, done, breakdown, advance, k_stage = _step_phases(
        *split_history(states), actions, keys, params
    )
    s = _on_rows(
        advance,
        lambda rows, valid: jax.vmap(initialise_stage)(rows[0], rows[1], valid),
        (s, k_stage),
        s,
        width=KNOBS.generation_width,
    )
    s = join_history(s, history)
    return s, jax.vmap(observe)(s), reward, done, breakdown


def peek(
    states: EnvState, actions: jax.Array, keys: jax.Array, params: EnvParams = DEFAULT_PARAMS
) -> tuple[EnvState, jax.Array, jax.Array]:
    """``batched_step`` for a planner looking one action ahead: (states, done, advance).

    The same states as ``batched_step`` gives, except on the rows that reached the exit
    (``advance``): their stage has advanced but the new board is not generated (it is
    the one step part a one-action lookahead can skip), and no observation is made.
    """
    s, history, _, done, _, advance, _ = _step_phases(
        *split_history(states), actions, keys, params
    )
    return join_history(s, history), done, advance


def batched_step_auto_reset(
    states: EnvState, actions: jax.Array, keys: jax.Array, reset_keys: jax.Array,
    params: EnvParams = DEFAULT_PARAMS,
) -> tuple[EnvState, jax.Array, jax.Array, dict[str, jax.Array], dict[str, jax.Array]]:
    """``batched_step`` then ``jax.vmap(auto_reset)`` with ``reset_keys``, in one pass of
    board generation: the rows entering a new stage and the finished rows (never the
    same row) are gathered together, so a step pays its generation rounds once.

    Returns (next states, reward, done, breakdown, ended): the same next states,
    rewards, dones and breakdowns as the two calls, bit for bit; ``ended`` holds the
    ``stage``, ``score``, ``hp`` and flat observation ``obs`` of the post-step states
    (before any reset; under ``jit`` what a caller leaves unread is never computed).
    """
    s, history, reward, done, breakdown, advance, k_stage = _step_phases(
        *split_history(states), actions, keys, params
    )
    ended = {"stage": s.stage, "score": s.player.score, "hp": s.player.hp}
    # A finished row is never generated: its observation is the post-step one.
    final_obs = jax.vmap(flat_observation)(join_history(s, history))

    def generate(rows, valid):
        st, k_st, k_reset, is_done = rows
        fresh, k_fresh = jax.vmap(_new_game_base, in_axes=(0, None))(k_reset, params)
        base = where_rows(is_done, split_history(fresh)[0], st)
        return jax.vmap(initialise_stage)(base, jnp.where(is_done[:, None], k_fresh, k_st), valid)

    s = join_history(
        _on_rows(advance | done, generate, (s, k_stage, reset_keys, done), s, width=KNOBS.generation_width),
        history,
    )
    ended["obs"] = jnp.where(done[:, None], final_obs, jax.vmap(flat_observation)(s))
    return s, reward, done, breakdown, ended


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
