"""Action mask: observation-reward-metrics §2.5 examples M1–M23, game-rules §3.2 and §2.4."""

from tests.domain.conftest import (
    ACTION, M8, PROGRAMS, RIGHT, SIPHON, assert_breakdown, assert_invalid, build, data_block,
    enemy, pl, prog_block, res, rich, run, run_seq, scen, trans, transmissions, valid,
)


def test_m1_corner_on_empty_board_allows_up_and_right():
    assert valid(build(scen(0, 0))) == [0, 3]


def test_m2_block_above_masks_up():
    assert valid(build(scen(2, 2, blocks=[data_block(3, 2, 3)]))) == [1, 2, 3]


def test_m3_glitch_on_the_block_makes_up_valid():
    s = build(scen(2, 2, blocks=[data_block(3, 2, 3)], enemies=[enemy("glitch", 3, 2)]))
    assert valid(s) == [0, 1, 2, 3]


def test_m4_siphoned_block_is_still_a_block_for_the_mask():
    assert valid(build(scen(2, 2, blocks=[data_block(2, 1, 3, siphoned=True)]))) == [0, 1, 3]


def test_m5_virus_behind_a_block_cannot_be_shot():
    s = build(scen(2, 2, blocks=[data_block(1, 2, 3)], enemies=[enemy("virus", 0, 2)]))
    assert valid(s) == [0, 2, 3]


def test_m6_transmission_enemy_and_data_siphon_never_mask_a_direction():
    s = build(scen(2, 2, transmissions=[trans(2, 3, 2)], enemies=[enemy("daemon", 1, 2)],
                   resources=[res(3, 2, data_siphon=True)]))
    assert valid(s) == [0, 1, 2, 3]


def test_m7_owned_programs_without_credits_or_energy_are_masked():
    s = build(scen(2, 2, owned=PROGRAMS))
    assert valid(s) == [0, 1, 2, 3]


def test_m8_rich_player_on_empty_board():
    assert valid(build(rich())) == M8


def test_m9_reset_is_valid_below_full_hp():
    assert valid(build(rich(hp=2))) == sorted(M8 + [19])


def test_m10_lone_transmission_enables_warp_and_delay_only():
    assert valid(build(rich(transmissions=[trans(5, 0, 1)]))) == sorted(M8 + [8, 22])


def test_m11_hidden_cryptog_counts_for_enemy_programs():
    assert valid(build(rich(enemies=[enemy("cryptog", 4, 4)]))) == sorted(M8 + [5, 6, 8, 9])


def test_m12_diagonal_block_enables_crash_and_reduc():
    assert valid(build(rich(blocks=[data_block(3, 3, 2)]))) == sorted(M8 + [7, 25])


def test_m13_daemon_two_cells_up_enables_col_and_dbom_but_not_crash():
    assert valid(build(rich(enemies=[enemy("daemon", 4, 2)]))) == sorted(M8 + [5, 6, 8, 9, 13, 21])


def test_m14_glitch_on_siphoned_block_enables_debug_and_hack_not_reduc():
    s = build(rich(enemies=[enemy("glitch", 4, 4)], blocks=[data_block(4, 4, 3, siphoned=True)]))
    assert valid(s) == sorted(M8 + [5, 6, 8, 9, 11, 27])


def test_m15_reduc_needs_an_unsiphoned_block_with_spawn():
    both = build(rich(blocks=[data_block(0, 0, 3, spawn=0), prog_block(5, 0, "WAIT", spawn=1)]))
    assert valid(both) == sorted(M8 + [25])
    only_zero = build(rich(blocks=[data_block(0, 0, 3, spawn=0)]))
    assert valid(only_zero) == M8


def test_m16_score_is_masked_at_stage_8():
    assert valid(build(rich(stage=8))) == [a for a in M8 if a != 24]


def test_m17_show_and_calm_are_masked_while_active():
    assert valid(build(rich(show=True, calm=True))) == [a for a in M8 if a not in (18, 20)]


def test_m18_three_credits_three_energy():
    assert valid(build(scen(2, 2, owned=PROGRAMS, credits=3, energy=3))) == [0, 1, 2, 3, 10, 15, 18]


def test_m19_four_credits_no_energy_allows_exch_and_show():
    assert valid(build(scen(2, 2, owned=PROGRAMS, credits=4, energy=0))) == [0, 1, 2, 3, 17, 18]


def test_m20_atk_plus_ignores_attack_damage_but_allows_two_uses_per_stage():
    high = build(scen(2, 2, owned=["ATK+"], credits=20, energy=20, attack_damage=7))
    assert 26 in valid(high)
    s = build(scen(2, 2, owned=["ATK+"], credits=20, energy=20))
    r1, r2 = run_seq(s, [26, 26])
    assert 26 in valid(r1.state)
    assert 26 not in valid(r2.state)
    assert abs(float(r2.obs.player[7]) - 1.0) < 1e-6
    p = pl(r2.state)
    assert (p["credits"], p["energy"], p["attack_damage"]) == (12, 12, 3)


def test_m21_undo_needs_a_snapshot_from_a_full_enemy_turn():
    s = build(scen(2, 2, owned=["UNDO", "WAIT", "STEP"], credits=5, energy=10))
    assert 14 not in valid(s)
    assert 14 in valid(run(s, ACTION["WAIT"]).state)
    step_wait = run_seq(s, [ACTION["STEP"], ACTION["WAIT"]])
    assert 14 not in valid(step_wait[-1].state)
    assert 14 in valid(run(step_wait[-1].state, ACTION["WAIT"]).state)


def test_m22_siphoned_cell_without_block_enables_hack():
    # The flag can only be set without a block through a siphon (the builder's siphoned flag
    # belongs to a block entry); siphon with nothing around, then HACK is valid.
    s = build(rich(data_siphons=1))
    assert 27 not in valid(s)
    assert 27 in valid(run(s, SIPHON).state)


def test_m23_walled_in_player_owning_nothing_has_no_valid_action():
    s = build(scen(0, 0, blocks=[data_block(1, 0, 1), data_block(0, 1, 1)]))
    assert valid(s) == []


def test_transmission_on_block_masks_direction_but_executing_it_destroys_the_transmission():
    # game-rules §3.2 example (Q18).
    s = build(scen(0, 0, blocks=[data_block(0, 1, 3)], transmissions=[trans(0, 1, 3)]))
    assert valid(s) == [0]
    r = run(s, RIGHT)
    assert r.done is False
    assert_breakdown(r, {"kills": 0.3}, 0.29)
    assert transmissions(r.state) == []


def test_siphon_without_data_siphon_is_invalid_and_ends_the_episode():
    # observation-reward-metrics §2.4 example.
    s = build(scen(2, 2))
    assert SIPHON not in valid(s)
    assert_invalid(s, run(s, SIPHON))
