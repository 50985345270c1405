"""Smoke tests of the benchmark scripts (benchmarks/*.py; they are scripts, not tests).

The fast tests import every script and check argument handling and the compare
arithmetic. Running a script's ``--quick`` configuration compiles the engine (and
the PPO chunk), which takes minutes on a 2-core CPU, so those runs are marked slow:
``pytest -m slow tests/test_benchmarks_smoke.py``.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ("env_throughput", "train_throughput", "compare", "breakdown_overhead", "learning")


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH_DIR))
    try:
        yield {name: importlib.import_module(name) for name in SCRIPTS}
    finally:
        sys.path.remove(str(BENCH_DIR))


def test_every_script_imports_and_has_main(bench):
    for name, module in bench.items():
        assert callable(module.main), name


def test_env_benchmark_samples_uniformly_among_the_valid_actions(bench):
    import jax
    import jax.numpy as jnp
    import numpy as np

    mask = jnp.zeros((3, 28), bool).at[0, jnp.asarray([2, 5, 27])].set(True).at[1, 4].set(True)
    mask = jnp.tile(mask, (4000, 1))  # row 2 of each triple has no valid action
    actions = np.asarray(bench["env_throughput"].uniform_valid_action(jax.random.PRNGKey(0), mask))
    first, only, none = actions[0::3], actions[1::3], actions[2::3]
    assert set(first) == {2, 5, 27} and set(only) == {4} and set(none) == {0}
    counts = np.bincount(first, minlength=28)[[2, 5, 27]]
    assert np.all(np.abs(counts - 4000 / 3) < 150)  # ~5 sigma


def test_quick_flags_shrink_the_runs(bench):
    env = bench["env_throughput"].parse_args(["--quick"])
    assert env.envs == [64] and env.steps == 32 and env.repeats == 1
    train = bench["train_throughput"].parse_args(["--quick"])
    assert train.envs == [64] and train.steps == 16 and train.breakdown_envs == 64


def test_flops_per_env_step_matches_the_issue(bench):
    from hackmatrix.application.config import TrainConfig

    cfg = TrainConfig(num_envs=2048, num_steps=128)  # auto-scaled: 2 epochs
    mflop = bench["train_throughput"].flops_per_env_step(cfg) / 1e6
    assert cfg.resolved_update_epochs == 2
    assert 6.0 < mflop < 7.0  # issue 7: "roughly 6.5 MFLOP per env step"


def test_compare_ratios_point_the_same_way(bench, tmp_path, capsys):
    better = {"x.steps_per_s": "higher", "x.compile_s": "lower", "x.peak_mib": "info"}
    a = {"benchmark": "env_throughput", "args": {}, "machine": {}, "better": better,
         "metrics": {"x.steps_per_s": 1000.0, "x.compile_s": 10.0, "x.peak_mib": 5.0}}
    b = dict(a, metrics={"x.steps_per_s": 800.0, "x.compile_s": 20.0, "x.peak_mib": 9.0})
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text("noise\nRESULT " + json.dumps(b) + "\n")  # captured stdout
    result = bench["compare"].main(["--files", str(tmp_path / "a.json"), str(tmp_path / "b.json")])
    assert result["ratios"] == {"x.steps_per_s": 0.8, "x.compile_s": 0.5, "x.peak_mib": None}
    assert "REGRESSION" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench["compare"].main(["--files", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                               "--fail-below", "0.9"])


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["env_throughput", "train_throughput"])
def test_quick_run_emits_a_result(bench, name, capsys):
    result = bench[name].main(["--quick"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1
    assert json.loads(lines[0][len("RESULT "):])["benchmark"] == name == result["benchmark"]
    assert all(v is None or v > 0 for k, v in result["metrics"].items() if k.endswith("per_s"))


def test_learning_benchmark_loads_every_recipe_and_refuses_unknown_ones(bench):
    learning = bench["learning"]
    for path in sorted(learning.RECIPES.glob("*.yaml")):
        cfg = learning.load_recipe(path.stem)
        assert cfg.total_timesteps >= cfg.num_envs * cfg.num_steps, path
    with pytest.raises(SystemExit, match="no recipe 'nope'"):
        learning.load_recipe("nope")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_learning_quick_run_emits_every_figure(bench, tmp_path, capsys):
    assert bench["learning"].main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1
    metrics = json.loads(lines[0][len("RESULT "):])["metrics"]
    for key in ("greedy/mean_highest_stage", "greedy/win_rate", "greedy/reach_stage_8",
                "sampled/ends/killed_by_virus", "greedy/ends/siphon_caused",
                "greedy/programs/CRASH", "scripted/mean_highest_stage", "random/win_rate"):
        assert key in metrics, key
    assert (tmp_path / "default-quick.png").stat().st_size > 0
