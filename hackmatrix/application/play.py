"""``python -m hackmatrix.application.play``: play HackMatrix yourself in the terminal.

One key per action: the arrow keys move or attack (8/2/4/6 do the same), ``s``
siphons, one letter per program (``u`` is UNDO; ``?`` lists them all), ``q`` quits.
Every step shows the board as ``watch`` draws it (``hackmatrix.application.render``),
the step's reward and its non-zero components, and the keys that are valid now; a
key whose action is not valid now is refused (in the environment it would end the
game). ``--seed S`` picks the generated game, ``--scenario FILE.json`` starts from a
scenario instead (format: ``docs/rules.md`` Part I §9.1).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import sys
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import IO, Any

import jax
import numpy as np

from hackmatrix.application.errors import ArgumentParser, int_at_least, report
from hackmatrix.application.render import action_name, render_frame
from hackmatrix.application.scenario_file import load_scenario_state
from hackmatrix.domain import env as engine
from hackmatrix.domain.constants import NUM_STAGES, REWARD_KEYS
from hackmatrix.domain.programs import PROGRAM_NAMES
from hackmatrix.domain.state import EnvParams

PROG = "python -m hackmatrix.application.play"

# Keys are read as these names: the arrows' escape sequences (normal and application
# cursor mode) become UP/DOWN/LEFT/RIGHT, every other key is its character.
ESCAPES = {
    "\x1b[A": "UP", "\x1b[B": "DOWN", "\x1b[C": "RIGHT", "\x1b[D": "LEFT",
    "\x1bOA": "UP", "\x1bOB": "DOWN", "\x1bOC": "RIGHT", "\x1bOD": "LEFT",
}
DIRECTION_KEYS = {"UP": 0, "DOWN": 1, "LEFT": 2, "RIGHT": 3, "8": 0, "2": 1, "4": 2, "6": 3}
ARROWS = {0: "up", 1: "down", 2: "left", 3: "right"}
SIPHON_KEY = "s"
# One letter per program, mnemonic where the name allows (u = UNDO, as asked for).
PROGRAM_KEYS = {
    "PUSH": "p", "PULL": "l", "CRASH": "c", "WARP": "w", "POLY": "y", "WAIT": "t",
    "DEBUG": "d", "ROW": "r", "COL": "o", "UNDO": "u", "STEP": "e", "SIPH+": "i",
    "EXCH": "x", "SHOW": "v", "RESET": "h", "CALM": "m", "D_BOM": "b", "DELAY": "z",
    "ANTI-V": "a", "SCORE": "g", "REDUC": "n", "ATK+": "f", "HACK": "k",
}
QUIT_KEY, HELP_KEY = "q", "?"
END_OF_INPUT = "\x04"  # Ctrl-D: a terminal in cbreak mode delivers it as a key
KEY_ACTIONS: dict[str, int] = {
    **DIRECTION_KEYS,
    SIPHON_KEY: 4,
    **{key: 5 + PROGRAM_NAMES.index(name) for name, key in PROGRAM_KEYS.items()},
}
ACTION_KEYS: dict[int, str] = {5 + PROGRAM_NAMES.index(name): key for name, key in PROGRAM_KEYS.items()}
ACTION_KEYS[4] = SIPHON_KEY
assert len(set(PROGRAM_KEYS.values())) == len(PROGRAM_NAMES) == len(PROGRAM_KEYS)
assert not set(KEY_ACTIONS) & {QUIT_KEY, HELP_KEY}

KeyReader = Callable[[], "str | None"]  # the next key's name, None at the end of input


def keys_help() -> str:
    """The whole key table (``?``)."""
    programs = [f"{key} {name}" for name, key in PROGRAM_KEYS.items()]
    rows = [", ".join(programs[i:i + 8]) for i in range(0, len(programs), 8)]
    return "\n".join([
        "keys: arrows (or 8/2/4/6) move or attack up/down/left/right | s siphon | q quit | ? keys",
        "programs: " + rows[0],
        *("          " + row for row in rows[1:]),
    ])


def valid_keys(mask: np.ndarray) -> str:
    """The keys of the valid actions: ``valid now: up right (arrows) | s SIPHON | t WAIT``."""
    parts = []
    moves = [ARROWS[a] for a in range(4) if mask[a]]
    if moves:
        parts.append(" ".join(moves) + " (arrows)")
    parts.extend(f"{ACTION_KEYS[a]} {action_name(a)}" for a in range(4, len(mask)) if mask[a])
    return "valid now: " + (" | ".join(parts) if parts else "nothing (q quits)") + "   [? keys, q quit]"


@partial(jax.jit, static_argnums=(3,))
def _step(state: Any, action: jax.Array, key: jax.Array, params: EnvParams):
    state, _, reward, done, breakdown = engine.step(state, action, key, params)
    return state, reward, done, breakdown, engine.valid_actions(state)


_valid = jax.jit(engine.valid_actions)
_reset = jax.jit(engine.reset, static_argnums=(1,))


def session(state: Any, key: jax.Array, params: EnvParams, read_key: KeyReader, out: IO[str],
            *, clear: bool = False) -> int:
    """Play from ``state`` until the game ends, ``q`` or the end of input. Returns 0."""

    def show(text: str, *, new_screen: bool = False) -> None:
        out.write(("\x1b[H\x1b[2J" if clear and new_screen else "") + text + "\n")
        out.flush()

    mask = np.asarray(_valid(state))
    show(render_frame(state) + keys_help() + "\n" + valid_keys(mask), new_screen=True)
    steps, total = 0, 0.0
    while True:
        name = read_key()
        if name is None or name in (QUIT_KEY, END_OF_INPUT):
            show(f"quit after {steps} steps, return {total:+.3f}")
            return 0
        if name == HELP_KEY:
            show(keys_help())
            continue
        action = KEY_ACTIONS.get(name)
        if action is None:
            show(f"key {name!r} does nothing; ? lists the keys")
            continue
        if not mask[action]:
            show(f"{action_name(action)} is not valid now. " + valid_keys(mask))
            continue
        key, k_step = jax.random.split(key)
        state, reward, done, breakdown, mask = _step(state, np.int32(action), k_step, params)
        reward, done, breakdown, mask = jax.device_get((reward, done, breakdown, mask))
        steps += 1
        total += float(reward)
        frame = render_frame(state, step=steps, action=action, reward=float(reward),
                             breakdown={k: float(breakdown[k]) for k in REWARD_KEYS}, done=bool(done))
        if bool(done):
            outcome = "you died" if int(state.player.hp) == 0 else (
                "you won" if int(state.stage) == NUM_STAGES else "the game ended")
            show(frame + f"game over: {outcome} after {steps} steps, return {total:+.3f}", new_screen=True)
            return 0
        show(frame + valid_keys(mask), new_screen=True)


def _read_escape(read_byte: Callable[[], bytes], more: Callable[[], bool]) -> str:
    seq = b"\x1b"
    while len(seq) < 3 and more():
        byte = read_byte()
        if not byte:
            break
        seq += byte
    return ESCAPES.get(seq.decode("latin-1"), "ESC")


def fd_keys(fd: int) -> Iterator[str]:
    """Key names read from file descriptor ``fd`` (a terminal or a pipe); blanks skipped."""
    def read_byte() -> bytes:
        return os.read(fd, 1)

    def more() -> bool:  # the rest of an escape sequence arrives at once
        return bool(select.select([fd], [], [], 0.05)[0])

    while True:
        byte = read_byte()
        if not byte:
            return
        if byte == b"\x1b":
            yield _read_escape(read_byte, more)
        elif byte in (b"\n", b"\r", b" ", b"\t"):
            continue
        else:
            yield byte.decode("latin-1")


@contextlib.contextmanager
def key_mode(fd: int) -> Iterator[None]:
    """A terminal delivers each key at once, unechoed (cbreak); a pipe is left alone."""
    if not os.isatty(fd):
        yield
        return
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)



def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[1], allow_abbrev=False)
    parser.add_argument("--seed", type=int_at_least(0), default=0,
                        help="seed of the generated game and of every random draw (default: 0)")
    parser.add_argument("--scenario", metavar="FILE.json", help="start from this scenario")
    parser.add_argument("--no-clear", action="store_true",
                        help="print frames one after another instead of redrawing the screen")
    return parser


def start(args: argparse.Namespace, params: EnvParams) -> tuple[Any, jax.Array]:
    """(first state, key of the game's draws): the scenario's, or a game from ``--seed``.
    A bad scenario file is a ValueError naming it."""
    key, k_reset = jax.random.split(jax.random.PRNGKey(args.seed))
    if args.scenario:
        return load_scenario_state(args.scenario, params), key
    return _reset(k_reset, params)[0], key


def main(argv: Sequence[str] | None = None, read_key: KeyReader | None = None,
         out: IO[str] | None = None) -> int:
    """The command; ``read_key``/``out`` replace the terminal (tests)."""
    from hackmatrix.containers import default_jax_runtime

    args = build_parser().parse_args(argv)
    default_jax_runtime()
    params = EnvParams()
    try:
        state, key = start(args, params)
    except ValueError as error:  # a bad scenario file
        return report(PROG, error)
    if read_key is not None:
        return session(state, key, params, read_key, out or sys.stdout)
    fd = sys.stdin.fileno()
    keys = fd_keys(fd)
    try:
        with key_mode(fd):
            return session(state, key, params, lambda: next(keys, None), sys.stdout,
                           clear=sys.stdout.isatty() and not args.no_clear)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
