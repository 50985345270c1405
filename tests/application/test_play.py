"""``play``: a person plays in the terminal. The loop is driven here with injected keys;
one test runs the real command in a pseudo-terminal (arrow key escape sequences,
cbreak mode, the screen redraw)."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from hackmatrix.application import play
from hackmatrix.domain.programs import PROGRAM_NAMES
from hackmatrix.domain.scenario import build
from hackmatrix.domain.state import EnvParams

ROOT = Path(__file__).resolve().parents[2]
PARAMS = EnvParams()
CORNER = {"player": {"row": 0, "col": 0, "energy": 5}, "owned_programs": ["WAIT"]}
DOOMED = {"player": {"row": 3, "col": 3, "hp": 1, "energy": 1}, "owned_programs": ["WAIT"],
          "enemies": [{"type": "daemon", "row": 3, "col": 4, "hp": 3}]}


def _keys(*names):
    """A key reader over ``names`` that fails if the loop asks for more."""
    it = iter(names)

    def read():
        try:
            return next(it)
        except StopIteration:
            raise AssertionError("the session read past the last key") from None

    return read


def _session(scenario, *names):
    out = io.StringIO()
    code = play.session(build(scenario, PARAMS), jax.random.PRNGKey(0), PARAMS, _keys(*names), out)
    return code, out.getvalue()


def test_every_program_has_its_own_key_and_the_help_lists_them():
    assert sorted(play.PROGRAM_KEYS) == sorted(PROGRAM_NAMES)
    assert play.PROGRAM_KEYS["UNDO"] == "u"
    assert {play.SIPHON_KEY, play.QUIT_KEY, play.HELP_KEY}.isdisjoint(play.PROGRAM_KEYS.values())
    text = play.keys_help()
    assert all(f"{key} {name}" in text for name, key in play.PROGRAM_KEYS.items())


def test_valid_keys_names_the_arrows_and_the_program_letters():
    mask = np.zeros(28, bool)
    mask[[0, 3, 4, 10]] = True
    assert play.valid_keys(mask).startswith("valid now: up right (arrows) | s SIPHON | t WAIT")


def test_a_session_shows_the_board_the_valid_keys_and_each_steps_reward():
    code, text = _session(CORNER, "?", "x", "s", "j", "UP", "t", "q")
    assert code == 0
    assert text.startswith("=== start ===") and "legend:" in text
    assert "valid now: up right (arrows) | t WAIT" in text  # M1 plus the owned WAIT
    assert "programs: p PUSH" in text  # the help of "?"
    assert "EXCH is not valid now" in text and "SIPHON is not valid now" in text
    assert "key 'j' does nothing" in text
    # Up: the step, its reward and the non-zero components (closer to the exit at (5,5)).
    assert "=== step 1 ===\naction: UP [0]\nreward +0.040: step_penalty -0.010, distance_shaping +0.050" in text
    assert "=== step 2 ===\naction: WAIT [10]\nreward -0.060: step_penalty -0.010, resource_gain -0.050" in text
    assert text.rstrip().endswith("quit after 2 steps, return -0.020")


def test_the_game_ends_when_the_player_dies():
    code, text = _session(DOOMED, "t")  # the daemon next to the player hits for the last HP
    assert code == 0
    assert "damage_penalty -1.000" in text and "episode over" in text
    assert text.rstrip().endswith("game over: you died after 1 steps, return -1.060")


def test_the_end_of_input_quits():
    assert _session(CORNER, None)[1].rstrip().endswith("quit after 0 steps, return +0.000")


def test_keys_are_read_from_a_pipe_with_the_arrow_escape_sequences():
    read, write = os.pipe()
    os.write(write, b"\x1b[Aq\n8 s\x1bOD\x1b[B")
    os.close(write)
    try:
        assert list(play.fd_keys(read)) == ["UP", "q", "8", "s", "LEFT", "DOWN"]
    finally:
        os.close(read)


def test_a_bad_scenario_file_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"player": {"row": 9, "col": 0}}))
    assert play.main(["--scenario", str(bad)], read_key=_keys()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"python -m hackmatrix.application.play: error: scenario '{bad}':")


def test_a_bad_flag_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        play.main(["--seed", "-1"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        "python -m hackmatrix.application.play: error: argument --seed: must be an integer >= 0, got '-1'\n")


def _read_until(fd, needle: bytes, seen: bytearray, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {needle!r} within {timeout} s; got:\n{seen.decode(errors='replace')[-2000:]}")
        if select.select([fd], [], [], min(left, 1.0))[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"output ended before {needle!r}:\n{seen.decode(errors='replace')[-2000:]}")
            seen += chunk


def test_playing_in_a_pseudo_terminal_with_the_arrow_keys(tmp_path):
    scenario = tmp_path / "corner.json"
    scenario.write_text(json.dumps(CORNER))
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    child = subprocess.Popen(
        [sys.executable, "-m", "hackmatrix.application.play", "--scenario", str(scenario)],
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, close_fds=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"valid now: up right (arrows)", seen, timeout=240)  # compile included
        assert b"\x1b[H\x1b[2J" in seen  # a terminal gets the screen redrawn
        os.write(master, b"\x1b[A")  # the up arrow
        _read_until(master, b"action: UP [0]", seen, timeout=120)
        _read_until(master, b"distance_shaping +0.050", seen, timeout=10)
        os.write(master, b"q")
        _read_until(master, b"quit after 1 steps", seen, timeout=30)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
