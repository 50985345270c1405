"""Training throughput with and without the in-jit reward-breakdown aggregation.

Usage: python benchmarks/breakdown_overhead.py [--num-envs 64 --num-steps 32 --updates 4]

Compiles the train chunk twice (track_breakdown on/off) on the same machine, runs
``--repeats`` chunks of ``--updates`` updates each, and prints the median env steps
per second of both and the relative overhead (spec target: under 5 %).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from hackmatrix.application.config import TrainConfig
from hackmatrix.application.ppo import init_runner_state, make_env, make_train_chunk


def measure(cfg: TrainConfig, repeats: int) -> tuple[float, float]:
    env = make_env(cfg)
    runner = init_runner_state(cfg, env)
    start = time.perf_counter()
    compiled = make_train_chunk(cfg, env=env).lower(runner, jnp.int32(cfg.log_interval)).compile()
    compile_s = time.perf_counter() - start
    runner, m = compiled(runner, jnp.int32(cfg.log_interval))  # warm-up
    jax.block_until_ready(m)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        runner, m = compiled(runner, jnp.int32(cfg.log_interval))
        jax.device_get(m)
        rates.append(cfg.log_interval * cfg.batch_size / (time.perf_counter() - start))
    return statistics.median(rates), compile_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--num-steps", type=int, default=32)
    parser.add_argument("--updates", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden-dim", type=int, default=256)
    args = parser.parse_args()
    print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})")
    results = {}
    for track in (False, True):
        cfg = TrainConfig(num_envs=args.num_envs, num_steps=args.num_steps,
                          log_interval=args.updates, hidden_dim=args.hidden_dim,
                          track_breakdown=track)
        sps, compile_s = measure(cfg, args.repeats)
        results[track] = sps
        print(f"track_breakdown={track!s:5}  {sps:10.0f} env steps/s  (compile {compile_s:.1f} s)")
    overhead = 1.0 - results[True] / results[False]
    print(f"breakdown overhead: {100 * overhead:.2f} %")


if __name__ == "__main__":
    main()
