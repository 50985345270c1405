"""Scripted baseline policy vs the uniformly random valid policy, on the same games.

Usage:
  python benchmarks/scripted_baseline.py                  # 500 games each, seed 0
  python benchmarks/scripted_baseline.py --games 200 --seed 3 --max-steps 1000
  python benchmarks/scripted_baseline.py --policies scripted lookahead --eval-seed 20261206

``lookahead`` is the scripted policy judging each turn-ending action one simulated enemy
turn on (``scripted_policy.batched_lookahead_action``). ``--eval-seed S`` (instead of
``--seed``) plays the games from the learning benchmark's key of evaluation seed S
(``evaluation_key``): the scripted policy plays exactly the games of its row there.

Both policies play ``--games`` games from the same ``vmap(env.reset)`` keys (so the same
first boards) until every game ends or ``--max-steps`` steps pass (still-running games
count as truncated). Per policy: mean return, mean highest stage, the share of games
reaching each stage 2..8, win rate with its 95 % (Wilson) interval, mean length,
truncated share, invalid actions chosen (must be 0 for the scripted policy), compile and
run time of the jitted game loop, and the jitted cost of the policy alone per state.
Ends with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

POLICIES = ("scripted", "lookahead", "random")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--games", type=int, default=500, help="games per policy (default 500)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=0, help="PRNGKey seed of the games")
    p.add_argument("--max-steps", type=int, default=1000, help="step cap per game (default 1000)")
    seeds.add_argument("--eval-seed", type=int, default=None,
                   help="the first boards of the learning benchmark's games of this seed")
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=["scripted", "random"])
    p.add_argument("--quick", action="store_true", help="smoke run: 16 games, cap 100 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.games, args.max_steps = 16, 100
    if args.eval_seed is not None:
        args.seed = None  # unused: the RESULT line records only the seed the games came from
    return args


def uniform_valid_action(key, mask):
    """(N,) int32: a uniformly random valid action per row (0 where none is)."""
    import jax
    import jax.numpy as jnp

    count = jnp.sum(mask, axis=-1, dtype=jnp.int32)
    u = jax.random.uniform(key, mask.shape[:-1])
    k = jnp.minimum((u * count).astype(jnp.int32), jnp.maximum(count - 1, 0))
    running = jnp.cumsum(mask.astype(jnp.int32), axis=-1)
    return jnp.argmax(running > k[..., None], axis=-1).astype(jnp.int32)


def make_play():
    import jax
    import jax.numpy as jnp

    from hackmatrix.application.scripted_policy import (
        batched_lookahead_action, batched_scripted_action,
    )
    from hackmatrix.domain import env
    from hackmatrix.domain.constants import NUM_STAGES

    params = env.DEFAULT_PARAMS

    @partial(jax.jit, static_argnums=(1, 2, 3))
    def play(key, num_games: int, max_steps: int, policy: str):
        """Per-game arrays: return, length, highest stage, won, truncated, invalid choices."""
        k_reset, k_loop = jax.random.split(key)
        states, _ = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, num_games), params)
        zf = jnp.zeros((num_games,), jnp.float32)
        zi = jnp.zeros((num_games,), jnp.int32)
        init = (states, jnp.ones((num_games,), jnp.bool_), zf, zi, states.stage,
                jnp.zeros((num_games,), jnp.bool_), zi, k_loop, jnp.int32(0))

        def cond(c):
            return jnp.any(c[1]) & (c[-1] < max_steps)

        def body(c):
            states, active, ret, length, stage, won, invalid, key, t = c
            key, k_act, k_env = jax.random.split(key, 3)
            mask = jax.vmap(env.valid_actions)(states)
            if policy == "scripted":
                action = batched_scripted_action(states, jax.random.split(k_act, num_games))
            elif policy == "lookahead":
                action = batched_lookahead_action(states, jax.random.split(k_act, num_games))
            else:
                action = uniform_valid_action(k_act, mask)
            ok = jnp.take_along_axis(mask, action[:, None], axis=-1)[:, 0]
            states, _, reward, done, bd = env.batched_step(
                states, action, jax.random.split(k_env, num_games), params)
            ret = ret + jnp.where(active, reward, 0.0)
            length = length + active.astype(jnp.int32)
            stage = jnp.where(active, jnp.maximum(stage, states.stage), stage)
            won = won | (active & done & (states.stage == NUM_STAGES) & (bd["victory"] > 0))
            invalid = invalid + (active & ~ok).astype(jnp.int32)
            return states, active & ~done, ret, length, stage, won, invalid, key, t + 1

        _, active, ret, length, stage, won, invalid, _, _ = jax.lax.while_loop(cond, body, init)
        return {"return": ret, "length": length, "stage": stage, "won": won,
                "truncated": active, "invalid": invalid}

    return play


def summarize(raw) -> dict[str, float]:
    """``evaluation.summarize`` (the learning benchmark's figures, the win rate's 95 %
    interval included) plus the invalid actions chosen, summed over the games."""
    import numpy as np

    from hackmatrix.application.evaluation import summarize as summarize_games

    return {**summarize_games(raw), "invalid_actions": float(np.sum(raw["invalid"]))}


def policy_step_cost(n: int = 256, repeats: int = 5, lookahead: bool = False) -> dict[str, float]:
    """Compile time and per-call time of jit(batched_scripted_action) on n reset states
    (``lookahead``: of batched_lookahead_action, keys prefixed ``lookahead.``)."""
    import jax

    from hackmatrix.application.scripted_policy import (
        batched_lookahead_action, batched_scripted_action,
    )
    from hackmatrix.domain import env

    states, _ = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))(
        jax.random.split(jax.random.PRNGKey(0), n), env.DEFAULT_PARAMS)
    keys = jax.random.split(jax.random.PRNGKey(1), n)
    fn = jax.jit(batched_lookahead_action if lookahead else batched_scripted_action)
    compile_s, _ = benchlib.timed(lambda: fn(states, keys).block_until_ready())
    times = [benchlib.timed(lambda: fn(states, keys).block_until_ready())[0] for _ in range(repeats)]
    per_call = benchlib.median(times)
    prefix = "lookahead." if lookahead else ""
    return {f"{prefix}policy_compile_s": compile_s, f"{prefix}policy_batch": n,
            f"{prefix}policy_us_per_state": per_call / n * 1e6}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax

    benchlib.setup_jax()
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    play = make_play()
    if args.eval_seed is None:
        key = jax.random.PRNGKey(args.seed)
    else:
        from hackmatrix.application.evaluation import evaluation_key

        key = evaluation_key(args.eval_seed)
    rows, metrics = [], {}
    for policy in args.policies:
        compile_s, compiled = benchlib.timed(
            lambda: play.lower(key, args.games, args.max_steps, policy).compile())  # noqa: B023
        seconds, raw = benchlib.timed(lambda: jax.device_get(compiled(key)))  # noqa: B023
        stats = summarize(raw)
        stats["compile_s"] = compile_s
        stats["run_s"] = seconds
        rows.append({"policy": policy, **stats})
        metrics.update({f"{policy}.{k}": v for k, v in stats.items()})
    cost = policy_step_cost()
    metrics.update(cost)
    with_lookahead = "lookahead" in args.policies
    if with_lookahead:
        metrics.update(policy_step_cost(lookahead=True))

    headers = ["policy", "return", "stage", *[f">={s}" for s in range(2, 9)], "win", "95 % interval", "length",
               "trunc", "invalid", "compile_s", "run_s"]
    table = [[r["policy"], r["mean_return"], r["mean_highest_stage"],
              *[r[f"reach_stage_{s}"] for s in range(2, 9)], r["win_rate"],
              f"{r['win_rate_low']:.3f}-{r['win_rate_high']:.3f}", r["mean_length"],
              r["truncated_frac"], r["invalid_actions"], r["compile_s"], r["run_s"]] for r in rows]
    games = f"seed {args.seed}" if args.eval_seed is None else f"eval seed {args.eval_seed}"
    print(f"{args.games} games per policy, {games}, cap {args.max_steps} steps")
    print(benchlib.format_table(headers, table))
    print(f"scripted policy alone: compile {cost['policy_compile_s']:.1f} s (incl. first call), "
          f"{cost['policy_us_per_state']:.1f} us per state at batch {cost['policy_batch']}")
    if with_lookahead:
        print(f"lookahead policy alone: compile {metrics['lookahead.policy_compile_s']:.1f} s, "
              f"{metrics['lookahead.policy_us_per_state']:.1f} us per state at batch "
              f"{metrics['lookahead.policy_batch']}")
    better = {k: ("higher" if k.split(".")[-1] in ("mean_return", "mean_highest_stage", "win_rate")
                  or "reach_stage" in k else "info") for k in metrics}
    better["policy_us_per_state"] = "lower"
    if with_lookahead:
        better["lookahead.policy_us_per_state"] = "lower"
    return benchlib.emit_result("scripted_baseline", vars(args), machine, rows,
                                {k: benchlib.clean(v) for k, v in metrics.items()}, better)


if __name__ == "__main__":
    main()
