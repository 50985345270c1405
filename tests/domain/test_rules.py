"""Core rules: game-rules §3.3 (direction actions), §4.1 (siphon), §5.2–§5.8 (enemy turn)."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.domain.constants import channel
from hackmatrix.domain.programs import PROGRAM_NAMES
from hackmatrix.domain.placement import MISS, place_transmissions

from tests.domain.conftest import (
    ACTION, ROLLOUT_ENVS, RIGHT, SIPHON, assert_breakdown, build, cell, data_block, desc,
    enemy, grid, hidden, index, obs_of, pl, positions, prog_block, res, rollout, run, run_seq, scen, trans,
    transmissions,
)

WAIT = ACTION["WAIT"]


def trans_cells(obs) -> list[tuple[int, int]]:
    g = grid(obs)[..., 36]
    return [(int(r), int(c)) for r, c in np.argwhere(g != 0)]


# --- §3.3 direction actions -------------------------------------------------------------------

def test_line_of_sight_transmission_beats_enemy_on_same_cell():
    s = build(scen(0, 0, enemies=[enemy("daemon", 0, 3)], transmissions=[trans(0, 3, 3)]))
    r = run(s, RIGHT)
    assert_breakdown(r, {"kills": 0.3}, 0.29)
    assert transmissions(r.state) == []
    assert [(e["row"], e["col"], e["hp"]) for e in desc(r.state)["enemies"]] == [(0, 2, 3)]
    assert (pl(r.state)["row"], pl(r.state)["col"]) == (0, 0)


def test_bare_block_stops_line_of_sight_so_the_player_moves():
    s = build(scen(0, 0, blocks=[data_block(0, 2, 3)], enemies=[enemy("daemon", 0, 4)]))
    r = run(s, RIGHT)
    assert (pl(r.state)["row"], pl(r.state)["col"]) == (0, 1)
    assert positions(r.state) == [(1, 4)]


def test_enemy_on_a_block_can_be_shot_and_its_stun_lasts_one_enemy_turn():
    s = build(scen(0, 0, enemies=[enemy("daemon", 0, 3)], blocks=[data_block(0, 3, 2)]))
    r = run(s, RIGHT)
    e = hidden(r.state)["enemies"]
    assert [(x["row"], x["col"], x["hp"], x["stunned"]) for x in e] == [(0, 3, 2, False)]
    assert (pl(r.state)["row"], pl(r.state)["col"]) == (0, 0)
    assert pl(r.state)["hp"] == 3


def test_walking_onto_a_data_siphon_collects_it_but_not_the_credits_under_it():
    s = build(scen(0, 0, resources=[res(0, 1, credits=2), res(0, 1, data_siphon=True)]))
    r = run(s, RIGHT)
    assert r.breakdown["data_siphon"] == 1.0
    p = pl(r.state)
    assert (p["row"], p["col"], p["data_siphons"], p["credits"]) == (0, 1, 1, 0)
    assert cell(r.obs, 0, 1) == {"credits": 0.6667}


def test_walking_never_collects_credits_or_energy():
    s = build(scen(0, 0, resources=[res(0, 1, energy=3)]))
    r = run(s, RIGHT)
    assert (pl(r.state)["energy"], cell(r.obs, 0, 1)) == (0, {"energy": 1.0})


def test_attack_kills_only_the_first_enemy_on_the_cell():
    s = build(scen(0, 0, attack_damage=3, enemies=[enemy("daemon", 0, 3), enemy("virus", 0, 3, hp=1)],
                   blocks=[data_block(1, 3, 1), data_block(0, 4, 1)]))
    r = run(s, RIGHT)
    assert abs(r.breakdown["kills"] - 0.3) < 1e-6
    assert [e["type"] for e in desc(r.state)["enemies"]] == ["virus"]


# --- §4.1 siphon -----------------------------------------------------------------------------

def test_siphon_processes_the_whole_cross():
    s = build(scen(2, 2, data_siphons=1, blocks=[data_block(3, 2, 4), prog_block(2, 1, "POLY", spawn=3)],
                   resources=[res(3, 2, credits=5), res(2, 2, credits=2), res(1, 2, energy=3),
                              res(2, 3, credits=1), res(3, 3, credits=9)]))
    r = run(s, SIPHON)
    p = pl(r.state)
    assert (p["score"], p["credits"], p["energy"], p["data_siphons"]) == (4, 3, 3, 0)
    assert "POLY" in desc(r.state)["owned_programs"]
    assert cell(r.obs, 3, 2) == {"data_block": 1.0, "block_points": 0.4444, "block_siphoned": 1.0, "credits": 1.6667}
    assert cell(r.obs, 2, 1) == {"program_block": 1.0, "block_siphoned": 1.0, "block_program:POLY": 1.0}
    # The diagonal cell is outside the cross: its 9 credits stay and it is not marked
    # siphoned. (The pending transmissions go to random empty cells: one may land here.)
    c33 = cell(r.obs, 3, 3)
    assert c33["credits"] == 3.0 and "block_siphoned" not in c33 and set(c33) <= {"transmission", "credits"}
    ts = transmissions(r.state)
    assert len(ts) == 7 and all(t["turns_remaining"] == 1 for t in ts)
    h = hidden(r.state)
    assert (h["scheduled_task_interval"], h["next_scheduled_task_turn"], h["pending_siphon_transmissions"]) == (11, 17, 0)


def test_siphon_skips_already_siphoned_cells():
    s = build(scen(2, 2, data_siphons=2, blocks=[data_block(3, 2, 4, siphoned=True)],
                   resources=[res(2, 2, credits=2), res(1, 2, energy=3)]))
    r = run(s, SIPHON)
    p = pl(r.state)
    assert (p["score"], p["credits"], p["energy"], p["data_siphons"]) == (0, 2, 3, 1)
    assert transmissions(r.state) == []


def test_siphon_reveals_a_generated_question_block():
    # game-rules §4.1 question-block example and observation O8, from generated boards.
    init, _ = rollout("plain")
    for i in range(ROLLOUT_ENVS):
        s = index(init, i)
        o = obs_of(s)
        g = grid(o)
        qs = np.argwhere(g[..., channel("question_block")][..., 0] == 1)
        for qr, qc in qs:
            for dr, dc in ((1, 0), (-1, 0), (0, -1), (0, 1)):
                r, c = qr + dr, qc + dc
                if 0 <= r < 6 and 0 <= c < 6 and g[r, c, 7:10].sum() == 0:
                    break
            else:
                continue
            break
        else:
            continue
        break
    else:
        raise AssertionError("no generated question block found")
    assert cell(o, qr, qc) == {"question_block": 1.0}
    s = s.replace(player=s.player.replace(row=jnp.int32(r), col=jnp.int32(c), data_siphons=jnp.int32(1)))
    after = run(s, SIPHON)
    revealed = cell(after.obs, qr, qc)
    assert "question_block" not in revealed and "block_spawn" not in revealed
    assert revealed["block_siphoned"] == 1.0
    if "data_block" in revealed:
        assert 1 <= round(revealed["block_points"] * 9) <= 9
    else:
        assert revealed["program_block"] == 1.0
        prog = [PROGRAM_NAMES.index(k.split(":")[1]) for k in revealed if k.startswith("block_program:")]
        assert len(prog) == 1 and float(after.obs.programs[prog[0]]) == 1.0


def test_step_defers_siphon_transmissions_until_the_next_full_turn():
    s = build(scen(2, 2, data_siphons=1, energy=10, owned=["STEP", "WAIT"], blocks=[data_block(3, 2, 2)]))
    r1, r2 = run_seq(s, [ACTION["STEP"], SIPHON])
    h = hidden(r2.state)
    assert (pl(r2.state)["score"], h["pending_siphon_transmissions"], h["turn"]) == (2, 2, 0)
    assert transmissions(r2.state) == []
    r3 = run(r2.state, WAIT)
    assert len(transmissions(r3.state)) == 2 and hidden(r3.state)["pending_siphon_transmissions"] == 0
    r4 = run(r3.state, WAIT)
    e = hidden(r4.state)["enemies"]
    assert len(e) == 2 and all(x["spawned_from_siphon"] for x in e)


def test_siphon_on_a_block_after_warp_processes_the_players_cell():
    s = build(scen(0, 0, data_siphons=1, credits=2, energy=2, owned=["WARP"],
                   enemies=[enemy("glitch", 3, 3)], blocks=[data_block(3, 3, 7)]))
    r1 = run(s, ACTION["WARP"])
    assert (pl(r1.state)["row"], pl(r1.state)["col"]) == (3, 3)
    r2 = run(r1.state, SIPHON)
    assert pl(r2.state)["score"] == 7
    assert len(transmissions(r2.state)) == 7


# --- §5.2 STEP --------------------------------------------------------------------------------

def test_step_skips_the_whole_enemy_turn_and_keeps_the_stun():
    s = build(scen(0, 0, credits=3, energy=10, owned=["ROW", "STEP", "WAIT"], enemies=[enemy("daemon", 0, 3)]))
    rs = run_seq(s, [ACTION["ROW"], ACTION["STEP"], ACTION["STEP"], WAIT])
    h = hidden(rs[-1].state)
    assert h["turn"] == 0
    assert [(x["row"], x["col"], x["hp"], x["stunned"]) for x in h["enemies"]] == [(0, 3, 2, True)]
    r5 = run(rs[-1].state, WAIT)
    h = hidden(r5.state)
    assert h["turn"] == 1
    assert [(x["row"], x["col"], x["stunned"]) for x in h["enemies"]] == [(0, 3, False)]
    r6 = run(r5.state, WAIT)
    assert hidden(r6.state)["turn"] == 2
    assert positions(r6.state) == [(0, 2)]


# --- §5.4 transmission tick ---------------------------------------------------------------------

def test_transmission_under_the_player_hatches_on_the_players_cell():
    s = build(scen(2, 2, energy=3, owned=["WAIT"], transmissions=[trans(2, 2, 1, "daemon")]))
    r1, r2, r3 = run_seq(s, [WAIT, WAIT, WAIT])
    e = hidden(r1.state)["enemies"]
    assert [(x["type"], x["row"], x["col"]) for x in e] == [("daemon", 2, 2)]
    assert transmissions(r1.state) == []
    assert positions(r2.state) == [(3, 2)] and pl(r2.state)["hp"] == 3
    assert positions(r3.state) == [(3, 2)] and pl(r3.state)["hp"] == 2


def test_new_enemy_is_disabled_for_its_spawn_turn():
    s = build(scen(0, 0, energy=3, owned=["WAIT"], transmissions=[trans(0, 2, 1, "daemon")]))
    r1 = run(s, WAIT)
    assert positions(r1.state) == [(0, 2)]
    assert hidden(r1.state)["enemies"][0]["disabled_turns"] == 0
    r2 = run(r1.state, WAIT)
    assert positions(r2.state) == [(0, 1)]


def test_transmission_timer_counts_down_then_hatches():
    s = build(scen(0, 0, energy=3, owned=["WAIT"], transmissions=[trans(3, 3, 2, "glitch")]))
    r1, r2 = run_seq(s, [WAIT, WAIT])
    assert [t["turns_remaining"] for t in transmissions(r1.state)] == [1]
    assert transmissions(r2.state) == [] and [e["type"] for e in enemies_of(r2)] == ["glitch"]


def enemies_of(result):
    return hidden(result.state)["enemies"]


# --- §5.5 enemy step ----------------------------------------------------------------------------

def wait_once(*ens, seed=0, **kw):
    return run(build(scen(0, 0, energy=1, owned=["WAIT"], enemies=list(ens), **kw)), WAIT, seed)


def test_virus_three_cells_away_moves_twice_without_attacking():
    r = wait_once(enemy("virus", 0, 3))
    assert positions(r.state) == [(0, 1)] and pl(r.state)["hp"] == 3


def test_virus_two_cells_away_moves_then_attacks():
    r = wait_once(enemy("virus", 0, 2))
    assert positions(r.state) == [(0, 1)] and pl(r.state)["hp"] == 2


def test_adjacent_virus_attacks_only_once():
    r = wait_once(enemy("virus", 0, 1))
    assert positions(r.state) == [(0, 1)] and pl(r.state)["hp"] == 2


def test_daemon_never_moves_and_attacks_in_one_turn_while_virus_moves_twice():
    for seed in range(6):
        r = wait_once(enemy("daemon", 0, 2), enemy("virus", 5, 5), seed=seed)
        assert positions(r.state) == [(0, 1), (3, 5)] and pl(r.state)["hp"] == 3


# --- §5.6 pathfinding -----------------------------------------------------------------------------

def test_pathfinding_takes_the_first_shortest_neighbour_in_udlr_order():
    r = run(build(scen(4, 3, energy=1, owned=["WAIT"], enemies=[enemy("daemon", 5, 5)])), WAIT)
    assert positions(r.state) == [(4, 5)]


def test_glitch_tie_break_never_prefers_the_block():
    for seed in range(5):
        r = wait_once(enemy("glitch", 2, 2), blocks=[data_block(2, 1, 1)], seed=seed)
        assert positions(r.state) == [(1, 2)]


def test_cryptog_steps_into_the_players_row():
    for seed in range(5):
        assert positions(wait_once(enemy("cryptog", 1, 2), seed=seed).state) == [(0, 2)]


def test_virus_double_step_follows_the_first_shortest_path():
    assert positions(wait_once(enemy("virus", 3, 3)).state) == [(1, 3)]


def test_long_detours_count_as_paths():
    blocks = [data_block(1, c, 1) for c in range(1, 5)]
    for seed in range(8):
        r = wait_once(enemy("daemon", 0, 2), enemy("daemon", 0, 3), blocks=blocks, seed=seed)
        assert positions(r.state) == [(0, 1), (0, 4)]


def test_attempt_b_steps_toward_the_player_past_an_occupied_corridor():
    blocks = [data_block(1, c, 1) for c in range(5)]
    for seed in range(5):
        r = wait_once(enemy("daemon", 0, 1, stunned=True), enemy("daemon", 0, 3), blocks=blocks, seed=seed)
        assert positions(r.state) == [(0, 1), (0, 2)]


def test_fallback_step_may_increase_the_distance():
    blocks = [data_block(1, c, 1) for c in range(5)]
    outcomes = set()
    for seed in range(40):
        r = wait_once(enemy("daemon", 0, 2), enemy("daemon", 0, 3), blocks=blocks, seed=seed)
        outcomes.add(tuple(positions(r.state)))
    assert outcomes == {((0, 1), (0, 2)), ((0, 1), (0, 4))}
    for seed in range(5):
        r = wait_once(enemy("daemon", 0, 3), blocks=blocks, transmissions=[trans(0, 2, 3)], seed=seed)
        assert positions(r.state) == [(0, 4)]


def test_player_on_a_block_makes_non_glitch_enemies_fall_back_and_oscillate():
    s = build(scen(2, 2, energy=2, owned=["WAIT"], blocks=[data_block(2, 2, 1), data_block(2, 3, 1)],
                   enemies=[enemy("daemon", 2, 4)]))
    r1, r2 = run_seq(s, [WAIT, WAIT])
    assert positions(r1.state) == [(3, 4)]
    assert positions(r2.state) == [(2, 4)]


# --- §5.7 scheduled task --------------------------------------------------------------------------

def test_scheduled_task_fires_at_turn_12_and_its_enemy_acts_from_turn_14():
    s = build(scen(0, 0, energy=3, owned=["WAIT"], turn=11))
    r1 = run(s, WAIT, seed=1)
    h = hidden(r1.state)
    assert (h["turn"], h["next_scheduled_task_turn"]) == (12, 24)
    ts = transmissions(r1.state)
    assert len(ts) == 1 and ts[0]["turns_remaining"] == 1
    cell0 = (ts[0]["row"], ts[0]["col"])
    r2 = run(r1.state, WAIT, seed=2)
    e = hidden(r2.state)["enemies"]
    assert len(e) == 1 and e[0]["from_scheduled_task"] and (e[0]["row"], e[0]["col"]) == cell0
    r3 = run(r2.state, WAIT, seed=3)
    assert positions(r3.state) != [cell0]


def test_late_scenario_turn_fires_the_task_on_the_first_turn():
    r = run(build(scen(0, 0, energy=1, owned=["WAIT"], turn=20)), WAIT)
    h = hidden(r.state)
    assert (h["turn"], h["next_scheduled_task_turn"]) == (21, 33)
    assert len(transmissions(r.state)) == 1


def test_calm_stops_the_scheduled_task_and_next_does_not_advance():
    s = build(scen(0, 0, credits=2, energy=5, owned=["WAIT", "CALM"], turn=11))
    r = run_seq(s, [ACTION["CALM"], WAIT])[-1]
    h = hidden(r.state)
    assert (h["turn"], h["next_scheduled_task_turn"]) == (12, 12)
    assert transmissions(r.state) == []


def test_ten_siphons_shorten_the_interval_to_4_and_postpone_next_by_5():
    s = build(scen(0, 0, data_siphons=10, calm=True))
    seen = []
    for i in range(10):
        r = run(s, SIPHON, i)
        s = r.state
        h = hidden(s)
        seen.append((h["scheduled_task_interval"], h["next_scheduled_task_turn"]))
    assert seen == [(11, 17), (10, 22), (9, 27), (8, 32), (7, 37), (6, 42), (5, 47), (4, 52), (4, 57), (4, 62)]


# --- §5.8 transmission placement (statistical) ----------------------------------------------------
def _placements(scenario: dict, samples: int = 20000) -> np.ndarray:
    """Where one scheduled placement (§5.8) lands on ``scenario``, per key: flat cell, -1 if none."""
    state = build(scenario)
    before = int(jnp.sum(state.transmissions.alive))

    def one(k):
        tr = place_transmissions(state, jnp.int32(1), False, True, k).transmissions
        placed = jnp.sum(tr.alive) > before
        return jnp.where(placed, tr.row[before] * 6 + tr.col[before], -1)

    keys = jax.random.split(jax.random.PRNGKey(5), samples)
    return np.asarray(jax.jit(jax.vmap(one))(keys))


def _within_binomial(hits: int, n: int, p: float, sigmas: float = 5.0) -> bool:
    return abs(hits / n - p) <= sigmas * math.sqrt(p * (1 - p) / n)


def test_placement_falls_back_into_line_of_fire_at_the_originals_rate():
    # The spec's measurement: player (0,0), rows and columns 1-5 full but (3,3): k = 1, e = 11.
    filled = [trans(r, c, 5) for r in range(1, 6) for c in range(1, 6) if (r, c) != (3, 3)]
    cells = _placements(scen(0, 0, transmissions=filled))
    n = len(cells)
    in_line = int(np.sum((cells >= 0) & ((cells // 6 == 0) | (cells % 6 == 0))))
    p_fallback = MISS[1] * (1 - MISS[11])  # (35/36)^100 * (1 - (25/36)^100) ~ 6 %
    assert 0.05 < p_fallback < 0.07
    assert _within_binomial(in_line, n, p_fallback), in_line / n
    assert int(np.sum(cells == -1)) <= 2  # dropping needs both searches to miss: ~1e-18
    # The rest land on (3,3); the fallback is uniform over the 11 empty cells, (3,3) included.
    p_33 = (1 - MISS[1]) + p_fallback / 11
    assert _within_binomial(int(np.sum(cells == 3 * 6 + 3)), n, p_33)


def test_placement_with_one_empty_cell_in_line_of_fire_is_dropped_at_the_originals_rate():
    # Player (0,0); every other cell but (0,5) holds a transmission: k = 0, e = 1.
    filled = [trans(r, c, 5) for r in range(6) for c in range(6) if (r, c) not in ((0, 0), (0, 5))]
    cells = _placements(scen(0, 0, transmissions=filled))
    assert set(np.unique(cells)) <= {-1, 5}
    assert _within_binomial(int(np.sum(cells == -1)), len(cells), MISS[1])  # (35/36)^100 ~ 6 %


def test_scheduled_transmission_is_never_placed_in_line_of_fire():
    s = build(scen(0, 0, energy=1, owned=["WAIT"], turn=11))
    cells = set()
    for seed in range(200):
        cs = trans_cells(run(s, WAIT, seed).obs)
        assert len(cs) == 1
        cells.add(cs[0])
    assert all(r != 0 and c != 0 for r, c in cells)
    assert len(cells) > 15


def test_a_block_shields_cells_behind_it_from_the_line_of_fire():
    s = build(scen(0, 0, energy=1, owned=["WAIT"], turn=11, blocks=[data_block(0, 2, 1)]))
    cells = set()
    for seed in range(200):
        cells.update(trans_cells(run(s, WAIT, seed).obs))
    assert (0, 1) not in cells and not any(c == 0 for _, c in cells)
    assert (0, 2) not in cells
    assert cells & {(0, 3), (0, 4), (0, 5)}
