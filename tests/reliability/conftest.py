"""Hypothesis profiles for the reliability tests.

``ci`` (the default) is sized so that every fuzz test together runs in well under two
minutes on a 2-core CPU machine, and is derandomized so CI is reproducible. ``nightly``
draws many more, random examples and keeps a failure database::

    HYPOTHESIS_PROFILE=nightly .venv/bin/python -m pytest tests/reliability -q

``examples(kind)`` gives the per-test example counts of the active profile (a test's
``@settings(max_examples=...)`` overrides the profile's own ``max_examples``);
``HACKMATRIX_FUZZ_SCALE`` multiplies them (e.g. ``=10`` for a longer nightly run).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci", deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "nightly", deadline=None, derandomize=False, print_blob=True,
    suppress_health_check=_SLOW_OK,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
if PROFILE not in ("ci", "nightly"):
    PROFILE = "ci"
settings.load_profile(PROFILE)

# Examples per test and profile.
_EXAMPLES = {
    "ci": {"sequences": 120, "invalid": 40, "batched": 6, "eager": 1, "parse": 150},
    "nightly": {"sequences": 5000, "invalid": 1500, "batched": 200, "eager": 20, "parse": 5000},
}


def examples(kind: str) -> int:
    scale = float(os.environ.get("HACKMATRIX_FUZZ_SCALE", "1"))
    return max(1, int(_EXAMPLES[PROFILE][kind] * scale))
