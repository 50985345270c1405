"""Training throughput of the full PPO loop, its network-only cost and the breakdown overhead.

Usage:
  python benchmarks/train_throughput.py                   # 64, 256, 2048 envs x 128 steps
  python benchmarks/train_throughput.py --quick           # smoke: 64 envs x 16 steps
  python benchmarks/train_throughput.py --envs 2048 --updates 2 --repeats 3

For each env count N (x ``--steps`` T, minibatches/epochs auto-scaled as in training):

* **train**: the application's own compiled chunk (``ppo.make_train_chunk``, the
  function ``TrainPolicy`` runs, no logging), ``--updates`` PPO updates per call;
  compile time (lower + compile), env steps/s = updates x N x T / call time (median of
  ``--repeats`` calls after one warm-up; calls stop early past ``--max-seconds``);
* **network only**: the same PPO update on fixed random data of the same shape: the
  rollout's T policy forward passes (with sampling), GAE, and the epochs x minibatches
  of SGD, with no env and no metrics. ``env share`` = 1 - network time / train time is
  the part of training spent stepping the env and aggregating metrics (target < 25 %);
* **ceiling**: network FLOPs per env step (forward in the rollout, plus forward and
  backward, ~3 forwards, per epoch) against ``--gflops`` (issue 7: ~120 GFLOP/s on the
  2-core CI CPU); also against the matmul GFLOP/s measured here.

Breakdown overhead: at ``--breakdown-envs`` (added to the env counts) the chunk is
also compiled with ``track_breakdown`` off, and the on, network-only and off programs
are called alternately in one run (target < 2 %). Ends with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

DEFAULT_ENVS = (64, 256, 2048)
ISSUE_GFLOPS = 120.0  # issue 7: the 2-core CPU's matmul rate
EARLIER_PORT = {64: 2_900, 256: 4_200}  # issue 7: earlier JAX port, 128 steps, 4 epochs


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, nargs="+", default=None, help="env counts (default 64 256 2048)")
    p.add_argument("--steps", type=int, default=128, help="rollout length T (default 128)")
    p.add_argument("--updates", type=int, default=1, help="PPO updates per compiled call (default 1)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up (median)")
    p.add_argument("--max-seconds", type=float, default=45.0,
                   help="stop timing a configuration once its timed calls took this long (>= 1 call)")
    p.add_argument("--breakdown-envs", type=int, default=256,
                   help="env count of the track_breakdown on/off comparison (0: skip)")
    p.add_argument("--no-network-only", action="store_true", help="skip the network-only update")
    p.add_argument("--gflops", type=float, default=ISSUE_GFLOPS,
                   help="matmul GFLOP/s of the machine for the ceiling (default 120, issue 7)")
    p.add_argument("--hidden-dim", type=int, default=None, help="network width (default: TrainConfig's)")
    p.add_argument("--num-devices", type=int, default=1,
                   help="shard the training chunk's env batch across this many local devices, as "
                        "training does (default 1; 0: all). The network-only update stays on one.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 envs x 16 steps (breakdown on/off there), 1 repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.envs = args.envs or [64]
        args.steps = 16 if args.steps == 128 else args.steps
        args.repeats = 1
        args.breakdown_envs = 64 if args.breakdown_envs == 256 else args.breakdown_envs
    return args


def make_config(num_envs: int, args: argparse.Namespace, track_breakdown: bool = True):
    from hackmatrix.application.config import SPEC_TRAINING, TrainConfig

    # The spec's PPO and MLP (the figures of docs/performance.md are for that network).
    extra = {**SPEC_TRAINING, **({} if args.hidden_dim is None else {"hidden_dim": args.hidden_dim})}
    return TrainConfig(num_envs=num_envs, num_steps=args.steps, log_interval=args.updates,
                       track_breakdown=track_breakdown, **extra)


def flops_per_env_step(cfg) -> float:
    """Network FLOPs per env step: 1 forward in the rollout + 3 per epoch (fwd + bwd)."""
    from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE

    h = cfg.hidden_dim
    macs = OBS_FLAT_SIZE * h + (cfg.num_layers - 1) * h * h + h * (NUM_ACTIONS + 1)
    forward = 2.0 * macs
    return forward * (1 + 3 * cfg.resolved_update_epochs)


def measured_matmul_gflops() -> float:
    """float32 GFLOP/s of a (4096 x 1545) @ (1545 x 256) product, the network's largest."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (4096, 1545), jnp.float32)
    b = jax.random.normal(jax.random.PRNGKey(1), (1545, 256), jnp.float32)
    f = jax.jit(lambda a, b: a @ b)
    jax.block_until_ready(f(a, b))
    times = [benchlib.timed(lambda: jax.block_until_ready(f(a, b)))[0] for _ in range(7)]
    return 2 * 4096 * 1545 * 256 / benchlib.median(times) / 1e9


# ---- compiled programs ---------------------------------------------------------------

class Program:
    """A compiled program plus the state it threads from call to call."""

    def __init__(self, name, compiled, state, call, compile_s):
        self.name, self.compiled, self.state, self._call = name, compiled, state, call
        self.compile_s = compile_s
        self.times: list[float] = []

    def run(self) -> float:
        import jax

        dt, self.state = benchlib.timed(lambda: jax.block_until_ready(self._call(self.compiled, self.state)))
        return dt


def train_program(cfg, name: str, num_devices: int = 1) -> Program:
    import jax.numpy as jnp
    from hackmatrix.application import sharding
    from hackmatrix.application.ppo import init_runner_state, make_env, make_train_chunk

    env = make_env(cfg)
    runner = init_runner_state(cfg, env)
    n = jnp.int32(cfg.log_interval)
    mesh = None
    if num_devices != 1:
        mesh = sharding.make_mesh(num_devices or None)
        runner = sharding.place_runner(runner, mesh)
    chunk = make_train_chunk(cfg, env=env, mesh=mesh, runner_template=runner)
    compile_s, compiled = benchlib.timed(lambda: chunk.lower(runner, n).compile())

    def call(compiled, runner):
        runner, metrics = compiled(runner, n)
        return runner, metrics

    def call_state(compiled, state):
        return call(compiled, state[0])

    return Program(name, compiled, (runner, None), call_state, compile_s)


def network_only_program(cfg, name: str) -> Program:
    """The PPO update of ``ppo.make_update_step`` on fixed random data: no env, no metrics.

    Like training, it keeps the observations as int8 codes and decodes them for the network.
    """
    import jax
    import jax.numpy as jnp
    import optax
    from hackmatrix.application import distribution
    from hackmatrix.application.network import init_params, network_for
    from hackmatrix.application.ppo import (Minibatch, compute_gae, make_optimizer,
                                            ppo_loss)
    from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE
    from hackmatrix.domain.observation import decode_observation

    n_envs, n_steps, batch = cfg.num_envs, cfg.num_steps, cfg.batch_size
    n_mb, epochs, mb_size = cfg.resolved_num_minibatches, cfg.resolved_update_epochs, cfg.minibatch_size
    network, optimizer = network_for(cfg), make_optimizer(cfg)

    @jax.jit
    def make_data(key):
        k_obs, k_mask, k_rew, k_done = jax.random.split(key, 4)
        return {
            "obs": jax.random.randint(k_obs, (n_steps, n_envs, OBS_FLAT_SIZE), 0, 10).astype(jnp.int8),
            "mask": jax.random.bernoulli(k_mask, 0.5, (n_steps, n_envs, NUM_ACTIONS)),
            "reward": jax.random.normal(k_rew, (n_steps, n_envs), jnp.float32),
            "done": jax.random.bernoulli(k_done, 0.02, (n_steps, n_envs)),
        }

    def policy(params, obs_code):
        return network.apply(params, decode_observation(obs_code))

    def update(carry, data):
        params, opt_state, key = carry
        key, k_roll, k_epochs = jax.random.split(key, 3)

        def policy_step(k, xs):
            obs, mask = xs
            k, k_action = jax.random.split(k)
            logits, value = policy(params, obs)
            action = distribution.sample(k_action, logits, mask)
            log_prob = distribution.log_prob_of(distribution.log_probs(logits, mask), action)
            return k, (action, log_prob, value)

        _, (action, log_prob, value) = jax.lax.scan(policy_step, k_roll, (data["obs"], data["mask"]))
        _, last_value = policy(params, data["obs"][-1])
        adv, target = compute_gae(data["reward"], value, data["done"], last_value,
                                  cfg.gamma, cfg.gae_lambda)
        flat = Minibatch(obs=data["obs"], mask=data["mask"], action=action, log_prob=log_prob,
                         advantage=adv, target=target)
        flat = jax.tree_util.tree_map(lambda x: x.reshape((batch,) + x.shape[2:]), flat)

        def minibatch_step(carry, mb):
            params, opt_state = carry
            (_, info), grads = jax.value_and_grad(ppo_loss, has_aux=True)(
                params, policy, mb, cfg.clip_eps, cfg.vf_coef, cfg.ent_coef)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), info.total_loss

        def epoch(carry, k):
            perm = jax.random.permutation(k, batch)
            shuffled = jax.tree_util.tree_map(
                lambda x: jnp.take(x, perm, axis=0).reshape((n_mb, mb_size) + x.shape[1:]), flat)
            return jax.lax.scan(minibatch_step, carry, shuffled)

        (params, opt_state), losses = jax.lax.scan(
            epoch, (params, opt_state), jax.random.split(k_epochs, epochs))
        return (params, opt_state, key), jnp.mean(losses)

    def chunk(carry, data):
        return jax.lax.scan(lambda c, _: update(c, data), carry, None, cfg.log_interval)

    params = init_params(network, jax.random.PRNGKey(1))
    carry = (params, optimizer.init(params), jax.random.PRNGKey(2))
    data = jax.block_until_ready(make_data(jax.random.PRNGKey(3)))
    jitted = jax.jit(chunk, donate_argnums=(0,))
    compile_s, compiled = benchlib.timed(lambda: jitted.lower(carry, data).compile())

    def call(compiled, state):
        carry, data = state
        carry, _loss = compiled(carry, data)
        return carry, data

    return Program(name, compiled, (carry, data), call, compile_s)


def time_programs(programs: list[Program], args: argparse.Namespace) -> None:
    """One warm-up call each, then alternate timed calls until repeats or the time budget."""
    for prog in programs:
        prog.run()
    for _ in range(args.repeats):
        for prog in programs:
            prog.times.append(prog.run())
        if min(sum(p.times) for p in programs) >= args.max_seconds:
            break


# ---- main ----------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax  # noqa: F401 - after argparse so --help is instant

    benchlib.setup_jax()
    machine = benchlib.machine_info()
    envs = sorted(set(args.envs or DEFAULT_ENVS))
    benchlib.print_machine(machine)
    gflops_here = measured_matmul_gflops()
    print(f"train throughput: steps={args.steps} updates/call={args.updates} repeats<={args.repeats} "
          f"| matmul here {gflops_here:.1f} GFLOP/s, ceiling uses {args.gflops:.0f} GFLOP/s")

    if args.breakdown_envs:
        envs = sorted(set(envs) | {args.breakdown_envs})
    rows = []
    metrics: dict[str, float] = {}
    better: dict[str, str] = {}
    breakdown_pair = None
    for n in envs:
        cfg = make_config(n, args)
        steps_per_call = cfg.log_interval * cfg.batch_size
        train = train_program(cfg, "train", args.num_devices)  # breakdown on: the default
        progs = [train]
        network = None
        if not args.no_network_only:
            network = network_only_program(cfg, "network")
            progs.append(network)
        if n == args.breakdown_envs:  # the same chunk without the breakdown, timed alternately
            off = train_program(dataclasses.replace(cfg, track_breakdown=False), "breakdown off",
                                args.num_devices)
            progs.append(off)
            breakdown_pair = (cfg, train, off)
        time_programs(progs, args)
        train_sps = steps_per_call / benchlib.median(train.times)
        net_sps = steps_per_call / benchlib.median(network.times) if network else float("nan")
        flops = flops_per_env_step(cfg)
        ceiling = args.gflops * 1e9 / flops
        env_share = 1.0 - train_sps / net_sps if net_sps == net_sps else float("nan")
        peak, source = benchlib.peak_memory_mib()
        row = {
            "num_envs": n, "num_steps": cfg.num_steps, "epochs": cfg.resolved_update_epochs,
            "minibatches": cfg.resolved_num_minibatches, "calls": len(train.times),
            "compile_s": benchlib.clean(train.compile_s),
            "steps_per_s": benchlib.clean(train_sps),
            "network_compile_s": benchlib.clean(network.compile_s) if network else None,
            "network_steps_per_s": benchlib.clean(net_sps),
            "env_share": benchlib.clean(env_share, 3),
            "mflop_per_step": benchlib.clean(flops / 1e6, 3),
            "ceiling_steps_per_s": benchlib.clean(ceiling),
            "ceiling_fraction": benchlib.clean(train_sps / ceiling, 3),
            "measured_ceiling_fraction": benchlib.clean(train_sps / (gflops_here * 1e9 / flops), 3),
            "vs_earlier_port": benchlib.clean(train_sps / EARLIER_PORT[n], 3)
            if n in EARLIER_PORT and cfg.num_steps == 128 else None,
            "peak_mib": benchlib.clean(peak), "peak_source": source,
        }
        rows.append(row)
        print(f"  {n:>5} envs: train {train_sps:>9,.0f} steps/s, network only {net_sps:>9,.0f} "
              f"(compile {train.compile_s:.1f} s)", flush=True)
        tag = f"train{n}"
        metrics[f"{tag}.steps_per_s"], better[f"{tag}.steps_per_s"] = row["steps_per_s"], "higher"
        metrics[f"{tag}.compile_s"], better[f"{tag}.compile_s"] = row["compile_s"], "lower"
        if row["network_steps_per_s"] is not None:
            metrics[f"{tag}.network_steps_per_s"] = row["network_steps_per_s"]
            better[f"{tag}.network_steps_per_s"] = "higher"
            metrics[f"{tag}.env_share"], better[f"{tag}.env_share"] = row["env_share"], "info"

    print()
    print(benchlib.format_table(
        ["envs", "epochs", "mb", "calls", "compile s", "train steps/s", "net-only steps/s",
         "env share", "MFLOP/step", "ceiling", "of ceiling", "of meas. ceil.", "x port", "peak MiB"],
        [[r["num_envs"], r["epochs"], r["minibatches"], r["calls"], r["compile_s"], r["steps_per_s"],
          r["network_steps_per_s"], _pct(r["env_share"]), r["mflop_per_step"],
          r["ceiling_steps_per_s"], _pct(r["ceiling_fraction"]), _pct(r["measured_ceiling_fraction"]),
          r["vs_earlier_port"], r["peak_mib"]] for r in rows]))
    print(f"(ceiling = {args.gflops:.0f} GFLOP/s / network FLOPs per env step; env share = "
          f"1 - train/network-only, target < 25 %; at 2048 envs target >= 60 % of ceiling)")

    breakdown = None
    if breakdown_pair is not None:
        (cfg, on, off) = breakdown_pair
        steps_per_call = cfg.log_interval * cfg.batch_size
        sps_on = steps_per_call / benchlib.median(on.times)
        sps_off = steps_per_call / benchlib.median(off.times)
        overhead = 1.0 - sps_on / sps_off
        breakdown = {"num_envs": cfg.num_envs, "calls": len(off.times),
                     "on_steps_per_s": benchlib.clean(sps_on), "off_steps_per_s": benchlib.clean(sps_off),
                     "on_compile_s": benchlib.clean(on.compile_s),
                     "off_compile_s": benchlib.clean(off.compile_s),
                     "overhead_pct": benchlib.clean(100 * overhead, 3)}
        print()
        print(benchlib.format_table(
            ["breakdown", "envs", "calls", "compile s", "steps/s"],
            [["on", cfg.num_envs, len(on.times), breakdown["on_compile_s"], sps_on],
             ["off", cfg.num_envs, len(off.times), breakdown["off_compile_s"], sps_off]]))
        print(f"breakdown overhead: {100 * overhead:.2f} % (target < 2 %; on and off calls alternate)")
        metrics["breakdown.overhead_pct"], better["breakdown.overhead_pct"] = breakdown["overhead_pct"], "info"
        metrics["breakdown.off_steps_per_s"] = breakdown["off_steps_per_s"]
        better["breakdown.off_steps_per_s"] = "higher"

    run_args = {"envs": envs, "steps": args.steps, "updates": args.updates, "repeats": args.repeats,
                "max_seconds": args.max_seconds, "breakdown_envs": args.breakdown_envs,
                "gflops": args.gflops, "hidden_dim": args.hidden_dim, "quick": args.quick,
                "num_devices": args.num_devices}
    machine["matmul_gflops"] = benchlib.clean(gflops_here)
    result_rows = rows + ([{"breakdown": breakdown}] if breakdown else [])
    return benchlib.emit_result("train_throughput", run_args, machine, result_rows, metrics, better)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


if __name__ == "__main__":
    main()
