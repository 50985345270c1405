"""API contracts and invariants: 5-tuple and 15-key breakdown, jit/vmap/eager agreement, shapes,
the original's initial game (game-rules §7.8, §7.2–§7.5), random-policy rollouts, invalid actions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.domain import env
from hackmatrix.domain.constants import REWARD_KEYS, channel
from hackmatrix.domain.programs import PROGRAM_SPAWN
from tests.domain.conftest import (
    ACTION, PARAMS, ROLLOUT_ENVS, ROLLOUT_STEPS, STEP, SIPHON, UP, assert_invalid, build, data_block,
    desc, enemy, grid, hidden, index, obs_of, pl, prog_block, res, rollout, run, scen, trans,
    transmissions, valid,
)

CORNERS = {(0, 0), (0, 5), (5, 0), (5, 5)}


def test_step_returns_state_obs_reward_done_and_15_float32_components():
    s = build(scen(0, 0))
    out = STEP(s, jnp.int32(UP), jax.random.PRNGKey(0), PARAMS)
    assert len(out) == 5
    state, obs, reward, done, bd = out
    assert isinstance(state, env.EnvState) and isinstance(obs, env.Observation)
    assert reward.shape == () and reward.dtype == jnp.float32
    assert done.shape == () and done.dtype == jnp.bool_
    assert tuple(bd) == REWARD_KEYS or set(bd) == set(REWARD_KEYS)
    assert len(bd) == 15
    assert all(v.shape == () and v.dtype == jnp.float32 for v in bd.values())
    assert obs.player.shape == (10,) and obs.programs.shape == (23,) and obs.grid.shape == (6, 6, 42)
    assert env.valid_actions(s).shape == (28,) and env.valid_actions(s).dtype == jnp.bool_


@pytest.mark.parametrize("name,d,action", [
    ("death", scen(3, 3, hp=1, energy=1, owned=["WAIT"], stage=5, enemies=[enemy("daemon", 3, 4, spawned_from_siphon=True)]),
     ACTION["WAIT"]),
    ("stage completion", scen(5, 4, hp=2, credits=7, energy=3, stage=2), 3),
    ("victory", scen(5, 4, hp=1, stage=8, score=3, credits=1), 3),
    ("siphon", scen(2, 1, data_siphons=1, blocks=[data_block(2, 2, 5)], resources=[res(2, 4, credits=10), res(2, 0, energy=2)]),
     SIPHON),
    ("kills", scen(2, 2, credits=9, energy=9, owned=["CRASH"], enemies=[enemy("virus", 1, 1), enemy("daemon", 3, 3)],
                   transmissions=[trans(2, 3, 2)]), ACTION["CRASH"]),
    ("hp loss", scen(3, 3, enemies=[enemy("daemon", 4, 4)]), UP),
    ("hp gain", scen(3, 3, hp=1, energy=4, owned=["RESET"]), ACTION["RESET"]),
])
def test_breakdown_has_15_keys_and_sums_to_the_reward(name, d, action):
    r = run(build(d), action)
    assert set(r.breakdown) == set(REWARD_KEYS) and len(r.breakdown) == 15
    assert abs(sum(r.breakdown.values()) - r.reward) <= 1e-5 * max(1.0, abs(r.reward)), name
    assert r.breakdown["step_penalty"] == pytest.approx(-0.01)
    assert sum(1 for v in r.breakdown.values() if v != 0.0) >= 2, name


def test_jit_agrees_with_eager():
    s = build(scen(2, 2, data_siphons=1, credits=5, energy=5, owned=["WAIT"],
                   enemies=[enemy("virus", 4, 4), enemy("daemon", 0, 0)], blocks=[data_block(3, 2, 3)],
                   resources=[res(2, 3, credits=2)]))
    key = jax.random.PRNGKey(7)
    eager = env.step(s, jnp.int32(SIPHON), key, PARAMS)
    jitted = STEP(s, jnp.int32(SIPHON), key, PARAMS)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    assert np.array_equal(np.asarray(env.valid_actions(s)), np.asarray(valid_mask(s)))


def valid_mask(s):
    m = np.zeros(28, bool)
    m[valid(s)] = True
    return m


def test_vmap_inside_the_rollout_agrees_with_the_jitted_single_step():
    init, stats = rollout("plain")
    for i in range(4):
        s = index(init, i)
        a = int(stats["action"][0, i])
        k = jnp.asarray(stats["step_key"][0, i])
        _, _, reward, done, bd = STEP(s, jnp.int32(a), k, PARAMS)
        assert float(reward) == pytest.approx(float(stats["reward"][0, i]), abs=1e-6)
        assert bool(done) == bool(stats["done"][0, i])
        assert float(sum(bd[k] for k in REWARD_KEYS)) == pytest.approx(float(stats["breakdown_sum"][0, i]), abs=1e-5)


def test_state_shapes_and_dtypes_do_not_drift_between_reset_build_and_step():
    init, _ = rollout("plain")
    reset_state = index(init, 0)
    built = build(scen(0, 0))
    stepped = STEP(built, jnp.int32(UP), jax.random.PRNGKey(0), PARAMS)[0]
    again = STEP(reset_state, jnp.int32(ACTION["WAIT"]), jax.random.PRNGKey(1), PARAMS)[0]
    sig = lambda t: jax.tree_util.tree_map(lambda x: (x.shape, jnp.asarray(x).dtype), t)  # noqa: E731
    assert sig(reset_state) == sig(built) == sig(stepped) == sig(again)
    assert jax.tree_util.tree_structure(reset_state) == jax.tree_util.tree_structure(stepped)


def _in_line_of_fire(p, t, blocks, enemy_cells):
    if p[0] != t[0] and p[1] != t[1]:
        return False
    if p[0] == t[0]:
        between = [(p[0], c) for c in range(min(p[1], t[1]) + 1, max(p[1], t[1]))]
    else:
        between = [(r, p[1]) for r in range(min(p[0], t[0]) + 1, max(p[0], t[0]))]
    return not any(c in blocks or c in enemy_cells for c in between)


def test_reset_gives_the_originals_initial_game():
    init, _ = rollout("plain")
    block_counts, bonuses = set(), set()
    for i in range(ROLLOUT_ENVS):
        s = index(init, i)
        d, h, o = desc(s), hidden(s), obs_of(s)
        g = grid(o)
        p = d["player"]
        me = (p["row"], p["col"])
        assert me in CORNERS and p["hp"] == 3 and p["attack_damage"] == 1 and p["score"] == 0
        bonus = (p["credits"], p["energy"], p["data_siphons"])
        assert bonus in {(10, 0, 0), (0, 11, 0), (0, 0, 1)}
        bonuses.add(bonus)
        assert (d["stage"], h["turn"], h["scheduled_task_interval"], h["next_scheduled_task_turn"],
                h["pending_siphon_transmissions"]) == (1, 0, 12, 12, 0)
        assert d["owned_programs"] == [] and h["enemies"] == [] and not d["show_activated"]
        exits = {(int(r), int(c)) for r, c in np.argwhere(g[..., channel("exit")][..., 0] == 1)}
        sipons = {(int(r), int(c)) for r, c in np.argwhere(g[..., channel("data_siphon")][..., 0] == 1)}
        assert len(exits) == 1 and exits <= CORNERS - {me}
        assert sipons == CORNERS - {me} - exits
        blocks = {(b["row"], b["col"]): b for b in d["blocks"]}
        assert 5 <= len(blocks) <= 11 and not set(blocks) & CORNERS
        block_counts.add(len(blocks))
        progs = [b["program"] for b in blocks.values() if b["kind"] == "program"]
        assert len(progs) == len(set(progs))
        for b in blocks.values():
            if b["kind"] == "data":
                assert 1 <= b["points"] <= 9 and b["spawn_count"] == b["points"]
            else:
                assert b["spawn_count"] == PROGRAM_SPAWN[list(env_program_names()).index(b["program"])]
            assert not b["siphoned"]
        resources = {}
        for r in d["resources"]:
            if r["credits"] or r["energy"]:
                resources[(r["row"], r["col"])] = (r["credits"], r["energy"])
        for r in range(6):
            for c in range(6):
                if (r, c) in blocks or (r, c) in exits:
                    assert (r, c) not in resources
                else:
                    cr, en = resources[(r, c)]
                    assert (cr == 0) != (en == 0) and 1 <= cr + en <= 3
        question = g[..., channel("question_block")][..., 0] == 1
        assert not g[question][:, [10, 11] + list(range(12, 36))].any()
        ts = transmissions(s)
        assert len(ts) == 1 and ts[0]["turns_remaining"] == 1
        t = (ts[0]["row"], ts[0]["col"])
        assert t not in blocks and t != me
        assert not _in_line_of_fire(me, t, set(blocks), set())
        assert ACTION["UNDO"] not in valid(s)
    assert len(block_counts) >= 4 and len(bonuses) == 3


def env_program_names():
    from hackmatrix.domain.programs import PROGRAM_NAMES
    return PROGRAM_NAMES


def _check_rollout(stats):
    assert (stats["n_keys"] == 15).all()
    assert stats["any_valid"].all(), "generated play always has a legal action"
    assert stats["chosen_valid"].all()
    assert stats["finite"].all() and stats["breakdown_finite"].all()
    assert ((stats["hp"] >= 0) & (stats["hp"] <= 3)).all()
    assert ((stats["stage"] >= 1) & (stats["stage"] <= 8)).all()
    err = np.abs(stats["breakdown_sum"] - stats["reward"])
    assert (err <= 1e-4 * np.maximum(1.0, np.abs(stats["reward"]))).all(), float(err.max())
    np.testing.assert_allclose(stats["step_penalty"], -0.01, rtol=1e-6)
    # Removals shift later entries down (lists.remove_one), which relies on this.
    assert stats["lists_compact"].all()


def test_random_valid_policy_rollout_keeps_the_invariants():
    _, stats = rollout("plain")
    assert stats["reward"].shape == (ROLLOUT_STEPS, ROLLOUT_ENVS)
    _check_rollout(stats)
    assert stats["done"].sum() > 0


def test_random_policy_with_every_program_keeps_the_invariants_and_uses_programs():
    _, stats = rollout("rich")
    _check_rollout(stats)
    acts = stats["action"]
    assert (acts >= 5).mean() > 0.3
    assert len(set(acts[acts >= 5].tolist())) >= 20


def test_move_into_a_block_is_invalid_and_changes_nothing():
    s = build(scen(0, 0, blocks=[data_block(1, 0, 2)], enemies=[enemy("daemon", 3, 3)], credits=3))
    assert_invalid(s, run(s, UP))


def test_move_off_the_board_is_invalid():
    s = build(scen(0, 0, energy=2))
    assert_invalid(s, run(s, 1))
    assert_invalid(s, run(s, 2))


def test_undo_with_empty_history_is_invalid_and_keeps_credits():
    s = build(scen(2, 2, credits=3, owned=["UNDO"]))
    r = run(s, ACTION["UNDO"])
    assert_invalid(s, r)
    assert pl(r.state)["credits"] == 3


def test_invalid_program_spends_nothing_even_when_partially_affordable():
    s = build(scen(2, 2, credits=5, energy=1, owned=["CRASH", "WARP"], blocks=[prog_block(3, 3, "ROW", 2)],
                   transmissions=[trans(4, 4, 1)]))
    assert_invalid(s, run(s, ACTION["CRASH"]))
    assert_invalid(s, run(s, ACTION["WARP"]))
