"""One recorded game as ONE self-contained HTML page: pure, host-side, no JAX.

``render_html(steps)`` turns the frames of a game (``ReplayStep``: the board and
stats as ``watch`` draws them, the action with its probability, the reward and its
15 components) into a page with everything inline (CSS, JavaScript, the data as a
JSON blob): no network, no files next to it. It opens on the first frame, drawn
without JavaScript; the script adds a slider, play/pause, previous/next (also the
arrow keys and the space bar), colours the board and plots the running return.
``#step=N`` in the address opens it at frame N, ``#play`` starts playing.

Text reaches the page only through ``html.escape`` (the first frame, the title) or
the JSON blob, where ``<``, ``>`` and ``&`` are written as ``\\u003c`` escapes so that
no ``</script>`` can end it early; the script puts text on the page with
``textContent``, never as markup.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hackmatrix.domain.constants import REWARD_KEYS


@dataclasses.dataclass(frozen=True)
class ReplayStep:
    """One frame: the state after ``action`` (the start frame has no action).

    ``board`` and ``stats`` are the text of ``render.render_board`` and
    ``render.render_stats``; ``breakdown`` maps reward component names to values.
    """

    step: int
    board: str
    stats: str
    stage: int
    hp: int
    score: int
    action: str | None = None
    action_id: int | None = None
    probability: float | None = None
    reward: float | None = None
    breakdown: Mapping[str, float] = dataclasses.field(default_factory=dict)
    done: bool = False


def _number(value: float | None) -> float | None:
    """JSON has no NaN/inf: non-finite numbers become null (shown as "n/a")."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def replay_data(steps: Sequence[ReplayStep], reward_keys: Sequence[str] = REWARD_KEYS) -> dict[str, Any]:
    """The page's data: the component names once, then one record per frame."""
    keys = list(reward_keys)
    extra = sorted({k for s in steps for k in s.breakdown} - set(keys))
    keys += extra  # components the caller named that the enum does not: still shown
    frames = []
    total = 0.0
    for s in steps:
        reward = _number(s.reward)
        total += reward or 0.0
        frames.append({
            "step": int(s.step),
            "board": s.board,
            "stats": s.stats,
            "stage": int(s.stage),
            "hp": int(s.hp),
            "score": int(s.score),
            "action": s.action,
            "action_id": None if s.action_id is None else int(s.action_id),
            "probability": _number(s.probability),
            "reward": reward,
            "breakdown": [_number(s.breakdown.get(k, 0.0)) for k in keys],
            "return": total,
            "done": bool(s.done),
        })
    return {"reward_keys": keys, "steps": frames}


def script_json(data: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` (and U+2028/9) as escapes."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _first_frame(step: ReplayStep) -> dict[str, str]:
    """The first frame's text, escaped, so the page shows it before (or without) the script."""
    if step.action is None:
        action = "start"
    else:
        chance = "" if _number(step.probability) is None else f" (p={float(step.probability or 0):.3f})"
        action = f"{step.action} [{step.action_id}]{chance}"
    return {
        "board": html.escape(step.board, quote=False),
        "stats": html.escape(step.stats, quote=False),
        "action": html.escape(action, quote=False),
        "counter": f"step {step.step}",
    }


def render_html(steps: Sequence[ReplayStep], *, title: str = "HackMatrix replay",
                subtitle: str = "") -> str:
    """The page for ``steps`` (at least one frame), titled ``title``.

    Args:
      steps: the frames in order, the start first.
      title: page title and heading (any text: it is escaped).
      subtitle: one line under the heading, e.g. the checkpoint and seed.
    Returns:
      The HTML document as a string.
    """
    if not steps:
        raise ValueError("a replay needs at least one frame")
    first = _first_frame(steps[0])
    last = len(steps) - 1
    return _PAGE.format(
        title=html.escape(title),
        subtitle=html.escape(subtitle),
        last=last,
        board=first["board"],
        stats=first["stats"],
        action=first["action"],
        counter=first["counter"],
        frames=len(steps),
        data=script_json(replay_data(steps)),
        css=_CSS,
        js=_JS,
    )


def page_file_name(name: str, step: int) -> str:
    """``eval/replay`` at step 640 -> ``eval-replay-640.html`` (the file trackers store)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "page"
    return f"{slug}-{int(step)}.html"


def write_html(path: str | Path, page: str) -> None:
    """Write ``page`` to ``path`` atomically: a temporary file in the same folder, renamed.

    A reader never sees half a page and a failed write leaves an existing file as it
    was. Raises OSError (a missing folder, no permission, a full disk).
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; a page is for sharing
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_CSS = """
:root { color-scheme: dark; --bg:#0f1419; --panel:#182028; --fg:#d8dee4; --dim:#6b7785;
  --accent:#39c5bb; --pos:#4cc38a; --neg:#e5534b; }
* { box-sizing: border-box; }
body { margin: 0; padding: 16px 20px; background: var(--bg); color: var(--fg);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 18px; margin: 0 0 2px; }
.subtitle { color: var(--dim); margin: 0 0 12px; }
.controls { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 12px; }
.controls button, .controls select { background: var(--panel); color: var(--fg);
  border: 1px solid #2c3a47; border-radius: 4px; padding: 4px 10px; font: inherit; cursor: pointer; }
.controls button:hover { border-color: var(--accent); }
#slider { flex: 1 1 320px; accent-color: var(--accent); }
#counter { min-width: 9em; font-variant-numeric: tabular-nums; }
.layout { display: flex; gap: 16px; align-items: flex-start; flex-wrap: wrap; }
.panel { background: var(--panel); border-radius: 6px; padding: 10px 12px; }
pre { margin: 0; font: 13px/1.25 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
#board .player { color: #fff; background: #1f6feb; font-weight: bold; }
#board .enemy { color: var(--neg); font-weight: bold; }
#board .trans { color: #d29922; }
#board .block { color: #a371f7; }
#board .res { color: #e3b341; }
#board .exit { color: var(--pos); font-weight: bold; }
#board .siphon { color: var(--accent); }
#stats { margin-top: 8px; color: var(--fg); white-space: pre-wrap; }
.legend { margin-top: 6px; color: var(--dim); font-size: 12px; max-width: 62ch; }
.board-panel { width: 700px; max-width: 100%; overflow-x: auto; }  /* no jitter while playing */
.side { min-width: 300px; flex: 1 1 300px; max-width: 460px; }
.action { font-size: 16px; }
#action { font-weight: bold; color: var(--accent); }
.prob { height: 6px; background: #2c3a47; border-radius: 3px; margin: 4px 0 8px; }
#prob-bar { height: 100%; width: 0; background: var(--accent); border-radius: 3px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
td { padding: 1px 4px; }
td.value { text-align: right; width: 6em; }
td.barcell { width: 40%; background: linear-gradient(#2c3a47, #2c3a47) center / 1px 100% no-repeat; }
tr.zero { color: var(--dim); }
.bar { height: 8px; border-radius: 2px; }
.bar.pos { background: var(--pos); }
.bar.neg { background: var(--neg); }
.total { border-top: 1px solid #2c3a47; font-weight: bold; }
#chart { width: 100%; height: 80px; display: block; margin-top: 8px; }
#done { color: var(--neg); font-weight: bold; }
"""

_JS = r"""
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("replay-data").textContent);
  const steps = data.steps, keys = data.reward_keys, last = steps.length - 1;
  const $ = (id) => document.getElementById(id);
  const slider = $("slider"), play = $("play"), speed = $("speed");
  let index = 0, timer = null;

  function fmt(x, digits) {
    return x === null || x === undefined ? "n/a" : (x >= 0 ? "+" : "") + x.toFixed(digits);
  }
  function span(parent, text, cls) {
    const s = document.createElement("span");
    s.textContent = text;
    if (cls) s.className = cls;
    parent.appendChild(s);
  }
  // Board text -> coloured spans (text only: nothing is parsed as markup).
  const TOKEN = /(@|[VDGC]\d+!?|T\d+|\[[^\]]*\]\*?|EXIT|\$|[ce]\d+|\+)/g;
  function tokenClass(t) {
    if (t === "@") return "player";
    if (/^[VDGC]\d/.test(t)) return "enemy";
    if (t[0] === "T") return "trans";
    if (t[0] === "[") return "block";
    if (t === "EXIT") return "exit";
    if (t === "$" || t === "+") return "siphon";
    return "res";
  }
  function drawBoard(el, text) {
    el.textContent = "";
    for (const line of text.split("\n")) {
      if (line.indexOf("|") < 0) { span(el, line + "\n"); continue; }
      const cells = line.split("|");
      span(el, cells[0]);
      for (let c = 1; c < cells.length; c++) {
        span(el, "|");
        let pos = 0;
        for (const m of cells[c].matchAll(TOKEN)) {
          if (m.index > pos) span(el, cells[c].slice(pos, m.index));
          span(el, m[0], tokenClass(m[0]));
          pos = m.index + m[0].length;
        }
        if (pos < cells[c].length) span(el, cells[c].slice(pos));
      }
      span(el, "\n");
    }
  }
  function drawBreakdown(frame) {
    const body = $("breakdown");
    body.textContent = "";
    const values = frame.breakdown;
    const scale = Math.max(1e-9, ...values.map((v) => Math.abs(v || 0)));
    keys.forEach((key, k) => {
      const v = values[k];
      const row = document.createElement("tr");
      if (!v) row.className = "zero";
      const name = document.createElement("td");
      name.textContent = key;
      const value = document.createElement("td");
      value.className = "value";
      value.textContent = frame.action === null ? "" : fmt(v, 3);
      const barCell = document.createElement("td");
      barCell.className = "barcell";
      if (v) {
        const bar = document.createElement("div");
        bar.className = "bar " + (v > 0 ? "pos" : "neg");
        const half = (50 * Math.abs(v)) / scale;  // bars grow from the middle
        bar.style.width = half.toFixed(1) + "%";
        bar.style.marginLeft = (v > 0 ? 50 : 50 - half).toFixed(1) + "%";
        barCell.appendChild(bar);
      }
      row.append(name, value, barCell);
      body.appendChild(row);
    });
  }
  function drawChart() {
    const svg = $("chart"), ns = "http://www.w3.org/2000/svg";
    const returns = steps.map((s) => s["return"]);
    const lo = Math.min(0, ...returns), hi = Math.max(0, ...returns), span_ = hi - lo || 1;
    const x = (i) => (last ? (1000 * i) / last : 0), y = (v) => 95 - (90 * (v - lo)) / span_;
    const zero = document.createElementNS(ns, "line");
    zero.setAttribute("x1", 0); zero.setAttribute("x2", 1000);
    zero.setAttribute("y1", y(0)); zero.setAttribute("y2", y(0));
    zero.setAttribute("stroke", "#2c3a47");
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", returns.map((v, i) => x(i) + "," + y(v)).join(" "));
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "#39c5bb");
    line.setAttribute("stroke-width", 2); line.setAttribute("vector-effect", "non-scaling-stroke");
    const marker = document.createElementNS(ns, "line");
    marker.id = "marker"; marker.setAttribute("y1", 0); marker.setAttribute("y2", 100);
    marker.setAttribute("stroke", "#e3b341"); marker.setAttribute("vector-effect", "non-scaling-stroke");
    svg.append(zero, line, marker);
    $("chart-caption").textContent = "return so far, from " + lo.toFixed(2) + " to " +
      hi.toFixed(2) + " (click to jump)";
    svg.addEventListener("click", (e) => {
      const box = svg.getBoundingClientRect();
      show(Math.round(((e.clientX - box.left) / box.width) * last));
    });
    return (i) => { marker.setAttribute("x1", x(i)); marker.setAttribute("x2", x(i)); };
  }
  const moveMarker = drawChart();

  function show(i) {
    index = Math.max(0, Math.min(last, i | 0));
    const f = steps[index];
    slider.value = index;
    $("counter").textContent = "step " + f.step + " (frame " + index + " / " + last + ")";
    drawBoard($("board"), f.board);
    $("stats").textContent = f.stats;
    if (f.action === null) {
      $("action").textContent = "start";
      $("probability").textContent = "";
      $("prob-bar").style.width = "0";
    } else {
      $("action").textContent = f.action + " [" + f.action_id + "]";
      $("probability").textContent = f.probability === null ? "p = n/a"
        : "p = " + f.probability.toFixed(3) + " (" + (100 * f.probability).toFixed(1) + "%)";
      $("prob-bar").style.width = f.probability === null ? "0" : (100 * f.probability).toFixed(1) + "%";
    }
    $("reward").textContent = f.action === null ? "" : fmt(f.reward, 3);
    $("return").textContent = fmt(f["return"], 3);
    $("summary").textContent = "stage " + f.stage + " | HP " + f.hp + " | score " + f.score;
    $("done").textContent = f.done ? "episode over" : "";
    drawBreakdown(f);
    moveMarker(index);
    document.body.dataset.step = String(index);
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    play.textContent = "\u25b6 Play";
  }
  function start() {
    if (index >= last) show(0);
    play.textContent = "|| Pause";
    timer = setInterval(() => { if (index >= last) stop(); else show(index + 1); },
                        1000 / Number(speed.value));
  }
  play.addEventListener("click", () => (timer === null ? start() : stop()));
  speed.addEventListener("change", () => { if (timer !== null) { stop(); start(); } });
  $("prev").addEventListener("click", () => { stop(); show(index - 1); });
  $("next").addEventListener("click", () => { stop(); show(index + 1); });
  $("first").addEventListener("click", () => { stop(); show(0); });
  $("end").addEventListener("click", () => { stop(); show(last); });
  slider.addEventListener("input", () => { stop(); show(Number(slider.value)); });
  document.addEventListener("keydown", (e) => {
    if (e.target.tagName === "SELECT") return;
    if (e.key === "ArrowLeft") { stop(); show(index - 1); }
    else if (e.key === "ArrowRight") { stop(); show(index + 1); }
    else if (e.key === " ") { e.preventDefault(); timer === null ? start() : stop(); }
  });
  const wanted = /step=(\d+)/.exec(location.hash);
  show(wanted ? Number(wanted[1]) : 0);
  if (/\bplay\b/.test(location.hash)) start();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body data-step="0">
<h1>{title}</h1>
<p class="subtitle">{subtitle} &middot; {frames} frames</p>
<div class="controls">
  <button id="first" type="button" title="first frame">|&#x25c0;</button>
  <button id="prev" type="button" title="previous step (left arrow)">&#x25c0; Prev</button>
  <button id="play" type="button" title="play/pause (space)">&#x25b6; Play</button>
  <button id="next" type="button" title="next step (right arrow)">Next &#x25b6;</button>
  <button id="end" type="button" title="last frame">&#x25b6;|</button>
  <input id="slider" type="range" min="0" max="{last}" value="0" aria-label="frame">
  <select id="speed" aria-label="speed">
    <option value="1">1 step/s</option><option value="3" selected>3 steps/s</option>
    <option value="10">10 steps/s</option><option value="30">30 steps/s</option>
  </select>
  <span id="counter">{counter}</span>
</div>
<div class="layout">
  <div class="panel board-panel">
    <pre id="board">{board}</pre>
    <pre id="stats">{stats}</pre>
    <div class="legend">@ player &middot; V/D/G/C virus/daemon/glitch/cryptog + HP (! stunned)
      &middot; T transmission + turns &middot; [5] data block, [NAME] program, [?] question
      (* siphoned) &middot; c/e credits/energy &middot; $ data siphon &middot; EXIT &middot;
      + siphon centre</div>
  </div>
  <div class="panel side">
    <div class="action">action: <span id="action">{action}</span> <span id="probability"></span></div>
    <div class="prob"><div id="prob-bar"></div></div>
    <div id="summary"></div>
    <div>reward <span id="reward"></span> &middot; return so far <span id="return"></span>
      <span id="done"></span></div>
    <table><tbody id="breakdown"></tbody></table>
    <svg id="chart" viewBox="0 0 1000 100" preserveAspectRatio="none"
         aria-label="return so far"></svg>
    <div id="chart-caption" class="legend"></div>
  </div>
</div>
<script type="application/json" id="replay-data">{data}</script>
<script>{js}</script>
</body>
</html>
"""
