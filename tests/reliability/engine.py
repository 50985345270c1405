"""Shared pieces of the engine fuzz tests: jitted functions (traced once per session),
hypothesis strategies for valid scenario dicts, and the invariants the spec implies.

The jitted functions wrap the same Python callables with the same argument structure as
tests/domain/conftest.py, so JAX's compilation cache is shared with the domain tests:
whichever suite runs first pays the compile, the other reuses it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import note
from hypothesis import strategies as st

from hackmatrix.domain import env, scenario
from hackmatrix.domain.constants import (
    DIR_DCOL, DIR_DROW, ENEMY_NAMES, GRID, MAX_HP, NUM_ACTIONS, NUM_STAGES, PROGRAM_ALIASES, REWARD_KEYS,
)
from hackmatrix.domain.programs import PROGRAM_NAMES
from hackmatrix.domain.scenario import MAX_AMOUNT

PARAMS = env.DEFAULT_PARAMS
STEP = jax.jit(env.step)
VALID = jax.jit(env.valid_actions)
OBSERVE = jax.jit(env.observe)
BATCH = 16
BATCHED_STEP = jax.jit(env.batched_step)
BATCHED_VALID = jax.jit(jax.vmap(env.valid_actions))

EXIT = (GRID - 1, GRID - 1)
TOL = 1e-5
# Action indices outside 0..27: the invalid action (observation-reward-metrics §2.4).
OUT_OF_RANGE_ACTIONS = (-1, NUM_ACTIONS, 1000, -(2**31), 2**31 - 1)

# --- strategies -----------------------------------------------------------------------------

coords = st.integers(0, GRID - 1)
cells = st.tuples(coords, coords)
# Program names as users write them: canonical, lower case, and the §9.2 aliases.
program_names = st.one_of(
    st.sampled_from(PROGRAM_NAMES),
    st.sampled_from(PROGRAM_NAMES).map(str.lower),
    st.sampled_from(sorted(PROGRAM_ALIASES)),
)
enemy_types = st.one_of(st.sampled_from(ENEMY_NAMES), st.sampled_from(ENEMY_NAMES).map(str.upper))


def counts(lo: int, usual: int, edgy: bool) -> st.SearchStrategy[int]:
    """A count in lo..usual; in an ``edgy`` scenario also the ends of its valid range
    (lo, MAX_AMOUNT - 1, MAX_AMOUNT: scenario.RANGES) half of the time."""
    if not edgy:
        return st.integers(lo, usual)
    return st.one_of(st.sampled_from((lo, MAX_AMOUNT - 1, MAX_AMOUNT)), st.integers(lo, usual))


def _enemy(cell_strategy, edgy: bool) -> st.SearchStrategy[dict]:
    return st.builds(
        lambda kind, cell, hp, stunned, sip, sch: {
            "type": kind, "row": cell[0], "col": cell[1], "hp": hp, "stunned": stunned,
            "spawned_from_siphon": sip, "from_scheduled_task": sch,
        },
        enemy_types, cell_strategy, counts(0, 4, edgy), st.booleans(), st.booleans(), st.booleans(),
    )


@st.composite
def scenarios(draw, max_enemies: int = 10, max_transmissions: int = 6, max_blocks: int = 12,
              max_resources: int = 10) -> dict:
    """An arbitrary VALID scenario dict (docs/rules.md Part I §9.1 format).

    Nominally one scenario in four is "edgy": its counts are often at the ends of their ranges
    (up to scenario.MAX_AMOUNT), so every later sum is checked for wraparound.
    """
    edgy = draw(st.integers(0, 3), label="edgy") == 0
    player_cell = draw(cells)
    player = {
        "row": player_cell[0], "col": player_cell[1],
        "hp": draw(st.integers(0, MAX_HP)),
        "credits": draw(counts(0, 30, edgy)), "energy": draw(counts(0, 30, edgy)),
        "data_siphons": draw(counts(0, 3, edgy)), "attack_damage": draw(counts(1, 5, edgy)),
        "score": draw(counts(0, 40, edgy)),
    }
    # Enemies anywhere (on blocks, on the player, stacked): §9.2 step 4 does not validate.
    # Half of the time they crowd a few cells so that stacks are common.
    hot = draw(st.lists(cells, min_size=1, max_size=3))
    enemy_cells = st.one_of(cells, st.sampled_from(hot), st.just(player_cell))
    enemies = draw(st.lists(_enemy(enemy_cells, edgy), max_size=max_enemies))
    transmissions = draw(st.lists(
        st.builds(lambda cell, turns, kind: {"row": cell[0], "col": cell[1], "turns_remaining": turns,
                                             "enemy_type": kind},
                  st.one_of(cells, st.sampled_from(hot)), counts(0, 5, edgy), enemy_types),
        max_size=max_transmissions,
    ))
    block_cells = draw(st.lists(cells.filter(lambda c: c != EXIT), unique=True, max_size=max_blocks))
    blocks = []
    for r, c in block_cells:
        siphoned = draw(st.booleans())
        spawn = draw(counts(0, 9, edgy))
        if draw(st.booleans()):
            blocks.append({"row": r, "col": c, "kind": "data", "points": draw(counts(0, 9, edgy)),
                           "spawn_count": spawn, "siphoned": siphoned})
        else:
            blocks.append({"row": r, "col": c, "kind": "program", "program": draw(program_names),
                           "spawn_count": spawn, "siphoned": siphoned})
    taken = set(block_cells) | {EXIT}
    resources = []
    for _ in range(draw(st.integers(0, max_resources))):
        r, c = draw(cells)
        what = draw(st.sampled_from(["credits", "energy", "data_siphon", "zero"]))
        if what == "data_siphon" and (r, c) not in taken:
            resources.append({"row": r, "col": c, "data_siphon": True})
        elif what in ("credits", "energy"):
            resources.append({"row": r, "col": c, what: draw(counts(1, 3, edgy))})
        else:
            resources.append({"row": r, "col": c, "credits": 0, "energy": 0, "data_siphon": False})
    owned = draw(st.one_of(
        st.lists(st.sampled_from(PROGRAM_NAMES), unique=True),
        st.just(list(PROGRAM_NAMES)),
    ))
    return {
        "player": player, "enemies": enemies, "transmissions": transmissions, "blocks": blocks,
        "resources": resources, "owned_programs": owned,
        "stage": draw(st.integers(1, NUM_STAGES)), "turn": draw(counts(0, 30, edgy)),
        "show_activated": draw(st.booleans()), "scheduled_tasks_disabled": draw(st.booleans()),
    }


def at_a_cap(value) -> bool:
    """Whether a scenario dict holds a count at MAX_AMOUNT - 1 or MAX_AMOUNT (for statistics)."""
    if isinstance(value, dict):
        return any(at_a_cap(v) for v in value.values())
    if isinstance(value, list):
        return any(at_a_cap(v) for v in value)
    return isinstance(value, int) and not isinstance(value, bool) and value >= MAX_AMOUNT - 1


def draw_action(data, mask: np.ndarray, p_valid: int = 8) -> int:
    """A legal action most of the time (p_valid in 10), otherwise any of the 28, or
    (1 in 10 of those) an index outside 0..27."""
    legal = np.flatnonzero(mask)
    if len(legal) and data.draw(st.integers(0, 9), label="pick legal") < p_valid:
        return int(data.draw(st.sampled_from(legal.tolist()), label="legal action"))
    if data.draw(st.integers(0, 9), label="out of range") == 0:
        return int(data.draw(st.sampled_from(OUT_OF_RANGE_ACTIONS), label="out-of-range action"))
    return int(data.draw(st.integers(0, NUM_ACTIONS - 1), label="any action"))


def is_legal(mask: np.ndarray, action: int) -> bool:
    return 0 <= action < NUM_ACTIONS and bool(mask[action])


# --- running and checking --------------------------------------------------------------------

def host(tree) -> Any:
    return jax.tree_util.tree_map(np.asarray, tree)


def signature(tree) -> Any:
    return jax.tree_util.tree_map(lambda x: (np.shape(x), np.asarray(x).dtype), tree)


def key(seed: int) -> jax.Array:
    return jax.random.PRNGKey(seed)


def step(state, action: int, seed: int):
    return STEP(state, jnp.int32(action), key(seed), PARAMS)


def trees_equal(a, b) -> list[str]:
    """Paths of the leaves that differ (exactly)."""
    la = jax.tree_util.tree_leaves_with_path(a)
    lb = jax.tree_util.tree_leaves_with_path(b)
    assert [p for p, _ in la] == [p for p, _ in lb]
    return [jax.tree_util.keystr(p) for (p, x), (_, y) in zip(la, lb) if not np.array_equal(np.asarray(x), np.asarray(y))]


def _prefix(alive: np.ndarray) -> bool:
    n = int(alive.sum())
    return bool(alive[:n].all()) and not alive[n:].any()


def check_state(s) -> None:
    """Invariants of any state the engine produces (game-rules §2, §1.5; obs §1.2)."""
    p = s.player
    assert 0 <= p.hp <= MAX_HP, f"hp {p.hp}"
    assert 1 <= s.stage <= NUM_STAGES, f"stage {s.stage}"
    assert 0 <= p.row < GRID and 0 <= p.col < GRID, f"player at {(p.row, p.col)}"
    assert p.credits >= 0 and p.energy >= 0 and p.data_siphons >= 0 and p.score >= 0, p
    assert p.attack_damage >= 1, f"attack {p.attack_damage}"
    assert s.turn >= 0, f"turn {s.turn}"
    # No wraparound anywhere: every count stays >= 0 (scenario.RANGES, MAX_AMOUNT).
    assert s.pending_siphon >= 0 and s.next_scheduled_turn >= 0, (s.pending_siphon, s.next_scheduled_turn)
    assert (s.transmissions.turns[s.transmissions.alive] >= 0).all(), s.transmissions.turns
    for name, lst in (("enemies", s.enemies), ("transmissions", s.transmissions)):
        assert _prefix(lst.alive), f"{name} not compacted: {lst.alive.astype(int)}"
        live = lst.alive
        assert ((lst.row[live] >= 0) & (lst.row[live] < GRID)).all(), f"{name} rows {lst.row[live]}"
        assert ((lst.col[live] >= 0) & (lst.col[live] < GRID)).all(), f"{name} cols {lst.col[live]}"
    assert (s.enemies.hp[s.enemies.alive] >= 0).all(), f"enemy hp {s.enemies.hp[s.enemies.alive]}"
    b = s.board
    assert ((b.block_kind >= 0) & (b.block_kind <= 3)).all()
    # §2.2: a block never shares a cell with a data siphon or the exit; one resource kind per cell.
    assert not ((b.block_kind > 0) & (b.special != 0)).any(), "block on a data siphon or the exit"
    assert not ((b.res_credits != 0) & (b.res_energy != 0)).any(), "credits and energy on one cell"
    assert (b.res_credits >= 0).all() and (b.res_energy >= 0).all()
    assert (b.block_points >= 0).all() and (b.block_spawn >= 0).all()
    assert 0 <= s.exit_row < GRID and 0 <= s.exit_col < GRID
    assert 0 <= s.undo_count <= PARAMS.undo_depth


def check_observation(obs, s) -> None:
    """Finite, and the player vector / program flags match the state (obs §1.2, §1.3).

    Numerators saturate at 127 (the int8 observation code): siphons above 1270 show
    12.7, attack above 255 shows 127 / 2.
    """
    for part in (obs.player, obs.programs, obs.grid):
        assert np.isfinite(part).all(), "non-finite observation"
    p = s.player
    want = np.array([
        p.row / 5, p.col / 5, p.hp / 3, min(p.credits / 50, 1), min(p.energy / 50, 1),
        (s.stage - 1) / 7, min(int(p.data_siphons), 127) / 10, min(int(p.attack_damage) - 1, 127) / 2,
        float(s.show_activated), float(s.scheduled_tasks_disabled),
    ], np.float64)
    np.testing.assert_allclose(obs.player, want, rtol=1e-6, atol=1e-6)
    assert np.array_equal(obs.programs, s.owned.astype(np.float32))


def masked_but_executes(before, action: int) -> bool:
    """game-rules §3.2's scenario-only exception: a direction whose adjacent cell holds a
    block and a transmission but no enemy is masked, yet executing it destroys the
    transmission (a successful action)."""
    if not 0 <= action < 4:
        return False
    r = int(before.player.row) + int(DIR_DROW[action])
    c = int(before.player.col) + int(DIR_DCOL[action])
    if not (0 <= r < GRID and 0 <= c < GRID):
        return False
    tr, en = before.transmissions, before.enemies
    on = lambda lst: bool((lst.alive & (lst.row == r) & (lst.col == c)).any())  # noqa: E731
    return bool(before.board.block_kind[r, c] > 0) and on(tr) and not on(en)


def check_step(before, mask_before: np.ndarray, action: int, out, sig) -> None:
    """Every invariant of one step (``before``, ``out`` as host trees)."""
    after, obs, reward, done, bd = out
    assert signature(out) == sig, "shapes or dtypes changed"
    assert set(bd) == set(REWARD_KEYS) and len(bd) == 15
    reward = float(reward)
    comps = {k: float(v) for k, v in bd.items()}
    assert np.isfinite(reward) and all(np.isfinite(v) for v in comps.values()), (reward, comps)
    total = sum(comps[k] for k in REWARD_KEYS)
    assert abs(total - reward) <= TOL * max(1.0, abs(reward)), (total, reward, comps)
    check_state(after)
    check_observation(obs, after)
    if not is_legal(mask_before, action) and not masked_but_executes(before, action):
        # README decision 5 / obs §2.4: nothing changes, reward 0, all components 0, done.
        assert bool(done), f"masked action {action} did not end the episode"
        assert reward == 0.0 and all(v == 0.0 for v in comps.values()), comps
        changed = trees_equal(before, after)
        assert not changed, f"masked action {action} changed {changed}"
        assert np.array_equal(obs.grid, host(OBSERVE(before)).grid)
        assert scenario.hidden_fields(after) == scenario.hidden_fields(before)
    else:
        assert comps["step_penalty"] == np.float32(-0.01), comps["step_penalty"]
        won = comps["stage_completion"] != 0.0 and int(before.stage) == NUM_STAGES
        died = int(after.player.hp) == 0
        # env.step: done = invalid | died | won (obs §2.4, game-rules §7.7).
        assert bool(done) == (died or won), (bool(done), died, won)
        if died:
            assert comps["distance_shaping"] == 0.0, "§3.3.2: no distance reward on death"


def stack(states):
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *states)


def index(tree, i: int):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


# --- whole runs (shared by the fuzz tests and benchmarks/reliability.py) ---------------------

def _note_step(t: int, action: int, legal: bool, key_seed: int) -> None:
    note(f"step {t}: action {action} (legal: {legal}), key seed {key_seed}")


def play(d: dict, seed: int, data, max_steps: int = 12,
         on_step: Callable[[int, int, bool, int], None] = _note_step) -> tuple[int, str]:
    """Build the scenario dict ``d`` and step it with ``draw_action``'s actions (legal,
    masked or out of range, drawn from hypothesis ``data``) until the episode ends or for
    ``max_steps`` steps, checking the built state and every invariant after every step
    (``check_step``; an AssertionError says which). Step ``t`` uses key seed ``seed + t``;
    ``on_step(t, action, legal, key_seed)`` is called before it (default: ``note``).

    Returns (steps taken, how the episode ended: "masked action", "death", "victory" or
    "step limit").
    """
    state = scenario.build(d, PARAMS)
    host_state = host(state)
    check_state(host_state)
    check_observation(host(OBSERVE(state)), host_state)
    sig = signature(host(step(state, 0, 0)))  # the signature of a step's output
    assert signature(host_state) == sig[0], "built state differs in shape from a stepped one"
    for t in range(max_steps):
        mask = np.asarray(VALID(state))
        assert mask.shape == (NUM_ACTIONS,) and mask.dtype == np.bool_
        action = draw_action(data, mask)
        on_step(t, action, is_legal(mask, action), seed + t)
        out = step(state, action, seed + t)
        host_out = host(out)
        check_step(host_state, mask, action, host_out, sig)
        if bool(host_out[3]):
            if not is_legal(mask, action):
                return t + 1, "masked action"
            return t + 1, "death" if int(host_out[0].player.hp) == 0 else "victory"
        state, host_state = out[0], host_out[0]
    return max_steps, "step limit"


def play_batched(ds: list[dict], seed: int, data, rounds: int = 3) -> int:
    """``len(ds)`` (= ``BATCH``) different scenarios stepped at once by the jitted
    ``batched_step``, ``rounds`` times, with ``draw_action``'s actions: every env's step
    passes ``check_step`` and equals the single jitted step (floats to 1e-6). Returns the
    env steps checked."""
    singles = [scenario.build(d, PARAMS) for d in ds]
    batch = jax.tree_util.tree_map(jnp.asarray, stack(singles))
    sig = signature(host(step(singles[0], 0, 0)))
    host_batch = host(batch)
    checked = 0
    for t in range(rounds):
        masks = np.asarray(BATCHED_VALID(batch))
        assert masks.shape == (len(ds), NUM_ACTIONS)
        actions = np.array([draw_action(data, masks[i]) for i in range(len(ds))], np.int32)
        keys = jax.random.split(key(seed + t), len(ds))
        out = BATCHED_STEP(batch, jnp.asarray(actions), keys, PARAMS)
        host_out = host(out)
        for i in range(len(ds)):
            before = index(host_batch, i)
            mine = index(host_out, i)
            check_step(before, masks[i], int(actions[i]), mine, sig)
            single = host(STEP(jax.tree_util.tree_map(jnp.asarray, before), jnp.int32(actions[i]),
                               keys[i], PARAMS))
            for (path, a), (_, b) in zip(jax.tree_util.tree_leaves_with_path(mine),
                                         jax.tree_util.tree_leaves_with_path(single)):
                if np.issubdtype(a.dtype, np.floating):
                    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6,
                                               err_msg=f"env {i} step {t} {jax.tree_util.keystr(path)}")
                else:
                    assert np.array_equal(a, b), f"env {i} step {t} {jax.tree_util.keystr(path)}"
            checked += 1
        batch, host_batch = out[0], host_out[0]
    return checked
