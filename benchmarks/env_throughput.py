"""Env throughput: ``jit(scan(batched step))`` with uniformly random valid actions.

Usage:
  python benchmarks/env_throughput.py                 # 1, 64, 512, 2048 envs (+8192 on GPU)
  python benchmarks/env_throughput.py --quick         # smoke: 64 envs x 32 steps, one compile
  python benchmarks/env_throughput.py --envs 2048 --steps 256 --repeats 5

Each scan step: mask = vmap(valid_actions)(states); a uniform sample among the
valid actions (``--sampler index``, default: one uniform float per env picks the k-th
valid action; ``gumbel``: a masked categorical over the 28 logits, which hashes 28
random words per env and cost ~5 % of a 2048-env step); batched_step_auto_reset (the
step, then fresh games for the finished ones, with one pass of board generation for
both, as the trainer runs it; a revision without it: batched_step, then its
batched_auto_reset); the flat observation of the new states (what a policy would
read; summed into a checksum so XLA cannot drop it, ``--no-obs`` to leave it out).
``--impl vmap`` steps with ``jax.vmap(env.step)``, then ``batched_auto_reset`` where
the revision has it, else ``vmap(env.auto_reset)``.

Per env count: lower and compile times of the jitted rollout, env steps/s (median of
``--repeats`` timed calls after one warm-up call, each ``block_until_ready``; fewer
once the timed calls exceed ``--max-seconds``), peak
memory (GPU: device peak bytes; CPU: process max RSS, which only grows, so rows run
in increasing size) and XLA's estimate of the program's memory. Also: compile time of
``jit(env.step)`` for one environment. Ends with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

DEFAULT_ENVS = (1, 64, 512, 2048)
GPU_EXTRA_ENVS = (8192,)
EARLIER_PORT_2048 = 6_500  # issue 7: the earlier JAX port, 2048 envs, 2-core CPU
TARGET_2048 = 100_000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, nargs="+", default=None,
                   help="env counts (default 1 64 512 2048, plus 8192 on GPU)")
    p.add_argument("--steps", type=int, default=256, help="scan length per call (default 256)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median)")
    p.add_argument("--max-seconds", type=float, default=60.0,
                   help="stop timing an env count once its timed calls took this long (>= 1 call)")
    p.add_argument("--impl", choices=("batched", "vmap"), default="batched",
                   help="batched: env.batched_step_auto_reset (default); vmap: jax.vmap(env.step)")
    p.add_argument("--no-obs", action="store_true", help="do not build the observation each step")
    p.add_argument("--sampler", choices=("index", "gumbel"), default="index",
                   help="index: k-th valid action for a uniform k (default); gumbel: masked categorical")
    p.add_argument("--skip-step-compile", action="store_true",
                   help="do not time the compile of jit(env.step) for one env")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 envs x 32 steps, 1 repeat, no jit(env.step) compile")
    args = p.parse_args(argv)
    if args.quick:
        args.envs = args.envs or [64]
        args.steps = 32 if args.steps == 256 else args.steps
        args.repeats = 1
        args.skip_step_compile = True
    return args


def uniform_valid_action(key, mask):
    """(N,) int32: for each row a uniformly random index among its set mask entries
    (index 0 for a row with none): the k-th valid action for k = floor(u * count)."""
    import jax
    import jax.numpy as jnp

    count = jnp.sum(mask, axis=-1, dtype=jnp.int32)
    u = jax.random.uniform(key, mask.shape[:-1])
    k = jnp.minimum((u * count).astype(jnp.int32), jnp.maximum(count - 1, 0))
    running = jnp.cumsum(mask.astype(jnp.int32), axis=-1)
    return jnp.argmax(running > k[..., None], axis=-1).astype(jnp.int32)


def make_rollout(num_envs: int, num_steps: int, impl: str, with_obs: bool, sampler: str = "index"):
    import jax
    import jax.numpy as jnp
    from hackmatrix.domain import env

    params = env.DEFAULT_PARAMS
    # The trainer's path: step and auto-reset with one pass of board generation
    # (revisions before it have only the two calls, which compare.py then measures).
    fused = impl == "batched" and hasattr(env, "batched_step_auto_reset")
    if impl == "vmap":
        step = jax.vmap(env.step, in_axes=(0, 0, 0, None))
    else:
        step = env.batched_step
    flat_obs = jax.vmap(env.flat_observation)
    # Fresh games for the finished ones: revisions before batched_step_auto_reset had a
    # gathered batched_auto_reset (only the finished rows generate); later ones vmap it.
    auto_reset = getattr(env, "batched_auto_reset", None) or jax.vmap(env.auto_reset, in_axes=(0, 0, 0, None))

    def body(carry, _):
        states, key, checksum = carry
        key, k_action, k_step, k_reset = jax.random.split(key, 4)
        mask = jax.vmap(env.valid_actions)(states)
        if sampler == "index":
            actions = uniform_valid_action(k_action, mask)
        else:
            logits = jnp.where(mask, 0.0, -1e9)  # uniform over the valid actions
            actions = jax.random.categorical(k_action, logits, axis=-1).astype(jnp.int32)
        step_keys, reset_keys = jax.random.split(k_step, num_envs), jax.random.split(k_reset, num_envs)
        if fused:
            states, reward, done, _breakdown, _ended = env.batched_step_auto_reset(
                states, actions, step_keys, reset_keys, params)
        else:
            states, _obs, reward, done, _breakdown = step(states, actions, step_keys, params)
            states = auto_reset(states, done, reset_keys, params)
        if with_obs:
            checksum = checksum + jnp.sum(flat_obs(states))
        return (states, key, checksum), (jnp.sum(reward), jnp.sum(done))

    def rollout(states, key):
        (states, key, checksum), (rewards, dones) = jax.lax.scan(
            body, (states, key, jnp.float32(0.0)), None, num_steps)
        return states, key, checksum, jnp.sum(rewards), jnp.sum(dones)

    def initial(key):
        states, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(key, num_envs), params)
        return states

    return jax.jit(rollout, donate_argnums=(0,)), jax.jit(initial)


def bench_envs(num_envs: int, args: argparse.Namespace) -> dict:
    import jax

    rollout, initial = make_rollout(num_envs, args.steps, args.impl, not args.no_obs, args.sampler)
    key = jax.random.PRNGKey(args.seed)
    states = jax.block_until_ready(initial(key))
    lower_s, lowered = benchlib.timed(lambda: rollout.lower(states, key))
    compile_s, compiled = benchlib.timed(lowered.compile)
    xla_mib = benchlib.xla_memory_mib(compiled)

    states, key, *_ = jax.block_until_ready(compiled(states, key))  # warm-up
    times, dones = [], 0
    for _ in range(args.repeats):
        dt, out = benchlib.timed(lambda: jax.block_until_ready(compiled(states, key)))  # noqa: B023 - called at once
        states, key, _checksum, _reward, done = out
        times.append(dt)
        dones += int(done)
        if sum(times) >= args.max_seconds:
            break
    med = benchlib.median(times)
    peak, source = benchlib.peak_memory_mib()
    steps = num_envs * args.steps
    return {
        "num_envs": num_envs,
        "calls": len(times),
        "lower_s": benchlib.clean(lower_s),
        "compile_s": benchlib.clean(compile_s),
        "call_s": benchlib.clean(med),
        "steps_per_s": benchlib.clean(steps / med),
        "best_steps_per_s": benchlib.clean(steps / min(times)),
        "episodes_per_s": benchlib.clean(dones / sum(times)),
        "peak_mib": benchlib.clean(peak),
        "peak_source": source,
        "xla_mib": benchlib.clean(xla_mib),
    }


def step_compile_time() -> tuple[float, float]:
    """(lower s, compile s) of jit(env.step) for one environment."""
    import jax
    import jax.numpy as jnp
    from hackmatrix.domain import env

    state, _ = env.reset(jax.random.PRNGKey(0))
    jitted = jax.jit(env.step)
    lower_s, lowered = benchlib.timed(lambda: jitted.lower(state, jnp.int32(0), jax.random.PRNGKey(1)))
    compile_s, _ = benchlib.timed(lowered.compile)
    return lower_s, compile_s


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax  # noqa: F401 - after argparse so --help is instant

    benchlib.setup_jax()
    machine = benchlib.machine_info()
    envs = args.envs or list(DEFAULT_ENVS) + (list(GPU_EXTRA_ENVS) if benchlib.has_gpu() else [])
    envs = sorted(set(envs))
    benchlib.print_machine(machine)
    print(f"env throughput: impl={args.impl} steps/call={args.steps} repeats={args.repeats} "
          f"obs={'off' if args.no_obs else 'on'} sampler={args.sampler}")

    step_lower = step_compile = None
    if not args.skip_step_compile:
        step_lower, step_compile = step_compile_time()
        print(f"jit(env.step), one env: lower {step_lower:.2f} s, compile {step_compile:.2f} s")

    rows = []
    for n in envs:
        row = bench_envs(n, args)
        rows.append(row)
        print(f"  {n:>6} envs: {row['steps_per_s']:>12,.0f} steps/s  (compile {row['compile_s']:.1f} s)",
              flush=True)

    headers = ["envs", "calls", "lower s", "compile s", "call s", "steps/s", "best steps/s", "episodes/s",
               "peak MiB", "XLA MiB"]
    print()
    print(benchlib.format_table(headers, [
        [r["num_envs"], r["calls"], r["lower_s"], r["compile_s"], r["call_s"], r["steps_per_s"],
         r["best_steps_per_s"], r["episodes_per_s"], r["peak_mib"], r["xla_mib"]] for r in rows]))
    print(f"(peak MiB: {rows[-1]['peak_source'] if rows else '-'}; steps/s = median over the "
          f"timed calls of envs x {args.steps} steps each)")

    metrics: dict[str, float] = {}
    better: dict[str, str] = {}
    ref = rows[-1] if rows else None
    if ref is not None and ref["num_envs"] == 2048:
        print(f"2048 envs: {ref['steps_per_s'] / EARLIER_PORT_2048:.1f}x the earlier port's "
              f"{EARLIER_PORT_2048:,} steps/s (target >= {TARGET_2048:,} steps/s)")
    if step_compile is not None:
        print(f"jit(env.step) lower+compile {step_lower + step_compile:.1f} s (target < 10 s)")
    if step_compile is not None:
        metrics["step.compile_s"] = benchlib.clean(step_lower + step_compile)
        better["step.compile_s"] = "lower"
    for r in rows:
        tag = f"env{r['num_envs']}"
        metrics[f"{tag}.steps_per_s"] = r["steps_per_s"]
        better[f"{tag}.steps_per_s"] = "higher"
        metrics[f"{tag}.compile_s"] = benchlib.clean(r["lower_s"] + r["compile_s"])
        better[f"{tag}.compile_s"] = "lower"
        metrics[f"{tag}.peak_mib"] = r["peak_mib"]
        better[f"{tag}.peak_mib"] = "info"
    run_args = {"envs": envs, "steps": args.steps, "repeats": args.repeats,
                "max_seconds": args.max_seconds, "impl": args.impl,
                "obs": not args.no_obs, "quick": args.quick}
    return benchlib.emit_result("env_throughput", run_args, machine, rows, metrics, better)


if __name__ == "__main__":
    main()
