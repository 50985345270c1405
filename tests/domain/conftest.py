"""Shared fixtures and helpers for the spec-driven domain tests.

Everything that runs the engine goes through the jitted functions below, created once
per test session (module level) so that each compiles once: ``STEP`` (single state),
``VALID`` and ``OBSERVE``. The rollout tests compile their own ``lax.scan`` once.
Statistical tests loop the single jitted step over many keys (one compile, cheap calls).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.domain import env, scenario
from hackmatrix.domain.observation import decode_observation, observation_code
from hackmatrix.domain.constants import ENEMY_NAMES, GRID_CHANNELS, PLAYER_CHANNELS, REWARD_KEYS
from hackmatrix.domain.programs import PROGRAM_NAMES

PARAMS = env.DEFAULT_PARAMS
TOL = 1e-5

STEP = jax.jit(env.step)
VALID = jax.jit(env.valid_actions)
OBSERVE = jax.jit(env.observe)
RESET = jax.jit(env.reset)

PROGRAMS = (
    "PUSH", "PULL", "CRASH", "WARP", "POLY", "WAIT", "DEBUG", "ROW", "COL", "UNDO",
    "STEP", "SIPH+", "EXCH", "SHOW", "RESET", "CALM", "D_BOM", "DELAY", "ANTI-V",
    "SCORE", "REDUC", "ATK+", "HACK",
)
ACTION = {name: 5 + i for i, name in enumerate(PROGRAMS)}
UP, DOWN, LEFT, RIGHT, SIPHON = 0, 1, 2, 3, 4
M8 = [0, 1, 2, 3, 10, 15, 16, 17, 18, 20, 24, 26]  # observation-reward-metrics §2.5 M8


@pytest.fixture(scope="session")
def step_fn():
    return STEP


@pytest.fixture(scope="session")
def valid_fn():
    return VALID


@pytest.fixture(scope="session")
def observe_fn():
    return OBSERVE


# --- scenario helpers -------------------------------------------------------------------

def scen(row: int = 0, col: int = 0, *, enemies=(), transmissions=(), blocks=(), resources=(),
         owned=(), stage: int = 1, turn: int = 0, show: bool = False, calm: bool = False,
         **player: Any) -> dict:
    """A scenario dict (docs/rules.md Part I §9.1 format) with the player at (row, col)."""
    return {
        "player": {"row": row, "col": col, **player},
        "enemies": [dict(e) for e in enemies],
        "transmissions": [dict(t) for t in transmissions],
        "blocks": [dict(b) for b in blocks],
        "resources": [dict(r) for r in resources],
        "owned_programs": list(owned),
        "stage": stage, "turn": turn,
        "show_activated": show, "scheduled_tasks_disabled": calm,
    }


def enemy(kind: str, row: int, col: int, hp: int | None = None, **flags) -> dict:
    max_hp = {"virus": 2, "daemon": 3, "glitch": 2, "cryptog": 2}[kind]
    return {"type": kind, "row": row, "col": col, "hp": max_hp if hp is None else hp, **flags}


def trans(row: int, col: int, turns: int = 1, kind: str = "daemon") -> dict:
    return {"row": row, "col": col, "turns_remaining": turns, "enemy_type": kind}


def data_block(row: int, col: int, points: int, spawn: int | None = None, siphoned: bool = False) -> dict:
    return {"row": row, "col": col, "kind": "data", "points": points,
            "spawn_count": points if spawn is None else spawn, "siphoned": siphoned}


def prog_block(row: int, col: int, program: str, spawn: int = 0, siphoned: bool = False) -> dict:
    return {"row": row, "col": col, "kind": "program", "program": program,
            "spawn_count": spawn, "siphoned": siphoned}


def res(row: int, col: int, credits: int = 0, energy: int = 0, data_siphon: bool = False) -> dict:
    return {"row": row, "col": col, "credits": credits, "energy": energy, "data_siphon": data_siphon}


def build(d: dict, params=PARAMS):
    return scenario.build(d, params)


def rich(row: int = 2, col: int = 2, **kw) -> dict:
    """observation-reward-metrics §2.5 'rich': 20 credits, 20 energy, all 23 programs owned."""
    player = {"credits": 20, "energy": 20}
    player.update({k: kw.pop(k) for k in list(kw) if k in ("hp", "credits", "energy", "data_siphons",
                                                          "attack_damage", "score")})
    return scen(row, col, owned=PROGRAMS, **player, **kw)


# --- running ----------------------------------------------------------------------------

@dataclasses.dataclass
class Result:
    state: Any
    obs: Any
    reward: float
    done: bool
    breakdown: dict[str, float]

    @property
    def mask(self) -> list[int]:
        return valid(self.state)


def key(seed: int = 0) -> jax.Array:
    return jax.random.PRNGKey(seed)


def run(state, action: int, seed: int = 0, params=PARAMS) -> Result:
    s, obs, reward, done, bd = STEP(state, jnp.int32(action), key(seed), params)
    return Result(s, obs, float(reward), bool(done), {k: float(v) for k, v in bd.items()})


def run_seq(state, actions, seed: int = 0, params=PARAMS) -> list[Result]:
    out = []
    for i, a in enumerate(actions):
        r = run(state, a, seed * 1000 + i, params)
        out.append(r)
        state = r.state
    return out


def valid(state) -> list[int]:
    return [int(i) for i in np.flatnonzero(np.asarray(VALID(state)))]


def obs_of(state):
    return OBSERVE(state)


def grid(obs) -> np.ndarray:
    return np.asarray(obs.grid, np.float64)


# The name of every grid channel value, from the layout table (constants.GRID_CHANNELS):
# the channel's name, or "name:label" within a one-hot (enemy type, program name).
_ONE_HOT_LABELS = {"enemy_type": ENEMY_NAMES, "block_program": PROGRAM_NAMES}
CHANNEL_NAMES = tuple(
    ch.name if ch.width == 1 else f"{ch.name}:{_ONE_HOT_LABELS[ch.name][i]}"
    for ch in GRID_CHANNELS for i in range(ch.width)
)


def cell(obs, r: int, c: int) -> dict[str, float]:
    """Non-zero channels of cell (r, c) by name (``CHANNEL_NAMES``), rounded to 4 places."""
    g = grid(obs)[r, c]
    return {CHANNEL_NAMES[k]: round(float(g[k]), 4) for k in np.flatnonzero(g)}


def nonzero(obs) -> dict[tuple[int, int, str], float]:
    g = grid(obs)
    return {(int(r), int(c), CHANNEL_NAMES[k]): round(float(g[r, c, k]), 4) for r, c, k in np.argwhere(g != 0)}


def player_vec(obs) -> list[float]:
    return [round(float(v), 4) for v in np.asarray(obs.player)]


def player_of(obs) -> dict[str, float]:
    """The player features by name (constants.PLAYER_CHANNELS), rounded to 4 places."""
    return {ch.name: v for ch, v in zip(PLAYER_CHANNELS, player_vec(obs), strict=True)}


def desc(state) -> dict:
    """The scenario view of a state (describe), as a plain dict."""
    return scenario.describe(state).to_dict()


def hidden(state) -> dict:
    return scenario.hidden_fields(state)


def enemies(state) -> list[dict]:
    return desc(state)["enemies"]


def positions(state) -> list[tuple[int, int]]:
    return [(e["row"], e["col"]) for e in enemies(state)]


def transmissions(state) -> list[dict]:
    return desc(state)["transmissions"]


def pl(state) -> dict:
    return desc(state)["player"]


def assert_breakdown(result: Result, expected: dict[str, float], total: float | None = None) -> None:
    """Listed components equal ``expected``; step_penalty is -0.01 unless listed; every other
    component is 0; the components sum to the reward; the reward equals ``total`` if given."""
    bd = result.breakdown
    assert set(bd) == set(REWARD_KEYS)
    want = {k: 0.0 for k in REWARD_KEYS}
    want["step_penalty"] = -0.01
    want.update(expected)
    diffs = {k: (bd[k], want[k]) for k in REWARD_KEYS if abs(bd[k] - want[k]) > TOL * max(1.0, abs(want[k]))}
    assert not diffs, f"breakdown (got, want): {diffs}"
    assert abs(sum(bd.values()) - result.reward) <= TOL * max(1.0, abs(result.reward))
    if total is not None:
        assert abs(result.reward - total) <= TOL * max(1.0, abs(total)), (result.reward, total)


def assert_invalid(before, result: Result) -> None:
    """game-rules §3.1 step 3: nothing changes, reward 0, all 15 components 0, done."""
    assert result.done is True
    assert result.reward == 0.0
    assert all(v == 0.0 for v in result.breakdown.values()), result.breakdown
    assert desc(result.state) == desc(before)
    assert hidden(result.state) == hidden(before)
    assert np.array_equal(grid(result.obs), grid(obs_of(before)))
    assert np.array_equal(np.asarray(result.obs.player), np.asarray(obs_of(before).player))


# --- batched random-policy rollout (one jitted lax.scan, compiled once per session) ----------

ROLLOUT_ENVS = 96
ROLLOUT_STEPS = 200


def _richify(state, rich):
    """All programs owned and at least 100 credits / energy where ``rich`` (for program rollouts)."""
    p = state.player
    return state.replace(
        owned=state.owned | rich,
        player=p.replace(credits=jnp.where(rich, jnp.maximum(p.credits, 100), p.credits),
                         energy=jnp.where(rich, jnp.maximum(p.energy, 100), p.energy)),
    )


def _select(pred, a, b):
    return jax.tree_util.tree_map(
        lambda x, y: jnp.where(pred.reshape(pred.shape + (1,) * (x.ndim - pred.ndim)), x, y), a, b)


@jax.jit
def _rollout(key, start_state, rich):
    """``ROLLOUT_ENVS`` envs x ``ROLLOUT_STEPS`` steps of a uniform random valid-action policy.

    Envs start from ``vmap(env.reset)`` states, or from ``start_state`` (broadcast) when ``rich``;
    finished envs are replaced by fresh ``vmap(env.reset)`` states (given every program and
    100 credits / energy when ``rich``). Returns the initial batch and per-step statistics.
    """
    b = ROLLOUT_ENVS
    k0, key = jax.random.split(key)
    fresh, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k0, b), PARAMS)
    start = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (b,) + x.shape), start_state)
    init = _select(jnp.broadcast_to(rich, (b,)), start, fresh)

    def body(carry, _):
        s, key = carry
        key, ka, ks, kr = jax.random.split(key, 4)
        mask = jax.vmap(env.valid_actions)(s)
        action = jax.random.categorical(ka, jnp.where(mask, 0.0, -1e9), axis=-1)
        step_keys = jax.random.split(ks, b)
        s2, obs, reward, done, bd = env.batched_step(s, action, step_keys, PARAMS)
        new, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(kr, b), PARAMS)
        new = _richify(new, rich)
        finite = (jnp.isfinite(obs.player).all(-1) & jnp.isfinite(obs.grid).all((-3, -2, -1))
                  & jnp.isfinite(reward))
        stats = {
            "action": action,
            "step_key": step_keys,
            "chosen_valid": jnp.take_along_axis(mask, action[:, None], -1)[:, 0],
            "any_valid": mask.any(-1),
            "reward": reward,
            "done": done,
            "hp": s2.player.hp,
            "stage": s2.stage,
            "breakdown_sum": sum(bd[k] for k in REWARD_KEYS),
            "breakdown_finite": jnp.stack([jnp.isfinite(bd[k]) for k in REWARD_KEYS], -1).all(-1),
            "n_keys": jnp.full((b,), len(bd)),
            "step_penalty": bd["step_penalty"],
            "finite": finite,
            "lists_compact": _lists_compact(s2.enemies) & _lists_compact(s2.transmissions),
            "player_obs_is_spec": jnp.all(obs.player == _spec_player_vector(s2), axis=-1),
            "code_decodes_exactly": jnp.all(
                jax.vmap(decode_observation)(jax.vmap(observation_code)(s2))
                == jax.vmap(env.flat_observation)(s2), axis=-1),
        }
        return (_select(done, new, s2), key), stats

    (_, _), stats = jax.lax.scan(body, (init, key), None, length=ROLLOUT_STEPS)
    return init, stats


def _spec_player_vector(s) -> jax.Array:
    """(b, 10) the player vector by the formulas of observation-reward-metrics §1.2, in float32."""
    p = s.player
    f = lambda a: a.astype(jnp.float32)  # noqa: E731
    return jnp.stack([
        f(p.row) / 5, f(p.col) / 5, f(p.hp) / 3, jnp.minimum(f(p.credits) / 50, 1),
        jnp.minimum(f(p.energy) / 50, 1), (f(s.stage) - 1) / 7, f(p.data_siphons) / 10,
        (f(p.attack_damage) - 1) / 2, f(s.show_activated), f(s.scheduled_tasks_disabled),
    ], axis=-1)


def _lists_compact(entries) -> jax.Array:
    """(b,) bool: the list invariant of game-rules §2.8 as stored (lists.py): the alive
    entries fill slots 0..count-1 and every field of a dead slot is zero."""
    alive = entries.alive
    prefix = jnp.all(alive[:, 1:] <= alive[:, :-1], axis=-1)
    dead_zero = [jnp.all(jnp.where(alive, True, x == 0), axis=-1)
                 for x in jax.tree_util.tree_leaves(entries.replace(alive=jnp.zeros_like(alive)))]
    return prefix & jnp.all(jnp.stack(dead_zero), axis=0)


_ROLLOUTS: dict[str, Any] = {}


def rich_start_scenario() -> dict:
    return scen(2, 2, owned=PROGRAMS, credits=200, energy=200, data_siphons=3,
                enemies=[enemy("daemon", 4, 4), enemy("virus", 0, 4), enemy("glitch", 3, 1),
                         enemy("cryptog", 5, 0)],
                transmissions=[trans(1, 4, 2, "virus")],
                blocks=[data_block(3, 2, 5), prog_block(1, 1, "WAIT", spawn=1), data_block(4, 1, 3)],
                resources=[res(2, 3, credits=2), res(0, 0, data_siphon=True)])


def rollout(kind: str):
    """Cached ('plain' or 'rich') rollout: (initial batch, per-step stats), as host arrays."""
    if kind not in _ROLLOUTS:
        start = scenario.build(rich_start_scenario(), PARAMS)
        init, stats = _rollout(jax.random.PRNGKey(0 if kind == "plain" else 1), start,
                               jnp.bool_(kind == "rich"))
        _ROLLOUTS[kind] = jax.tree_util.tree_map(np.asarray, (init, stats))
    return _ROLLOUTS[kind]


def index(tree, i: int):
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x[i]), tree)
