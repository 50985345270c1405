"""Golden traces recorded from the original game (tests/data/golden): every trajectory must pass."""

import pytest

from tests.domain import golden


@pytest.mark.parametrize("name", ["core", "programs"])
def test_every_golden_trajectory_replays_exactly(name):
    trajectories = golden.load(name)
    passed, failures = golden.replay(trajectories)
    report = "\n".join(f"{tid}: {errs[:3]}" for tid, errs in list(failures.items())[:10])
    assert passed == len(trajectories), f"{name}: {passed}/{len(trajectories)} pass; first failures:\n{report}"
