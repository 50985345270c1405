"""Greedy play of a run's newest checkpoints, each alone and their parameters averaged.

Usage:
  python benchmarks/checkpoint_average.py runs/<run> --last 1 6 12        # 1024 games, seed 7
  python benchmarks/checkpoint_average.py runs/<run>/checkpoints --last 12 --games 500 --seed 3

For every K of ``--last`` the parameters of the run's K newest checkpoints
(``ckpt-*.msgpack``, newest by env step) are averaged leaf by leaf, uniformly (tail or
checkpoint averaging, as in stochastic weight averaging), and the averaged policy plays
``--games`` greedy games from ``--seed``'s boards (``evaluation.run_episodes``, as
``evaluate --greedy``). K = 1 is the newest checkpoint alone; ``--singles N`` also plays
each of the N newest alone, to show how much one evaluation moves from one saved update
to the next. The averages only mean something where the checkpoints are a few updates
apart (``--save-interval 5``, say): averaging policies far apart in training averages
different policies. The default seed 7 (1,024 games) is neither the learning
benchmark's games (20261206) nor training's evaluation games (seed 0). Ends with one
``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

FIGURES = ("mean_highest_stage", "win_rate", "win_rate_low", "win_rate_high", "reward/kills",
           "reward/score_gain", "per_game/siphons", "mean_length", "truncated_frac")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a run folder or its checkpoint folder")
    p.add_argument("--last", type=int, nargs="+", default=[1, 6, 12],
                   help="how many of the newest checkpoints to average (default 1 6 12)")
    p.add_argument("--singles", type=int, default=0,
                   help="also play each of the N newest checkpoints alone (default 0)")
    p.add_argument("--games", type=int, default=1024, help="greedy games (default 1024)")
    p.add_argument("--seed", type=int, default=7, help="seed of the games (default 7)")
    p.add_argument("--max-steps", type=int, default=1000, help="step cap per game (default 1000)")
    args = p.parse_args(argv)
    for k in args.last:
        if k < 1:
            p.error(f"--last takes counts >= 1, got {k}")
    for name in ("games", "max_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.singles < 0:
        p.error(f"--singles must be >= 0, got {args.singles}")
    return args


def checkpoint_folder(run: str) -> Path:
    """The folder holding ``run``'s checkpoints: ``run`` itself or ``run/checkpoints``."""
    path = Path(run)
    if (path / "checkpoints").is_dir():
        path = path / "checkpoints"
    if not path.is_dir():
        raise ValueError(f"no run or checkpoint folder at {run!r}")
    return path


def average_params(trees: list[Any]) -> Any:
    """The leaf-by-leaf mean of parameter trees of one structure (float32 kept)."""
    import jax
    import jax.numpy as jnp

    if not trees:
        raise ValueError("no parameter trees to average")
    return jax.tree_util.tree_map(
        lambda *leaves: jnp.mean(jnp.stack(leaves), axis=0).astype(leaves[0].dtype), *trees)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from hackmatrix.adapters.checkpoints.msgpack_store import list_checkpoints
    from hackmatrix.application.checkpointing import policy_from_checkpoint
    from hackmatrix.application.evaluation import MODE_GREEDY, run_episodes, summarize_detailed
    from hackmatrix.containers import load_checkpoint

    benchlib.setup_jax()
    try:
        files = list_checkpoints(checkpoint_folder(args.run))
        need = max([*args.last, args.singles])
        if len(files) < need:
            raise ValueError(f"{args.run!r} holds {len(files)} checkpoints, fewer than {need}")
        newest = files[-need:]
        loaded = [policy_from_checkpoint(*load_checkpoint(str(f)), str(f)) for f in newest]
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    config = loaded[-1][0]
    params = [p for _, p in loaded]

    def play(label: str, policy: Any, first: Path, count: int) -> dict[str, Any]:
        stats = summarize_detailed(run_episodes(policy, config, args.games, MODE_GREEDY, args.seed,
                                                args.max_steps))
        row = {"policy": label, "checkpoints": count, "from": first.name, "to": newest[-1].name}
        return {**row, **{k: benchlib.clean(stats[k]) for k in FIGURES}}

    rows = [play(f"newest {k} averaged" if k > 1 else "newest", average_params(params[-k:]),
                 newest[-k], k) for k in args.last]
    for i in range(1, args.singles + 1):
        rows.append(play("alone", params[-i], newest[-i], 1) | {"to": newest[-i].name})
    print(f"{args.run}: {args.games} greedy games, seed {args.seed}, cap {args.max_steps} steps")
    print(benchlib.format_table(
        ["policy", "from", "to", "stage", "win rate", "95 % interval", "kills", "score", "siphons"],
        [[r["policy"], r["from"], r["to"], r["mean_highest_stage"], r["win_rate"],
          f"{r['win_rate_low']:.3f}-{r['win_rate_high']:.3f}", r["reward/kills"], r["reward/score_gain"],
          r["per_game/siphons"]] for r in rows]))
    metrics = {f"last{k}/{name}": row[name] for k, row in zip(args.last, rows) for name in FIGURES}
    better = {name: "higher" if name.endswith(("mean_highest_stage", "win_rate")) else "info" for name in metrics}
    return benchlib.emit_result("checkpoint_average", vars(args), machine, rows, metrics, better)


if __name__ == "__main__":
    main()
