"""``python -m hackmatrix.application.watch CHECKPOINT``: watch a trained agent play.

Plays one episode with the checkpoint's policy (sampled, or ``--greedy``) and prints
every step as plain text (no terminal needed): the board, the player's stats and
programs, the action with its probability and the step's non-zero reward
components (see ``hackmatrix.application.render`` for the symbols). ``--delay``
pauses between frames for live viewing, ``--record FILE`` also writes the frames to
a text file, ``--scenario FILE.json`` starts from a scenario (format:
``docs/rules.md`` Part I §9.1) instead of a generated game. On a terminal each
frame replaces the last (ANSI clear); piped or recorded, frames follow each other.
The last line sums the game up: total return, length, highest stage and how it ended.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hackmatrix.application import distribution
from hackmatrix.application.checkpointing import policy_from_checkpoint
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.errors import ArgumentParser, add_compilation_cache_option, report
from hackmatrix.application.evaluation import end_name
from hackmatrix.application.network import make_network
from hackmatrix.application.render import render_frame
from hackmatrix.application.scenario_file import load_scenario_state
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import REWARD_KEYS
from hackmatrix.domain.state import EnvParams

PROG = "python -m hackmatrix.application.watch"
DEFAULT_MAX_STEPS = 500
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, erase the screen
# Measured on the 2-core CPU at load average 15: 76 s from an empty compilation cache,
# 22 s the second time (both with Python's start-up).
COMPILE_NOTICE = ("compiling the policy and the game (about a minute on a busy 2-core CPU the "
                  "first time; the compilation cache makes the next start several times faster) ...")


@partial(jax.jit, static_argnums=(0,))
def _policy(network: nn.Module, params: Any, state: Any, key: jax.Array, greedy: jax.Array):
    obs = engine.flat_observation(state)
    mask = engine.valid_actions(state)
    logits, _ = network.apply(params, obs)
    log_probs = distribution.log_probs(logits, mask)
    action = jnp.where(greedy, distribution.greedy(logits, mask), distribution.sample(key, logits, mask))
    return action, jnp.exp(log_probs[action])


@partial(jax.jit, static_argnums=(1,))
def _reset(key: jax.Array, params: EnvParams) -> Any:
    # Jitted: run op by op, a reset took ~25 s on a busy 2-core CPU, every start.
    return engine.reset(key, params)[0]


@partial(jax.jit, static_argnums=(3,))
def _step(state: Any, action: jax.Array, key: jax.Array, params: EnvParams):
    state, _, reward, done, breakdown = engine.step(state, action, key, params)
    return state, reward, done, breakdown


def play(
    params: Any, config: TrainConfig, *, seed: int = 0, greedy: bool = False,
    start: Any = None, max_steps: int = DEFAULT_MAX_STEPS,
) -> Iterator[str]:
    """Yield the frames of one episode: the start, then one per step, then the summary
    (``summary_line``)."""
    env_params = EnvParams(undo_depth=config.undo_depth,
                           clear_undo_on_new_stage=config.clear_undo_on_new_stage)
    network = make_network(config.network, config.hidden_dim, config.num_layers)
    key = jax.random.PRNGKey(seed)
    key, k_reset = jax.random.split(key)
    state = _reset(k_reset, env_params) if start is None else start
    yield render_frame(state)
    total, stage = 0.0, int(state.stage)
    for t in range(1, max_steps + 1):
        key, k_act, k_env = jax.random.split(key, 3)
        action, prob = _policy(network, params, state, k_act, jnp.bool_(greedy))
        state, reward, done, breakdown = _step(state, action, k_env, env_params)
        host = jax.device_get((action, prob, reward, done, breakdown))
        action_i, prob_f, reward_f, done_b, parts = host
        total, stage = total + float(reward_f), max(stage, int(state.stage))
        yield render_frame(
            state, step=t, action=int(action_i), probability=float(prob_f),
            reward=float(reward_f), breakdown={k: float(parts[k]) for k in REWARD_KEYS},
            done=bool(done_b),
        )
        if bool(done_b):
            won = float(parts["victory"]) > 0
            yield summary_line(total, t, stage, end_name(state, won).replace("_", " "))
            return
    yield f"stopped after --max-steps {max_steps} steps\n"
    yield summary_line(total, max_steps, stage, f"still running at --max-steps {max_steps}")


def summary_line(total: float, length: int, stage: int, end: str) -> str:
    """``game over: return +1.234 in 57 steps, highest stage 3, ended: killed by daemon``."""
    return (f"game over: return {total:+.3f} in {length} steps, highest stage {stage}, "
            f"ended: {end}\n")


def _nonnegative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {text!r}")
        return value

    return parse


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1],
                                     allow_abbrev=False)
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="checkpoint file (ckpt-*.msgpack), a run or checkpoint folder (its "
                        "newest checkpoint), or 'latest' (the newest under runs/)")
    parser.add_argument("--seed", type=_int_at_least(0), default=0,
                        help="seed of the game and of the sampled actions (default: 0)")
    parser.add_argument("--delay", type=_nonnegative, default=0.0, metavar="SEC",
                        help="pause after each frame (default: 0)")
    parser.add_argument("--record", metavar="FILE", help="also write the frames to FILE")
    parser.add_argument("--scenario", metavar="FILE.json", help="start from this scenario")
    parser.add_argument("--greedy", action="store_true",
                        help="take the most probable valid action instead of sampling")
    parser.add_argument("--max-steps", type=_int_at_least(1), default=DEFAULT_MAX_STEPS,
                        help=f"stop after this many steps (default: {DEFAULT_MAX_STEPS})")
    add_compilation_cache_option(parser)
    return parser


def load_scenario(path: str, config: TrainConfig) -> Any:
    """The start state of a scenario JSON file (ValueError naming the file on problems)."""
    return load_scenario_state(path, EnvParams(undo_depth=config.undo_depth,
                                               clear_undo_on_new_stage=config.clear_undo_on_new_stage))


def run(payload: Mapping[str, Any], metadata: Mapping[str, Any], origin: str,
        args: argparse.Namespace, out: Any = None) -> int:
    out = sys.stdout if out is None else out
    config, params = policy_from_checkpoint(payload, metadata, origin)
    start = load_scenario(args.scenario, config) if args.scenario else None
    print(COMPILE_NOTICE, file=sys.stderr, flush=True)
    redraw = out.isatty()
    frames = []
    for frame in play(params, config, seed=args.seed, greedy=args.greedy, start=start,
                      max_steps=args.max_steps):
        is_frame = frame.startswith("===")
        out.write((CLEAR_SCREEN if redraw and is_frame else "") + frame + "\n")
        out.flush()
        frames.append(frame)
        if args.delay:
            time.sleep(args.delay)
    if args.record:
        Path(args.record).write_text("\n".join(frames), encoding="utf-8")
        out.write(f"recorded {len(frames)} frames to {args.record}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from hackmatrix.containers import default_jax_runtime, find_checkpoint, load_checkpoint

    args = build_parser().parse_args(argv)
    default_jax_runtime(args.compilation_cache_dir)
    try:
        path = find_checkpoint(args.checkpoint)
        payload, metadata = load_checkpoint(path)
        return run(payload, metadata, path, args)
    except (ValueError, OSError) as error:  # bad checkpoint/scenario, unwritable output
        return report(PROG, error)


if __name__ == "__main__":
    raise SystemExit(main())
