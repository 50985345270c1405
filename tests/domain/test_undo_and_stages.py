"""UNDO (game-rules §6.4) and stage completion / carry-over (§7.1, §7.2, §7.6)."""

from hackmatrix.domain.constants import channel
from hackmatrix.domain.state import EnvParams
from tests.domain.conftest import (
    ACTION, RIGHT, SIPHON, UP, assert_breakdown, build, cell, data_block, desc, enemy, grid, hidden,
    pl, player_of, positions, run, run_seq, scen, trans, transmissions, valid,
)

WAIT, UNDO, STEP = ACTION["WAIT"], ACTION["UNDO"], ACTION["STEP"]
CORNERS = {(0, 0), (0, 5), (5, 0), (5, 5)}


# --- §6.4 UNDO ----------------------------------------------------------------------------------


def _flags(obs) -> list[float]:
    """The SHOW and CALM flags of the player vector."""
    p = player_of(obs)
    return [p["show_activated"], p["scheduled_tasks_disabled"]]

def test_undo_reverts_programs_since_the_last_full_turn_and_clears_enemy_flags():
    s = build(scen(0, 0, credits=10, energy=10, owned=["WAIT", "SCORE", "UNDO"],
                   enemies=[enemy("daemon", 4, 4, spawned_from_siphon=True, from_scheduled_task=True)]))
    r1, r2, r3 = run_seq(s, [WAIT, ACTION["SCORE"], UNDO])
    assert positions(r1.state) == [(3, 4)]
    assert (pl(r2.state)["score"], pl(r2.state)["energy"]) == (7, 4)
    p = pl(r3.state)
    assert (p["score"], p["energy"], p["credits"]) == (0, 9, 10)
    e = hidden(r3.state)["enemies"]
    assert [(x["row"], x["col"], x["spawned_from_siphon"], x["from_scheduled_task"]) for x in e] == [(3, 4, False, False)]
    assert UNDO not in valid(r3.state)


def test_undo_after_a_step_covered_siphon_keeps_pending_and_timing():
    s = build(scen(1, 0, data_siphons=1, credits=2, energy=10, owned=["WAIT", "STEP", "UNDO"],
                   blocks=[data_block(1, 1, 3)]))
    rs = run_seq(s, [WAIT, WAIT, STEP, SIPHON])
    h = hidden(rs[-1].state)
    assert (pl(rs[-1].state)["score"], h["pending_siphon_transmissions"], h["scheduled_task_interval"],
            h["next_scheduled_task_turn"], h["turn"]) == (3, 3, 11, 17, 2)
    u1 = run(rs[-1].state, UNDO)
    p, h = pl(u1.state), hidden(u1.state)
    assert (p["score"], p["data_siphons"], p["energy"], p["credits"]) == (0, 1, 8, 2)
    assert cell(u1.obs, 1, 1) == {"data_block": 1.0, "block_points": 0.3333, "block_spawn": 0.3333}
    assert (h["pending_siphon_transmissions"], h["scheduled_task_interval"], h["next_scheduled_task_turn"],
            h["turn"]) == (3, 11, 17, 2)
    u2 = run(u1.state, UNDO)
    assert (hidden(u2.state)["turn"], pl(u2.state)["energy"]) == (1, 9)


def test_undo_across_a_stage_change_restores_the_old_board_but_not_stage_or_timing():
    s = build(scen(3, 5, credits=1, energy=1, owned=["WAIT", "UNDO"], turn=7, show=True, calm=True))
    rs = run_seq(s, [WAIT, UP, UP], seed=4)
    st = rs[-1]
    h = hidden(st.state)
    assert desc(st.state)["stage"] == 2 and (h["scheduled_task_interval"], h["next_scheduled_task_turn"]) == (11, 11)
    assert _flags(st.obs) == [0.0, 0.0]
    u = run(st.state, UNDO, seed=5)
    h = hidden(u.state)
    assert (pl(u.state)["row"], pl(u.state)["col"], h["turn"]) == (4, 5, 9)
    assert _flags(u.obs) == [1.0, 1.0]
    assert desc(u.state)["stage"] == 2 and (h["scheduled_task_interval"], h["next_scheduled_task_turn"]) == (11, 11)
    assert grid(u.obs)[5, 5, 40] == 1.0 and transmissions(u.state) == []
    again = run(u.state, UP, seed=6)
    assert desc(again.state)["stage"] == 3


def test_undo_history_is_a_ring_buffer_of_depth_8():
    s = build(scen(0, 0, credits=20, energy=20, owned=["WAIT", "UNDO"]))
    rs = run_seq(s, [WAIT] * 9 + [UNDO] * 8)
    assert hidden(rs[8].state)["turn"] == 9
    assert [hidden(r.state)["turn"] for r in rs[9:]] == [9, 8, 7, 6, 5, 4, 3, 2]
    assert UNDO not in valid(rs[-1].state)


def test_clear_undo_on_new_stage_empties_the_history():
    params = EnvParams(clear_undo_on_new_stage=True)
    s = build(scen(4, 5, credits=1, energy=1, owned=["WAIT", "UNDO"]), params)
    rs = run_seq(s, [WAIT, UP], params=params)
    assert desc(rs[-1].state)["stage"] == 2
    assert UNDO not in valid(rs[-1].state)
    kept = run_seq(build(scen(4, 5, credits=1, energy=1, owned=["WAIT", "UNDO"])), [WAIT, UP])
    assert UNDO in valid(kept[-1].state)


def test_undo_does_not_complete_a_stage_or_run_an_enemy_turn():
    s = build(scen(4, 5, credits=1, energy=1, owned=["WAIT", "UNDO"], enemies=[enemy("daemon", 0, 0)]))
    r1, r2 = run_seq(s, [WAIT, UNDO])
    assert desc(r2.state)["stage"] == 1 and hidden(r2.state)["turn"] == 1
    assert positions(r2.state) == positions(r1.state)


# --- §7.1 / §7.6 stage completion ------------------------------------------------------------------

def test_victory_at_stage_8_keeps_the_stage_and_heals():
    r = run(build(scen(4, 5, stage=8, hp=2, score=10)), UP)
    assert r.done and desc(r.state)["stage"] == 8 and pl(r.state)["hp"] == 3
    assert_breakdown(r, {"stage_completion": 100.0, "victory": 1500.0, "distance_shaping": 0.05,
                         "hp_recovery": 1.0}, 1601.04)


def test_new_stage_keeps_enemies_and_transmissions_and_resets_turn_timing_and_flags():
    s = build(scen(5, 4, hp=2, turn=9, show=True, calm=True, enemies=[enemy("daemon", 1, 0, hp=2)],
                   transmissions=[trans(0, 3, 2, "virus")]))
    r = run(s, RIGHT, seed=21)
    assert not r.done
    h = hidden(r.state)
    assert (desc(r.state)["stage"], pl(r.state)["hp"], h["turn"]) == (2, 3, 0)
    assert (h["scheduled_task_interval"], h["next_scheduled_task_turn"]) == (11, 11)
    assert _flags(r.obs) == [0.0, 0.0]
    assert [(e["row"], e["col"], e["hp"]) for e in h["enemies"]] == [(1, 0, 2)]
    ts = transmissions(r.state)
    assert ts[0] == {"row": 0, "col": 3, "turns_remaining": 2, "enemy_type": "virus"}
    assert len(ts) == 3 and all(t["turns_remaining"] == 1 for t in ts[1:])
    g = grid(r.obs)
    exits = {(int(a), int(b)) for a, b in zip(*(g[..., channel("exit")][..., 0] == 1).nonzero())}
    sipons = {(int(a), int(b)) for a, b in zip(*(g[..., channel("data_siphon")][..., 0] == 1).nonzero())}
    assert len(exits) == 1 and exits < {(0, 0), (0, 5), (5, 0)}
    assert sipons == CORNERS - exits - {(5, 5)}
    blocks = {(b["row"], b["col"]) for b in desc(r.state)["blocks"]}
    assert 5 <= len(blocks) <= 11 and not blocks & CORNERS


def test_interval_on_entering_a_stage_is_13_minus_the_stage():
    r = run(build(scen(5, 4, stage=4)), RIGHT)
    h = hidden(r.state)
    assert desc(r.state)["stage"] == 5 and (h["scheduled_task_interval"], h["next_scheduled_task_turn"]) == (8, 8)


def test_stage_start_clears_step_so_step_then_exit_is_wasted():
    s = build(scen(5, 4, energy=5, owned=["STEP", "WAIT"]))
    rs = run_seq(s, [STEP, RIGHT, WAIT], seed=2)
    assert desc(rs[1].state)["stage"] == 2
    assert hidden(rs[2].state)["turn"] == 1


def test_siphoned_cells_and_centres_are_cleared_by_a_new_stage():
    s = build(scen(5, 4, data_siphons=1, owned=["HACK"], credits=2, energy=2))
    r1, r2 = run_seq(s, [SIPHON, RIGHT], seed=8)
    assert 27 in valid(r1.state)
    assert desc(r2.state)["stage"] == 2
    assert 27 not in valid(r2.state)
    assert not (grid(r2.obs)[..., 41] == 1).any()
