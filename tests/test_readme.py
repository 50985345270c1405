"""The README's Python examples run as written (every name defined, a real step taken)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_the_readme_has_the_env_example_and_the_integrations_example():
    assert len(BLOCKS) == 2
    assert "env.step" in BLOCKS[0] and "HackMatrixGymEnv" in BLOCKS[1]


def test_the_env_api_example_runs_and_takes_a_valid_step(capsys):
    namespace: dict = {}
    exec(compile(BLOCKS[0], f"{README}:env-example", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    # The first valid action of a new game is a real step: -0.01 plus whatever it earned,
    # never the 0 of an invalid action, and the game goes on.
    assert out[0].startswith("action ") and "done False" in out[0] and "reward +0.00" not in out[0]
    assert bool(namespace["mask"][int(namespace["action"])])
    assert out[-1] == "True 0"
    assert namespace["dones"].shape == (namespace["N"],)


def test_the_gymnax_and_gymnasium_example_runs():
    pytest.importorskip("gymnasium")
    namespace: dict = {}
    exec(compile(BLOCKS[1], f"{README}:integrations-example", "exec"), namespace)
    assert namespace["info"]["action_mask"].shape == (4, 28)
    assert namespace["obs"].shape == (4, 1545) and namespace["rewards"].shape == (4,)
