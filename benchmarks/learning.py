"""Learning benchmark: how well does a recipe train, over several seeds, on fixed games?

Usage:
  python benchmarks/learning.py                                  # recipe default, seeds 0 1 2
  python benchmarks/learning.py --recipe cpu-long --seeds 0 --points 8
  python benchmarks/learning.py --recipe default --budget 5000000 --eval-episodes 1000
  python benchmarks/learning.py --quick                          # smoke: tiny nets and budgets

For each training seed it trains the recipe (``recipes/<name>.yaml``, or a path to
a config file) for ``--budget`` env steps (default: the recipe's own
``total_timesteps``) and evaluates the policy at ``--points`` evenly spaced points
(and at the end) on the same ``--eval-episodes`` games, greedy and sampled. The
games come from ``evaluation.evaluation_key(--eval-seed)``, a key stream training
never draws from, so no training seed ever plays them. The scripted baseline and
the uniformly random valid policy play the same games once. ``--dev-episodes N``
also plays N games of ``--dev-seed`` (greedy) at each point: choose between recipes
on those, and report the benchmark's games.

Reported per seed and as mean +- std over the seeds (final point): mean return,
mean highest stage, share of games reaching each stage 2..8, win rate, mean length,
how games end (won; killed with a virus/daemon/glitch/cryptog next to the player; by
a siphon-spawned enemy), action shares and program uses per game by program. Prints
a table, writes ``--out`` (a PNG learning curve: stage-reach shares and win rate
against env steps, greedy, mean over seeds; and the full figures as JSON) and ends
with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
EVAL_SEED = 20261206  # the benchmark's evaluation games (never a training seed's stream)
QUICK = {"num_envs": 16, "num_steps": 16, "total_timesteps": 16 * 16 * 4, "hidden_dim": 32,
         "log_interval": 2}
HEADLINE = ("mean_return", "mean_highest_stage", "win_rate", "mean_length",
            *(f"reach_stage_{k}" for k in range(2, 9)),
            "ends/won", "ends/killed_by_virus", "ends/killed_by_daemon", "ends/killed_by_glitch",
            "ends/killed_by_cryptog", "ends/killed_unseen", "ends/siphon_caused",
            "actions/move_frac", "actions/siphon_frac", "actions/program_frac",
            "per_game/siphons", "reward/score_gain", "reward/kills")


def recipe_path(name: str) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml", ".toml") and path.exists():
        return path
    candidate = RECIPES / f"{name}.yaml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in RECIPES.glob("*.yaml")))
        raise SystemExit(f"learning.py: error: no recipe {name!r} (known: {known})")
    return candidate


def load_recipe(name: str) -> Any:
    from hackmatrix.adapters.config.sources import FileConfigSource
    from hackmatrix.application.config import TrainConfig

    values = FileConfigSource(recipe_path(name)).values()
    train = {k: v for k, v in values.items() if k in TrainConfig.__dataclass_fields__}
    return TrainConfig.from_dict(train)


class _Recorder:
    """A MetricsLogger that keeps every record (the training curve) and prints a progress
    line at every tenth of the run's ``total`` updates (a seed trains for minutes to
    hours between its evaluation points)."""

    def __init__(self, label: str = "", total: int = 0) -> None:
        self.records: list[tuple[int, dict[str, float]]] = []
        self.label, self.total = label, total
        self.started = time.perf_counter()

    def log_config(self, config: Any) -> None:
        pass

    def log_metrics(self, metrics: Any, step: int) -> None:
        self.records.append((int(step), dict(metrics)))
        update = int(metrics.get("train/update_step", 0))
        if self.total and update * 10 // self.total > (update - 1) * 10 // self.total:
            agreement = metrics.get("train/teacher_agreement")
            print(f"{self.label}update {update}/{self.total} ({int(step):,} env steps, "
                  f"{time.perf_counter() - self.started:.0f} s)"
                  + ("" if agreement is None else f", teacher agreement {agreement:.3f}"),
                  flush=True)

    def log_html(self, name: str, html: str, step: int) -> None:
        pass  # no evaluations during these runs (eval_interval 0)

    def close(self) -> None:
        pass


def evaluate_params(params: Any, cfg: Any, episodes: int, seed: int, max_steps: int,
                    modes: tuple[int, ...]) -> dict[str, dict[str, float]]:
    from hackmatrix.application.evaluation import MODE_NAMES, run_episodes, summarize_detailed

    return {MODE_NAMES[m]: summarize_detailed(run_episodes(params, cfg, episodes, m, seed,
                                                           max_steps))
            for m in modes}


def train_seed(cfg: Any, seed: int, points: int, episodes: int, max_steps: int,
               eval_seed: int, dev: tuple[int, int] = (0, 0),
               checkpoints: Path | None = None) -> dict[str, Any]:
    """Train one seed; evaluate at ``points`` evenly spaced updates and at the end, and
    (greedy) on ``dev`` = (seed, games) development games where it has any games. With
    ``checkpoints``, the final training state is saved there (for ``evaluate``,
    ``watch`` or ``teacher_gap.py``)."""
    from hackmatrix.application.evaluation import MODE_GREEDY, MODE_SAMPLE
    from hackmatrix.application.use_cases import TrainPolicy
    from hackmatrix.containers import writable_checkpoint_store

    cfg = dataclasses.replace(cfg, seed=seed, eval_interval=0).auto_scale_for_batch_size()
    total = cfg.num_updates
    every = max(1, total // max(points, 1))
    # Chunks end on evaluation points: the hook runs before the chunk that starts there.
    cfg = dataclasses.replace(cfg, log_interval=math.gcd(cfg.log_interval, every))
    curve: list[dict[str, Any]] = []

    def evaluate(params: Any) -> dict[str, Any]:
        figures = evaluate_params(params, cfg, episodes, eval_seed, max_steps,
                                  (MODE_GREEDY, MODE_SAMPLE))
        if dev[1]:
            figures["dev_greedy"] = evaluate_params(params, cfg, dev[1], dev[0], max_steps,
                                                    (MODE_GREEDY,))["greedy"]
        return figures

    def hook(update: int, runner: Any) -> Any:
        if update and update % every == 0 and update < total:
            curve.append({"update": update, "env_steps": update * cfg.batch_size,
                          **evaluate(runner.params)})
            _print_point(seed, curve[-1])
        return runner

    recorder = _Recorder(f"seed {seed}: ", total)
    start = time.perf_counter()
    store = None
    if checkpoints is not None:
        # An earlier benchmark's checkpoint there (a longer budget: a higher step) would
        # outrank this run's, which keep=1 would then delete: start the folder afresh.
        for stale in sorted(checkpoints.glob("ckpt-*.msgpack")):
            print(f"removing the earlier benchmark's {stale}", flush=True)
            stale.unlink()
        store = writable_checkpoint_store(str(checkpoints), keep=1)
    result = TrainPolicy(cfg, recorder, checkpoints=store, before_chunk=hook).run()
    wall = time.perf_counter() - start
    final = evaluate(result.params)
    curve.append({"update": result.num_updates, "env_steps": result.env_steps, **final})
    _print_point(seed, curve[-1])
    return {"seed": seed, "wall_seconds": wall, "compile_seconds": result.compile_seconds,
            "train_steps_per_second": result.env_steps / max(result.train_seconds, 1e-9),
            "env_steps": result.env_steps, "curve": curve, "final": final,
            "checkpoint": result.checkpoints[-1] if result.checkpoints else None}


def _print_point(seed: int, point: dict[str, Any]) -> None:
    figures = [("", point["greedy"])] + ([("dev ", point["dev_greedy"])]
                                         if "dev_greedy" in point else [])
    print(f"seed {seed} at {point['env_steps']:,} steps: " + "; ".join(
        f"{name}greedy stage {g['mean_highest_stage']:.2f}, win rate {_win_rate(g)}"
        for name, g in figures), flush=True)


def _win_rate(g: dict[str, float]) -> str:
    """The win rate with its 95 % interval (Wilson, ``evaluation.win_rate_interval``)."""
    return f"{g['win_rate']:.3f} (95 % interval {g['win_rate_low']:.3f}-{g['win_rate_high']:.3f})"


def mean_std(values: list[float]) -> tuple[float, float]:
    import numpy as np

    array = np.asarray(values, np.float64)
    return float(array.mean()), float(array.std())


def plot_curve(runs: list[dict[str, Any]], baselines: dict[str, dict[str, float]],
               title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = [p["env_steps"] for p in runs[0]["curve"]]
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, 7))
    for k, color in zip(range(2, 9), colors, strict=True):
        values = np.array([[p["greedy"][f"reach_stage_{k}"] for p in r["curve"]] for r in runs])
        ax.plot(steps, values.mean(0), color=color, label=f"reach stage {k}")
        if len(runs) > 1:
            ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.15)
    wins = np.array([[p["greedy"]["win_rate"] for p in r["curve"]] for r in runs])
    ax.plot(steps, wins.mean(0), color="red", linewidth=2, label="win rate")
    scripted = baselines.get("scripted", {})
    if scripted:
        ax.axhline(scripted["reach_stage_3"], color="gray", linestyle="--",
                   label="scripted: reach stage 3")
    ax.set_xlabel("env steps")
    ax.set_ylabel("share of evaluation games (greedy)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="default", help="recipes/<name>.yaml or a config path")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training seeds (default: 0 1 2)")
    parser.add_argument("--budget", type=int, default=None,
                        help="env steps per seed (default: the recipe's total_timesteps)")
    parser.add_argument("--points", type=int, default=5,
                        help="evaluation points before the end (default: 5)")
    parser.add_argument("--eval-episodes", type=int, default=500, help="games per evaluation")
    parser.add_argument("--eval-seed", type=int, default=EVAL_SEED,
                        help=f"evaluation games' seed (default: {EVAL_SEED})")
    parser.add_argument("--dev-episodes", type=int, default=0,
                        help="also play this many development games (greedy) at each point, to "
                             "choose a recipe on games other than the benchmark's (default: 0)")
    parser.add_argument("--dev-seed", type=int, default=0,
                        help="development games' seed (default: 0, training's eval_seed)")
    parser.add_argument("--max-steps", type=int, default=1000, help="cap per evaluation game")
    parser.add_argument("--out", default="runs/learning", help="folder for the PNG and JSON")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny net and budget")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.eval_episodes, args.max_steps = 2, 32, 200
    if args.eval_episodes < 1 or args.points < 0 or args.dev_episodes < 0 or not args.seeds:
        parser.error("--eval-episodes >= 1, --points >= 0, --dev-episodes >= 0 and a seed")
    if args.dev_episodes and args.dev_seed == args.eval_seed:
        parser.error(f"--dev-seed {args.dev_seed} is the benchmark's own --eval-seed")

    from hackmatrix.adapters.runtime import setup_jax_runtime
    from hackmatrix.application.evaluation import MODE_RANDOM, MODE_SCRIPTED

    setup_jax_runtime(None)
    cfg = load_recipe(args.recipe)
    if args.quick:
        cfg = dataclasses.replace(cfg, **QUICK)
    if args.budget is not None:
        cfg = dataclasses.replace(cfg, total_timesteps=args.budget)
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    print(f"recipe {args.recipe}: {cfg.num_envs} envs x {cfg.num_steps} steps, "
          f"{cfg.effective_total_timesteps:,} env steps, network {cfg.network}"
          f"{' (separate critic)' if cfg.separate_critic else ''}; seeds "
          f"{args.seeds}; {args.eval_episodes} evaluation games (seed {args.eval_seed})",
          flush=True)

    out = Path(args.out)
    stem = f"{Path(args.recipe).stem}{'-quick' if args.quick else ''}"
    baselines = evaluate_params(None, cfg, args.eval_episodes, args.eval_seed, args.max_steps,
                                (MODE_SCRIPTED, MODE_RANDOM))
    runs = []
    for seed in args.seeds:
        run = train_seed(cfg, seed, args.points, args.eval_episodes, args.max_steps,
                         args.eval_seed, (args.dev_seed, args.dev_episodes),
                         out / f"{stem}-seed{seed}")
        g = run["final"]["greedy"]
        print(f"seed {seed}: {run['env_steps']:,} steps in {run['wall_seconds']:.0f} s "
              f"({run['train_steps_per_second']:,.0f} steps/s training): greedy mean highest "
              f"stage {g['mean_highest_stage']:.2f}, win rate {_win_rate(g)}; "
              f"checkpoint {run['checkpoint']}", flush=True)
        runs.append(run)

    headers = ["metric", *(f"seed {r['seed']}" for r in runs), "mean", "std", "scripted",
               "random"]
    rows, metrics, better = [], {}, {}
    for mode in ("greedy", "sampled"):
        for key in HEADLINE:
            values = [r["final"][mode][key] for r in runs]
            m, s = mean_std(values)
            rows.append([f"{mode} {key}", *values, m, s,
                         baselines["scripted"][key], baselines["random"][key]])
            metrics[f"{mode}/{key}"] = benchlib.clean(m)
            metrics[f"{mode}/{key}_std"] = benchlib.clean(s)
            better[f"{mode}/{key}"] = "info"
    program_keys = sorted({k for r in runs for k in r["final"]["greedy"] if k.startswith("programs/")})
    for key in program_keys:
        values = [r["final"]["greedy"][key] for r in runs]
        m, s = mean_std(values)
        if m > 0 or baselines["scripted"][key] > 0:
            rows.append([f"greedy {key} per game", *values, m, s, baselines["scripted"][key],
                         baselines["random"][key]])
        metrics[f"greedy/{key}"] = benchlib.clean(m)
    for name in ("mean_highest_stage", "win_rate"):
        better[f"greedy/{name}"] = "higher"
    for who in ("scripted", "random"):
        for key in HEADLINE:
            metrics[f"{who}/{key}"] = benchlib.clean(baselines[who][key])
    metrics["wall_seconds_mean"] = benchlib.clean(mean_std([r["wall_seconds"] for r in runs])[0])
    metrics["train_steps_per_second_mean"] = benchlib.clean(
        mean_std([r["train_steps_per_second"] for r in runs])[0])
    print(benchlib.format_table(headers, rows))

    out.mkdir(parents=True, exist_ok=True)
    png = out / f"{stem}.png"
    plot_curve(runs, baselines, f"{stem}: {len(runs)} seed(s), {args.eval_episodes} games", png)
    (out / f"{stem}.json").write_text(json.dumps(
        {"recipe": args.recipe, "config": cfg.to_dict(), "machine": machine, "runs": runs,
         "baselines": baselines}, indent=1, default=float))
    print(f"learning curve: {png}")
    benchlib.emit_result(
        "learning",
        {"recipe": args.recipe, "seeds": args.seeds, "budget": cfg.effective_total_timesteps,
         "eval_episodes": args.eval_episodes, "eval_seed": args.eval_seed,
         "dev_episodes": args.dev_episodes, "dev_seed": args.dev_seed, "points": args.points,
         "quick": args.quick},
        machine, [dict(zip(headers, row, strict=True)) for row in rows], metrics, better,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
