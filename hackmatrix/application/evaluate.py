"""``python -m hackmatrix.application.evaluate CHECKPOINT``: how good is a trained policy?

Plays ``--episodes`` fresh games with the checkpoint's policy (sampled, or
``--greedy``), and the same games with the scripted baseline (``scripted_policy``:
what decent play from simple rules looks like) and a uniformly random valid policy,
and prints one table: mean/std return, episode length, highest stage reached, the
share of games reaching each stage, win rate, how games ended, the mean of each of
the 15 reward components per episode, the shares of action types and the program
uses per game. ``--json PATH`` also writes the figures as JSON. Games are drawn from
``--seed``: the same seed gives both policies the same first boards.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hackmatrix.application.checkpointing import policy_from_checkpoint
from hackmatrix.application.errors import (
    ArgumentParser,
    add_compilation_cache_option,
    int_at_least,
    report,
)
from hackmatrix.application.evaluation import (
    ACTION_KINDS,
    DEFAULT_MAX_STEPS,
    END_NAMES,
    MODE_GREEDY,
    MODE_RANDOM,
    MODE_SAMPLE,
    MODE_SCRIPTED,
    run_episodes,
    summarize_detailed,
)
from hackmatrix.domain.constants import NUM_STAGES, REWARD_KEYS
from hackmatrix.domain.programs import PROGRAM_NAMES

PROG = "python -m hackmatrix.application.evaluate"
ROWS = (
    ("mean return", "mean_return"),
    ("std return", "std_return"),
    ("mean episode length", "mean_length"),
    ("highest stage reached", "highest_stage"),
    ("mean highest stage", "mean_highest_stage"),
    *((f"reached stage {k}", f"reach_stage_{k}") for k in range(2, NUM_STAGES + 1)),
    ("win rate", "win_rate"),
    ("win rate: 95 % interval, low (Wilson)", "win_rate_low"),
    ("win rate: 95 % interval, high", "win_rate_high"),
    ("truncated (hit --max-steps)", "truncated_frac"),
    *((f"ended: {name.replace('_', ' ')}", f"ends/{name}") for name in END_NAMES[1:]),
    ("ended: death with siphon-spawned enemy", "ends/siphon_caused"),
    *((f"reward/{k} per episode", f"reward/{k}") for k in REWARD_KEYS),
    *((f"{kind} fraction", f"actions/{kind}_frac") for kind in ACTION_KINDS),
    ("siphons per game", "per_game/siphons"),
    *((f"{name} uses per game", f"programs/{name}") for name in PROGRAM_NAMES),
)




def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[1], allow_abbrev=False
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="checkpoint file (ckpt-*.msgpack), a run or checkpoint folder (its "
                        "newest checkpoint), or 'latest' (the newest under runs/)")
    parser.add_argument("--episodes", type=int_at_least(1), default=100,
                        help="games per policy (default: 100)")
    parser.add_argument("--greedy", action="store_true",
                        help="take the most probable valid action instead of sampling")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed of the games (default: 0)")
    parser.add_argument("--max-steps", type=int_at_least(1), default=DEFAULT_MAX_STEPS,
                        help=f"cap per episode (default: {DEFAULT_MAX_STEPS})")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    add_compilation_cache_option(parser)
    return parser


def evaluate_checkpoint(
    payload: Mapping[str, Any], metadata: Mapping[str, Any], origin: str, *,
    episodes: int, greedy: bool, seed: int, max_steps: int,
) -> dict[str, Any]:
    """Figures of the policy and of the two baselines on the same games."""
    config, params = policy_from_checkpoint(payload, metadata, origin)
    mode = MODE_GREEDY if greedy else MODE_SAMPLE

    def figures(mode: int) -> dict[str, float]:
        return summarize_detailed(run_episodes(params, config, episodes, mode, seed, max_steps))

    policy, scripted, random = figures(mode), figures(MODE_SCRIPTED), figures(MODE_RANDOM)
    return {
        "checkpoint": origin,
        "update": metadata.get("update"),
        "env_steps": metadata.get("env_steps"),
        "episodes": episodes,
        "seed": seed,
        "max_steps": max_steps,
        "policy_mode": "greedy" if greedy else "sampled",
        "policy": policy,
        "scripted": scripted,
        "random": random,
    }


def render_table(results: Mapping[str, Any], width: int = 100) -> str:
    """The comparison table as plain text (rich, no colours)."""
    from rich.console import Console
    from rich.table import Table

    title = (
        f"{results['checkpoint']} (update {results['update']}, {results['env_steps']} env steps): "
        f"{results['episodes']} episodes, seed {results['seed']}"
    )
    table = Table()
    table.add_column("metric")
    table.add_column(f"policy ({results['policy_mode']})", justify="right")
    table.add_column("scripted", justify="right")
    table.add_column("random valid", justify="right")
    for label, key in ROWS:
        table.add_row(label, *(f"{results[who][key]:.4g}" for who in ("policy", "scripted", "random")))
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(title, soft_wrap=True)
    console.print(table)
    return console.export_text()


def main(argv: Sequence[str] | None = None) -> int:
    from hackmatrix.containers import default_jax_runtime, find_checkpoint, load_checkpoint

    args = build_parser().parse_args(argv)
    default_jax_runtime(args.compilation_cache_dir)
    try:
        path = find_checkpoint(args.checkpoint)
        payload, metadata = load_checkpoint(path)
        results = evaluate_checkpoint(
            payload, metadata, path, episodes=args.episodes, greedy=args.greedy,
            seed=args.seed, max_steps=args.max_steps,
        )
    except (ValueError, OSError) as error:  # bad checkpoint/scenario, unwritable output
        return report(PROG, error)
    print(render_table(results), end="")
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
        except OSError as error:
            return report(PROG, f"cannot write --json {args.json!r}: {error}")
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
