"""UNDO history (game-rules §6.4): a ring buffer of snapshots (decision 3)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hackmatrix.domain.state import EnvParams, EnvState, Snapshot, take_snapshot

def split_history(state: EnvState) -> tuple[EnvState, Snapshot]:
    """(the game without its undo history, the history): the step's phases run on the
    first; only ``push_snapshot`` and UNDO (``restore_snapshot`` of a snapshot read from
    the history) touch the second. ``undo_head``/``undo_count`` stay with the game (the
    mask reads the count)."""
    return state.replace(undo=None), state.undo


def join_history(state: EnvState, history: Snapshot) -> EnvState:
    """The inverse of ``split_history``."""
    return state.replace(undo=history)


def push_snapshot(
    state: EnvState, history: Snapshot, params: EnvParams, do: jax.Array | bool = True
) -> tuple[EnvState, Snapshot]:
    """Where ``do``, store a snapshot of ``state`` at the head of ``history``; the oldest
    entry is overwritten when full. Returns (state with head/count moved, history)."""
    do = jnp.asarray(do)
    head = state.undo_head
    slot = jnp.where(do, head, params.undo_depth)  # out of range: the write is dropped
    history = jax.tree_util.tree_map(lambda buf, x: buf.at[slot].set(x, mode="drop"), history, take_snapshot(state))
    state = state.replace(
        undo_head=jnp.where(do, (head + 1) % params.undo_depth, head),
        undo_count=jnp.where(do, jnp.minimum(state.undo_count + 1, params.undo_depth), state.undo_count),
    )
    return state, history


def top_snapshot(state: EnvState, params: EnvParams) -> Snapshot:
    """The most recent snapshot (meaningless when the history is empty)."""
    top = (state.undo_head - 1) % params.undo_depth
    return jax.tree_util.tree_map(lambda buf: buf[top], state.undo)

def restore_snapshot(state: EnvState, snap: Snapshot, params: EnvParams) -> EnvState:
    """Restore ``snap`` = ``top_snapshot(state)`` and pop it (caller checks the history is not empty).

    Restored enemies/transmissions lose their siphon and scheduled-task flags; stage,
    exit, STEP, pending spawns and the scheduled timing are not restored.
    """
    top = (state.undo_head - 1) % params.undo_depth
    enemies = snap.enemies.replace(
        from_siphon=jnp.zeros_like(snap.enemies.from_siphon),
        from_scheduled=jnp.zeros_like(snap.enemies.from_scheduled),
        stunned=jnp.zeros_like(snap.enemies.stunned),
        disabled=jnp.zeros_like(snap.enemies.disabled),
    )
    trans = snap.transmissions.replace(
        from_siphon=jnp.zeros_like(snap.transmissions.from_siphon),
        from_scheduled=jnp.zeros_like(snap.transmissions.from_scheduled),
    )
    return state.replace(
        player=snap.player,
        board=snap.board,
        enemies=enemies,
        transmissions=trans,
        turn=snap.turn,
        owned=snap.owned,
        show_activated=snap.show_activated,
        scheduled_tasks_disabled=snap.scheduled_tasks_disabled,
        atk_plus_uses=snap.atk_plus_uses,
        undo_head=top,
        undo_count=state.undo_count - 1,
    )
