"""``python -m hackmatrix.application.watch CHECKPOINT``: watch a trained agent play.

Plays one episode with the checkpoint's policy (sampled, or ``--greedy``) and prints
every step as plain text (no terminal needed): the board, the player's stats and
programs, the action with its probability and the step's non-zero reward
components (see ``hackmatrix.application.render`` for the symbols). ``--delay``
pauses between frames for live viewing, ``--record FILE`` also writes the frames to
a text file, ``--html FILE`` writes the game as one self-contained web page (a slider
and play/pause over the boards, the action, its probability and the reward breakdown
per step; see ``hackmatrix.application.html_replay``), ``--scenario FILE.json`` starts
from a scenario (format: ``docs/rules.md`` Part I §9.1) instead of a generated game.
On a terminal each frame replaces the last (ANSI clear); piped or recorded, frames
follow each other. The last line sums the game up: total return, length, highest
stage and how it ended.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jax

from hackmatrix.application.checkpointing import policy_from_checkpoint
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.errors import (
    ArgumentParser, add_compilation_cache_option, int_at_least, report,
)
from hackmatrix.application.evaluation import end_name
from hackmatrix.application.html_replay import ReplayStep, render_html, write_html
from hackmatrix.application.network import network_for
from hackmatrix.application.ppo import make_env
from hackmatrix.application.render import render_frame
from hackmatrix.application.replay import Move, moves, replay_step
from hackmatrix.application.scenario_file import load_scenario_state
from hackmatrix.domain import env as engine
from hackmatrix.domain.state import EnvParams

if TYPE_CHECKING:  # imported where used: gymnax starts JAX's backend at import
    from hackmatrix.application.gymnax_env import HackMatrixGymnax

PROG = "python -m hackmatrix.application.watch"
DEFAULT_MAX_STEPS = 500
CLEAR_SCREEN = "\x1b[H\x1b[2J"  # cursor home, erase the screen
# Measured on the 2-core CPU at load average 15: 76 s from an empty compilation cache,
# 22 s the second time (both with Python's start-up).
COMPILE_NOTICE = ("compiling the policy and the game (about a minute on a busy 2-core CPU the "
                  "first time; the compilation cache makes the next start several times faster) ...")


@partial(jax.jit, static_argnums=(1,))
def _reset(key: jax.Array, env: HackMatrixGymnax) -> Any:
    # Jitted: run op by op, a reset took ~25 s on a busy 2-core CPU, every start.
    return engine.reset(key, env.default_params.game)[0]


def episode(
    params: Any, config: TrainConfig, *, seed: int = 0, greedy: bool = False,
    start: Any = None, max_steps: int = DEFAULT_MAX_STEPS,
) -> Iterator[tuple[Any, Move | None]]:
    """The states of one episode: ``(start, None)``, then ``(state, move)`` per step."""
    env = make_env(config)
    network = network_for(config)
    key = jax.random.PRNGKey(seed)
    key, k_reset = jax.random.split(key)
    state = _reset(k_reset, env) if start is None else start
    return moves(network, params, env, state, key, greedy=greedy, max_steps=max_steps)


def frame_text(state: Any, move: Move | None) -> str:
    """``watch``'s text frame of a state (after ``move``; the start when None)."""
    if move is None:
        return render_frame(state)
    return render_frame(state, step=move.step, action=move.action, probability=move.probability,
                        reward=move.reward, breakdown=move.breakdown, done=move.done)


def play(
    params: Any, config: TrainConfig, *, seed: int = 0, greedy: bool = False,
    start: Any = None, max_steps: int = DEFAULT_MAX_STEPS,
) -> Iterator[str]:
    """Yield the frames of one episode: the start, then one per step, then the summary
    (``summary_line``)."""
    summary = Summary()
    for state, move in episode(params, config, seed=seed, greedy=greedy, start=start,
                               max_steps=max_steps):
        summary.add(state, move)
        yield frame_text(state, move)
    yield from summary.closing_lines(max_steps)


class Summary:
    """Return, length and highest stage of the game so far, and how it ended."""

    def __init__(self) -> None:
        self.total, self.length, self.stage = 0.0, 0, 0
        self.end: str | None = None

    def add(self, state: Any, move: Move | None) -> None:
        self.stage = max(self.stage, int(state.stage))
        if move is None:
            return
        self.total += move.reward
        self.length = move.step
        if move.done:
            self.end = end_name(state, move.breakdown["victory"] > 0).replace("_", " ")

    def closing_lines(self, max_steps: int) -> list[str]:
        if self.end is not None:
            return [summary_line(self.total, self.length, self.stage, self.end)]
        return [f"stopped after --max-steps {max_steps} steps\n",
                summary_line(self.total, self.length, self.stage,
                             f"still running at --max-steps {max_steps}")]


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


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1],
                                     allow_abbrev=False)
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="checkpoint file (ckpt-*.msgpack), a run or checkpoint folder (its "
                        "newest checkpoint), or 'latest' (the newest under runs/)")
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="seed of the game and of the sampled actions (default: 0)")
    parser.add_argument("--delay", type=_nonnegative, default=0.0, metavar="SEC",
                        help="pause after each frame (default: 0)")
    parser.add_argument("--record", metavar="FILE", help="also write the frames to FILE")
    parser.add_argument("--html", metavar="FILE",
                        help="also write the game as one self-contained HTML page (slider, "
                             "play/pause, action, probability and reward breakdown per step)")
    parser.add_argument("--scenario", metavar="FILE.json", help="start from this scenario")
    parser.add_argument("--greedy", action="store_true",
                        help="take the most probable valid action instead of sampling")
    parser.add_argument("--max-steps", type=int_at_least(1), default=DEFAULT_MAX_STEPS,
                        help=f"stop after this many steps (default: {DEFAULT_MAX_STEPS})")
    add_compilation_cache_option(parser)
    return parser


def load_scenario(path: str, config: TrainConfig) -> Any:
    """The start state of a scenario JSON file (ValueError naming the file on problems)."""
    return load_scenario_state(path, EnvParams(undo_depth=config.undo_depth,
                                               clear_undo_on_new_stage=config.clear_undo_on_new_stage))


def check_html_target(path: str) -> None:
    """Refuse, before the game is played, an ``--html`` file that cannot be written."""
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"--html {path!r} is a folder, not a file")
    if not target.parent.is_dir():
        raise ValueError(f"--html {path!r}: folder {str(target.parent)!r} does not exist")


def replay_title(origin: str, metadata: Mapping[str, Any], args: argparse.Namespace) -> str:
    """The replay page's subtitle: checkpoint, its update, seed, mode, scenario."""
    where = f"{origin} (update {metadata.get('update', '?')}, {metadata.get('env_steps', '?')} env steps)"
    mode = "greedy" if args.greedy else "sampled"
    start = f", scenario {args.scenario}" if args.scenario else ""
    return f"{where}, seed {args.seed}, {mode} actions{start}"


def run(payload: Mapping[str, Any], metadata: Mapping[str, Any], origin: str,
        args: argparse.Namespace, out: Any = None) -> int:
    out = sys.stdout if out is None else out
    config, params = policy_from_checkpoint(payload, metadata, origin)
    start = load_scenario(args.scenario, config) if args.scenario else None
    if args.html:
        check_html_target(args.html)
    print(COMPILE_NOTICE, file=sys.stderr, flush=True)
    redraw = out.isatty()
    frames: list[str] = []
    replay: list[ReplayStep] = []

    def show(frame: str, is_frame: bool = True) -> None:
        out.write((CLEAR_SCREEN if redraw and is_frame else "") + frame + "\n")
        out.flush()
        frames.append(frame)
        if args.delay:
            time.sleep(args.delay)

    summary = Summary()
    for state, move in episode(params, config, seed=args.seed, greedy=args.greedy, start=start,
                               max_steps=args.max_steps):
        summary.add(state, move)
        show(frame_text(state, move))
        if args.html:
            replay.append(replay_step(state, move))
    for line in summary.closing_lines(args.max_steps):
        show(line, is_frame=False)
    if args.record:
        Path(args.record).write_text("\n".join(frames), encoding="utf-8")
        out.write(f"recorded {len(frames)} frames to {args.record}\n")
    if args.html:
        page = render_html(replay, title=f"HackMatrix replay: {Path(origin).name}",
                           subtitle=replay_title(origin, metadata, args))
        write_html(args.html, page)
        out.write(f"wrote the replay ({len(replay)} frames) to {args.html}\n")
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
