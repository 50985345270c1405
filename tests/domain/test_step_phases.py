"""The step's deferred board generation (env._step_phases) gives the same steps as generating eagerly."""

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain import env
from hackmatrix.domain.undo import join_history, split_history

from tests.domain.conftest import DOWN, LEFT, RIGHT, UP, build, enemy, scen, trans

N = 16


def _batch():
    """Players next to the exit (5,5) at stages 1-8, with enemies and a transmission; most
    step onto the exit (a new stage, or victory at 8), the others move away (an enemy turn)."""
    states, actions = [], []
    for i in range(N):
        row, col, onto_exit, away = (4, 5, UP, DOWN) if i % 2 else (5, 4, RIGHT, LEFT)
        foes = [enemy("virus", 0, i % 6), enemy("daemon", 2, (i + 3) % 6), enemy("glitch", 3, 0)]
        states.append(build(scen(row, col, stage=1 + (i // 2) % 8, enemies=foes, transmissions=[trans(1, 1, 1)])))
        actions.append(away if i % 4 == 3 else onto_exit)
    batch = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)
    return batch, jnp.asarray(actions, jnp.int32)


def test_generating_the_new_stage_eagerly_gives_the_same_step_as_deferring_it():
    states, actions = _batch()
    keys = jax.random.split(jax.random.PRNGKey(3), N)
    params = env.DEFAULT_PARAMS

    def both(s, a, k):
        deferred = env.batched_step(s, a, k, params)
        eager = env._step_phases(*split_history(s), a, k, params, eager_generation=True)
        return deferred, join_history(eager.states, eager.history), eager

    (d_states, _, d_reward, d_done, d_breakdown), e_states, eager = jax.jit(both)(states, actions, keys)
    assert not bool(jnp.any(eager.advance))  # nothing left to generate
    for a, b in zip(jax.tree_util.tree_leaves(d_states), jax.tree_util.tree_leaves(e_states)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(d_reward), np.asarray(eager.reward))
    np.testing.assert_array_equal(np.asarray(d_done), np.asarray(eager.done))
    for name in d_breakdown:
        np.testing.assert_array_equal(np.asarray(d_breakdown[name]), np.asarray(eager.breakdown[name]))
    # Both paths really ran: new stages were entered, some games won, some enemy turns ran.
    entered = np.asarray(d_states.stage) > np.asarray(states.stage)
    assert entered.sum() >= 6 and np.asarray(d_done).sum() >= 1
    assert (np.asarray(d_states.turn) > np.asarray(states.turn)).sum() >= 3


def test_peek_is_the_step_without_the_new_board_on_the_rows_that_reach_the_exit():
    # env.peek (a planner's one-action lookahead) on the same batch and keys: every row
    # that moved away (an enemy turn ran) is exactly batched_step's; the rows that stepped
    # onto the exit are flagged, their stage advanced, their old board kept.
    states, actions = _batch()
    keys = jax.random.split(jax.random.PRNGKey(3), N)
    stepped, _, _, s_done, _ = jax.jit(env.batched_step)(states, actions, keys)
    peeked, p_done, advance = jax.jit(env.peek)(states, actions, keys)
    away = np.asarray([i % 4 == 3 for i in range(N)])
    won = np.asarray(states.stage) == 8
    np.testing.assert_array_equal(np.asarray(advance), ~away & ~won)
    np.testing.assert_array_equal(np.asarray(p_done), np.asarray(s_done))
    for a, b in zip(jax.tree_util.tree_leaves(stepped), jax.tree_util.tree_leaves(peeked)):
        np.testing.assert_array_equal(np.asarray(a)[away], np.asarray(b)[away])
    np.testing.assert_array_equal(np.asarray(peeked.stage)[~away], np.asarray(stepped.stage)[~away])
    np.testing.assert_array_equal(np.asarray(peeked.board.block_kind)[~away & ~won],
                                  np.asarray(states.board.block_kind)[~away & ~won])
    assert away.sum() == 4 and (~away & ~won).sum() == 11
