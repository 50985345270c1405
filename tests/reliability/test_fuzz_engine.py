"""Engine fuzzing: arbitrary valid scenarios and action sequences keep the spec's invariants.

After every step (engine.check_step): shapes and dtypes never change; observation, reward
and the 15 components are finite and the components sum to the reward (1e-5); HP 0..3,
stage 1..8, no count below 0 (no wraparound, also from counts at the scenario caps),
enemies/transmissions compacted with in-bounds positions, no block on a data siphon or
the exit, one resource kind per cell; the player vector and program flags match the
state; a masked action, or an index outside 0..27, changes no leaf of the state, pays 0
in every component and ends the episode; a legal one pays the step penalty and ends the
episode exactly on death or victory. Also: jit agrees with eager, the batched step
agrees with the single step.

Example counts come from tests/reliability/conftest.py (``ci`` by default,
``HYPOTHESIS_PROFILE=nightly`` for the long run).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from hackmatrix.domain import env, scenario
from tests.reliability import engine as E
from tests.reliability.conftest import examples

MAX_STEPS = 12


def _sig_of_step(state):
    """Signature of a step's output, from a legal-or-not action on ``state`` (compiled once)."""
    return E.signature(E.host(E.step(state, 0, 0)))


def _note_and_count(t: int, action: int, legal: bool, key_seed: int) -> None:
    note(f"step {t}: action {action} (legal: {legal}), key seed {key_seed}")
    event("action kind", "program" if action >= 5 else "move/siphon")


@settings(max_examples=examples("sequences"))
@given(d=E.scenarios(), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_random_scenarios_and_action_sequences_keep_every_invariant(d, seed, data):
    """engine.play: up to MAX_STEPS steps, every invariant after every step."""
    note(f"scenario={scenario.Scenario.from_dict(d).to_json()}")
    steps, ending = E.play(d, seed, data, MAX_STEPS, on_step=_note_and_count)
    event("episode ended by", ending)
    event("steps", str(steps))
    event("counts at a cap", str(E.at_a_cap(d)))


@settings(max_examples=examples("invalid"))
@given(d=E.scenarios(), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_every_masked_action_changes_nothing_and_ends_the_episode(d, seed, data):
    """Play a few legal steps, then try a masked action (README decision 5)."""
    state = scenario.build(d, E.PARAMS)
    note(f"scenario={scenario.Scenario.from_dict(d).to_json()}")
    sig = _sig_of_step(state)
    for t in range(data.draw(st.integers(0, 4), label="legal steps first")):
        mask = np.asarray(E.VALID(state))
        if not mask.any():
            break
        action = E.draw_action(data, mask, p_valid=10)
        out = E.step(state, action, seed + t)
        if bool(out[3]):
            return
        state = out[0]
    mask = np.asarray(E.VALID(state))
    masked = np.flatnonzero(~mask).tolist()
    if not masked:
        return
    action = data.draw(st.sampled_from(masked), label="masked action")
    out = E.host(E.step(state, action, seed))
    E.check_step(E.host(state), mask, action, out, sig)


@settings(max_examples=examples("eager"))
@given(d=E.scenarios(max_enemies=6, max_transmissions=4), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_jit_and_eager_agree(d, seed, data):
    """One step run op by op (slow: a few examples) equals the jitted step."""
    state = scenario.build(d, E.PARAMS)
    note(f"scenario={scenario.Scenario.from_dict(d).to_json()}")
    action = E.draw_action(data, np.asarray(E.VALID(state)))
    k = E.key(seed)
    eager = env.step(state, jnp.int32(action), k, E.PARAMS)
    jitted = E.STEP(state, jnp.int32(action), k, E.PARAMS)
    leaves_e = jax.tree_util.tree_leaves_with_path(eager)
    leaves_j = jax.tree_util.tree_leaves_with_path(jitted)
    assert [p for p, _ in leaves_e] == [p for p, _ in leaves_j]
    for (path, a), (_, b) in zip(leaves_e, leaves_j):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, jax.tree_util.keystr(path)
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=jax.tree_util.keystr(path))
        else:
            assert np.array_equal(a, b), jax.tree_util.keystr(path)
    assert np.array_equal(np.asarray(env.valid_actions(state)), np.asarray(E.VALID(state)))


@settings(max_examples=examples("batched"))
@given(ds=st.lists(E.scenarios(max_enemies=8, max_transmissions=5), min_size=E.BATCH, max_size=E.BATCH),
       seed=st.integers(0, 2**31 - 1), data=st.data())
def test_batched_step_over_many_envs_agrees_with_the_single_step_and_keeps_invariants(ds, seed, data):
    """``BATCH`` different scenarios stepped at once by the jitted ``env.batched_step``, 3 times."""
    assert E.play_batched(ds, seed, data, rounds=3) == 3 * E.BATCH
