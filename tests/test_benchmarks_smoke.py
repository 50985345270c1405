"""Smoke tests of the benchmark scripts (benchmarks/*.py; they are scripts, not tests).

The fast tests import every script and check argument handling, the compare
arithmetic and the reliability benchmark's pieces (counts, the fixture shim that calls
the suite's fault tests, the scenario mutations). Running a script's ``--quick`` configuration compiles the engine (and
the PPO chunk), which takes minutes on a 2-core CPU, so those runs are marked slow:
``pytest -m slow tests/test_benchmarks_smoke.py``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH_DIR = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = ("env_throughput", "train_throughput", "compare", "breakdown_overhead", "learning",
           "reliability", "network_cost", "scripted_baseline", "scaling", "step_phases",
           "device_scaling", "teacher_gap", "checkpoint_average")


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


def test_scaling_scripts_quick_flags_and_defaults(bench):
    scaling = bench["scaling"].parse_args([])
    assert scaling.envs == [1, 8, 64, 256, 1024, 2048, 4096, 8192] and scaling.steps == 128
    quick = bench["scaling"].parse_args(["--quick"])
    assert quick.envs == [1, 8, 64] and quick.steps == 16 and quick.env_steps == 16
    phases = bench["step_phases"].parse_args(["--quick"])
    assert phases.envs == 64 and phases.snapshots == 2 and phases.rounds == 3
    assert bench["step_phases"].parse_args([]).envs == 2048
    devices = bench["device_scaling"].parse_args(["--quick"])
    assert devices.devices == [1, 2, 4] and devices.total_envs == 64 and devices.per_device_envs == 32


def test_checkpoint_average_takes_the_leafwise_mean_and_rejects_bad_counts(bench, tmp_path, capsys):
    import jax.numpy as jnp
    import numpy as np

    average = bench["checkpoint_average"]
    trees = [{"w": jnp.asarray([1.0, 2.0], jnp.float32), "b": {"x": jnp.asarray(3.0, jnp.float32)}},
             {"w": jnp.asarray([3.0, 6.0], jnp.float32), "b": {"x": jnp.asarray(-1.0, jnp.float32)}},
             {"w": jnp.asarray([5.0, 1.0], jnp.float32), "b": {"x": jnp.asarray(1.0, jnp.float32)}}]
    mean = average.average_params(trees)
    np.testing.assert_allclose(mean["w"], [3.0, 3.0])
    assert float(mean["b"]["x"]) == 1.0 and mean["w"].dtype == jnp.float32
    assert average.average_params(trees[:1])["w"].tolist() == [1.0, 2.0]
    args = average.parse_args(["run"])
    assert args.last == [1, 6, 12] and args.games == 1024 and args.seed == 7
    for bad, named in ((["run", "--last", "6", "0"], "got 0"), (["run", "--games", "0"], "got 0")):
        with pytest.raises(SystemExit) as exit_info:
            average.parse_args(bad)
        assert exit_info.value.code == 2 and named in capsys.readouterr().err
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with pytest.raises(SystemExit) as exit_info:  # found as evaluate finds a checkpoint
        average.main([str(tmp_path), "--last", "2"])
    assert exit_info.value.code == 2
    assert "RUN " + repr(str(tmp_path)) + ": no checkpoint file in that folder" in capsys.readouterr().err
    (folder / "ckpt-000000001024.msgpack").write_bytes(b"")  # counted before it is read
    (folder / "ckpt-000000002048.msgpack").write_bytes(b"")
    for run, held in ((tmp_path, 2), (folder / "ckpt-000000001024.msgpack", 1)):
        with pytest.raises(SystemExit) as exit_info:  # a file: it and the ones before it
            average.main([str(run), "--last", "3"])
        assert exit_info.value.code == 2
        assert f"holds {held} checkpoints, fewer than 3" in capsys.readouterr().err


def test_scaling_memory_fit_recovers_a_line_and_the_budget(bench):
    scaling = bench["scaling"]
    a, b = 300 * 2**20, 1.5 * 2**20  # 300 MiB + 1.5 MiB per env
    rows = [{"num_envs": n, "xla_bytes": a + b * n} for n in (256, 1024, 4096)]
    fit = scaling.memory_fit(rows + [{"num_envs": 8, "xla_bytes": None}], budget_gib=24)
    assert fit["points"] == 3 and abs(fit["b_kib_per_env"] - 1536) < 1e-6
    assert abs(fit["n_max"] - 16184) <= 1 and fit["n_max_pow2"] == 8192  # (24 GiB - a) / b
    timed = [{"num_envs": n, "call_s": 0.01 * n, "steps": 128} for n in (1, 64, 256, 1024)]
    assert abs(scaling.loglog_slope(timed) - 1.0) < 1e-9  # linear in N above 64 envs


def test_device_scaling_sets_the_fake_device_flag_once(bench, monkeypatch):
    ds = bench["device_scaling"]
    monkeypatch.setenv("XLA_FLAGS", "--xla_foo=1 --xla_force_host_platform_device_count=8")
    flags = ds.child_env(4, fake=True)["XLA_FLAGS"].split()
    assert flags == ["--xla_foo=1", "--xla_force_host_platform_device_count=4"]
    assert "device_count=8" in ds.child_env(4, fake=False)["XLA_FLAGS"]


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


def test_reliability_counts_follow_quick_scale_and_sections(bench):
    rel = bench["reliability"]
    default, quick = rel.parse_args([]), rel.parse_args(["--quick"])
    assert default.counts == rel.DEFAULT_COUNTS and default.sections == list(rel.SECTIONS)
    assert all(quick.counts[k] <= default.counts[k] for k in default.counts)
    assert quick.counts["train_kills"] == 0  # no training subprocess in the smoke run
    assert rel.parse_args(["--scale", "2"]).counts["scenarios"] == 2 * default.counts["scenarios"]
    assert rel.parse_args(["--no-subprocess"]).counts["store_kills"] == 0
    assert rel.parse_args(["--sections", "fuzz"]).sections == ["fuzz"]
    with pytest.raises(SystemExit):
        rel.parse_args(["--sections", "fuzz,nope"])


def test_reliability_help_runs_as_a_script():
    done = subprocess.run([sys.executable, str(BENCH_DIR / "reliability.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--quick" in done.stdout and "--scale" in done.stdout


def test_reliability_expands_parametrize_marks_like_pytest(bench):
    @pytest.mark.parametrize("b", [3, 4], ids=["three", "four"])
    @pytest.mark.parametrize(("a", "c"), [(1, 2)])
    def test_x(a, b, c):
        pass

    cases = bench["reliability"].parametrized(test_x)
    assert [params for _, params in cases] == [{"a": 1, "c": 2, "b": 3}, {"a": 1, "c": 2, "b": 4}]
    assert [case_id for case_id, _ in cases] == ["[(1, 2)][three]", "[(1, 2)][four]"]


def test_reliability_counts_a_failing_fault_test_as_a_break(bench, tmp_path):
    rel = bench["reliability"]

    def test_passes(tmp_path, capsys):
        print("out")
        assert capsys.readouterr().out == "out\n" and tmp_path.is_dir()

    def test_fails(monkeypatch):
        monkeypatch.setenv("HACKMATRIX_RELIABILITY_PROBE", "1")
        raise AssertionError("promise broken")

    row = rel.Row("faults", "probe", "faults")
    rel.run_tests(row, rel.Fixtures(tmp_path), [test_passes, test_fails])
    assert row.tried == 2 and len(row.breaks) == 1 and "promise broken" in row.breaks[0]
    assert "HACKMATRIX_RELIABILITY_PROBE" not in __import__("os").environ  # monkeypatch undone


def test_reliability_mutations_of_a_valid_scenario_are_each_refused_naming_the_field(bench):
    from hackmatrix.domain.scenario import Scenario

    rel = bench["reliability"]
    valid = {"player": {"row": 0, "col": 0, "hp": 2, "credits": 5},
             "enemies": [{"type": "virus", "row": 1, "col": 1, "hp": 2}],
             "transmissions": [{"row": 2, "col": 2, "turns_remaining": 1, "enemy_type": "daemon"}],
             "blocks": [{"row": 3, "col": 3, "kind": "program", "program": "PUSH"}],
             "resources": [{"row": 4, "col": 4, "credits": 2}], "owned_programs": ["SHOW"], "stage": 2}
    Scenario.from_dict(valid)
    mutations = rel._one_field_mutations(valid)
    assert len(mutations) > 200
    for what, path, value, field in mutations:
        with pytest.raises(ValueError) as error:
            Scenario.from_dict(rel._mutated(valid, path, value))
        assert field in str(error.value), what
    Scenario.from_dict(valid)  # mutated copies, never the original


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_reliability_quick_run_tries_every_section_and_emits_a_result(bench, capsys):
    result = bench["reliability"].main(["--quick"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1 and json.loads(lines[0][len("RESULT "):])["benchmark"] == "reliability"
    metrics = result["metrics"]
    assert metrics["inputs_tried"] > 1000 and metrics["steps_fuzzed"] > 0 and metrics["faults_injected"] > 20
    assert metrics["breaks_found"] == sum(r["breaks"] for r in result["rows"])
    assert result["better"]["breaks_found"] == "lower"


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["env_throughput", "train_throughput", "teacher_gap"])
def test_quick_run_emits_a_result(bench, name, capsys):
    result = bench[name].main(["--quick"])
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1
    assert json.loads(lines[0][len("RESULT "):])["benchmark"] == name == result["benchmark"]
    assert all(v is None or v > 0 for k, v in result["metrics"].items() if k.endswith("per_s"))


def test_scripted_baseline_summary_is_the_learning_benchmarks_plus_invalid_actions(bench):
    import numpy as np

    raw = {"return": np.array([10.0, -2.0, 4.0, 0.0]), "length": np.array([100, 20, 60, 40]),
           "stage": np.array([8, 1, 3, 2]), "won": np.array([True, False, False, False]),
           "truncated": np.array([False, False, False, True]), "invalid": np.array([0, 2, 0, 1])}
    stats = bench["scripted_baseline"].summarize(raw)
    assert stats["invalid_actions"] == 3.0
    assert stats["mean_return"] == 3.0 and stats["mean_highest_stage"] == 3.5
    assert stats["win_rate"] == 0.25 and stats["truncated_frac"] == 0.25
    assert [stats[f"reach_stage_{s}"] for s in range(2, 9)] == [0.75, 0.5, 0.25, 0.25, 0.25,
                                                                 0.25, 0.25]
    # 1 win in 4 games: Wilson 95 % interval 0.04559-0.69936 (worked by hand)
    assert stats["win_rate_low"] == pytest.approx(0.045587, abs=1e-5)
    assert stats["win_rate_high"] == pytest.approx(0.699358, abs=1e-5)


def test_teacher_gap_counts_agreement_by_what_the_teacher_wanted(bench):
    import numpy as np

    gap = bench["teacher_gap"]
    best = np.zeros((5, 28), bool)
    best[0, [0, 1]] = True  # teacher: up or down; policy up: agrees
    best[1, 2] = True  # teacher: left; policy right (a step away): disagrees, regret 1.1
    best[2, 4] = True  # teacher: siphon; policy siphons: agrees
    best[3, 7] = True  # teacher: a program; policy moves down: disagrees, regret 3.0
    best[4, [3, 4]] = True  # teacher: right or siphon (mixed); policy right: agrees
    hidden = np.array([[False, True], [True, True], [False, False], [True, False], [False, False]])
    stats = gap.gap_statistics(np.array([0, 3, 4, 1, 3]), best, np.array([0.0, 1.1, 0.0, 3.0, 0.0]),
                               np.array([1, 1, 2, 2, 3]), hidden)
    assert stats["decisions"] == 5 and stats["disagreements"] == 2
    assert stats["agreement"] == 0.6
    assert stats["teacher_only_move_frac"] == 0.4 and stats["teacher_only_move_agreement"] == 0.5
    assert stats["teacher_only_program_agreement"] == 0.0
    assert stats["teacher_only_program_policy_move_frac"] == 1.0
    assert stats["teacher_mixed_frac"] == 0.2
    assert stats["disagreement_policy_move_frac"] == 1.0
    assert stats["disagreement_regret_p50"] == 2.05
    assert stats["regret_above_1_frac"] == 0.4 and stats["regret_above_2_frac"] == 0.2
    assert stats["stage_1_agreement"] == 0.5 and stats["stage_3_decisions"] == 1
    assert stats["stage_4_agreement"] is None
    assert stats["with_hidden_cryptog_frac"] == 0.4 and stats["with_hidden_cryptog_agreement"] == 0.0
    assert stats["without_hidden_cryptog_agreement"] == 1.0
    assert stats["with_question_block_agreement"] == 0.5 and stats["without_question_block_frac"] == 0.6
    with pytest.raises(SystemExit):
        gap.parse_args([])  # a checkpoint is needed unless --quick


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
    # Each seed's final state is a checkpoint that teacher_gap.py (and evaluate) can read.
    saved = sorted(tmp_path.glob("default-quick-seed*/ckpt-*.msgpack"))
    assert [p.parent.name for p in saved] == [f"default-quick-seed{s}" for s in (0, 1, 2)]
    gap = bench["teacher_gap"].main(["--checkpoint", str(saved[0]), "--games", "4",
                                     "--max-steps", "10"])
    assert gap["metrics"]["decisions"] > 0
