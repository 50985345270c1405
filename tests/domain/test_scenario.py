"""Scenario building: game-rules §9.2 (the original's setState) and the project's validation errors."""

import pytest

from hackmatrix.domain import scenario
from hackmatrix.domain.programs import PROGRAM_NAMES
from tests.domain.conftest import (
    ACTION, PROGRAMS, build, cell, data_block, desc, enemy, hidden, obs_of, pl, prog_block, res, run,
    scen, trans, valid,
)


def test_scenario_build_example_applies_entries_in_order():
    s = build(scen(0, 0, hp=5, stage=5, turn=3,
                   enemies=[{"type": "VIRUS", "row": 2, "col": 2, "hp": 2}],
                   blocks=[data_block(2, 1, 2), prog_block(4, 3, "d_bomb", spawn=4)],
                   resources=[res(5, 5, credits=4), res(3, 1, credits=2), res(3, 1, energy=3),
                              res(3, 2, credits=2), res(3, 2), res(1, 1, credits=1), res(1, 1, data_siphon=True)]))
    o = obs_of(s)
    assert pl(s)["hp"] == 3
    assert [e["type"] for e in hidden(s)["enemies"]] == ["virus"]
    assert cell(o, 5, 5) == {"credits": 1.3333, "exit": 1.0}
    assert cell(o, 4, 3) == {"program_block": 1.0, "block_program:D_BOM": 1.0, "block_spawn": 0.4444}
    assert cell(o, 3, 1) == {"energy": 1.0}
    assert cell(o, 3, 2) == {"credits": 0.6667}
    assert cell(o, 1, 1) == {"credits": 0.3333, "data_siphon": 1.0}
    h = hidden(s)
    assert (h["turn"], h["scheduled_task_interval"], h["next_scheduled_task_turn"],
            h["pending_siphon_transmissions"]) == (3, 12, 12, 0)
    assert desc(s)["stage"] == 5


@pytest.mark.parametrize("hp,expected", [(5, 3), (-1, 3), (0, 0), (2, 2)])
def test_player_hp_outside_0_to_3_becomes_3(hp, expected):
    assert pl(build(scen(0, 0, hp=hp)))["hp"] == expected


def test_scenario_starting_dead_ends_on_its_first_successful_action():
    s = build(scen(0, 0, hp=0))
    r = run(s, 0)
    assert r.done and pl(r.state)["hp"] == 0


def test_scenario_has_exit_at_5_5_empty_history_and_no_flags():
    s = build(scen(0, 0, owned=["UNDO"], credits=5, stage=6, turn=30))
    assert cell(obs_of(s), 5, 5) == {"exit": 1.0}
    assert ACTION["UNDO"] not in valid(s)
    assert hidden(s)["enemies"] == []


def test_scenario_enemies_get_no_disabled_turns_and_keep_hp_and_flags():
    s = build(scen(0, 0, enemies=[enemy("daemon", 3, 3, hp=5, stunned=True, spawned_from_siphon=True,
                                        from_scheduled_task=True), enemy("glitch", 3, 3, hp=0)],
                   transmissions=[trans(4, 4, 0, "cryptog")]))
    h = hidden(s)["enemies"]
    assert h == [
        {"type": "daemon", "row": 3, "col": 3, "hp": 5, "disabled_turns": 0, "stunned": True,
         "spawned_from_siphon": True, "from_scheduled_task": True},
        {"type": "glitch", "row": 3, "col": 3, "hp": 0, "disabled_turns": 0, "stunned": False,
         "spawned_from_siphon": False, "from_scheduled_task": False},
    ]
    assert desc(s)["transmissions"] == [{"row": 4, "col": 4, "turns_remaining": 0, "enemy_type": "cryptog"}]


def test_program_names_accept_aliases_case_insensitively():
    for alias, act in [("siphplus", 16), ("ANTI_V", 23), ("atkplus", 26), ("dbom", 21), ("push", 5)]:
        o = obs_of(build(scen(0, 0, blocks=[prog_block(2, 2, alias, spawn=1)])))
        assert cell(o, 2, 2).get(f"block_program:{PROGRAM_NAMES[act - 5]}") == 1.0


def test_scenario_round_trips_through_json():
    d = scen(1, 2, credits=3, owned=["HACK", "PUSH"], enemies=[enemy("virus", 3, 3)], transmissions=[trans(2, 2, 2)],
             blocks=[data_block(4, 4, 3), prog_block(0, 3, "ROW", 2, siphoned=True)], resources=[res(0, 0, energy=2)])
    sc = scenario.Scenario.from_dict(d)
    again = scenario.Scenario.from_json(sc.to_json())
    assert again == sc
    assert desc(build(d)) == desc(scenario.build(again))


@pytest.mark.parametrize("bad,field", [
    ({"enemies": [{"type": "dragon", "row": 1, "col": 1, "hp": 2}]}, "enemies[0].type"),
    ({"transmissions": [{"row": 1, "col": 1, "turns_remaining": 1, "enemy_type": "ghost"}]},
     "transmissions[0].enemy_type"),
    ({"blocks": [{"row": 4, "col": 4, "kind": "program", "program": "bogus", "spawn_count": 1}]}, "blocks[0].program"),
    ({"owned_programs": ["FLY"]}, "owned_programs[0]"),
    ({"blocks": [{"row": 5, "col": 5, "kind": "data", "points": 3, "spawn_count": 3}]}, "blocks[0]"),
    ({"blocks": [{"row": 2, "col": 2, "kind": "data", "points": 3, "spawn_count": 3},
                 {"row": 2, "col": 2, "kind": "data", "points": 1, "spawn_count": 1}]}, "blocks[1]"),
    ({"blocks": [{"row": 2, "col": 4, "kind": "data", "points": 3, "spawn_count": 3}],
      "resources": [{"row": 2, "col": 4, "data_siphon": True}]}, "resources[0]"),
])
def test_scenario_build_rejects_invalid_input_naming_the_field(bad, field):
    d = {"player": {"row": 0, "col": 0}, **bad}
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        scenario.build(d)


def test_every_program_name_is_accepted():
    s = build(scen(0, 0, owned=PROGRAMS))
    assert [int(x) for x in obs_of(s).programs] == [1] * 23
