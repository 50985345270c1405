"""Run a benchmark on two revisions (or against a saved baseline) and print ratios.

Usage:
  # two git revisions, back to back, same arguments (after --):
  python benchmarks/compare.py --compare HEAD~1 HEAD -- --quick
  python benchmarks/compare.py --compare main WORKTREE --benchmark train_throughput -- --envs 256
  # save the current tree's result, later compare the current tree against it:
  python benchmarks/compare.py --save base.json -- --envs 2048
  python benchmarks/compare.py --baseline base.json -- --envs 2048
  # compare two saved results without running anything:
  python benchmarks/compare.py --files old.json new.json

A revision is anything ``git rev-parse`` accepts, or ``WORKTREE`` for the current
working tree (uncommitted changes included). Each revision is checked out into a
temporary ``git worktree`` (removed afterwards); the benchmark script always comes
from *this* tree (so old revisions without benchmarks can be measured) and runs with
the same interpreter and ``PYTHONPATH`` pointing at that checkout, which takes
precedence over the editable install. ``--rounds K`` alternates A, B K times and
takes the median of each metric, which evens out a loaded machine's drift.

Ratio = B / A for "higher is better" metrics (steps/s) and A / B for "lower is better"
ones (compile time), so a regression of B is a ratio below 1 whichever way the metric
points. ``info`` metrics (memory, shares) are shown without a ratio. Ends with one
``RESULT {json}`` line; ``--fail-below R`` exits 1 if any ratio is below R.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
CURRENT = "WORKTREE"
BENCHMARKS = ("env_throughput", "train_throughput")


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, bench_args = argv[:cut], argv[cut + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="arguments after -- go to the benchmark script")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--compare", nargs=2, metavar=("REV_A", "REV_B"),
                      help=f"two git revisions ({CURRENT} = the working tree)")
    mode.add_argument("--baseline", metavar="FILE.json", help="compare the working tree against a saved result")
    mode.add_argument("--files", nargs=2, metavar=("A.json", "B.json"), help="compare two saved results")
    p.add_argument("--save", metavar="FILE.json",
                   help="save the (last) B result, or the working tree's result when no mode is given")
    p.add_argument("--benchmark", choices=BENCHMARKS, default=None,
                   help="script to run (default: the baseline's benchmark, else env_throughput)")
    p.add_argument("--rounds", type=int, default=1, help="alternate A and B this many times (median)")
    p.add_argument("--threshold", type=float, default=0.05,
                   help="flag ratios below 1 - threshold as regressions (default 0.05)")
    p.add_argument("--fail-below", type=float, default=None, help="exit 1 if any ratio is below this")
    p.add_argument("--quick", action="store_true", help="pass --quick to the benchmark")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per benchmark run")
    args = p.parse_args(argv)
    if args.quick and "--quick" not in bench_args:
        bench_args.append("--quick")
    if not (args.compare or args.baseline or args.files or args.save):
        p.error("give --compare, --baseline, --files or --save")
    if args.benchmark is None:
        args.benchmark = load(args.baseline).get("benchmark") if args.baseline else None
        args.benchmark = args.benchmark if args.benchmark in BENCHMARKS else "env_throughput"
    return args, bench_args


# ---- running -------------------------------------------------------------------------

def _git(*cmd: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *cmd], check=True, capture_output=True,
                          text=True).stdout.strip()


class Checkout:
    """A temporary ``git worktree`` of ``rev`` (or the working tree itself for WORKTREE)."""

    def __init__(self, rev: str, tmp: Path):
        self.rev = rev
        if rev == CURRENT:
            self.path, self.sha, self._made = REPO, CURRENT, False
            return
        self.sha = _git("rev-parse", "--verify", f"{rev}^{{commit}}")
        self.path = tmp / f"{self.sha[:12]}-{abs(hash(rev)) % 10_000}"
        _git("worktree", "add", "--detach", "--force", str(self.path), self.sha)
        self._made = True

    def remove(self) -> None:
        if self._made:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(self.path)],
                           capture_output=True, text=True)
            self._made = False


def run_benchmark(checkout: Checkout, benchmark: str, bench_args: list[str], timeout: float) -> dict:
    script = BENCH_DIR / f"{benchmark}.py"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(checkout.path) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, str(script), *bench_args]
    print(f"--> {checkout.rev} ({checkout.sha[:12]}): {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=checkout.path, env=env, capture_output=True, text=True, timeout=timeout)
    results = benchlib.parse_result_lines(proc.stdout)
    if proc.returncode != 0 or not results:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"{benchmark} on {checkout.rev} failed (rc {proc.returncode}):\n{tail}")
    result = results[-1]
    engine = Path(result["machine"]["hackmatrix"]).resolve()
    if checkout.path.resolve() not in engine.parents:
        raise RuntimeError(f"{checkout.rev}: the benchmark imported {engine}, not the checkout "
                           f"{checkout.path} (PYTHONPATH did not take precedence)")
    result["machine"]["revision_requested"] = checkout.rev
    for line in proc.stdout.splitlines():  # the benchmark's own table, for the log
        if not line.startswith(benchlib.RESULT_PREFIX):
            print(f"    {line}")
    return result


def merge_rounds(results: list[dict]) -> dict:
    """One result whose metrics are the medians over rounds."""
    merged = dict(results[-1])
    names = set().union(*(r["metrics"] for r in results))
    merged["metrics"] = {
        n: statistics.median(v) for n in names
        if (v := [r["metrics"][n] for r in results if r["metrics"].get(n) is not None])
    }
    merged["rounds"] = len(results)
    return merged


# ---- comparing -----------------------------------------------------------------------

def ratio(name: str, a: float | None, b: float | None, better: dict[str, str]) -> float | None:
    direction = better.get(name) or _guess_direction(name)
    if a is None or b is None or direction == "info" or a <= 0 or b <= 0:
        return None
    return b / a if direction == "higher" else a / b


def _guess_direction(name: str) -> str:
    if name.endswith("per_s") or name.endswith("fraction"):
        return "higher"
    if name.endswith("_s"):
        return "lower"
    return "info"


def compare(a: dict, b: dict, label_a: str, label_b: str, threshold: float) -> dict[str, Any]:
    better = {**a.get("better", {}), **b.get("better", {})}
    names = sorted(set(a["metrics"]) | set(b["metrics"]))
    rows, ratios = [], {}
    for name in names:
        va, vb = a["metrics"].get(name), b["metrics"].get(name)
        r = ratio(name, va, vb, better)
        ratios[name] = benchlib.clean(r)
        flag = "" if r is None else ("REGRESSION" if r < 1 - threshold else
                                     "improved" if r > 1 + threshold else "")
        rows.append([name, va, vb, "-" if r is None else f"{r:.3f}", flag])
    print()
    print(f"A = {label_a}   B = {label_b}   (ratio < 1: B is worse)")
    print(benchlib.format_table(["metric", "A", "B", "ratio", ""], rows))
    for side, res in (("A", a), ("B", b)):
        m = res.get("machine", {})
        print(f"{side}: {m.get('revision', '?')} on {m.get('cpu', '?')}, nproc {m.get('nproc', '?')}, "
              f"load {m.get('loadavg_1m', '?')}, jax {m.get('jax', '?')}, {m.get('backend', '?')}")
    if a.get("args") != b.get("args"):
        print(f"warning: different benchmark arguments: {a.get('args')} vs {b.get('args')}")
    return ratios


def load(path: str) -> dict:
    text = Path(path).read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # a captured stdout: take its RESULT line
        found = benchlib.parse_result_lines(text)
        if not found:
            raise SystemExit(f"{path}: neither a JSON result nor output with a RESULT line") from None
        return found[-1]


def main(argv: list[str] | None = None) -> dict:
    args, bench_args = parse_args(argv)
    if args.files:
        a, b = load(args.files[0]), load(args.files[1])
        label_a, label_b = args.files
    else:
        revs = list(args.compare) if args.compare else [CURRENT]
        with tempfile.TemporaryDirectory(prefix="hm-bench-") as tmp:
            checkouts = []
            try:
                for rev in revs:
                    checkouts.append(Checkout(rev, Path(tmp)))
                runs: list[list[dict]] = [[] for _ in checkouts]
                for _ in range(args.rounds):
                    for i, co in enumerate(checkouts):
                        runs[i].append(run_benchmark(co, args.benchmark, bench_args, args.timeout))
            finally:
                for co in checkouts:
                    co.remove()
        merged = [merge_rounds(r) for r in runs]
        if args.compare:
            (a, b), (label_a, label_b) = merged, args.compare
        elif args.baseline:
            a, b, label_a, label_b = load(args.baseline), merged[0], args.baseline, CURRENT
        else:
            a = None
            b = merged[0]
    if args.save:
        Path(args.save).write_text(json.dumps(b, indent=1, sort_keys=True) + "\n")
        print(f"saved {args.save}")
    if a is None:
        return benchlib.emit_result("compare", {"save": args.save}, b["machine"], [], b["metrics"],
                                    b.get("better", {}))
    ratios = compare(a, b, label_a, label_b, args.threshold)
    result = {"benchmark": "compare", "of": b.get("benchmark"), "a": label_a, "b": label_b,
              "ratios": ratios, "a_metrics": a["metrics"], "b_metrics": b["metrics"]}
    print(benchlib.RESULT_PREFIX + json.dumps(result, sort_keys=True))
    bad = [n for n, r in ratios.items() if r is not None and args.fail_below is not None
           and r < args.fail_below]
    if bad:
        print(f"ratios below {args.fail_below}: {', '.join(bad)}")
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main()
