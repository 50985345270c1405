"""Training throughput with and without the in-jit reward-breakdown aggregation.

Usage: python benchmarks/breakdown_overhead.py [--num-envs 64 --num-steps 32 --updates 4]

Kept for its earlier users; the measurement now lives in ``train_throughput.py``
(which also reports it in its default run). This runs that script at one env count
with ``track_breakdown`` on and off, the two compiled chunks called alternately, and
no network-only program; it prints the table, the overhead (target: under 2 %) and
the ``RESULT`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_throughput  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--updates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="64 envs x 16 steps, 1 update, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_envs, args.num_steps, args.updates, args.repeats = 64, 16, 1, 1
    return train_throughput.main([
        "--envs", str(args.num_envs), "--breakdown-envs", str(args.num_envs),
        "--steps", str(args.num_steps), "--updates", str(args.updates),
        "--repeats", str(args.repeats), "--hidden-dim", str(args.hidden_dim),
        "--no-network-only", "--max-seconds", "1e9",
    ])


if __name__ == "__main__":
    main()
