"""Where a trained policy departs from the scripted teacher, in the policy's own games.

Usage:
  python benchmarks/teacher_gap.py --checkpoint runs/<run>            # 256 greedy games, seed 0
  python benchmarks/teacher_gap.py --checkpoint PATH --games 500 --seed 3 --sampled

The policy plays ``--games`` games (greedy unless ``--sampled``) from ``--seed``'s boards
for at most ``--max-steps`` steps each. At every decision of a live game the scripted
policy (``hackmatrix/application/scripted_policy.py``) names the actions it rates best
and scores the one the policy took: its regret, in the teacher's score units (one step
further from its goal costs twice ``Weights.dist``, 1.1). Printed: the agreement (the
policy's action is one of the teacher's best), by what the teacher wanted (only moves,
only the siphon, only programs, a mix) with what the policy did instead, by stage, and
the regret of the disagreements. The default seed 0 is training's development games
(``eval_seed``), not the learning benchmark's. Ends with one ``RESULT {json}`` line.

The teacher reads the full state (hidden Cryptogs, question blocks' contents), the
policy only the observation: some disagreement is information, not skill.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402

KINDS = ("move", "siphon", "program")
REGRET_THRESHOLDS = (0.5, 1.0, 2.0, 5.0)
HIDDEN = ("hidden_cryptog", "question_block")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=False, help="a checkpoint file or a run folder")
    p.add_argument("--games", type=int, default=256, help="games (default 256)")
    p.add_argument("--seed", type=int, default=0, help="PRNGKey seed of the games (default 0)")
    p.add_argument("--max-steps", type=int, default=400, help="step cap per game (default 400)")
    p.add_argument("--sampled", action="store_true", help="sample the policy's actions")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: an untrained tiny ego network, 8 games, 20 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.games, args.max_steps = 8, 20
    elif args.checkpoint is None:
        p.error("--checkpoint is required (or --quick)")
    for name in ("games", "max_steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def action_kind(actions: np.ndarray) -> np.ndarray:
    """0 move (actions 0-3), 1 siphon (4), 2 program (5-27)."""
    return np.where(actions < 4, 0, np.where(actions == 4, 1, 2))


def gap_statistics(actions: np.ndarray, best: np.ndarray, regret: np.ndarray,
                   stage: np.ndarray, hidden: np.ndarray | None = None) -> dict[str, Any]:
    """Figures of live decisions: actions (D,) int, best (D, 28) bool (the teacher's best
    set), regret (D,) float, stage (D,) int, and optionally hidden (D, 2) bool (the board
    holds a Cryptog the observation hides; an unrevealed question block)."""
    n = len(actions)
    agree = best[np.arange(n), actions]
    wants = np.stack([best[:, :4].any(1), best[:, 4], best[:, 5:].any(1)], axis=1)
    kind = action_kind(actions)
    out: dict[str, Any] = {"decisions": int(n), "agreement": float(agree.mean()) if n else None}
    for k, name in enumerate(KINDS):
        only = wants[:, k] & (wants.sum(1) == 1)
        out[f"teacher_only_{name}_frac"] = float(only.mean()) if n else None
        out[f"teacher_only_{name}_agreement"] = float(agree[only].mean()) if only.any() else None
        for j, other in enumerate(KINDS):
            share = float((kind[only] == j).mean()) if only.any() else None
            out[f"teacher_only_{name}_policy_{other}_frac"] = share
    mixed = wants.sum(1) > 1
    out["teacher_mixed_frac"] = float(mixed.mean()) if n else None
    miss = ~agree
    out["disagreements"] = int(miss.sum())
    for j, name in enumerate(KINDS):
        out[f"disagreement_policy_{name}_frac"] = float((kind[miss] == j).mean()) if miss.any() else None
    quantiles = np.quantile(regret[miss], [0.25, 0.5, 0.75, 0.9]) if miss.any() else [None] * 4
    for q, value in zip((25, 50, 75, 90), quantiles):
        out[f"disagreement_regret_p{q}"] = None if value is None else float(value)
    for t in REGRET_THRESHOLDS:
        out[f"regret_above_{t:g}_frac"] = float((regret > t).mean()) if n else None
    if hidden is not None:
        for k, name in enumerate(HIDDEN):
            for flag, label in ((True, "with"), (False, "without")):
                at = hidden[:, k] == flag
                out[f"{label}_{name}_frac"] = float(at.mean()) if n else None
                out[f"{label}_{name}_agreement"] = float(agree[at].mean()) if at.any() else None
    for s in range(1, 9):
        at = stage == s
        out[f"stage_{s}_decisions"] = int(at.sum())
        out[f"stage_{s}_agreement"] = float(agree[at].mean()) if at.any() else None
    return out


def make_play(network: Any, games: int, max_steps: int, sampled: bool):
    import jax
    import jax.numpy as jnp

    from hackmatrix.application import distribution
    from hackmatrix.application.scripted_policy import batched_best_actions, regret
    from hackmatrix.domain import env
    from hackmatrix.domain.constants import BlockKind
    from hackmatrix.domain.observation import enemy_visible

    def hidden_information(state):
        """(2,) bool: a live enemy the observation hides (a Cryptog out of sight), an
        unsiphoned question block (its contents are hidden)."""
        en = state.enemies
        hidden_enemy = en.alive & (en.hp > 0) & ~enemy_visible(state)
        question = (state.board.block_kind == BlockKind.QUESTION) & ~state.board.siphoned
        return jnp.stack([hidden_enemy.any(), question.any()])

    @jax.jit
    def play(params, key):
        k_reset, k_run = jax.random.split(key)
        states, _ = jax.vmap(env.reset)(jax.random.split(k_reset, games))

        def turn(carry, k):
            states, alive = carry
            k_act, k_step = jax.random.split(k)
            mask = jax.vmap(env.valid_actions)(states)
            logits, _ = network.apply(params, jax.vmap(env.flat_observation)(states))
            actions = (distribution.sample(k_act, logits, mask) if sampled
                       else distribution.greedy(logits, mask))
            best = batched_best_actions(states)
            lost = jax.vmap(regret)(states, actions)
            hidden = jax.vmap(hidden_information)(states)
            states, _, _, done, _ = env.batched_step(states, actions, jax.random.split(k_step, games))
            return (states, alive & ~done), (actions, best, lost, carry[0].stage, hidden, alive)

        _, record = jax.lax.scan(turn, (states, jnp.ones(games, bool)), jax.random.split(k_run, max_steps))
        return record

    return play


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax

    from hackmatrix.application.network import init_params, make_network, network_for

    benchlib.setup_jax()
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    if args.quick:
        network = make_network("ego", 16, 1)
        params = init_params(network, jax.random.PRNGKey(0))
        origin = "untrained ego (16 x 1)"
    else:
        from hackmatrix.application.checkpointing import policy_from_checkpoint
        from hackmatrix.containers import find_checkpoint, load_checkpoint

        try:
            origin = find_checkpoint(args.checkpoint)
            payload, metadata = load_checkpoint(origin)
            config, params = policy_from_checkpoint(payload, metadata, origin)
        except (ValueError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from error
        network = network_for(config)
    play = make_play(network, args.games, args.max_steps, args.sampled)
    seconds, record = benchlib.timed(lambda: jax.device_get(play(params, jax.random.PRNGKey(args.seed))))
    actions, best, lost, stage, hidden, alive = (np.asarray(x) for x in record)
    live = alive.reshape(-1)
    stats = gap_statistics(actions.reshape(-1)[live], best.reshape(-1, best.shape[-1])[live],
                           lost.reshape(-1)[live], stage.reshape(-1)[live], hidden.reshape(-1, 2)[live])
    stats["run_s"] = seconds

    mode = "sampled" if args.sampled else "greedy"
    print(f"{origin}: {args.games} {mode} games, seed {args.seed}, cap {args.max_steps} steps; "
          f"{stats['decisions']} decisions, agreement with the teacher {stats['agreement']:.3f}")
    rows = []
    for name in KINDS:
        rows.append([f"only {name}", stats[f"teacher_only_{name}_frac"], stats[f"teacher_only_{name}_agreement"],
                     *[stats[f"teacher_only_{name}_policy_{k}_frac"] for k in KINDS]])
    print(benchlib.format_table(["teacher wants", "share", "agreement", *[f"policy {k}" for k in KINDS]], rows))
    print("disagreements: regret p25/p50/p75/p90 = " + " / ".join(
        f"{stats[f'disagreement_regret_p{q}']:.2f}" if stats[f"disagreement_regret_p{q}"] is not None else "-"
        for q in (25, 50, 75, 90)) + "; decisions with regret above " + ", ".join(
        f"{t:g}: {stats[f'regret_above_{t:g}_frac']:.3f}" for t in REGRET_THRESHOLDS))
    print("agreement with / without hidden information on the board: " + "; ".join(
        f"{name.replace('_', ' ')}: {stats[f'with_{name}_agreement'] or 0:.3f} ({stats[f'with_{name}_frac']:.2f} "
        f"of decisions) / {stats[f'without_{name}_agreement'] or 0:.3f}" for name in HIDDEN))
    print("agreement by stage: " + ", ".join(
        f"{s}: {stats[f'stage_{s}_agreement']:.3f} ({stats[f'stage_{s}_decisions']})"
        for s in range(1, 9) if stats[f"stage_{s}_decisions"]))
    better = {k: "info" for k in stats}
    better["agreement"] = "higher"
    return benchlib.emit_result("teacher_gap", {**vars(args), "origin": str(origin)}, machine, [stats],
                                {k: benchlib.clean(v) for k, v in stats.items() if isinstance(v, (int, float))},
                                better)


if __name__ == "__main__":
    main()
