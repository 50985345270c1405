"""Rewards: observation-reward-metrics §3.5, §3.6 (R1–R29, Q1–Q9) and game-rules §4.3 examples."""

from collections import deque

import pytest

from tests.domain.conftest import (
    ACTION, DOWN, LEFT, RIGHT, SIPHON, UP, assert_breakdown, player_of, build, cell, data_block, desc, enemy,
    grid, hidden, pl, prog_block, res, run, run_seq, scen, trans, transmissions, valid,
)

WAIT = ACTION["WAIT"]


def row_blocks(row, cols):
    return [data_block(row, c, 1) for c in cols]


def bfs(blocks: set, start, target) -> int:
    """observation-reward-metrics §3.3.2 distance: blocks impassable except the target; 0 if none."""
    seen, queue = {start}, deque([(start, 0)])
    while queue:
        (r, c), d = queue.popleft()
        if (r, c) == target:
            return d
        for dr, dc in ((1, 0), (-1, 0), (0, -1), (0, 1)):
            n = (r + dr, c + dc)
            if 0 <= n[0] < 6 and 0 <= n[1] < 6 and n not in seen and (n == target or n not in blocks):
                seen.add(n)
                queue.append((n, d + 1))
    return 0


def block_cells(state) -> set:
    return {(b["row"], b["col"]) for b in desc(state)["blocks"]}


# --- §3.5 end-to-end examples ---------------------------------------------------------------

def test_step_onto_exit_pays_stage_and_distance():
    assert_breakdown(run(build(scen(5, 4)), RIGHT), {"stage_completion": 1.0, "distance_shaping": 0.05}, 1.04)


def test_stage_8_win_pays_100_and_victory_with_score():
    r = run(build(scen(5, 4, stage=8, score=10)), RIGHT)
    assert r.done
    assert_breakdown(r, {"stage_completion": 100.0, "victory": 1500.0, "distance_shaping": 0.05}, 1600.04)


def test_line_of_sight_kill_pays_kills():
    assert_breakdown(run(build(scen(3, 3, enemies=[enemy("virus", 4, 3, hp=1)])), UP), {"kills": 0.3}, 0.29)


def test_walking_onto_a_data_siphon_pays_data_siphon_and_distance():
    r = run(build(scen(3, 3, resources=[res(4, 3, data_siphon=True)])), UP)
    assert_breakdown(r, {"data_siphon": 1.0, "distance_shaping": 0.05}, 1.04)


def test_siphoning_a_data_block_pays_half_its_points():
    r = run(build(scen(3, 3, data_siphons=1, blocks=[data_block(4, 3, 10)])), SIPHON)
    assert_breakdown(r, {"score_gain": 5.0}, 4.99)


def test_siphon_with_a_strictly_better_position_pays_quality_penalty():
    r = run(build(scen(2, 1, data_siphons=1, blocks=[data_block(2, 2, 5)], resources=[res(2, 4, credits=10)])), SIPHON)
    assert_breakdown(r, {"score_gain": 2.5, "siphon_quality": -0.25}, 2.24)


def test_reset_at_hp_1_recovers_two():
    r = run(build(scen(2, 2, hp=1, energy=4, owned=["RESET"])), ACTION["RESET"])
    assert_breakdown(r, {"hp_recovery": 2.0, "resource_gain": -0.2}, 1.79)


def test_reset_at_hp_2_is_program_waste():
    r = run(build(scen(2, 2, hp=2, energy=4, owned=["RESET"])), ACTION["RESET"])
    assert_breakdown(r, {"hp_recovery": 1.0, "program_waste": -0.3, "resource_gain": -0.2}, 0.49)


def test_siph_plus_is_not_a_collected_data_siphon():
    r = run(build(scen(2, 2, credits=5, owned=["SIPH+"])), ACTION["SIPH+"])
    assert_breakdown(r, {"resource_gain": -0.25}, -0.26)
    assert pl(r.state)["data_siphons"] == 1


def test_wait_next_to_a_virus_costs_one_hp():
    r = run(build(scen(3, 3, energy=1, owned=["WAIT"], enemies=[enemy("virus", 4, 3)])), WAIT)
    assert not r.done
    assert_breakdown(r, {"resource_gain": -0.05, "damage_penalty": -1.0}, -1.06)


def test_wait_next_to_a_virus_at_hp_1_dies_at_stage_1_without_death_penalty():
    r = run(build(scen(3, 3, hp=1, energy=1, owned=["WAIT"], enemies=[enemy("virus", 4, 3)])), WAIT)
    assert r.done
    assert_breakdown(r, {"resource_gain": -0.05, "damage_penalty": -1.0}, -1.06)


# --- §3.6 R1–R29 ---------------------------------------------------------------------------

def test_r1_moving_away_from_the_gap_pays_nothing():
    r = run(build(scen(2, 3, blocks=row_blocks(3, range(5)))), LEFT)
    assert_breakdown(r, {}, -0.01)


def test_r2_unreachable_exit_pays_no_distance():
    r = run(build(scen(0, 0, blocks=row_blocks(1, range(6)))), RIGHT)
    assert_breakdown(r, {}, -0.01)


def test_r3_exit_step_heals_and_pays_holding():
    r = run(build(scen(5, 4, hp=2, credits=7, energy=3)), RIGHT)
    assert_breakdown(r, {"stage_completion": 1.0, "distance_shaping": 0.05, "hp_recovery": 1.0,
                         "resource_holding": 0.1}, 2.14)


def test_r4_completing_stage_3_pays_4():
    r = run(build(scen(4, 5, stage=3)), UP)
    assert_breakdown(r, {"stage_completion": 4.0, "distance_shaping": 0.05}, 4.04)


def test_r5_winning_at_hp_1_keeps_stage_8_and_heals():
    r = run(build(scen(5, 4, stage=8, hp=1, credits=2)), RIGHT)
    assert r.done
    assert_breakdown(r, {"stage_completion": 100.0, "victory": 500.0, "distance_shaping": 0.05,
                         "hp_recovery": 1.0, "resource_holding": 0.02}, 601.06)
    assert player_of(r.obs)["stage"] == 1.0
    assert pl(r.state)["hp"] == 2
    assert desc(r.state)["stage"] == 8


def test_r6_exit_step_runs_no_enemy_turn():
    r = run(build(scen(5, 4, hp=1, enemies=[enemy("daemon", 4, 4)])), RIGHT)
    assert not r.done
    assert_breakdown(r, {"stage_completion": 1.0, "distance_shaping": 0.05, "hp_recovery": 1.0}, 2.04)


def test_r7_shooting_a_transmission_is_a_kill():
    r = run(build(scen(0, 0, transmissions=[trans(0, 4, 3)])), RIGHT)
    assert_breakdown(r, {"kills": 0.3}, 0.29)


def test_r8_killing_a_scheduled_task_enemy_pays_no_kill():
    r = run(build(scen(3, 3, enemies=[enemy("virus", 4, 3, hp=1, from_scheduled_task=True)])), UP)
    assert_breakdown(r, {}, -0.01)
    assert desc(r.state)["enemies"] == []


def test_r9_crash_counts_one_kill_per_cell_and_exposes_resources():
    s = build(scen(2, 2, credits=20, energy=20, owned=["CRASH"],
                   enemies=[enemy("virus", 1, 1), enemy("daemon", 3, 3), enemy("virus", 3, 1),
                            enemy("glitch", 3, 1), enemy("glitch", 2, 3, from_scheduled_task=True)],
                   transmissions=[trans(1, 3, 2)], blocks=[data_block(2, 1, 3)],
                   resources=[res(2, 1, credits=2)]))
    r = run(s, ACTION["CRASH"])
    assert_breakdown(r, {"kills": 1.2, "resource_gain": -0.25}, 0.94)
    assert cell(r.obs, 2, 1) == {"credits": 0.6667}


def test_r10_warp_onto_walled_in_block_pays_full_distance_and_masks_everything():
    walls = [data_block(4, 3, 1), data_block(2, 3, 1), data_block(3, 2, 1), data_block(3, 4, 1)]
    s = build(scen(0, 0, credits=2, energy=2, owned=["WARP"], enemies=[enemy("glitch", 3, 3)],
                   blocks=[data_block(3, 3, 2)] + walls))
    r = run(s, ACTION["WARP"])
    assert_breakdown(r, {"kills": 0.3, "resource_gain": -0.2, "distance_shaping": 0.5}, 0.59)
    assert (pl(r.state)["row"], pl(r.state)["col"]) == (3, 3)
    assert valid(r.state) == []


def test_r11_warp_onto_enemy_on_the_exit_completes_the_stage():
    s = build(scen(0, 0, hp=2, credits=2, energy=2, owned=["WARP"], enemies=[enemy("virus", 5, 5)]))
    r = run(s, ACTION["WARP"])
    assert_breakdown(r, {"stage_completion": 1.0, "distance_shaping": 0.5, "kills": 0.3,
                         "hp_recovery": 1.0, "resource_gain": -0.2}, 2.59)
    assert desc(r.state)["stage"] == 2


def test_r12_warp_onto_stacked_enemies_counts_one_kill():
    s = build(scen(0, 0, credits=2, energy=2, owned=["WARP"],
                   enemies=[enemy("daemon", 4, 4), enemy("virus", 4, 4)]))
    r = run(s, ACTION["WARP"])
    assert_breakdown(r, {"kills": 0.3, "distance_shaping": 0.4, "resource_gain": -0.2}, 0.49)
    assert desc(r.state)["enemies"] == []


def test_r13_crash_opening_a_shortcut_pays_distance():
    s = build(scen(2, 4, credits=3, energy=2, owned=["CRASH"], blocks=row_blocks(3, range(1, 6))))
    assert_breakdown(run(s, ACTION["CRASH"]), {"distance_shaping": 0.4, "resource_gain": -0.25}, 0.14)


def test_r14_crash_making_an_unreachable_exit_reachable_pays_nothing():
    s = build(scen(2, 2, credits=3, energy=2, owned=["CRASH"], blocks=row_blocks(3, range(6))))
    assert_breakdown(run(s, ACTION["CRASH"]), {"resource_gain": -0.25}, -0.26)


def test_r15_dbom_kills_daemon_and_splash_victim():
    s = build(scen(2, 2, credits=3, owned=["D_BOM"], enemies=[
        enemy("daemon", 4, 4), enemy("virus", 3, 3, hp=1), enemy("glitch", 4, 5, hp=2)]))
    r = run(s, ACTION["D_BOM"])
    assert_breakdown(r, {"kills": 0.6, "resource_gain": -0.15}, 0.44)
    assert [(e["type"], e["row"], e["col"], e["hp"], e["stunned"]) for e in desc(r.state)["enemies"]] == [
        ("glitch", 4, 5, 1, True)]


@pytest.mark.parametrize("scheduled,kills,total", [(False, 0.3, 0.19), (True, 0.0, -0.11)])
def test_r16_poly_kills_a_1_hp_daemon(scheduled, kills, total):
    s = build(scen(2, 2, credits=20, energy=20, owned=["POLY"],
                   enemies=[enemy("daemon", 5, 0, hp=1, from_scheduled_task=scheduled)]))
    r = run(s, ACTION["POLY"])
    assert_breakdown(r, {"kills": kills, "resource_gain": -0.1}, total)
    assert desc(r.state)["enemies"] == []


def test_r17_row_sweep_with_attack_2():
    s = build(scen(2, 2, credits=20, energy=20, attack_damage=2, owned=["ROW"],
                   enemies=[enemy("virus", 2, 5), enemy("daemon", 2, 0)]))
    r = run(s, ACTION["ROW"])
    assert_breakdown(r, {"kills": 0.3, "resource_gain": -0.2}, 0.09)


def test_r17_anti_v_kills_two_1_hp_viruses():
    s = build(scen(2, 2, credits=20, energy=20, owned=["ANTI-V"],
                   enemies=[enemy("virus", 0, 0, hp=1), enemy("virus", 5, 0, hp=1), enemy("virus", 0, 5, hp=2)]))
    r = run(s, ACTION["ANTI-V"])
    assert_breakdown(r, {"kills": 0.6, "resource_gain": -0.15}, 0.44)


def test_r17_hack_kills_a_virus_on_a_siphoned_empty_cell():
    s = build(scen(0, 0, credits=20, energy=20, data_siphons=1, owned=["HACK"],
                   enemies=[enemy("virus", 0, 1, hp=1)]))
    after_siphon = run(s, SIPHON)  # flags (0,0), (1,0), (0,1); the virus attacks
    assert pl(after_siphon.state)["hp"] == 2
    r = run(after_siphon.state, ACTION["HACK"])
    assert_breakdown(r, {"kills": 0.3, "resource_gain": -0.2}, 0.09)


def test_r18_warp_onto_a_scheduled_task_transmission_pays_no_kill():
    s = build(scen(0, 0, credits=10, energy=10, owned=["WAIT", "WARP"], turn=11))
    r1 = run(s, WAIT, seed=5)
    ts = transmissions(r1.state)
    assert len(ts) == 1 and ts[0]["turns_remaining"] == 1
    target = (ts[0]["row"], ts[0]["col"])
    r2 = run(r1.state, ACTION["WARP"], seed=6)
    assert (pl(r2.state)["row"], pl(r2.state)["col"]) == target
    expected = {"resource_gain": -0.2, "distance_shaping": 0.05 * (10 - bfs(set(), target, (5, 5)))}
    if target == (5, 5):
        expected.update({"stage_completion": 1.0, "distance_shaping": 0.5})
    assert_breakdown(r2, expected)


@pytest.mark.parametrize("stage,death", [(1, 0.0), (2, -0.5), (3, -1.5), (4, -3.5), (5, -7.5),
                                         (6, -15.5), (7, -31.5), (8, -63.5)])
def test_r19_death_penalty_is_half_the_completed_stage_rewards(stage, death):
    s = build(scen(3, 3, hp=1, energy=1, owned=["WAIT"], stage=stage, enemies=[enemy("daemon", 3, 4)]))
    r = run(s, WAIT)
    assert r.done
    assert_breakdown(r, {"damage_penalty": -1.0, "resource_gain": -0.05, "death_penalty": death}, -1.06 + death)


def test_r20_death_cancels_distance_shaping():
    r = run(build(scen(3, 3, hp=1, enemies=[enemy("daemon", 4, 4)])), UP)
    assert (pl(r.state)["row"], pl(r.state)["col"]) == (4, 3)
    assert r.done
    assert_breakdown(r, {"damage_penalty": -1.0}, -1.01)


def test_r21_death_beside_a_siphon_spawned_enemy_adds_siphon_death():
    s = build(scen(3, 3, hp=1, energy=1, owned=["WAIT"], stage=4,
                   enemies=[enemy("daemon", 3, 4, spawned_from_siphon=True)]))
    assert_breakdown(run(s, WAIT), {"damage_penalty": -1.0, "death_penalty": -3.5,
                                    "siphon_death_penalty": -10.0, "resource_gain": -0.05}, -14.56)


def test_r22_siphon_enemy_that_only_moved_adjacent_still_counts():
    s = build(scen(3, 3, hp=1, energy=1, owned=["WAIT"], enemies=[
        enemy("daemon", 3, 4), enemy("daemon", 4, 4, spawned_from_siphon=True)]))
    r = run(s, WAIT)
    assert (3, 4) in [(e["row"], e["col"]) for e in desc(r.state)["enemies"]]
    assert (4, 3) in [(e["row"], e["col"]) for e in desc(r.state)["enemies"]]
    assert_breakdown(r, {"damage_penalty": -1.0, "siphon_death_penalty": -10.0, "resource_gain": -0.05}, -11.06)


def test_r23_kills_are_paid_on_the_death_step():
    s = build(scen(3, 3, hp=1, enemies=[enemy("daemon", 3, 4), enemy("virus", 4, 3, hp=1)]))
    r = run(s, UP)
    assert r.done
    assert_breakdown(r, {"kills": 0.3, "damage_penalty": -1.0}, -0.71)


def test_r24_undo_across_a_stage_change_measures_distance_to_the_new_exit():
    s = build(scen(5, 2, credits=3, energy=2, owned=["WAIT", "UNDO"]))
    rs = run_seq(s, [WAIT, RIGHT, RIGHT, RIGHT], seed=11)
    new_stage = rs[-1]
    assert desc(new_stage.state)["stage"] == 2
    exits = [(r, c) for r in range(6) for c in range(6) if grid(new_stage.obs)[r, c, 40] == 1]
    assert len(exits) == 1 and exits[0] in [(0, 0), (0, 5), (5, 0)]
    new_exit = exits[0]
    d_new_board = bfs(block_cells(new_stage.state), (5, 5), new_exit)
    undo = run(new_stage.state, ACTION["UNDO"], seed=12)
    assert (pl(undo.state)["row"], pl(undo.state)["col"]) == (5, 4)
    assert desc(undo.state)["stage"] == 2
    assert grid(undo.obs)[5, 5, 40] == 1.0  # the old grid with its exit is back
    d_old_grid = bfs(set(), (5, 4), new_exit)
    assert_breakdown(undo, {"distance_shaping": 0.05 * max(0, d_new_board - d_old_grid)})
    again = run(undo.state, RIGHT, seed=13)
    assert desc(again.state)["stage"] == 3
    assert_breakdown(again, {"stage_completion": 2.0, "distance_shaping": 0.05 * d_old_grid,
                             "resource_holding": 0.04})


def test_r25_undo_reverts_score_and_refunds_the_program_cost():
    s = build(scen(2, 1, data_siphons=1, energy=5, credits=1, owned=["SCORE", "UNDO"],
                   blocks=[data_block(2, 2, 5, spawn=0)]))
    r1, r2, r3 = run_seq(s, [SIPHON, ACTION["SCORE"], ACTION["UNDO"]])
    assert_breakdown(r1, {"score_gain": 2.5}, 2.49)
    assert_breakdown(r2, {"score_gain": 3.5, "resource_gain": -0.25}, 3.24)
    assert_breakdown(r3, {"score_gain": -3.5, "resource_gain": 0.25}, -3.26)


def test_r26_undo_after_reset_is_a_damage_penalty():
    s = build(scen(2, 2, hp=1, energy=5, credits=1, owned=["WAIT", "RESET", "UNDO"]))
    r1, r2, r3 = run_seq(s, [WAIT, ACTION["RESET"], ACTION["UNDO"]])
    assert_breakdown(r1, {"resource_gain": -0.05}, -0.06)
    assert_breakdown(r2, {"hp_recovery": 2.0, "resource_gain": -0.2}, 1.79)
    assert_breakdown(r3, {"damage_penalty": -2.0, "resource_gain": 0.2}, -1.81)


def test_r27_first_undo_is_almost_a_no_op_and_second_goes_back_a_turn():
    s = build(scen(1, 0, credits=1, owned=["UNDO"]))
    rs = run_seq(s, [UP, DOWN, ACTION["UNDO"], ACTION["UNDO"]])
    assert [round(r.reward, 4) for r in rs] == [0.04, -0.01, -0.01, 0.04]
    assert_breakdown(rs[3], {"distance_shaping": 0.05}, 0.04)
    assert (pl(rs[3].state)["row"], pl(rs[3].state)["col"]) == (2, 0)
    assert pl(rs[3].state)["credits"] == 1


def test_r28_exch_is_reward_neutral():
    r = run(build(scen(2, 2, credits=4, owned=["EXCH"])), ACTION["EXCH"])
    assert_breakdown(r, {}, -0.01)
    assert (pl(r.state)["credits"], pl(r.state)["energy"]) == (0, 4)


def test_r29_transmissions_and_enemies_are_not_distance_obstacles():
    s = build(scen(2, 4, blocks=row_blocks(3, range(5)), transmissions=[trans(3, 5, 3)],
                   enemies=[enemy("daemon", 4, 5, stunned=True)]))
    assert_breakdown(run(s, RIGHT), {"distance_shaping": 0.05}, 0.04)


# --- siphon quality Q1–Q9 and game-rules §4.3 ------------------------------------------------

def siphon_at(row, col, **kw):
    return run(build(scen(row, col, data_siphons=1, **kw)), SIPHON)


def test_q1_optimal_siphon_has_no_quality_penalty():
    assert_breakdown(siphon_at(3, 2, blocks=[data_block(3, 3, 5)]), {"score_gain": 2.5}, 2.49)


def test_q2_only_the_centre_reaching_both_blocks_is_a_candidate():
    r = siphon_at(2, 2, blocks=[data_block(1, 2, 3), data_block(3, 2, 7)], resources=[res(0, 1, credits=20)])
    assert_breakdown(r, {"score_gain": 5.0}, 4.99)


def test_q3_unowned_program_block_with_better_centre_elsewhere():
    r = siphon_at(2, 1, blocks=[prog_block(2, 2, "DEBUG", spawn=4)], resources=[res(2, 4, credits=5)])
    assert_breakdown(r, {"siphon_quality": -0.125}, -0.135)


def test_q4_owned_program_block_makes_every_cell_a_candidate():
    r = siphon_at(2, 1, owned=["DEBUG"], blocks=[prog_block(2, 2, "DEBUG", spawn=4)],
                  resources=[res(2, 4, credits=5)])
    assert_breakdown(r, {"siphon_quality": -0.125}, -0.135)


def test_q4_siphoned_program_block_makes_every_cell_a_candidate():
    r = siphon_at(2, 1, blocks=[prog_block(2, 2, "DEBUG", spawn=4, siphoned=True)],
                  resources=[res(2, 4, credits=5)])
    assert_breakdown(r, {"siphon_quality": -0.125}, -0.135)


def test_q5_nothing_to_miss_without_resources():
    r = siphon_at(2, 1, owned=["DEBUG"], blocks=[prog_block(2, 2, "DEBUG", spawn=4)])
    assert_breakdown(r, {}, -0.01)


def test_q6_player_on_one_credit_missed_credits_and_energy():
    r = siphon_at(0, 0, resources=[res(0, 0, credits=1), res(3, 3, credits=3), res(3, 4, energy=2)])
    assert_breakdown(r, {"resource_gain": 0.05, "siphon_quality": -0.1}, -0.06)


def test_q7_missed_credits_and_energy_may_come_from_different_candidates():
    r = siphon_at(2, 2, resources=[res(0, 5, credits=5), res(5, 0, energy=4)])
    assert_breakdown(r, {"siphon_quality": -0.225}, -0.235)


def test_q8_candidates_are_the_intersection_of_the_blocks_neighbourhoods():
    r = siphon_at(2, 3, blocks=[data_block(2, 2, 2), data_block(3, 3, 4)], resources=[res(3, 2, energy=3)])
    assert_breakdown(r, {"score_gain": 3.0, "siphon_quality": -0.075}, 2.915)


def test_q9_player_standing_on_credits_with_a_better_cell_elsewhere():
    r = siphon_at(2, 1, owned=["DEBUG"], blocks=[prog_block(2, 2, "DEBUG", spawn=4)],
                  resources=[res(2, 1, credits=2), res(4, 4, credits=3)])
    assert_breakdown(r, {"resource_gain": 0.1, "siphon_quality": -0.025}, 0.065)


def test_siphon_quality_example_all_neighbours_of_the_block_dominate():
    # game-rules §4.3 first example: missed (5 - 1) + (2 - 0) = 6 -> -0.15.
    r = siphon_at(2, 2, blocks=[data_block(3, 2, 4)], resources=[
        res(2, 1, credits=1), res(4, 3, credits=5), res(3, 3, energy=2), res(4, 1, energy=1)])
    assert_breakdown(r, {"score_gain": 2.0, "resource_gain": 0.05, "siphon_quality": -0.15})


def test_siphon_quality_example_empty_board_best_credits_and_energy():
    # game-rules §4.3 second example: missed 2 + 3 -> -0.125.
    r = siphon_at(0, 0, resources=[res(0, 1, credits=1), res(4, 4, credits=2), res(3, 3, credits=1),
                                   res(5, 5, energy=3)])
    assert_breakdown(r, {"resource_gain": 0.05, "siphon_quality": -0.125})


def test_siphon_quality_different_blocks_in_reach_are_never_better():
    # observation-reward-metrics §3.4: data blocks 3 at (1,2) and 7 at (3,2) from (2,2).
    r = siphon_at(2, 2, blocks=[data_block(1, 2, 3), data_block(3, 2, 7)], resources=[res(0, 1, credits=20)])
    assert r.breakdown["siphon_quality"] == 0.0
    assert hidden(r.state)["scheduled_task_interval"] == 11
