"""The HTML replay page: data, escaping, structure, the atomic write, and the page in a
real headless browser (skipped where no Chromium is installed)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hackmatrix.application.html_replay import (
    ReplayStep,
    page_file_name,
    render_html,
    replay_data,
    write_html,
)
from hackmatrix.domain.constants import REWARD_KEYS
from tests.application.test_render import BOARD, STATS

HOSTILE = '</script><img src=x onerror="alert(1)">&amp;<!--'
VOID = {"meta", "input", "br", "img", "link", "hr", "area", "base", "col", "embed", "source",
        "track", "wbr", "param"}


def frames(count: int = 4, action: str = "RIGHT") -> list[ReplayStep]:
    steps = [ReplayStep(step=0, board=BOARD, stats=STATS, stage=2, hp=2, score=7)]
    for t in range(1, count):
        breakdown = dict.fromkeys(REWARD_KEYS, 0.0)
        breakdown["step_penalty"] = -0.01
        breakdown["kills"] = 0.3 * (t % 2)
        steps.append(ReplayStep(
            step=t, board=BOARD.replace("@", "@" if t % 2 else " ", 1), stats=STATS, stage=2,
            hp=2, score=7 + t, action=f"{action}{t}", action_id=3, probability=0.25 * t,
            reward=sum(breakdown.values()), breakdown=breakdown, done=t == count - 1,
        ))
    return steps


class _Page(HTMLParser):
    """Tags in order, ids, unclosed or stray tags, and the text of each script."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[str] = []
        self.ids: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        self.ids.update(value for name, value in attrs if name == "id" and value)
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def blob(page: str) -> dict:
    (data,) = [text for attrs, text in parse(page).scripts if attrs.get("id") == "replay-data"]
    return json.loads(data, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))


def test_the_page_carries_every_step_with_action_probability_and_breakdown():
    steps = frames(5)
    page = render_html(steps, title="replay", subtitle="seed 3")
    data = blob(page)
    assert data["reward_keys"] == list(REWARD_KEYS)
    assert [f["step"] for f in data["steps"]] == [0, 1, 2, 3, 4]
    assert [f["action"] for f in data["steps"]] == [None, "RIGHT1", "RIGHT2", "RIGHT3", "RIGHT4"]
    assert [f["probability"] for f in data["steps"]] == [None, 0.25, 0.5, 0.75, 1.0]
    first = data["steps"][1]
    assert dict(zip(data["reward_keys"], first["breakdown"], strict=True)) == steps[1].breakdown
    assert first["board"] == steps[1].board and first["stats"] == STATS
    assert (first["stage"], first["hp"], first["score"]) == (2, 2, 8)
    assert data["steps"][-1]["done"] and not data["steps"][1]["done"]
    assert [f["return"] for f in data["steps"]] == pytest.approx([0.0, 0.29, 0.28, 0.57, 0.56])
    # The first frame is on the page before any script runs.
    assert "@       |" in page and "HP 2/3 | credits 5" in page
    assert 'max="4"' in page and "seed 3" in page


def test_the_page_is_one_well_formed_document_with_the_controls_and_nothing_to_fetch():
    page = render_html(frames(3))
    parsed = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert not parsed.errors and not parsed.stack
    assert parsed.tags.count("html") == parsed.tags.count("body") == 1
    assert {"slider", "play", "prev", "next", "board", "action", "probability", "reward",
            "breakdown", "replay-data"} <= parsed.ids
    assert [attrs.get("type") for attrs, _ in parsed.scripts] == ["application/json", None]
    # Self-contained: no attribute loads anything, no stylesheet import.
    assert not [a for a in parsed.attrs if a[0] in ("src", "href")]
    assert "@import" not in page and "url(" not in page
    assert re.findall(r"https?://[^\s\"']+", page) == ["http://www.w3.org/2000/svg"]  # a name


def test_hostile_text_is_escaped_everywhere():
    steps = [ReplayStep(step=0, board=HOSTILE, stats=HOSTILE, stage=1, hp=3, score=0,
                        action=HOSTILE, action_id=1, probability=0.5, reward=0.0,
                        breakdown={HOSTILE: 1.0})]
    page = render_html(steps, title=HOSTILE, subtitle=HOSTILE)
    assert "<img" not in page and "alert(1)\">" not in page
    assert page.count("</script>") == 2  # the two closing tags, nothing in the data
    assert "<!--" not in page
    parsed = parse(page)
    assert not parsed.errors and "img" not in parsed.tags
    data = blob(page)  # the text comes back exactly
    assert data["steps"][0]["action"] == data["steps"][0]["board"] == HOSTILE
    assert data["reward_keys"][-1] == HOSTILE  # an unknown component is still shown


def test_non_finite_numbers_become_null_so_the_json_stays_valid():
    steps = frames(2)
    steps[1] = dataclasses.replace(steps[1], probability=float("nan"), reward=float("inf"))
    data = replay_data(steps)
    page_data = blob(render_html(steps))
    assert page_data == data
    assert data["steps"][1]["probability"] is None and data["steps"][1]["reward"] is None


def test_a_replay_needs_a_frame():
    with pytest.raises(ValueError, match="at least one frame"):
        render_html([])


def test_write_html_replaces_the_file_atomically_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "replay.html"
    target.write_text("old")
    write_html(target, "<p>new</p>")
    assert target.read_text() == "<p>new</p>"
    assert os.stat(target).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.html"]
    with pytest.raises(OSError):
        write_html(tmp_path / "missing" / "replay.html", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.html"]


@pytest.mark.parametrize(("name", "step", "expected"), [
    ("eval/replay", 640, "eval-replay-640.html"),
    ("../../etc/passwd", 1, "etc-passwd-1.html"),
    ("///", 2, "page-2.html"),
])
def test_page_file_names_are_one_safe_path_component(name, step, expected):
    assert page_file_name(name, step) == expected


# ---- a real browser ---------------------------------------------------------------
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@pytest.fixture(scope="module")
def browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium installed (apt-get install chromium)")


def headless(browser: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def test_the_browser_runs_the_script_and_shows_the_step_from_the_address(browser, tmp_path):
    steps = frames(6)
    steps[2] = dataclasses.replace(steps[2], action=HOSTILE)
    path = tmp_path / "replay.html"
    write_html(path, render_html(steps, title="browser check"))
    dom = headless(browser, tmp_path, "--dump-dom", f"{path.as_uri()}#step=2").stdout
    assert 'data-step="2"' in dom  # the script ran and jumped to frame 2
    assert "step 2 (frame 2 / 5)" in dom
    assert "p = 0.500 (50.0%)" in dom
    action = re.search(r'<span id="action">(.*?)</span>', dom, re.S)
    assert action is not None and action.group(1) == (
        '&lt;/script&gt;&lt;img src=x onerror="alert(1)"&gt;&amp;amp;&lt;!-- [3]')  # text, not markup
    assert "<img" not in dom
    assert dom.count("<tr") == len(REWARD_KEYS)  # one breakdown row per component
    assert '<span class="enemy">D3!</span>' in dom  # the board is coloured
    assert 'id="marker"' in dom  # the return chart is drawn


def test_play_advances_the_frames_in_the_browser(browser, tmp_path):
    path = tmp_path / "replay.html"
    write_html(path, render_html(frames(40), title="play check"))
    # 3 frames a second by default: 5 s of virtual time play about 15 frames.
    dom = headless(browser, tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                   f"{path.as_uri()}#play").stdout
    shown = int(re.search(r'data-step="(\d+)"', dom).group(1))
    assert 5 <= shown < 39, shown
    button = re.search(r'<button id="play"[^>]*>(.*?)</button>', dom)
    assert button is not None and button.group(1) == "|| Pause"  # still playing


def test_the_browser_renders_a_screenshot(browser, tmp_path):
    path = tmp_path / "replay.html"
    write_html(path, render_html(frames(6), title="screenshot check"))
    shot = tmp_path / "replay.png"
    headless(browser, tmp_path, "--hide-scrollbars", "--window-size=1200,800",
             f"--screenshot={shot}", f"{path.as_uri()}#step=3")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
