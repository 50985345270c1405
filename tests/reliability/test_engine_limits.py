"""The engine at the edges of its input: counts at the scenario caps, queues of spawns
far beyond the board, action indices outside 0..27.

Every step goes through the session's jitted functions (tests/reliability/engine.py), so
the compiles are shared with the fuzz tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.domain import env, scenario
from hackmatrix.domain.constants import NUM_CELLS, REWARD_KEYS
from hackmatrix.domain.scenario import MAX_AMOUNT
from hackmatrix.domain.siphon import siphon_action
from tests.reliability import engine as E

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
UP, DOWN, LEFT, RIGHT, SIPHON = 0, 1, 2, 3, 4
ACTION = {name: 5 + i for i, name in enumerate(scenario.PROGRAM_NAMES)}
BAD_ACTIONS = [-1, 28, 29, 1000, INT32_MIN, INT32_MAX]
BATCHED_AUTO_RESET = jax.jit(env.batched_step_auto_reset)


def build(player=None, **fields):
    return scenario.build({"player": {"row": 2, "col": 2, **(player or {})}, **fields}, E.PARAMS)


def live(trans) -> int:
    return int(np.asarray(trans.alive).sum())


# --- spawn queues beyond the board ----------------------------------------------------------

@pytest.mark.timeout(300, method="thread")
def test_the_largest_spawn_queue_a_scenario_can_make_fills_the_board_and_returns():
    """One siphon of four data blocks at the cap queues 4,000,000 transmissions; the enemy turn
    places one on every free cell (36 - player - 4 blocks = 31) and forgets the rest (§5.3 step 6)."""
    blocks = [{"row": r, "col": c, "kind": "data", "points": MAX_AMOUNT, "spawn_count": MAX_AMOUNT}
              for r, c in ((1, 2), (3, 2), (2, 1), (2, 3))]
    state = build({"data_siphons": 1, "score": MAX_AMOUNT}, blocks=blocks)
    out = E.host(E.step(state, SIPHON, 0))
    after = out[0]
    assert live(after.transmissions) == NUM_CELLS - 1 - 4
    assert int(after.pending_siphon) == 0
    assert int(after.player.score) == 5 * MAX_AMOUNT
    assert not bool(out[3])


@pytest.mark.timeout(300, method="thread")
def test_a_spawn_count_of_int32_max_siphoned_returns_and_the_queue_saturates():
    """The reported case (spawn_count 2**31-1, now refused by the scenario check) forced into a
    state: the siphon's queue saturates at int32 max instead of wrapping, and the placement
    loop stops at the board's 36 cells instead of running 2**31 times."""
    state = build({"data_siphons": 1}, blocks=[{"row": 1, "col": 2, "kind": "data", "points": 1}])
    board = state.board
    state = state.replace(board=board.replace(block_spawn=board.block_spawn.at[1, 2].set(INT32_MAX)))
    siphoned, _ = jax.jit(siphon_action)(state.replace(pending_siphon=jnp.int32(5)))
    assert int(siphoned.pending_siphon) == INT32_MAX
    out = E.host(E.step(state, SIPHON, 0))
    assert live(out[0].transmissions) == NUM_CELLS - 1 - 1
    assert int(out[0].pending_siphon) == 0


@pytest.mark.timeout(300, method="thread")
def test_pending_int32_max_in_the_batched_step_returns_and_fills_each_board():
    """The batched enemy turn's gathered spawn phase, with two rows queueing 2**31-1 spawns."""
    state = build()
    rows = [state.replace(pending_siphon=jnp.int32(INT32_MAX if i in (3, 9) else 0)) for i in range(E.BATCH)]
    batch = jax.tree_util.tree_map(jnp.asarray, E.stack([E.host(r) for r in rows]))
    keys = jax.random.split(E.key(1), E.BATCH)
    out = E.host(E.BATCHED_STEP(batch, jnp.full((E.BATCH,), UP, jnp.int32), keys, E.PARAMS))
    counts = np.asarray(out[0].transmissions.alive).sum(axis=1)
    assert counts[3] == counts[9] == NUM_CELLS - 1
    assert (np.delete(counts, [3, 9]) == 0).all()
    assert (np.asarray(out[0].pending_siphon) == 0).all()


# --- counts at the caps keep growing without wrapping ---------------------------------------

RICH = {"credits": MAX_AMOUNT, "energy": MAX_AMOUNT}


@pytest.mark.parametrize(("case", "player", "fields", "action", "expect"), [
    ("ATK+ at the attack cap", {**RICH, "attack_damage": MAX_AMOUNT}, {"owned_programs": ["ATK+"]},
     ACTION["ATK+"], lambda s: int(s.player.attack_damage) == MAX_AMOUNT + 1),
    ("SCORE at the score cap", {**RICH, "score": MAX_AMOUNT}, {"owned_programs": ["SCORE"]},
     ACTION["SCORE"], lambda s: int(s.player.score) == MAX_AMOUNT + 7),
    ("SIPH+ at the data-siphon cap", {**RICH, "data_siphons": MAX_AMOUNT}, {"owned_programs": ["SIPH+"]},
     ACTION["SIPH+"], lambda s: int(s.player.data_siphons) == MAX_AMOUNT + 1),
    ("EXCH at the energy cap", {**RICH}, {"owned_programs": ["EXCH"]},
     ACTION["EXCH"], lambda s: int(s.player.energy) == MAX_AMOUNT + 4),
    ("DELAY on a timer at the cap", RICH,
     {"owned_programs": ["DELAY"],
      "transmissions": [{"row": 0, "col": 0, "turns_remaining": MAX_AMOUNT, "enemy_type": "virus"}]},
     ACTION["DELAY"], lambda s: int(s.transmissions.turns[0]) == MAX_AMOUNT + 3),
    ("a move at the turn cap", {}, {"turn": MAX_AMOUNT}, UP, lambda s: int(s.turn) == MAX_AMOUNT + 1),
    ("walking onto a data siphon at the cap", {"data_siphons": MAX_AMOUNT},
     {"resources": [{"row": 3, "col": 2, "data_siphon": True}]},
     UP, lambda s: int(s.player.data_siphons) == MAX_AMOUNT + 1),
    ("siphoning five resources at the cap", {**RICH, "data_siphons": 1},
     {"resources": [{"row": r, "col": c, "credits": MAX_AMOUNT}
                    for r, c in ((2, 2), (1, 2), (3, 2), (2, 1), (2, 3))]},
     SIPHON, lambda s: int(s.player.credits) == 6 * MAX_AMOUNT),
    ("attacking an enemy at the HP cap", {"attack_damage": MAX_AMOUNT},
     {"enemies": [{"type": "daemon", "row": 3, "col": 2, "hp": MAX_AMOUNT}]},
     UP, lambda s: int(s.enemies.alive.sum()) == 0),
])  # fmt: skip
def test_an_ordinary_action_at_a_cap_adds_exactly_and_keeps_every_invariant(case, player, fields, action, expect):
    state = build(player, **fields)
    mask = np.asarray(E.VALID(state))
    assert mask[action], f"{case}: action {action} should be legal"
    out = E.host(E.step(state, action, 0))
    E.check_step(E.host(state), mask, action, out, E.signature(out))
    assert expect(out[0]), case


# --- action indices outside 0..27 -------------------------------------------------------------

def _scenarios_for_bad_actions():
    """Boards where the clipped index would have done something: UP is legal (-1 played UP)
    and HACK is owned and valid (28 and above played HACK)."""
    hack = {"owned_programs": ["HACK", "ATK+"]}
    return [
        build({"credits": 10, "energy": 10}, **hack,
              blocks=[{"row": 3, "col": 3, "kind": "data", "points": 2, "siphoned": True}],
              enemies=[{"type": "virus", "row": 3, "col": 3, "hp": 2}]),
        build({"row": 3, "col": 3, "credits": 10, "energy": 10, "data_siphons": 1}, **hack,
              blocks=[{"row": 5, "col": 0, "kind": "data", "points": 2, "siphoned": True}],
              enemies=[{"type": "daemon", "row": 5, "col": 3, "hp": 3}]),
    ]


def _assert_invalid(before, out, where: str):
    after, _, reward, done, bd = out
    assert bool(done), f"{where}: not done"
    assert float(reward) == 0.0, f"{where}: reward {reward}"
    assert all(float(bd[k]) == 0.0 for k in REWARD_KEYS), f"{where}: {bd}"
    changed = E.trees_equal(before, after)
    assert not changed, f"{where}: changed {changed}"


@pytest.mark.parametrize("action", BAD_ACTIONS)
def test_an_action_index_outside_0_to_27_is_the_invalid_action_in_the_single_step(action):
    for i, state in enumerate(_scenarios_for_bad_actions()):
        assert np.asarray(E.VALID(state))[[0, 27]].all()  # UP and HACK would have run
        out = E.host(E.STEP(state, jnp.int32(action), E.key(i), E.PARAMS))
        _assert_invalid(E.host(state), out, f"scenario {i}, action {action}")
        assert np.array_equal(out[1].grid, E.host(E.OBSERVE(state)).grid)


def _batch_with_bad_actions():
    """Even rows an out-of-range index, odd rows a legal one (HACK or DOWN)."""
    singles = _scenarios_for_bad_actions()
    rows = [singles[(i // 2) % 2] for i in range(E.BATCH)]
    batch = jax.tree_util.tree_map(jnp.asarray, E.stack([E.host(r) for r in rows]))
    actions = np.array([
        BAD_ACTIONS[(i // 2) % len(BAD_ACTIONS)] if i % 2 == 0 else (ACTION["HACK"] if i % 4 == 1 else DOWN)
        for i in range(E.BATCH)
    ], np.int32)
    return rows, batch, actions, jax.random.split(E.key(7), E.BATCH)


def test_an_action_index_outside_0_to_27_is_the_invalid_action_in_the_batched_step():
    rows, batch, actions, keys = _batch_with_bad_actions()
    out = E.host(E.BATCHED_STEP(batch, jnp.asarray(actions), keys, E.PARAMS))
    for i in range(E.BATCH):
        mine = E.index(out, i)
        if i % 2 == 0:
            _assert_invalid(E.host(rows[i]), mine, f"row {i}, action {actions[i]}")
        else:  # the legal rows beside them are stepped as by the single step
            single = E.host(E.STEP(rows[i], jnp.int32(actions[i]), keys[i], E.PARAMS))
            assert float(mine[2]) == float(single[2]) and not bool(mine[3])
            assert not E.trees_equal(mine[0], single[0]), f"row {i}"


def test_an_action_index_outside_0_to_27_is_the_invalid_action_in_the_auto_reset_step():
    """Same outputs as a masked legal index in that row: reward 0, done, a fresh game."""
    rows, batch, actions, keys = _batch_with_bad_actions()
    reset_keys = jax.random.split(E.key(8), E.BATCH)
    masked = actions.copy()
    for i in range(0, E.BATCH, 2):
        masked[i] = int(np.flatnonzero(~np.asarray(E.VALID(rows[i])))[0])
    got = E.host(BATCHED_AUTO_RESET(batch, jnp.asarray(actions), keys, reset_keys, E.PARAMS))
    want = E.host(BATCHED_AUTO_RESET(batch, jnp.asarray(masked), keys, reset_keys, E.PARAMS))
    assert not E.trees_equal(got, want)
    reward, done, bd, ended = got[1], got[2], got[3], got[4]
    bad = np.arange(E.BATCH) % 2 == 0
    assert done[bad].all() and (reward[bad] == 0).all() and not done[~bad].any()
    assert all((np.asarray(bd[k])[bad] == 0).all() for k in REWARD_KEYS)
    host_batch = E.host(batch)
    assert np.array_equal(ended["stage"][bad], host_batch.stage[bad])
    assert np.array_equal(ended["score"][bad], host_batch.player.score[bad])
    assert np.array_equal(ended["hp"][bad], host_batch.player.hp[bad])
