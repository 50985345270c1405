"""Training steps/s on 1, 2, 4 devices: fixed total batch and fixed batch per device.

Usage:
  python benchmarks/device_scaling.py                      # 1 2 4 devices; 1024 total; 256 per device
  python benchmarks/device_scaling.py --quick              # smoke: 64 total, 32 per device, 16 steps
  python benchmarks/device_scaling.py --devices 1 2 4 8 --total-envs 8192 --per-device-envs 2048

Each configuration is ``train_throughput.py --envs N --num-devices K
--no-network-only --breakdown-envs 0`` in its own subprocess: the training chunk
sharded exactly as ``python -m hackmatrix.application.train --num-devices K`` shards
it (``docs/scaling.md``); K = 1 is the plain single-device program. On a CPU the K
devices are fake host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=K``,
which must be set before JAX starts, hence the subprocesses): they **share the
machine's cores**, so on a 2-core VM the figures show the cost of sharding
(collectives, per-device loops), not a speed-up. On a machine with K real
accelerators no flag is set (``--no-fake-devices``) and the same table is the real one.

* **strong scaling** (fixed total batch ``--total-envs``): speed-up = steps/s(K) /
  steps/s(1); efficiency = speed-up / K;
* **weak scaling** (``--per-device-envs`` on each device, total K times that): speed-up
  = steps/s(K) / steps/s(1 device with the per-device batch); efficiency = speed-up / K.

The minibatch/epoch auto-scaling follows the total batch, as in training. Ends with
one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
FAKE_FLAG = "--xla_force_host_platform_device_count"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4], help="device counts (1 2 4)")
    p.add_argument("--total-envs", type=int, default=1024, help="strong scaling: total envs (1024)")
    p.add_argument("--per-device-envs", type=int, default=256, help="weak scaling: envs per device (256)")
    p.add_argument("--steps", type=int, default=128, help="rollout length T (default 128)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median)")
    p.add_argument("--max-seconds", type=float, default=30.0, help="time cap per configuration")
    p.add_argument("--no-fake-devices", action="store_true",
                   help="do not set the fake-host-device flag (real accelerators)")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 total, 32 per device, 16 steps, 1 repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.total_envs = 64 if args.total_envs == 1024 else args.total_envs
        args.per_device_envs = 32 if args.per_device_envs == 256 else args.per_device_envs
        args.steps = 16 if args.steps == 128 else args.steps
        args.repeats = 1
    args.devices = sorted(set(args.devices))
    return args


def child_env(k: int, fake: bool) -> dict[str, str]:
    env = dict(os.environ)
    if fake:
        flags = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith(FAKE_FLAG)]
        env["XLA_FLAGS"] = " ".join(flags + [f"{FAKE_FLAG}={k}"])
    return env


def run_config(k: int, n: int, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(BENCH_DIR / "train_throughput.py"), "--envs", str(n),
           "--num-devices", str(k), "--no-network-only", "--breakdown-envs", "0",
           "--steps", str(args.steps), "--repeats", str(args.repeats),
           "--max-seconds", str(args.max_seconds)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                              env=child_env(k, not args.no_fake_devices))
    except subprocess.TimeoutExpired:
        return {"devices": k, "num_envs": n, "error": f"timed out after {args.timeout:.0f} s"}
    results = benchlib.parse_result_lines(done.stdout)
    if done.returncode != 0 or len(results) != 1:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"devices": k, "num_envs": n, "error": f"exit {done.returncode}: " + " | ".join(tail)}
    res = results[0]
    row = res["rows"][0]
    return {"devices": k, "num_envs": n, "per_device": n // k,
            "device_count": res["machine"]["device_count"], "calls": row["calls"],
            "compile_s": row["compile_s"], "steps_per_s": row["steps_per_s"],
            "epochs": row["epochs"], "minibatches": row["minibatches"],
            "process_s": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax  # noqa: F401 - after argparse so --help is instant

    benchlib.setup_jax()
    machine = benchlib.machine_info()  # this process: no fake devices
    benchlib.print_machine(machine)
    print(f"device scaling: devices {args.devices}, strong {args.total_envs} envs total, weak "
          f"{args.per_device_envs} per device, {args.steps} steps, "
          f"{'real devices' if args.no_fake_devices else 'fake host devices sharing the cores'}",
          flush=True)

    configs = sorted({(k, args.total_envs) for k in args.devices}
                     | {(k, k * args.per_device_envs) for k in args.devices})
    results: dict[tuple[int, int], dict[str, Any]] = {}
    for k, n in configs:
        if n % k:
            results[(k, n)] = {"devices": k, "num_envs": n, "error": "not divisible"}
            continue
        r = run_config(k, n, args)
        results[(k, n)] = r
        msg = r.get("error") or f"{r['steps_per_s']:>9,.0f} steps/s, compile {r['compile_s']:.1f} s"
        print(f"  {k} device(s), {n:>5} envs: {msg}", flush=True)

    def table(kind: str, pairs: list[tuple[int, int]], base: dict[str, Any] | None):
        rows = []
        for k, n in pairs:
            r = dict(results[(k, n)], scaling=kind)
            if "error" not in r and base and "error" not in base:
                speedup = r["steps_per_s"] / base["steps_per_s"]
                r["speedup"] = benchlib.clean(speedup, 3)
                r["efficiency"] = benchlib.clean(speedup / k, 3)
            rows.append(r)
        return rows

    strong = table("strong", [(k, args.total_envs) for k in args.devices],
                   results.get((1, args.total_envs)))
    weak = table("weak", [(k, k * args.per_device_envs) for k in args.devices],
                 results.get((1, args.per_device_envs)))
    print()
    print(benchlib.format_table(
        ["scaling", "devices", "envs", "per device", "ep x mb", "compile s", "train steps/s",
         "speed-up", "efficiency"],
        [[r["scaling"], r["devices"], r["num_envs"], r.get("per_device"),
          f"{r.get('epochs')}x{r.get('minibatches')}", r.get("compile_s"), r.get("steps_per_s"),
          r.get("speedup"), _pct(r.get("efficiency"))] for r in strong + weak]))
    print(f"machine: {machine['cpu']}, {machine['nproc']} cores; "
          + ("real devices" if args.no_fake_devices else
             f"the K devices are fake host devices sharing these {machine['nproc']} cores, so "
             "the efficiencies show the cost of sharding, not a multi-device speed-up"))

    metrics: dict[str, float] = {}
    better: dict[str, str] = {}
    for r in strong + weak:
        if "error" in r:
            continue
        tag = f"{r['scaling']}{r['devices']}"
        metrics[f"{tag}.steps_per_s"], better[f"{tag}.steps_per_s"] = r["steps_per_s"], "higher"
        if r.get("efficiency") is not None:
            metrics[f"{tag}.efficiency"], better[f"{tag}.efficiency"] = r["efficiency"], "higher"
    run_args = {"devices": args.devices, "total_envs": args.total_envs,
                "per_device_envs": args.per_device_envs, "steps": args.steps,
                "repeats": args.repeats, "max_seconds": args.max_seconds,
                "fake_devices": not args.no_fake_devices, "quick": args.quick}
    return benchlib.emit_result("device_scaling", run_args, machine, strong + weak, metrics, better)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


if __name__ == "__main__":
    main()
