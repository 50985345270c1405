"""evaluate and watch CLIs on a tiny checkpoint (the session's training run, saved as msgpack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore
from hackmatrix.application import evaluate, watch
from hackmatrix.application.evaluation import END_NAMES
from hackmatrix.application.use_cases import evaluate_random_policy
from hackmatrix.domain.constants import REWARD_KEYS

SCENARIO = Path(__file__).parent / "data" / "watch_scenario.json"
# Same episodes/cap/seed as test_evaluation.py: the compiled episode runner is shared.
EVAL = ["--episodes", "6", "--max-steps", "200", "--seed", "3"]


@pytest.fixture(scope="module")
def checkpoint(training_run, tmp_path_factory):
    _, _, fake_store = training_run
    step, payload, metadata = fake_store.saved[-1]
    return MsgpackCheckpointStore(tmp_path_factory.mktemp("ckpt")).save(step, payload, metadata)


@pytest.fixture(scope="module")
def evaluated(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "eval.json"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = evaluate.main([checkpoint, *EVAL, "--greedy", "--json", str(out)])
    return code, buffer.getvalue(), json.loads(out.read_text())


def test_evaluate_prints_the_comparison_table(evaluated, checkpoint):
    code, text, _ = evaluated
    assert code == 0
    assert text.startswith(f"{checkpoint} (update 5, 640 env steps): 6 episodes, seed 3\n")
    for label in ("mean return", "std return", "mean episode length", "highest stage reached",
                  "win rate", "win rate: 95 % interval, low (Wilson)", "policy (greedy)", "random valid", "move fraction",
                  "siphon fraction", "program fraction"):
        assert label in text, label
    for key in REWARD_KEYS:
        assert f"reward/{key} per episode" in text, key


def test_evaluate_json_has_every_figure_for_the_policy_and_both_baselines(evaluated, training_run):
    _, _, results = evaluated
    assert (results["episodes"], results["seed"], results["policy_mode"]) == (6, 3, "greedy")
    for side in ("policy", "scripted", "random"):
        stats = results[side]
        # 8 summary figures and the win rate's interval, reach stage 2..8, 15 components,
        # 3 action shares, siphons per game, 7 ways a game ends + siphon-caused deaths,
        # 23 programs' uses per game.
        assert len(stats) == 8 + 2 + 7 + 15 + 3 + 1 + 7 + 1 + 23
        assert stats["win_rate_low"] <= stats["win_rate"] <= stats["win_rate_high"]
        assert sum(stats[f"ends/{name}"] for name in END_NAMES) == pytest.approx(1.0)
        assert stats["num_episodes"] == 6.0
        fractions = [stats[f"actions/{k}_frac"] for k in ("move", "siphon", "program")]
        assert sum(fractions) == pytest.approx(1.0)
        components = sum(stats[f"reward/{k}"] for k in REWARD_KEYS)
        assert components == pytest.approx(stats["mean_return"], rel=1e-4, abs=1e-4)
        assert stats["reward/step_penalty"] == pytest.approx(-0.01 * stats["mean_length"])
    # The baseline is the library's random policy on the same games.
    result, _, _ = training_run
    random = evaluate_random_policy(result.config, num_episodes=6, seed=3, max_steps=200)
    assert results["random"]["mean_return"] == random["mean_return"]


def test_evaluate_bad_input_exits_2_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.msgpack"
    bad.write_bytes(b"\x00\x01garbage")
    assert evaluate.main([str(bad)]) == 2
    assert f"checkpoint '{bad}' is" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(bad), "--episodes", "0"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (  # one line, no usage block
        "python -m hackmatrix.application.evaluate: error: "
        "argument --episodes: must be an integer >= 1, got '0'\n"
    )


@pytest.fixture(scope="module")
def watched(checkpoint, tmp_path_factory):
    import contextlib
    import io

    folder = tmp_path_factory.mktemp("watch")
    record, page = folder / "frames.txt", folder / "replay.html"
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = watch.main([checkpoint, "--scenario", str(SCENARIO), "--max-steps", "3",
                           "--greedy", "--record", str(record), "--html", str(page)])
    return code, buffer.getvalue(), record.read_text(), page


def test_watch_renders_the_scenario_then_every_step(watched):
    code, text, _, _ = watched
    assert code == 0
    assert text.startswith("=== start ===\n")
    assert " 0 |@       |" in text and "|EXIT    |" in text and "|D3!     |" in text
    assert "HP 2/3 | credits 5 | energy 3 | siphons 1 | attack 2 | score 7 | stage 2 | turn 4" in text
    steps = [line for line in text.splitlines() if line.startswith("=== step")]
    actions = [line for line in text.splitlines() if line.startswith("action: ")]
    rewards = [line for line in text.splitlines() if line.startswith("reward ")]
    episode_over = "episode over" in text
    assert 1 <= len(steps) <= 3 and len(actions) == len(rewards) == len(steps)
    assert all(" (p=" in line for line in actions)
    assert all("step_penalty -0.010" in line for line in rewards)
    assert episode_over or "stopped after --max-steps 3 steps" in text
    assert "\x1b[" not in text  # not a terminal: frames follow each other, no clearing
    summary = [line for line in text.splitlines() if line.startswith("game over: ")][-1]
    assert summary.startswith("game over: return ") and ", highest stage " in summary
    ended = summary.split("ended: ")[1]
    assert ended in [n.replace("_", " ") for n in END_NAMES] + ["still running at --max-steps 3"]


def test_evaluate_and_watch_take_a_run_folder_and_latest_like_resume(checkpoint, tmp_path,
                                                                     monkeypatch, capsys):
    run = tmp_path / "runs" / "20260101-000000"
    (run / "checkpoints").mkdir(parents=True)
    copy = run / "checkpoints" / Path(checkpoint).name
    copy.write_bytes(Path(checkpoint).read_bytes())
    monkeypatch.chdir(tmp_path)
    cache = ["--compilation-cache-dir", "none"]  # accepted; "none" leaves this process's cache alone
    assert watch.main([str(run), "--scenario", str(SCENARIO), "--max-steps", "1", *cache]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("=== start ===") and "compiling the policy and the game" in err
    assert evaluate.main(["latest", *EVAL, "--greedy", *cache]) == 0
    assert capsys.readouterr().out.startswith(
        f"{copy.relative_to(tmp_path)} (update 5, 640 env steps)")
    assert evaluate.main([str(tmp_path / "nothing-here"), *cache]) == 2
    assert capsys.readouterr().err == (
        "python -m hackmatrix.application.evaluate: error: "
        f"CHECKPOINT '{tmp_path / 'nothing-here'}': no such checkpoint file or folder\n")


def test_watch_redraws_in_place_on_a_terminal(checkpoint):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    args = watch.build_parser().parse_args([checkpoint, "--scenario", str(SCENARIO),
                                            "--max-steps", "2", "--greedy"])
    from hackmatrix.containers import load_checkpoint

    screen = Terminal()
    assert watch.run(*load_checkpoint(checkpoint), checkpoint, args, out=screen) == 0
    frames = screen.getvalue().split(watch.CLEAR_SCREEN)
    assert frames[0] == "" and frames[1].startswith("=== start ===")
    assert [line for line in frames[-1].splitlines() if line][-1].startswith("game over: return ")


def test_watch_record_holds_the_printed_frames(watched):
    _, text, recorded, _ = watched
    assert recorded.startswith("=== start ===")
    assert recorded.count("=== step") == text.count("=== step")
    assert recorded.splitlines()[:24] == text.splitlines()[:24]


def test_watch_html_is_the_same_game_as_the_printed_frames(watched, checkpoint):
    from tests.application.test_html_replay import blob

    _, text, _, page = watched
    html = page.read_text(encoding="utf-8")
    assert sorted(p.name for p in page.parent.iterdir()) == ["frames.txt", "replay.html"]
    frames = blob(html)["steps"]
    assert len(frames) == text.count("=== start") + text.count("=== step")
    assert f"wrote the replay ({len(frames)} frames) to {page}" in text
    for frame in frames:  # each board and stats block as printed
        assert frame["board"] + "\n" + frame["stats"] in text
    actions = [line.split()[1] for line in text.splitlines() if line.startswith("action: ")]
    assert [f["action"] for f in frames] == [None, *actions]
    assert frames[1]["probability"] is not None and frames[0]["stage"] == 2
    assert "seed 0, greedy actions, scenario" in html and Path(checkpoint).name in html


@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
def test_watch_html_to_an_unwritable_place_exits_2_before_playing(checkpoint, tmp_path, capsys,
                                                                  where):
    target = tmp_path / "nope" / "r.html" if where == "missing-folder" else tmp_path
    assert watch.main([checkpoint, "--max-steps", "1", "--html", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # not a single frame
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"python -m hackmatrix.application.watch: error: --html '{target}'")
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_watch_bad_scenario_exits_2_naming_the_file(checkpoint, tmp_path, capsys):
    bad = tmp_path / "s.json"
    bad.write_text('{"player": {"row": 9, "col": 0}}')
    assert watch.main([checkpoint, "--scenario", str(bad)]) == 2
    assert f"scenario '{bad}':" in capsys.readouterr().err


def _huge_credits() -> str:
    data = json.loads(SCENARIO.read_text())
    data["player"]["credits"] = 2**40  # beyond int32
    return json.dumps(data)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json at all", "scenario '{path}':"),
        ("[1, 2]", "scenario '{path}':"),
        (b"\xff\xfe{}", "scenario '{path}': not UTF-8 text (byte 0: "),
        ("[" * 100_000 + "]" * 100_000, "scenario '{path}':"),
        (None, "cannot read scenario '{path}'"),  # a folder
        (_huge_credits(), "scenario '{path}':"),
    ],
    ids=["text", "json-list", "not-utf8", "deep-nesting", "folder", "int-beyond-int32"],
)
def test_watch_bad_scenario_files_give_one_line_and_exit_2(checkpoint, tmp_path, capsys, content, fragment):
    path = tmp_path / "s.json"
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert watch.main([checkpoint, "--scenario", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # not a single frame
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("python -m hackmatrix.application.watch: error: ")
    assert fragment.format(path=path) in lines[0]
