"""The engine at the edges of its input: counts at the scenario caps, queues of spawns
far beyond the board.

Every step goes through the session's jitted functions (tests/reliability/engine.py), so
the compiles are shared with the fuzz tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.domain import scenario
from hackmatrix.domain.constants import NUM_CELLS
from hackmatrix.domain.scenario import MAX_AMOUNT
from hackmatrix.domain.siphon import siphon_action
from tests.reliability import engine as E

INT32_MAX = 2**31 - 1
UP, DOWN, LEFT, RIGHT, SIPHON = 0, 1, 2, 3, 4
ACTION = {name: 5 + i for i, name in enumerate(scenario.PROGRAM_NAMES)}


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
