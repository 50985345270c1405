"""Read a scenario JSON file (format: ``docs/rules.md`` Part I §9.1) into a start state.

Shared by ``watch --scenario`` and ``play --scenario``: every problem with the file
(unreadable, not UTF-8, not JSON, a bad field) is one ``ValueError`` naming the file,
which the entry points report as one line and exit status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hackmatrix.domain.scenario import Scenario, build
from hackmatrix.domain.state import EnvParams


def load_scenario_state(path: str, params: EnvParams) -> Any:
    """The start state of the scenario in ``path`` (ValueError naming the file on problems)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"cannot read scenario {path!r}: {error}") from None
    scenario = Scenario.from_bytes(data, path)  # ValueError: "scenario '<path>': ..."
    try:
        return build(scenario, params)
    except ValueError as error:
        raise ValueError(f"scenario {path!r}: {error}") from None
