"""Greedy play of a run's newest checkpoints, each alone and their parameters averaged.

Usage:
  python benchmarks/checkpoint_average.py runs/<run> --last 1 6 12        # 1024 games, seed 7
  python benchmarks/checkpoint_average.py runs/<run>/checkpoints/ckpt-000006553600.msgpack --last 12

``RUN`` is read as ``evaluate`` reads its checkpoint (a run or checkpoint folder: its
newest checkpoint; a checkpoint file: that one); the checkpoints taken are that one and
those before it in its folder (``ckpt-*.msgpack``, by env step). For every K of
``--last`` the parameters of the K newest of them are averaged leaf by leaf, uniformly (tail or
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
    p.add_argument("run", metavar="RUN",
                   help="a run or checkpoint folder (its newest checkpoint), or a checkpoint file")
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
    from hackmatrix.containers import find_checkpoint, load_checkpoint

    benchlib.setup_jax()
    try:
        last = Path(find_checkpoint(args.run, option="RUN"))
        files = [f for f in list_checkpoints(last.parent) if f.name <= last.name]
        need = max([*args.last, args.singles])
        if len(files) < need:
            raise ValueError(f"{str(last.parent)!r} holds {len(files)} checkpoints, fewer than {need} "
                             f"(up to {last.name})")
        newest = files[-need:]
        loaded = [policy_from_checkpoint(*load_checkpoint(str(f)), str(f)) for f in newest]
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    config = loaded[-1][0]
    params = [p for _, p in loaded]

    played: dict[tuple[int, int], dict[str, float | None]] = {}

    def play(label: str, end: int, count: int) -> dict[str, Any]:
        """Figures of the average of the ``count`` checkpoints ending ``end`` from the newest
        (1: the newest); each policy plays once, however many rows show it."""
        window = slice(len(newest) - end - count + 1, len(newest) - end + 1)
        if (end, count) not in played:
            stats = summarize_detailed(run_episodes(average_params(params[window]), config, args.games,
                                                    MODE_GREEDY, args.seed, args.max_steps))
            played[end, count] = {k: benchlib.clean(stats[k]) for k in FIGURES}
        chosen = newest[window]
        return {"policy": label, "checkpoints": count, "from": chosen[0].name, "to": chosen[-1].name,
                **played[end, count]}

    rows = [play(f"newest {k} averaged" if k > 1 else "newest", 1, k) for k in args.last]
    rows += [play("alone", i, 1) for i in range(1, args.singles + 1)]
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
