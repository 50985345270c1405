"""Cost of each network of ``network.NETWORKS``: parameters, FLOPs, forward and SGD-step time.

Usage:
  python benchmarks/network_cost.py                       # every network, cost proxies only
  python benchmarks/network_cost.py --train               # + the PPO training chunk, 256 x 128
  python benchmarks/network_cost.py --networks mlp conv conv32x2 --repeats 9
  python benchmarks/network_cost.py --quick               # smoke: small batches, 1 repeat

For each network (the names of ``NETWORKS`` plus the variants in ``VARIANTS``):

* **params**: number of parameters at ``--hidden-dim`` x ``--num-layers``;
* **MFLOP/obs**: XLA's FLOP count of one forward pass, per observation;
* **forward**: the rollout's policy call, ``apply`` on a (``--forward-batch``, 1545)
  batch (256 envs), ``--forward-steps`` of them in a ``lax.scan``: time per call;
* **sgd step**: ``value_and_grad`` of a simple actor-critic loss (cross-entropy of given
  actions + squared value error) on a (``--minibatch``, 1545) batch plus a parameter
  update, ``--sgd-steps`` of them in a ``lax.scan``: time per step, the cost of one PPO
  gradient step at 256 x 128 / 4 minibatches. Both run in a scan, on int8 codes decoded
  in the loop, as in training: XLA on CPU runs a convolution several times slower inside
  a loop than outside one, which a single jitted call would not show;
* **train** (``--train``): the application's PPO chunk (``ppo.make_train_chunk``, one
  update of ``--train-envs`` x ``--train-steps`` steps) with the network swapped in by
  patching ``ppo.network_for`` in this process only: env steps/s.

Times are medians of ``--repeats`` (``--train-repeats``) calls after a warm-up, the
networks' calls interleaved round by round so that a change of load on a shared
machine hits them alike. Ratios are to "mlp". Ends with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

# Variants of the registered networks, for comparison only (name -> (class name, fields)).
VARIANTS = {
    # the conv of the sketch: 2 x Conv(32 or 64, 3x3) straight on the 43 channels
    "conv32x2": ("ConvActorCritic", {"embed_channels": 0, "conv_channels": 32, "conv_layers": 2}),
    "conv64x2": ("ConvActorCritic", {"embed_channels": 0, "conv_channels": 64, "conv_layers": 2}),
    "conv16x2": ("ConvActorCritic", {"conv_layers": 2}),
    "conv32": ("ConvActorCritic", {"embed_channels": 32, "conv_channels": 32}),
    "embed16": ("ConvActorCritic", {"conv_layers": 0}),  # per-cell Dense only, no 3x3 conv
    # a conventional transformer block: width 32, 4 heads, block MLP 2x
    "attention32": ("AttentionActorCritic", {"embed_dim": 32, "heads": 4, "mlp_ratio": 2}),
}
# Any registered name + this suffix: that network with `separate_critic` (a second
# instance of it for the value).
SEPARATE = "_separate_critic"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", nargs="+", default=None,
                   help="network names (default: every name of NETWORKS); variants: "
                        + ", ".join(VARIANTS) + f"; and any name + {SEPARATE}")
    p.add_argument("--hidden-dim", type=int, default=256)
    p.add_argument("--num-layers", type=int, default=2)
    p.add_argument("--forward-batch", type=int, default=256, help="rows of the forward batch")
    p.add_argument("--forward-steps", type=int, default=16, help="forward calls per timed scan")
    p.add_argument("--minibatch", type=int, default=8192, help="rows of the SGD-step batch")
    p.add_argument("--sgd-steps", type=int, default=4, help="SGD steps per timed scan")
    p.add_argument("--repeats", type=int, default=7, help="timed calls after a warm-up (median)")
    p.add_argument("--train", action="store_true", help="also time the PPO training chunk")
    p.add_argument("--train-envs", type=int, default=256)
    p.add_argument("--train-steps", type=int, default=128)
    p.add_argument("--train-repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke: batches 64 / 512, 1 repeat, 16 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.forward_batch, args.minibatch, args.repeats = 64, 512, 1
        args.forward_steps, args.sgd_steps = 2, 2
        args.train_envs, args.train_steps, args.train_repeats = 16, 16, 1
    return args


def build(name: str, hidden_dim: int, num_layers: int):
    from hackmatrix.application import network as net

    if name in VARIANTS:
        cls, fields = VARIANTS[name]
        return getattr(net, cls)(hidden_dim=hidden_dim, num_layers=num_layers, **fields)
    if name.endswith(SEPARATE):
        return net.make_network(name.removesuffix(SEPARATE), hidden_dim=hidden_dim,
                                num_layers=num_layers, separate_critic=True)
    return net.make_network(name, hidden_dim=hidden_dim, num_layers=num_layers)


def random_codes(key, shape: tuple[int, ...]):
    """int8 observation codes (numerators 0..9, the player on the grid), as training stores."""
    import jax
    import jax.numpy as jnp
    from hackmatrix.domain.constants import OBS_FLAT_SIZE

    k_code, k_pos = jax.random.split(key)
    code = jax.random.randint(k_code, shape + (OBS_FLAT_SIZE,), 0, 10).astype(jnp.int8)
    return code.at[..., :2].set(jax.random.randint(k_pos, shape + (2,), 0, 6).astype(jnp.int8))


def _flops(compiled) -> float | None:
    try:
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):
            cost = cost[0]
        return float(cost["flops"])
    except Exception:  # noqa: BLE001 - not every backend reports it
        return None


def prepare(name: str, args: argparse.Namespace) -> dict:
    """Compiled forward and SGD programs of ``name``, their inputs and the static facts.

    Both run inside ``lax.scan`` as in training (XLA on CPU runs some operations, e.g.
    convolutions, much slower inside a loop than outside one), on int8 codes decoded
    in the loop.
    """
    import jax
    import jax.numpy as jnp
    from hackmatrix.application.network import count_params, init_params
    from hackmatrix.domain.constants import NUM_ACTIONS
    from hackmatrix.domain.observation import decode_observation

    network = build(name, args.hidden_dim, args.num_layers)
    params = init_params(network, jax.random.PRNGKey(0))
    k_fwd, k_mb, k_act, k_ret = jax.random.split(jax.random.PRNGKey(1), 4)
    fwd_codes = random_codes(k_fwd, (args.forward_steps, args.forward_batch))
    mb_codes = random_codes(k_mb, (args.sgd_steps, args.minibatch))
    actions = jax.random.randint(k_act, (args.sgd_steps, args.minibatch), 0, NUM_ACTIONS)
    returns = jax.random.normal(k_ret, (args.sgd_steps, args.minibatch))

    def rollout(params, codes):  # the rollout's policy calls, one per step
        def step(carry, code):
            logits, value = network.apply(params, decode_observation(code))
            return carry + jnp.sum(logits[:, 0]) + jnp.sum(value), None
        return jax.lax.scan(step, jnp.float32(0.0), codes)[0]

    def loss(params, code, actions, returns):
        logits, value = network.apply(params, decode_observation(code))
        logp = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(logp, actions[:, None], axis=-1).mean()
        return nll + 0.5 * jnp.mean((value - returns) ** 2)

    def sgd(params, codes, actions, returns):  # an epoch of plain SGD steps
        def step(params, xs):
            value, grads = jax.value_and_grad(loss)(params, *xs)
            return jax.tree_util.tree_map(lambda p, g: p - 1e-4 * g, params, grads), value
        return jax.lax.scan(step, params, (codes, actions, returns))

    forward = jax.jit(rollout).lower(params, fwd_codes).compile()
    compile_s, sgd_c = benchlib.timed(
        lambda: jax.jit(sgd).lower(params, mb_codes, actions, returns).compile())
    one_forward = jax.jit(network.apply).lower(params, decode_observation(fwd_codes[0])).compile()
    flops = _flops(one_forward)
    jax.block_until_ready(forward(params, fwd_codes))  # warm-up
    jax.block_until_ready(sgd_c(params, mb_codes, actions, returns))
    return {
        "row": {"network": name, "params": count_params(params),
                "mflop_per_obs": None if flops is None else flops / args.forward_batch / 1e6,
                "sgd_compile_s": compile_s},
        "forward": lambda: forward(params, fwd_codes),
        "forward_per_call": args.forward_steps,
        "sgd": lambda: sgd_c(params, mb_codes, actions, returns),
        "sgd_per_call": args.sgd_steps,
    }


def prepare_train(name: str, args: argparse.Namespace) -> dict:
    """The PPO chunk (one update) with ``name`` patched into ppo.network_for, compiled."""
    import jax.numpy as jnp
    from hackmatrix.application import ppo
    from hackmatrix.application.config import SPEC_TRAINING, TrainConfig

    # PPO alone (no teacher): the cost of the network, nothing else.
    cfg = TrainConfig(num_envs=args.train_envs, num_steps=args.train_steps, log_interval=1,
                      hidden_dim=args.hidden_dim, num_layers=args.num_layers, **SPEC_TRAINING)
    original = ppo.network_for
    ppo.network_for = lambda config: build(name, config.hidden_dim, config.num_layers)
    try:
        env = ppo.make_env(cfg)
        runner = ppo.init_runner_state(cfg, env)
        n = jnp.int32(1)
        chunk = ppo.make_train_chunk(cfg, env=env, runner_template=runner)
        compile_s, compiled = benchlib.timed(lambda: chunk.lower(runner, n).compile())
    finally:
        ppo.network_for = original
    state = {"runner": runner}

    def call():
        state["runner"], metrics = compiled(state["runner"], n)
        return metrics

    call()  # warm-up
    return {"train": call, "train_per_call": cfg.num_envs * cfg.num_steps, "compile_s": compile_s}


def time_interleaved(programs: list[dict], key: str, repeats: int) -> list[float]:
    """Median seconds per unit (``program[key + "_per_call"]`` units a call) per program,
    the programs called in turn each round so that a change of load on the shared
    machine hits all of them alike."""
    import jax

    times: list[list[float]] = [[] for _ in programs]
    for _ in range(repeats):
        for prog, ts in zip(programs, times):
            dt = benchlib.timed(lambda fn=prog[key]: jax.block_until_ready(fn()))[0]
            ts.append(dt / prog[key + "_per_call"])
    return [benchlib.median(ts) for ts in times]


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax  # noqa: F401 - after argparse so --help is instant
    from hackmatrix.application.network import NETWORKS

    benchlib.disable_persistent_cache()
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    names = args.networks or list(NETWORKS)
    unknown = [n for n in names if n.removesuffix(SEPARATE) not in NETWORKS and n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown network(s): {', '.join(unknown)}")
    if "mlp" not in names:
        names = ["mlp"] + names  # the reference of the ratios
    print(f"network cost: hidden {args.hidden_dim} x {args.num_layers}, forward batch "
          f"{args.forward_batch} (x{args.forward_steps} in a scan), sgd minibatch {args.minibatch} "
          f"(x{args.sgd_steps} in a scan), repeats {args.repeats}"
          + (f", train {args.train_envs} x {args.train_steps}" if args.train else ""))

    programs = []
    for name in names:
        programs.append(prepare(name, args))
        print(f"  {name}: compiled", flush=True)
    rows = [prog["row"] for prog in programs]
    for key in ("forward", "sgd"):
        for row, t in zip(rows, time_interleaved(programs, key, args.repeats)):
            row[f"{key}_ms"] = 1e3 * t
    del programs
    if args.train:
        programs = []
        for row in rows:
            programs.append(prepare_train(row["network"], args))
            row["train_compile_s"] = programs[-1]["compile_s"]
            print(f"  {row['network']}: training chunk compiled", flush=True)
        for row, t in zip(rows, time_interleaved(programs, "train", args.train_repeats)):
            row["train_steps_per_s"] = 1.0 / t

    ref = rows[names.index("mlp")]
    for row in rows:
        row["forward_x_mlp"] = row["forward_ms"] / ref["forward_ms"]
        row["sgd_x_mlp"] = row["sgd_ms"] / ref["sgd_ms"]
        if args.train:
            row["train_x_mlp"] = row["train_steps_per_s"] / ref["train_steps_per_s"]

    headers = ["network", "params", "MFLOP/obs", "fwd ms", "fwd x", "sgd ms", "sgd x"]
    keys = ["network", "params", "mflop_per_obs", "forward_ms", "forward_x_mlp", "sgd_ms", "sgd_x_mlp"]
    if args.train:
        headers += ["train steps/s", "train x"]
        keys += ["train_steps_per_s", "train_x_mlp"]
    print(benchlib.format_table(headers, [[r.get(k) for k in keys] for r in rows]))

    metrics: dict[str, float] = {}
    better: dict[str, str] = {}
    for row in rows:
        for key, direction in (("params", "info"), ("mflop_per_obs", "info"), ("forward_ms", "lower"),
                               ("sgd_ms", "lower"), ("train_steps_per_s", "higher")):
            if row.get(key) is not None:
                metrics[f"{row['network']}.{key}"] = benchlib.clean(row[key])
                better[f"{row['network']}.{key}"] = direction
    clean_rows = [{k: (benchlib.clean(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows]
    return benchlib.emit_result("network_cost", vars(args), machine, clean_rows, metrics, better)


if __name__ == "__main__":
    main()
