"""Programs: game-rules §6.1–§6.3 (applicability examples and every program's effect examples)."""

from collections import Counter

from tests.domain.conftest import (
    ACTION, RIGHT, SIPHON, assert_breakdown, player_of, assert_invalid, build, cell, data_block, desc, enemy,
    hidden, pl, positions, prog_block, res, run, run_seq, scen, trans, transmissions,
    valid,
)


def owned(*names, credits=20, energy=20, **kw):
    return dict(owned=list(names), credits=credits, energy=energy, **kw)


def state_of(e):
    return (e["type"], e["row"], e["col"], e["hp"], e["stunned"])


def ens(result):
    return [state_of(e) for e in hidden(result.state)["enemies"]]


# --- §6.2 applicability -----------------------------------------------------------------------

def test_crash_is_applicable_with_a_diagonal_block_but_not_two_cells_away():
    assert 7 in valid(build(scen(2, 2, **owned("CRASH"), blocks=[data_block(3, 3, 1)])))
    assert 7 not in valid(build(scen(2, 2, **owned("CRASH"), blocks=[data_block(4, 4, 1)])))


def test_warp_with_only_a_transmission_is_valid_and_counts_a_kill():
    s = build(scen(0, 0, **owned("WARP"), transmissions=[trans(3, 3, 2)]))
    assert 8 in valid(s)
    r = run(s, ACTION["WARP"])
    assert abs(r.breakdown["kills"] - 0.3) < 1e-6
    assert transmissions(r.state) == [] and (pl(r.state)["row"], pl(r.state)["col"]) == (3, 3)


def test_score_is_masked_at_stage_8_and_reset_at_full_hp():
    assert 24 not in valid(build(scen(0, 0, **owned("SCORE"), stage=8)))
    assert 19 not in valid(build(scen(0, 0, **owned("RESET"))))


def test_program_not_owned_or_unaffordable_is_an_invalid_action():
    s = build(scen(0, 0, credits=20, energy=20, enemies=[enemy("daemon", 0, 3)]))
    assert_invalid(s, run(s, ACTION["ROW"]))
    poor = build(scen(0, 0, owned=["ROW"], credits=2, energy=1, enemies=[enemy("daemon", 0, 3)]))
    assert_invalid(poor, run(poor, ACTION["ROW"]))


def test_inapplicable_owned_program_is_an_invalid_action():
    s = build(scen(0, 0, **owned("D_BOM"), enemies=[enemy("virus", 0, 3)]))
    assert_invalid(s, run(s, ACTION["D_BOM"]))


def test_hp0_scenario_enemy_makes_push_applicable():
    assert 5 in valid(build(scen(0, 0, **owned("PUSH"), enemies=[enemy("virus", 3, 3, hp=0)])))


# --- PUSH / PULL ----------------------------------------------------------------------------

def test_push_moves_enemies_away_onto_blocks_and_transmissions():
    s = build(scen(2, 2, **owned("PUSH"), blocks=[data_block(4, 4, 1)], transmissions=[trans(5, 2, 2)],
                   enemies=[enemy("daemon", 3, 3), enemy("virus", 2, 5), enemy("glitch", 2, 0),
                            enemy("cryptog", 4, 2), enemy("daemon", 3, 4)]))
    r = run(s, ACTION["PUSH"])
    assert positions(r.state) == [(4, 4), (2, 5), (2, 0), (5, 2), (4, 5)]
    assert hidden(r.state)["turn"] == 0
    assert all(not e["stunned"] for e in hidden(r.state)["enemies"])
    assert_breakdown(r, {"resource_gain": -0.1})


def test_push_conflict_is_won_by_the_earlier_enemy_in_list_order():
    base = dict(**owned("PUSH"))
    r1 = run(build(scen(0, 2, **base, enemies=[enemy("daemon", 1, 4), enemy("virus", 1, 5), enemy("glitch", 2, 5)])),
             ACTION["PUSH"])
    assert positions(r1.state) == [(2, 5), (1, 5), (3, 5)]
    r2 = run(build(scen(0, 2, **base, enemies=[enemy("virus", 1, 5), enemy("daemon", 1, 4), enemy("glitch", 2, 5)])),
             ACTION["PUSH"])
    assert positions(r2.state) == [(2, 5), (1, 4), (3, 5)]


def test_push_leaves_an_enemy_on_the_players_cell_in_place():
    r = run(build(scen(2, 2, **owned("PUSH"), enemies=[enemy("daemon", 2, 2), enemy("virus", 0, 0)])),
            ACTION["PUSH"])
    assert positions(r.state) == [(2, 2), (0, 0)]


def test_pull_takes_the_row_step_and_can_stack_enemies():
    s = build(scen(2, 2, **owned("PULL"), enemies=[enemy("daemon", 3, 3), enemy("virus", 2, 3), enemy("glitch", 5, 5),
                                                     enemy("cryptog", 0, 2), enemy("daemon", 0, 0)]))
    r = run(s, ACTION["PULL"])
    assert positions(r.state) == [(2, 3), (2, 3), (4, 4), (1, 2), (1, 1)]


def test_pull_never_moves_an_enemy_onto_the_player():
    r = run(build(scen(0, 0, **owned("PULL"), enemies=[enemy("virus", 0, 1), enemy("daemon", 1, 0)])),
            ACTION["PULL"])
    assert positions(r.state) == [(0, 1), (1, 0)]


# --- CRASH ----------------------------------------------------------------------------------

def test_crash_clears_the_ring_and_counts_kills_per_cell():
    s = build(scen(2, 2, **owned("CRASH"),
                   enemies=[enemy("daemon", 3, 3), enemy("virus", 1, 1, from_scheduled_task=True),
                            enemy("glitch", 2, 1), enemy("glitch", 2, 1)],
                   transmissions=[trans(3, 2, 2), trans(1, 3, 2)],
                   blocks=[data_block(3, 1, 2, siphoned=True), data_block(1, 2, 3), prog_block(2, 3, "ROW", 2)],
                   resources=[res(3, 1, credits=3), res(1, 2, energy=2)]))
    r = run(s, ACTION["CRASH"])
    assert_breakdown(r, {"kills": 1.2, "resource_gain": -0.25}, 0.94)
    assert desc(r.state)["enemies"] == [] and transmissions(r.state) == [] and desc(r.state)["blocks"] == []
    assert cell(r.obs, 3, 1) == {"credits": 1.0}
    assert cell(r.obs, 1, 2) == {"energy": 0.6667}


def test_crash_cell_kill_is_decided_by_the_first_enemy_in_list_order():
    first_scheduled = [enemy("virus", 1, 1, from_scheduled_task=True), enemy("glitch", 1, 1)]
    r = run(build(scen(2, 2, **owned("CRASH"), enemies=first_scheduled)), ACTION["CRASH"])
    assert r.breakdown["kills"] == 0.0
    r = run(build(scen(2, 2, **owned("CRASH"), enemies=first_scheduled[::-1])), ACTION["CRASH"])
    assert abs(r.breakdown["kills"] - 0.3) < 1e-6


def test_crash_leaves_the_players_own_cell_and_farther_cells_alone():
    s = build(scen(2, 2, **owned("CRASH"), enemies=[enemy("daemon", 2, 2), enemy("virus", 4, 4), enemy("virus", 1, 2)]))
    r = run(s, ACTION["CRASH"])
    assert positions(r.state) == [(2, 2), (4, 4)]


# --- WARP -----------------------------------------------------------------------------------

def test_warp_target_is_uniform_over_enemy_and_transmission_entries():
    s = build(scen(0, 0, **owned("WARP"), enemies=[enemy("daemon", 3, 3), enemy("virus", 3, 3), enemy("glitch", 1, 4)],
                   transmissions=[trans(4, 1, 2)]))
    landed = Counter()
    for seed in range(200):
        r = run(s, ACTION["WARP"], seed)
        p = (pl(r.state)["row"], pl(r.state)["col"])
        landed[p] += 1
        assert abs(r.breakdown["kills"] - 0.3) < 1e-6
        if p == (3, 3):
            assert positions(r.state) == [(1, 4)] and len(transmissions(r.state)) == 1
    assert set(landed) == {(3, 3), (1, 4), (4, 1)}
    assert 70 <= landed[(3, 3)] <= 130


def test_warp_onto_a_shared_cell_removes_only_the_targeted_kind():
    s = build(scen(0, 0, **owned("WARP"), enemies=[enemy("daemon", 3, 3)], transmissions=[trans(3, 3, 2)]))
    kinds = Counter()
    for seed in range(60):
        r = run(s, ACTION["WARP"], seed)
        assert (pl(r.state)["row"], pl(r.state)["col"]) == (3, 3)
        n_e, n_t = len(desc(r.state)["enemies"]), len(transmissions(r.state))
        assert (n_e, n_t) in {(1, 0), (0, 1)}
        kinds[(n_e, n_t)] += 1
    assert len(kinds) == 2


def test_warp_onto_the_exit_completes_the_stage_without_an_enemy_turn():
    s = build(scen(0, 0, hp=2, **owned("WARP"), enemies=[enemy("daemon", 5, 5)]))
    r = run(s, ACTION["WARP"])
    assert desc(r.state)["stage"] == 2 and pl(r.state)["hp"] == 3 and hidden(r.state)["turn"] == 0
    ts = transmissions(r.state)
    assert len(ts) == 2 and all(t["turns_remaining"] == 1 for t in ts)
    assert desc(r.state)["enemies"] == [] and not r.done


def test_warp_does_not_collect_a_data_siphon():
    s = build(scen(0, 0, **owned("WARP"), enemies=[enemy("daemon", 0, 5)], resources=[res(0, 5, data_siphon=True)]))
    r = run(s, ACTION["WARP"])
    assert pl(r.state)["data_siphons"] == 0 and r.breakdown["data_siphon"] == 0.0
    assert cell(r.obs, 0, 5) == {"data_siphon": 1.0}


# --- POLY -----------------------------------------------------------------------------------

def test_poly_changes_every_type_and_carries_damage_over():
    s = build(scen(0, 0, **owned("POLY"), enemies=[enemy("daemon", 5, 0, hp=1), enemy("virus", 3, 3, hp=1, stunned=True),
                                                     enemy("glitch", 4, 4)]))
    combos = Counter()
    for seed in range(200):
        r = run(s, ACTION["POLY"], seed)
        assert abs(r.breakdown["kills"] - 0.3) < 1e-6
        (t1, r1, c1, hp1, st1), (t2, r2, c2, hp2, st2) = ens(r)
        assert (r1, c1, st1) == (3, 3, True) and (r2, c2, st2) == (4, 4, False)
        assert (t1, hp1) in {("daemon", 2), ("glitch", 1), ("cryptog", 1)}
        assert (t2, hp2) in {("virus", 2), ("daemon", 3), ("cryptog", 2)}
        combos[(t1, t2)] += 1
    assert len(combos) == 9


def test_poly_on_an_enemy_above_max_hp_carries_negative_damage():
    s = build(scen(0, 0, **owned("POLY"), enemies=[enemy("daemon", 3, 3, hp=5)]))
    for seed in range(10):
        (t, _, _, hp, _), = ens(run(s, ACTION["POLY"], seed))
        assert t != "daemon" and hp == 4


# --- DEBUG, ROW, COL ----------------------------------------------------------------------------

def test_debug_strikes_enemies_on_blocks_and_sweeps_hp0_enemies():
    s = build(scen(0, 0, attack_damage=2, **owned("DEBUG"),
                   blocks=[data_block(3, 3, 1), data_block(2, 2, 1, siphoned=True)],
                   enemies=[enemy("daemon", 3, 3), enemy("glitch", 2, 2), enemy("virus", 4, 0),
                            enemy("daemon", 1, 1, hp=0)]))
    r = run(s, ACTION["DEBUG"])
    assert ens(r) == [("daemon", 3, 3, 1, True), ("virus", 4, 0, 2, False)]
    assert_breakdown(r, {"kills": 0.6, "resource_gain": -0.15}, 0.44)


def test_debug_is_masked_without_an_enemy_on_a_block():
    assert 11 not in valid(build(scen(0, 0, **owned("DEBUG"), blocks=[data_block(3, 3, 1)], enemies=[enemy("daemon", 3, 2)])))


def test_row_strikes_the_players_row_through_blocks():
    s = build(scen(2, 0, **owned("ROW"), blocks=[data_block(2, 1, 1)],
                   enemies=[enemy("daemon", 2, 3), enemy("virus", 2, 5), enemy("glitch", 3, 0)]))
    r = run(s, ACTION["ROW"])
    assert ens(r) == [("daemon", 2, 3, 2, True), ("virus", 2, 5, 1, True), ("glitch", 3, 0, 2, False)]


def test_col_strikes_the_players_column_including_hidden_cryptogs():
    s = build(scen(2, 0, **owned("COL"), blocks=[data_block(2, 1, 1)],
                   enemies=[enemy("daemon", 2, 3), enemy("virus", 2, 5), enemy("glitch", 3, 0), enemy("cryptog", 5, 0)]))
    r = run(s, ACTION["COL"])
    assert ens(r) == [("daemon", 2, 3, 3, False), ("virus", 2, 5, 2, False), ("glitch", 3, 0, 1, True),
                      ("cryptog", 5, 0, 1, True)]


def test_row_hits_an_enemy_on_the_players_own_cell():
    r = run(build(scen(2, 2, **owned("ROW"), enemies=[enemy("daemon", 2, 2)])), ACTION["ROW"])
    assert ens(r) == [("daemon", 2, 2, 2, True)]


# --- D_BOM, ANTI-V ----------------------------------------------------------------------------

def test_dbom_removes_the_nearest_first_listed_daemon_and_splashes_fixed_damage():
    s = build(scen(0, 0, attack_damage=3, **owned("D_BOM"),
                   enemies=[enemy("virus", 3, 2), enemy("daemon", 2, 2), enemy("daemon", 1, 3), enemy("glitch", 2, 2),
                            enemy("virus", 3, 3, hp=1), enemy("daemon", 3, 1)]))
    r = run(s, ACTION["D_BOM"])
    assert ens(r) == [("virus", 3, 2, 1, True), ("daemon", 1, 3, 2, True), ("glitch", 2, 2, 2, False),
                      ("daemon", 3, 1, 2, True)]
    assert abs(r.breakdown["kills"] - 0.6) < 1e-6


def test_dbom_target_from_a_scheduled_task_is_not_a_kill():
    s = build(scen(0, 0, **owned("D_BOM"), enemies=[enemy("daemon", 4, 4, from_scheduled_task=True)]))
    r = run(s, ACTION["D_BOM"])
    assert desc(r.state)["enemies"] == [] and r.breakdown["kills"] == 0.0


def test_anti_v_deals_fixed_1_damage_to_viruses_only():
    s = build(scen(0, 0, attack_damage=3, **owned("ANTI-V"),
                   enemies=[enemy("virus", 3, 3), enemy("virus", 4, 4, hp=1), enemy("daemon", 2, 2)]))
    r = run(s, ACTION["ANTI-V"])
    assert ens(r) == [("virus", 3, 3, 1, True), ("daemon", 2, 2, 3, False)]
    assert abs(r.breakdown["kills"] - 0.3) < 1e-6


def test_anti_v_is_masked_without_a_virus():
    assert 23 not in valid(build(scen(0, 0, **owned("ANTI-V"), enemies=[enemy("daemon", 2, 2)])))


# --- DELAY, SCORE, REDUC, ATK+, HACK ----------------------------------------------------------

def test_delay_adds_three_turns_to_every_transmission():
    s = build(scen(0, 0, **owned("DELAY"), transmissions=[trans(3, 3, 1), trans(4, 4, 2)]))
    r = run(s, ACTION["DELAY"])
    assert [t["turns_remaining"] for t in transmissions(r.state)] == [4, 5]
    assert_breakdown(r, {"resource_gain": -0.15})


def test_delay_is_masked_without_a_transmission():
    assert 22 not in valid(build(scen(0, 0, **owned("DELAY"), enemies=[enemy("virus", 3, 3)])))


def test_score_adds_eight_minus_stage():
    r = run(build(scen(0, 0, **owned("SCORE"), stage=3)), ACTION["SCORE"])
    assert pl(r.state)["score"] == 5
    assert_breakdown(r, {"score_gain": 2.5, "resource_gain": -0.25})


def test_score_at_stage_7_adds_one():
    r = run(build(scen(0, 0, **owned("SCORE"), stage=7, score=4)), ACTION["SCORE"])
    assert pl(r.state)["score"] == 5


def test_reduc_lowers_unsiphoned_spawn_counts_and_keeps_points():
    s = build(scen(0, 0, **owned("REDUC", "HACK"), blocks=[
        data_block(2, 2, 4), data_block(3, 3, 1), data_block(4, 4, 5, siphoned=True), prog_block(1, 3, "WAIT", 0)]))
    assert 27 in valid(s)
    r = run(s, ACTION["REDUC"])
    blocks = {(b["row"], b["col"]): (b.get("points"), b["spawn_count"]) for b in desc(r.state)["blocks"]}
    assert blocks == {(2, 2): (4, 3), (3, 3): (1, 0), (4, 4): (5, 5), (1, 3): (None, 0)}


def test_reduc_is_masked_when_only_siphoned_or_zero_spawn_blocks_remain():
    s = build(scen(0, 0, **owned("REDUC"), blocks=[data_block(2, 2, 4, siphoned=True), data_block(3, 3, 1, spawn=0)]))
    assert 25 not in valid(s)


def test_atk_plus_twice_per_stage_then_invalid():
    s = build(scen(0, 0, **owned("ATK+")))
    r1, r2 = run_seq(s, [26, 26])
    assert pl(r2.state)["attack_damage"] == 3 and 26 not in valid(r2.state)
    assert_invalid(r2.state, run(r2.state, 26))


def test_atk_plus_has_no_cap_and_its_counter_resets_at_a_new_stage():
    s = build(scen(5, 3, attack_damage=5, **owned("ATK+", credits=40, energy=40)))
    r1, r2, r3, r4 = run_seq(s, [26, 26, RIGHT, RIGHT])
    assert pl(r2.state)["attack_damage"] == 7 and player_of(r2.obs)["attack_damage"] == 3.0
    assert desc(r4.state)["stage"] == 2
    assert 26 in valid(r4.state)
    assert pl(run(r4.state, 26).state)["attack_damage"] == 8


def test_hack_strikes_enemies_on_siphoned_cells_and_keeps_blocks():
    s = build(scen(2, 2, data_siphons=1, **owned("HACK"), blocks=[data_block(3, 2, 1, spawn=0)],
                   enemies=[enemy("daemon", 2, 2, stunned=True), enemy("virus", 1, 2, stunned=True),
                            enemy("glitch", 3, 2, stunned=True), enemy("daemon", 4, 4, stunned=True)]))
    r1 = run(s, SIPHON)
    assert positions(r1.state) == [(2, 2), (1, 2), (3, 2), (4, 4)]
    r2 = run(r1.state, ACTION["HACK"])
    assert ens(r2) == [("daemon", 2, 2, 2, True), ("virus", 1, 2, 1, True), ("glitch", 3, 2, 1, True),
                       ("daemon", 4, 4, 3, False)]
    assert cell(r2.obs, 3, 2).get("data_block") == 1.0


def test_hack_is_masked_without_any_siphoned_cell():
    assert 27 not in valid(build(scen(0, 0, **owned("HACK"), enemies=[enemy("daemon", 2, 2)])))


# --- RESET, EXCH, SIPH+, STEP, SHOW, CALM, WAIT -------------------------------------------------

def test_reset_restores_full_hp():
    r = run(build(scen(0, 0, hp=1, **owned("RESET"))), ACTION["RESET"])
    assert pl(r.state)["hp"] == 3 and pl(r.state)["energy"] == 16


def test_exch_with_exactly_four_credits_leaves_zero():
    r = run(build(scen(0, 0, owned=["EXCH"], credits=4, energy=1)), ACTION["EXCH"])
    assert (pl(r.state)["credits"], pl(r.state)["energy"]) == (0, 5)
    assert 17 not in valid(r.state)


def test_siph_plus_adds_a_data_siphon_and_is_always_applicable():
    r = run(build(scen(0, 0, **owned("SIPH+"))), ACTION["SIPH+"])
    assert (pl(r.state)["data_siphons"], pl(r.state)["credits"]) == (1, 15)
    assert 4 in valid(r.state) and 16 in valid(r.state)


def test_step_twice_in_one_turn_skips_only_one_enemy_turn():
    s = build(scen(0, 0, **owned("STEP", "WAIT"), enemies=[enemy("daemon", 0, 4)]))
    rs = run_seq(s, [ACTION["STEP"], ACTION["STEP"], ACTION["WAIT"], ACTION["WAIT"]])
    assert positions(rs[2].state) == [(0, 4)] and hidden(rs[2].state)["turn"] == 0
    assert positions(rs[3].state) == [(0, 3)] and hidden(rs[3].state)["turn"] == 1


def test_show_reveals_cryptogs_and_is_then_masked():
    s = build(scen(0, 0, **owned("SHOW"), enemies=[enemy("cryptog", 3, 3)]))
    assert cell(run(s, ACTION["SHOW"]).obs, 3, 3) == {"enemy_type:cryptog": 1.0, "enemy_hp": 0.6667}
    r = run(s, ACTION["SHOW"])
    assert player_of(r.obs)["show_activated"] == 1.0 and 18 not in valid(r.state)


def test_calm_sets_the_flag_and_is_then_masked():
    r = run(build(scen(0, 0, **owned("CALM"))), ACTION["CALM"])
    assert player_of(r.obs)["scheduled_tasks_disabled"] == 1.0 and 20 not in valid(r.state)
    assert_breakdown(r, {"resource_gain": -0.3})


def test_wait_ends_the_turn():
    r = run(build(scen(0, 0, **owned("WAIT"), enemies=[enemy("daemon", 0, 4)])), ACTION["WAIT"])
    assert positions(r.state) == [(0, 3)] and hidden(r.state)["turn"] == 1


def test_programs_chain_within_one_turn_without_enemy_turns():
    s = build(scen(2, 2, **owned("ROW", "COL", "WAIT"), enemies=[enemy("daemon", 2, 5), enemy("daemon", 5, 2)]))
    r1, r2, r3 = run_seq(s, [ACTION["ROW"], ACTION["COL"], ACTION["WAIT"]])
    assert hidden(r2.state)["turn"] == 0
    assert ens(r2) == [("daemon", 2, 5, 2, True), ("daemon", 5, 2, 2, True)]
    assert hidden(r3.state)["turn"] == 1
    assert ens(r3) == [("daemon", 2, 5, 2, False), ("daemon", 5, 2, 2, False)]
    assert (pl(r3.state)["credits"], pl(r3.state)["energy"]) == (14, 17)
