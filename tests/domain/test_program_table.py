"""The program table (programs.PROGRAMS): the arrays derived from it (game-rules §6.2) and
each program's effect function read on its own (§6.3)."""

import jax

from hackmatrix.domain import programs
from hackmatrix.domain.constants import FIRST_PROGRAM_ACTION, MAX_HP, NUM_PROGRAMS, Action
from hackmatrix.domain.programs import (
    PROGRAM_CREDITS, PROGRAM_ENERGY, PROGRAM_NAMES, PROGRAM_SPAWN, PROGRAMS, Context, Effect,
)
from tests.domain.conftest import build, data_block, enemy, scen


def test_derived_arrays_hold_the_specs_costs_and_spawn_counts():
    # game-rules §6.2, as the parallel arrays held them before the table.
    assert PROGRAM_CREDITS.tolist() == [0, 0, 3, 2, 1, 0, 3, 3, 3, 1, 0, 5, 4, 2, 0, 2, 3, 1, 3, 0, 2, 4, 2]
    assert PROGRAM_ENERGY.tolist() == [2, 2, 2, 2, 1, 1, 0, 1, 1, 0, 3, 0, 0, 0, 4, 4, 0, 2, 0, 5, 1, 4, 2]
    assert PROGRAM_SPAWN.tolist() == [4, 4, 6, 5, 3, 1, 4, 2, 2, 3, 4, 7, 3, 2, 2, 6, 4, 4, 4, 5, 3, 8, 4]
    assert {a.dtype.name for a in (PROGRAM_CREDITS, PROGRAM_ENERGY, PROGRAM_SPAWN)} == {"int32"}


def test_table_rows_are_in_action_order():
    assert len(PROGRAMS) == NUM_PROGRAMS == len(PROGRAM_NAMES)
    actions = [a for a in Action if a >= FIRST_PROGRAM_ACTION]
    assert [a.name.replace("_PLUS", "+").replace("ANTI_V", "ANTI-V") for a in actions] == list(PROGRAM_NAMES)
    assert PROGRAM_NAMES[Action.ATK_PLUS - FIRST_PROGRAM_ACTION] == "ATK+"


def test_each_row_names_its_own_effect_and_predicate():
    row = {p.name: p for p in PROGRAMS}
    assert row["SIPH+"].effect is programs.siph_plus and row["SIPH+"].applicable is programs.always
    assert row["D_BOM"].effect is programs.d_bom and row["D_BOM"].applicable is programs.any_daemon
    assert row["CRASH"].applicable is programs.something_around
    assert len({p.effect for p in PROGRAMS}) == NUM_PROGRAMS  # one function per program


def test_the_mask_is_the_tables_predicates():
    # A daemon two cells right of the player, in its row, on no block; nothing siphoned.
    s = build(scen(2, 2, enemies=[enemy("daemon", 2, 4)], blocks=[data_block(0, 0, 1)]))
    applicable = dict(zip(PROGRAM_NAMES, programs.program_applicable(s).tolist()))
    assert applicable["ROW"] and applicable["D_BOM"] and applicable["PUSH"] and applicable["WAIT"]
    assert not applicable["COL"] and not applicable["ANTI-V"] and not applicable["DEBUG"]
    assert not applicable["HACK"] and not applicable["DELAY"] and not applicable["RESET"]
    assert not applicable["CRASH"]  # nothing on the 8 cells around (2, 2)


def _context(s):
    words = jax.random.bits(jax.random.PRNGKey(0), (108,))
    return Context(s, words[:72], words[72:])


def test_an_effect_is_only_its_intents():
    s = build(scen(2, 2, enemies=[enemy("virus", 0, 2), enemy("daemon", 2, 5)], hp=2))
    c = _context(s)
    assert programs.siph_plus(c).player.data_siphons == s.player.data_siphons + 1
    assert programs.siph_plus(c)._replace(player=None) == Effect()
    reset = programs.reset(c)
    assert int(reset.player.hp) == MAX_HP and bool(reset.program_waste)  # RESET at 2 HP: a waste
    anti_v = programs.anti_v(c)
    assert anti_v.hit.tolist()[:2] == [True, False] and int(anti_v.damage) == 1
    assert programs.col(c).hit.tolist()[:2] == [True, False]  # the virus is in column 2
    assert programs.wait(c) == Effect(ends_turn=True)
    assert programs.push(c) == Effect(displace_away=True) and programs.pull(c) == Effect(displace_away=False)
    assert programs.step(c) == Effect(step_active=True)
