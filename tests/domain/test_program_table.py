"""The program table (constants.PROGRAMS) and the arrays derived from it (game-rules §6.2)."""

from hackmatrix.domain.constants import (
    FIRST_PROGRAM_ACTION, NUM_PROGRAMS, PROGRAM_CREDITS, PROGRAM_ENERGY, PROGRAM_NAMES,
    PROGRAM_SPAWN, PROGRAMS, Action,
)


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
