"""Scaling with the env count: env and training steps/s, compile time, memory, cost growth.

Usage:
  python benchmarks/scaling.py                       # 1 8 64 256 1024 2048 4096 8192 envs
  python benchmarks/scaling.py --quick               # smoke: 1, 8, 64 envs, short calls
  python benchmarks/scaling.py --skip-train          # env rows only
  python benchmarks/scaling.py --train-run-max 2048  # training above 2048: compiled, not run
  python benchmarks/scaling.py --memory-envs 16384 32768   # more compile-only memory points

Every (part, env count) runs in its own subprocess (``--worker``), so each row's peak
RSS is its own and not the largest of the whole run. Per env count N:

* **env**: ``jit(scan(...))`` of ``--env-steps`` batched steps with auto-reset, uniform
  random valid actions and the flat observation, exactly ``env_throughput.py``'s
  program; lower + compile time, env steps/s (median of the timed calls after one
  warm-up), per-env-step microseconds.
* **train**: the application's PPO chunk (``ppo.make_train_chunk``, one update of N
  envs x ``--steps`` steps, spec MLP, minibatches/epochs auto-scaled as in training);
  lower + compile time, env steps/s. Above ``--train-run-max`` (and at every
  ``--memory-envs`` size, default 16384 and 32768) the chunk is lowered from shapes
  alone and compiled, never
  run: no N-sized array is allocated, only XLA's memory analysis is read.

Memory, two sources, never mixed:

* **XLA MiB** (``compiled.memory_analysis()``): arguments + outputs + temporaries -
  aliased (donated) bytes of the compiled program: what the program needs resident
  at its peak, on this backend's buffer assignment;
* **RSS MiB** (``resource.getrusage(...).ru_maxrss``, only for rows that run): the
  worker process's peak resident memory (Python, JAX, compiler, runner state, the
  program's buffers). ``RSS base`` is the peak just after JAX's start, before any
  N-sized array or compile; ``RSS run`` the peak after the timed calls.

From the train rows: a least-squares fit XLA bytes = a + b N (b: bytes per env at
``--steps`` steps) over the rows in the largest N's minibatch regime (see
``memory_fit``) and the largest N whose XLA bytes fit ``--budget-gib`` (default
24 GiB); each row that ran in that regime shows its measured RSS growth (RSS run -
RSS base) beside the fit's prediction. Cost growth: per-env-step microseconds and the
log-log slope of call time against N (1 = linear, < 1 = the batch amortises fixed
costs).
Ends with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

DEFAULT_ENVS = (1, 8, 64, 256, 1024, 2048, 4096, 8192)
QUICK_ENVS = (1, 8, 64)
DEFAULT_MEMORY_ENVS = (16384, 32768)  # compiled only: where the 24 GiB estimate lands
ROW_PREFIX = "ROW "
GIB = 2**30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, nargs="+", default=None,
                   help="env counts (default 1 8 64 256 1024 2048 4096 8192)")
    p.add_argument("--env-steps", type=int, default=128, help="env rollout: steps per call (128)")
    p.add_argument("--steps", type=int, default=128, help="training rollout length T (default 128)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median)")
    p.add_argument("--train-repeats", type=int, default=1,
                   help="timed training calls after the warm-up (default 1: 8192 x 128 is ~1 min a call)")
    p.add_argument("--max-seconds", type=float, default=20.0,
                   help="stop timing a row once its timed calls took this long (>= 1 call)")
    p.add_argument("--skip-env", action="store_true", help="no env rows")
    p.add_argument("--skip-train", action="store_true", help="no training rows (and no memory fit)")
    p.add_argument("--train-run-max", type=int, default=None,
                   help="run training only up to this env count; larger ones are compiled for "
                        "their memory analysis only (default: run every size)")
    p.add_argument("--memory-envs", type=int, nargs="*", default=None,
                   help="extra env counts whose training chunk is compiled (not run) for the "
                        "memory fit (default 16384 32768; none with --quick)")
    p.add_argument("--budget-gib", type=float, default=24.0,
                   help="memory budget for the largest-N estimate (default 24 GiB)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per worker subprocess")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: envs 1 8 64, 16 env steps, training 16 steps, 1 repeat")
    p.add_argument("--worker", choices=("env", "train", "train-compile"), default=None,
                   help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.envs = args.envs or list(QUICK_ENVS)
        args.env_steps = 16 if args.env_steps == 128 else args.env_steps
        args.steps = 16 if args.steps == 128 else args.steps
        args.repeats = 1
        args.memory_envs = args.memory_envs or []
    if args.memory_envs is None:
        args.memory_envs = list(DEFAULT_MEMORY_ENVS)
    args.envs = sorted(set(args.envs or DEFAULT_ENVS))
    return args


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory_parts(compiled: Any) -> dict[str, float | None]:
    """XLA's memory analysis of a compiled program, in MiB (None where unavailable)."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - not every backend/version implements it
        m = None
    names = ("argument", "output", "temp", "alias", "generated_code")
    parts = {k: (getattr(m, f"{k}_size_in_bytes", None) if m is not None else None) for k in names}
    if None in (parts["argument"], parts["output"], parts["temp"]):
        total = None
    else:
        total = parts["argument"] + parts["output"] + parts["temp"] - (parts["alias"] or 0)
    out: dict[str, float | None] = {f"xla_{k}_mib": None if v is None else v / 2**20
                                    for k, v in parts.items()}
    out["xla_mib"] = None if total is None else total / 2**20
    out["xla_bytes"] = total
    return out


# ---- workers (one subprocess per row) -------------------------------------------------

def worker_env(n: int, args: argparse.Namespace) -> dict[str, Any]:
    import jax

    import env_throughput

    base = maxrss_mib()
    rollout, initial = env_throughput.make_rollout(n, args.env_steps, "batched", True)
    key = jax.random.PRNGKey(0)
    states = jax.block_until_ready(initial(key))
    lower_s, lowered = benchlib.timed(lambda: rollout.lower(states, key))
    compile_s, compiled = benchlib.timed(lowered.compile)
    mem = memory_parts(compiled)
    rss_compiled = maxrss_mib()
    states, key, *_ = jax.block_until_ready(compiled(states, key))  # warm-up
    times: list[float] = []
    for _ in range(args.repeats):
        dt, out = benchlib.timed(lambda: jax.block_until_ready(compiled(states, key)))  # noqa: B023
        states, key = out[0], out[1]
        times.append(dt)
        if sum(times) >= args.max_seconds:
            break
    call_s = benchlib.median(times)
    return {"part": "env", "num_envs": n, "steps": args.env_steps, "calls": len(times),
            "compile_s": lower_s + compile_s, "call_s": call_s,
            "steps_per_s": n * args.env_steps / call_s, "rss_base_mib": base,
            "rss_compiled_mib": rss_compiled, "rss_run_mib": maxrss_mib(), **mem}


def train_config(n: int, args: argparse.Namespace):
    from hackmatrix.application.config import SPEC_TRAINING, TrainConfig

    # The spec's PPO and MLP: the figures measure the engine and that network.
    return TrainConfig(num_envs=n, num_steps=args.steps, log_interval=1, **SPEC_TRAINING)


def worker_train(n: int, args: argparse.Namespace, run: bool) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp
    from hackmatrix.application.ppo import init_runner_state, make_env, make_train_chunk

    base = maxrss_mib()
    cfg = train_config(n, args)
    env = make_env(cfg)
    one = jnp.int32(1)
    chunk = make_train_chunk(cfg, env=env)
    if run:
        runner = jax.block_until_ready(init_runner_state(cfg, env))
        lower_s, lowered = benchlib.timed(lambda: chunk.lower(runner, one))
    else:  # shapes only: nothing N-sized is allocated
        shapes = jax.eval_shape(lambda: init_runner_state(cfg, env))
        lower_s, lowered = benchlib.timed(lambda: chunk.lower(shapes, one))
    compile_s, compiled = benchlib.timed(lowered.compile)
    mem = memory_parts(compiled)
    row: dict[str, Any] = {
        "part": "train" if run else "train-compile", "num_envs": n, "steps": args.steps,
        "epochs": cfg.resolved_update_epochs, "minibatches": cfg.resolved_num_minibatches,
        "compile_s": lower_s + compile_s, "rss_base_mib": base, "rss_compiled_mib": maxrss_mib(),
        **mem}
    if not run:
        return row
    first_s, (runner, _metrics) = benchlib.timed(lambda: jax.block_until_ready(compiled(runner, one)))
    times: list[float] = []
    for _ in range(args.train_repeats):
        dt, (runner, _metrics) = benchlib.timed(
            lambda: jax.block_until_ready(compiled(runner, one)))  # noqa: B023 - called at once
        times.append(dt)
        if sum(times) >= args.max_seconds:
            break
    call_s = benchlib.median(times) if times else first_s
    row.update({"calls": len(times), "first_call_s": first_s, "call_s": call_s,
                "steps_per_s": n * args.steps / call_s, "rss_run_mib": maxrss_mib()})
    return row


def worker_main(args: argparse.Namespace) -> None:
    benchlib.setup_jax()
    import jax

    jax.devices()  # the backend's own memory belongs to the base
    if args.worker == "env":
        row = worker_env(args.n, args)
    else:
        row = worker_train(args.n, args, run=args.worker == "train")
    print(ROW_PREFIX + json.dumps(row, default=float), flush=True)


def run_worker(part: str, n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", part, "--n", str(n),
           "--env-steps", str(args.env_steps), "--steps", str(args.steps),
           "--repeats", str(args.repeats), "--train-repeats", str(args.train_repeats),
           "--max-seconds", str(args.max_seconds)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return {"part": part, "num_envs": n, "error": f"timed out after {args.timeout:.0f} s"}
    rows = [json.loads(line[len(ROW_PREFIX):]) for line in done.stdout.splitlines()
            if line.startswith(ROW_PREFIX)]
    if done.returncode != 0 or len(rows) != 1:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"part": part, "num_envs": n, "error": f"exit {done.returncode}: " + " | ".join(tail)}
    rows[0]["process_s"] = time.perf_counter() - start
    return rows[0]


# ---- fits -------------------------------------------------------------------------------

def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (a, b) of y = a + b x (b = 0 for a single point)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - b * mx, b


def loglog_slope(rows: list[dict[str, Any]], min_envs: int = 64) -> float | None:
    """Slope of log(call time) against log(N) over the rows with N >= min_envs."""
    pts = [(math.log(r["num_envs"]), math.log(r["call_s"] / r["steps"])) for r in rows
           if r.get("call_s") and r["num_envs"] >= min_envs]
    if len(pts) < 2:
        return None
    return linear_fit([p[0] for p in pts], [p[1] for p in pts])[1]


def memory_fit(rows: list[dict[str, Any]], budget_gib: float) -> dict[str, Any] | None:
    """Fit XLA bytes = a + b N over the rows in the largest N's regime.

    Training auto-scales minibatches and epochs with the batch (up to 64 minibatches,
    reached at 4096 x 128), and the minibatch's buffers follow: memory is linear in N
    only piecewise. The fit uses the rows with the largest N's (epochs, minibatches),
    the regime the extrapolation lands in (all rows if fewer than two share it).
    """
    usable = [r for r in rows if r.get("xla_bytes")]
    if len(usable) < 2:
        return None
    top = max(usable, key=lambda r: r["num_envs"])
    regime = [r for r in usable if (r.get("epochs"), r.get("minibatches"))
              == (top.get("epochs"), top.get("minibatches"))]
    pts = sorted((r["num_envs"], r["xla_bytes"]) for r in (regime if len(regime) >= 2 else usable))
    a, b = linear_fit([float(p[0]) for p in pts], [float(p[1]) for p in pts])
    worst = max(abs(y - (a + b * x)) / y for x, y in pts)
    n_max = int((budget_gib * GIB - a) // b) if b > 0 else None
    return {"points": len(pts), "envs": [p[0] for p in pts], "a_mib": a / 2**20,
            "b_kib_per_env": b / 1024, "max_rel_residual": worst, "budget_gib": budget_gib,
            "epochs_minibatches": f"{top.get('epochs')}x{top.get('minibatches')}", "n_max": n_max, "n_max_pow2": 2 ** int(math.log2(n_max)) if n_max and n_max > 0 else None}


# ---- main -------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        worker_main(args)
        return {}
    import jax  # noqa: F401 - after argparse so --help is instant

    benchlib.setup_jax()
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    print(f"scaling: envs {args.envs} | env {args.env_steps} steps/call, repeats<={args.repeats} | "
          f"train {args.steps} steps, 1 update/call, repeats<={args.train_repeats} | "
          f"one subprocess per row", flush=True)
    started = time.perf_counter()

    env_rows: list[dict[str, Any]] = []
    if not args.skip_env:
        for n in args.envs:
            row = run_worker("env", n, args)
            env_rows.append(row)
            _progress("env", row)
    train_rows: list[dict[str, Any]] = []
    if not args.skip_train:
        cap = args.train_run_max
        for n in sorted(set(args.envs) | set(args.memory_envs)):
            run = n in args.envs and (cap is None or n <= cap)
            row = run_worker("train" if run else "train-compile", n, args)
            train_rows.append(row)
            _progress("train", row)

    fit = memory_fit(train_rows, args.budget_gib) if train_rows else None
    if fit:
        a, b = fit["a_mib"] * 2**20, fit["b_kib_per_env"] * 1024
        for r in train_rows:
            if f"{r.get('epochs')}x{r.get('minibatches')}" == fit["epochs_minibatches"]:
                r["fit_mib"] = (a + b * r["num_envs"]) / 2**20  # only in the fitted regime
            if r.get("rss_run_mib"):
                r["rss_growth_mib"] = r["rss_run_mib"] - r["rss_base_mib"]

    print()
    print(f"machine: {machine['cpu']}, {machine['nproc']} cores, load {os.getloadavg()[0]:.2f} at the end")
    if env_rows:
        print("\nenv: jit(scan(batched_step_auto_reset)) + mask + uniform valid action + flat observation")
        print(benchlib.format_table(
            ["envs", "calls", "compile s", "call s", "env steps/s", "us/env-step", "XLA MiB",
             "RSS base", "RSS run"],
            [[r["num_envs"], r.get("calls"), r.get("compile_s"), r.get("call_s"), r.get("steps_per_s"),
              _us(r), r.get("xla_mib"), r.get("rss_base_mib"), r.get("rss_run_mib")]
             if "error" not in r else [r["num_envs"], r["error"]] + [None] * 7 for r in env_rows]))
        slope = loglog_slope([r for r in env_rows if "error" not in r])
        print(f"log-log slope of call time vs N (N >= 64): {_fmt(slope)} (1 = linear in N)")
    if train_rows:
        print(f"\ntrain: ppo.make_train_chunk, 1 update of N x {args.steps} steps (spec MLP)")
        print(benchlib.format_table(
            ["envs", "ep x mb", "compile s", "call s", "train steps/s", "us/env-step", "XLA MiB",
             "args", "temp", "fit MiB", "RSS base", "RSS run", "RSS growth"],
            [[r["num_envs"], f"{r.get('epochs')}x{r.get('minibatches')}", r.get("compile_s"),
              r.get("call_s"), r.get("steps_per_s"), _us(r), r.get("xla_mib"),
              r.get("xla_argument_mib"), r.get("xla_temp_mib"), r.get("fit_mib"),
              r.get("rss_base_mib"), r.get("rss_run_mib"), r.get("rss_growth_mib")]
             if "error" not in r else [r["num_envs"], r["error"]] + [None] * 11 for r in train_rows]))
        slope_t = loglog_slope([r for r in train_rows if "error" not in r])
        print(f"log-log slope of call time vs N (N >= 64): {_fmt(slope_t)}; rows without a call "
              f"time were compiled only (memory analysis)")
    if fit:
        print(f"\nmemory fit over {fit['points']} train programs (N = {fit['envs']}, "
              f"{fit['epochs_minibatches']} epochs x minibatches): XLA bytes = {fit['a_mib']:.1f} MiB + "
              f"{fit['b_kib_per_env']:.1f} KiB x N (largest relative residual "
              f"{100 * fit['max_rel_residual']:.1f} %)")
        print(f"largest N within {fit['budget_gib']:g} GiB at {args.steps} steps: {fit['n_max']:,} "
              f"(power of two: {fit['n_max_pow2']:,}) - XLA's CPU buffer assignment; a GPU's "
              f"differs, and its runtime reserves memory of its own")
    elapsed = time.perf_counter() - started
    print(f"(total {elapsed:.0f} s)")

    metrics: dict[str, float] = {}
    better: dict[str, str] = {}
    for r in env_rows + train_rows:
        if "error" in r:
            continue
        tag = f"{r['part'].split('-')[0]}{r['num_envs']}"
        if r.get("steps_per_s"):
            metrics[f"{tag}.steps_per_s"], better[f"{tag}.steps_per_s"] = r["steps_per_s"], "higher"
        metrics[f"{tag}.compile_s"], better[f"{tag}.compile_s"] = r["compile_s"], "lower"
        if r.get("xla_mib") is not None:
            metrics[f"{tag}.xla_mib"], better[f"{tag}.xla_mib"] = r["xla_mib"], "info"
    if fit:
        metrics["memory.kib_per_env"], better["memory.kib_per_env"] = fit["b_kib_per_env"], "lower"
        metrics["memory.n_max"], better["memory.n_max"] = fit["n_max"], "higher"
    metrics = {k: benchlib.clean(v) for k, v in metrics.items()}
    run_args = {"envs": args.envs, "env_steps": args.env_steps, "steps": args.steps,
                "repeats": args.repeats, "train_repeats": args.train_repeats,
                "max_seconds": args.max_seconds, "skip_env": args.skip_env,
                "skip_train": args.skip_train, "train_run_max": args.train_run_max,
                "memory_envs": args.memory_envs, "budget_gib": args.budget_gib, "quick": args.quick,
                "elapsed_s": round(elapsed, 1)}
    rows = [{k: (benchlib.clean(v) if isinstance(v, float) else v) for k, v in r.items()}
            for r in env_rows + train_rows]
    if fit:
        rows.append({"memory_fit": {k: (benchlib.clean(v) if isinstance(v, float) else v)
                                    for k, v in fit.items()}})
    return benchlib.emit_result("scaling", run_args, machine, rows, metrics, better)


def _us(r: dict[str, Any]) -> float | None:
    return 1e6 * r["call_s"] / (r["num_envs"] * r["steps"]) if r.get("call_s") else None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _progress(part: str, r: dict[str, Any]) -> None:
    if "error" in r:
        print(f"  {part} {r['num_envs']:>6} envs: ERROR {r['error']}", flush=True)
        return
    sps = f"{r['steps_per_s']:>11,.0f} steps/s" if r.get("steps_per_s") else "  (compiled only)"
    xla = f"XLA {r['xla_mib']:,.1f} MiB" if r.get("xla_mib") is not None else ""
    print(f"  {part} {r['num_envs']:>6} envs: {sps}, compile {r['compile_s']:.1f} s, {xla} "
          f"({r['process_s']:.0f} s in all)", flush=True)


if __name__ == "__main__":
    main()
