"""Golden traces recorded from the original game (tests/data/golden): every trajectory must pass."""

import math

import pytest

from tests.domain import golden


@pytest.mark.parametrize("name", ["core", "programs"])
def test_every_golden_trajectory_replays_exactly(name):
    trajectories = [t for t in golden.load(name) if t["id"] not in golden.PROBABILISTIC]
    passed, failures = golden.replay(trajectories)
    report = "\n".join(f"{tid}: {errs[:3]}" for tid, errs in list(failures.items())[:10])
    assert passed == len(trajectories), f"{name}: {passed}/{len(trajectories)} pass; first failures:\n{report}"


def test_golden_steps_random_in_the_original_replay_at_the_originals_rate():
    copies = 200  # each copy replays with its own key
    by_id = {t["id"]: t for t in golden.load("core") if t["id"] in golden.PROBABILISTIC}
    assert set(by_id) == set(golden.PROBABILISTIC)
    for tid, p in golden.PROBABILISTIC.items():
        passed, _ = golden.replay([dict(by_id[tid], id=f"{tid}#{i}") for i in range(copies)])
        sigma = math.sqrt(p * (1 - p) / copies)
        assert abs(passed / copies - p) <= 5 * sigma, (tid, passed, p)
