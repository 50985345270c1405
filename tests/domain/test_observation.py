"""Observation: observation-reward-metrics §1.2 example, §1.5 layout and examples O1–O13."""

import numpy as np

from hackmatrix.domain import env
from hackmatrix.domain.observation import decode_observation, enemy_visible, observation_code
from hackmatrix.domain.constants import (
    GRID, NUM_CHANNELS, NUM_PROGRAMS, PLAYER_FEATURES, channel, player_feature,
)
from tests.domain.conftest import (
    ACTION, RIGHT, SIPHON, UP, build, cell, data_block, enemy, grid, nonzero, obs_of, player_of, player_vec,
    prog_block, res, rollout, run, run_seq, scen, trans, valid,
)


def _flat(r: int, c: int, name: str) -> int:
    """Index of width-1 grid channel ``name`` of cell (r, c) in the flat observation."""
    return PLAYER_FEATURES + NUM_PROGRAMS + NUM_CHANNELS * (GRID * r + c) + channel(name).start


def test_grid_channel_table_gives_the_specs_layout():
    # observation-reward-metrics §1.5: 42 channels; these offsets are the spec's numbering.
    assert NUM_CHANNELS == 42 and PLAYER_FEATURES == 10
    spec = {"enemy_type": (0, 4), "enemy_hp": (4, 5), "data_block": (7, 8), "block_points": (10, 11),
            "block_program": (12, 35), "block_spawn": (35, 36), "transmission": (36, 37),
            "credits": (37, 38), "energy": (38, 39), "exit": (40, 41), "siphon_center": (41, 42)}
    assert {name: (channel(name).start, channel(name).stop) for name in spec} == spec
    assert [player_feature(n) for n in ("stage", "show_activated")] == [5, 8]


def test_player_vector_example_scales_and_does_not_cap_siphons_or_attack():
    s = build(scen(2, 3, hp=2, credits=60, energy=10, data_siphons=12, attack_damage=5, stage=3,
                   show=True, calm=True, owned=["PUSH", "SIPH+", "HACK"]))
    o = obs_of(s)
    assert player_vec(o) == [0.4, 0.6, 0.6667, 1.0, 0.2, 0.2857, 1.2, 2.0, 1.0, 1.0]
    assert np.flatnonzero(np.asarray(o.programs)).tolist() == [0, 11, 22]


def test_flat_observation_is_player_then_programs_then_row_major_grid():
    s = build(scen(2, 3, hp=2, owned=["HACK"], blocks=[data_block(4, 1, 7)]))
    o = obs_of(s)
    flat = np.asarray(env.flat_observation(s))
    assert flat.shape == (1545,)
    assert np.array_equal(flat[:10], np.asarray(o.player))
    assert np.array_equal(flat[10:33], np.asarray(o.programs, np.float32))
    assert flat[_flat(4, 1, "data_block")] == 1.0
    assert np.array_equal(flat[33:], grid(o).astype(np.float32).reshape(-1))


def test_o1_cryptogs_are_visible_only_in_the_players_row_or_column_unless_show():
    blocks = [data_block(1, 3, 3)]
    cryptogs = [enemy("cryptog", 3, 4), enemy("cryptog", 1, 4, hp=1), enemy("cryptog", 4, 1)]
    o = obs_of(build(scen(1, 1, enemies=cryptogs, blocks=blocks)))
    assert cell(o, 3, 4) == {}
    assert cell(o, 1, 4) == {"enemy_type:cryptog": 1.0, "enemy_hp": 0.3333}
    assert cell(o, 4, 1) == {"enemy_type:cryptog": 1.0, "enemy_hp": 0.6667}
    assert cell(o, 1, 3) == {"data_block": 1.0, "block_points": 0.3333, "block_spawn": 0.3333}
    shown = obs_of(build(scen(1, 1, enemies=cryptogs, blocks=blocks, show=True)))
    assert cell(shown, 3, 4) == {"enemy_type:cryptog": 1.0, "enemy_hp": 0.6667}


def test_enemy_visible_is_the_rule_the_observation_applies():
    # Player at (1, 1): the Cryptog at (3, 4) is out of sight, those in row 1 and column 1
    # and the Virus are seen; SHOW reveals every one.
    enemies = [enemy("cryptog", 3, 4), enemy("cryptog", 1, 4), enemy("cryptog", 4, 1),
               enemy("virus", 5, 5)]
    state = build(scen(1, 1, enemies=enemies))
    assert np.asarray(enemy_visible(state))[:4].tolist() == [False, True, True, True]
    shown = build(scen(1, 1, enemies=enemies, show=True))
    assert np.asarray(enemy_visible(shown))[:4].tolist() == [True, True, True, True]


def test_o2_hidden_cryptog_masks_the_virus_listed_after_it():
    o = obs_of(build(scen(0, 0, enemies=[enemy("cryptog", 3, 4), enemy("virus", 3, 4)])))
    assert cell(o, 3, 4) == {}


def test_o3_hp0_enemy_is_skipped_and_the_next_live_enemy_is_shown():
    o = obs_of(build(scen(0, 0, enemies=[
        enemy("virus", 3, 4, hp=0),
        enemy("daemon", 3, 4, hp=3, stunned=True, spawned_from_siphon=True),
    ])))
    assert cell(o, 3, 4) == {"enemy_type:daemon": 1.0, "enemy_hp": 1.0, "enemy_stunned": 1.0, "enemy_from_siphon": 1.0}


def test_o4_data_and_program_block_channels():
    o = obs_of(build(scen(0, 0, blocks=[data_block(2, 2, 7), prog_block(3, 3, "ATK+", spawn=8)])))
    assert cell(o, 2, 2) == {"data_block": 1.0, "block_points": 0.7778, "block_spawn": 0.7778}
    assert cell(o, 3, 3) == {"program_block": 1.0, "block_program:ATK+": 1.0, "block_spawn": 0.8889}


def test_o5_resource_under_a_block_is_visible_only_once_the_cell_is_siphoned():
    o = obs_of(build(scen(0, 0, blocks=[data_block(2, 2, 4), data_block(3, 3, 4, siphoned=True)],
                          resources=[res(2, 2, credits=3), res(3, 3, energy=2), res(0, 5, data_siphon=True)])))
    assert cell(o, 2, 2) == {"data_block": 1.0, "block_points": 0.4444, "block_spawn": 0.4444}
    assert cell(o, 3, 3) == {"data_block": 1.0, "block_points": 0.4444, "block_siphoned": 1.0, "block_spawn": 0.4444, "energy": 0.6667}
    assert cell(o, 0, 5) == {"data_siphon": 1.0}


def test_o6_transmission_countdown_channel_saturates_at_four_turns():
    o = obs_of(build(scen(0, 0, transmissions=[trans(3, 1, 1), trans(3, 2, 2), trans(3, 3, 4), trans(3, 4, 7)])))
    assert [cell(o, 3, c).get("transmission") for c in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 1.0]


def test_o7_delay_then_two_waits_shows_five_four_three_turns():
    s = build(scen(0, 0, owned=["DELAY", "WAIT"], credits=5, energy=5, transmissions=[trans(3, 3, 2)]))
    rs = run_seq(s, [ACTION["DELAY"], ACTION["WAIT"], ACTION["WAIT"]])
    assert [cell(r.obs, 3, 3).get("transmission") for r in rs] == [1.0, 1.0, 0.75]


def test_o9_reduc_lowers_unsiphoned_spawn_counts_only():
    s = build(scen(0, 0, owned=["REDUC"], credits=2, energy=1, blocks=[
        data_block(2, 2, 3), data_block(3, 3, 3, siphoned=True), prog_block(4, 4, "ROW", spawn=1)]))
    o = run(s, ACTION["REDUC"]).obs
    assert cell(o, 2, 2).get("block_spawn") == 0.2222
    assert cell(o, 3, 3).get("block_spawn") == 0.3333
    assert cell(o, 4, 4) == {"program_block": 1.0, "block_program:ROW": 1.0}


def test_o10_stun_is_visible_only_when_no_full_enemy_turn_followed():
    base = dict(owned=["STEP", "ROW"], credits=3, energy=4, enemies=[enemy("daemon", 2, 0)])
    s = build(scen(0, 0, **base))
    after_step = run_seq(s, [ACTION["STEP"], UP])[-1]
    assert cell(after_step.obs, 2, 0) == {"enemy_type:daemon": 1.0, "enemy_hp": 0.6667, "enemy_stunned": 1.0}
    plain = run(s, UP)
    assert cell(plain.obs, 2, 0) == {"enemy_type:daemon": 1.0, "enemy_hp": 0.6667}
    row_board = build(scen(0, 0, owned=["ROW"], credits=3, energy=1, enemies=[enemy("daemon", 0, 3)]))
    assert cell(run(row_board, ACTION["ROW"]).obs, 0, 3).get("enemy_stunned") == 1.0


def test_o11_stun_carries_into_the_new_stage_and_show_calm_reset():
    s = build(scen(5, 4, owned=["ROW"], credits=3, energy=1, show=True, calm=True,
                   enemies=[enemy("daemon", 5, 0)]))
    r = run_seq(s, [ACTION["ROW"], RIGHT])[-1]
    assert r.done is False
    o = r.obs
    assert player_of(o)["stage"] == round(1 / 7, 4)
    assert player_of(o)["show_activated"] == player_of(o)["scheduled_tasks_disabled"] == 0.0
    c = cell(o, 5, 0)
    assert {k: c[k] for k in ("enemy_type:daemon", "enemy_hp", "enemy_stunned")} == {
        "enemy_type:daemon": 1.0, "enemy_hp": 0.6667, "enemy_stunned": 1.0,
    }


def test_o12_undo_drops_the_siphon_flag_of_hatched_enemies():
    s = build(scen(0, 0, data_siphons=1, credits=1, energy=1, owned=["WAIT", "UNDO"], show=True,
                   blocks=[data_block(1, 0, 2)]))
    rs = run_seq(s, [SIPHON, ACTION["WAIT"], ACTION["UNDO"]], seed=3)
    g_wait, g_undo = grid(rs[1].obs), grid(rs[2].obs)
    assert int((g_wait[..., channel("enemy_type")].sum(-1) > 0).sum()) == 2
    assert int((g_wait[..., channel("enemy_from_siphon")] == 1).sum()) == 2
    assert int((g_undo[..., channel("enemy_type")].sum(-1) > 0).sum()) == 2
    assert int((g_undo[..., channel("enemy_from_siphon")] != 0).sum()) == 0


def test_o13_empty_siphon_shows_only_the_centre_but_enables_hack():
    s = build(scen(2, 2, data_siphons=1, owned=["HACK"], credits=2, energy=2))
    r = run(s, SIPHON)
    assert nonzero(r.obs) == {(2, 2, "siphon_center"): 1.0, (5, 5, "exit"): 1.0}
    assert 27 in valid(r.state)


def test_observation_after_invalid_action_equals_previous_observation():
    s = build(scen(0, 0, blocks=[data_block(1, 0, 2)], enemies=[enemy("virus", 3, 3)]))
    r = run(s, 1)
    assert r.done is True
    assert np.array_equal(grid(r.obs), grid(obs_of(s)))


# ---- the int8 observation code (what a trainer stores) --------------------------------

def test_observation_code_decodes_to_the_flat_observation_bit_for_bit():
    s = build(scen(2, 3, hp=2, credits=60, energy=10, data_siphons=12, attack_damage=5, stage=3,
                   enemies=[enemy("daemon", 0, 1), enemy("cryptog", 2, 5, hp=1)],
                   transmissions=[trans(4, 4, turns=6), trans(5, 0, turns=2)],
                   blocks=[data_block(4, 1, 7), prog_block(1, 1, "HACK", spawn=3)],
                   resources=[res(3, 3, credits=2), res(0, 5, energy=3)], owned=["PUSH"]))
    code = np.asarray(observation_code(s))
    assert code.dtype == np.int8 and code.shape == (1545,)
    decoded = np.asarray(decode_observation(code))
    assert np.array_equal(decoded, np.asarray(env.flat_observation(s)))
    # Numerators: credits 60 is stored as its cap 50 (min(60/50, 1) = 50/50), siphons 12
    # uncapped, a timer of 6 as 4 (min(6/4, 1) = 4/4), the data block's points as 7 of 9.
    assert code[:10].tolist() == [2, 3, 2, 50, 10, 2, 12, 4, 0, 0]
    assert code[_flat(4, 4, "transmission")] == 4 and decoded[_flat(4, 4, "transmission")] == 1.0
    assert code[_flat(5, 0, "transmission")] == 2 and decoded[_flat(5, 0, "transmission")] == 0.5
    assert code[_flat(4, 1, "block_points")] == 7
    assert decoded[_flat(4, 1, "block_points")] == np.float32(7) / 9


def test_capped_numerators_give_the_specs_min_formulas_exactly_in_float32():
    # Player credits/energy: min(x / 50, 1) == min(x, 50) / 50; timers: min(t / 4, 1) == min(t, 4) / 4
    # (negative timers, possible in scenarios, included).
    x = np.arange(0, 5000, dtype=np.float32)
    assert np.array_equal(np.minimum(x / np.float32(50), 1), np.minimum(x, 50) / np.float32(50))
    t = np.arange(-128, 128, dtype=np.float32)
    assert np.array_equal(np.minimum(t / np.float32(4), 1), np.minimum(t, 4) / np.float32(4))


def test_random_play_observations_decode_exactly_and_follow_the_player_formulas():
    for kind in ("plain", "rich"):
        _, stats = rollout(kind)
        assert stats["code_decodes_exactly"].all()
        assert stats["player_obs_is_spec"].all()
