"""Console tracker: a live rich progress display plus a JSON-lines record of every update.

The JSON-lines file (``<run_dir>/metrics.jsonl``, one ``{"step": ..., **metrics}``
object per update, flushed as it is written) is the durable record: plots can be
made from it later and it survives a crash of any other tracker. HTML pages (the
evaluations' replays) go to ``<run_dir>/replays/<name>-<step>.html``. The console part
is cosmetic: on a terminal it is a rich progress bar with a table of key metrics
every ``table_every`` updates; elsewhere (CI, pipes) it prints one plain line per
update.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from hackmatrix.application.html_replay import page_file_name, write_html

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"
REPLAY_FOLDER = "replays"  # <run_dir>/replays/<name>-<step>.html (log_html)

# Shown in the periodic table, in this order, when present.
KEY_METRICS = (
    "train/mean_episode_return",
    "train/mean_episode_length",
    "train/num_episodes",
    "train/mean_reward",
    "train/pg_loss",
    "train/vf_loss",
    "train/entropy",
    "train/approx_kl",
    "train/clip_frac",
    "stats/highest_stage",
    "actions/move_frac",
    "actions/siphon_frac",
    "actions/program_frac",
    "train/steps_per_second",
)
RETURN_KEY = "train/mean_episode_return"
SPS_KEY = "train/steps_per_second"
EVAL_STAGE_KEY = "eval/mean_highest_stage"


def format_duration(seconds: float) -> str:
    """Format seconds as H:MM:SS ("?" when unknown)."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class StdoutLogger:
    """Progress on the console and every update's metrics appended to ``metrics.jsonl``.

    Args:
      run_dir: folder for ``metrics.jsonl`` and ``config.json`` (created if missing).
      total_timesteps: env steps the run will take, for the ETA; also read from
        ``log_config`` (``effective_total_timesteps`` or ``total_timesteps``).
      table_every: print the key-metrics table every this many updates (0: never).
      stream: console output (default ``sys.stdout``); a non-terminal gets plain lines.
      force_terminal: override terminal detection (tests).
      resume_step: continuing a run from a checkpoint at this env step: records of an
        existing ``metrics.jsonl`` above it (logged after that checkpoint by the
        interrupted run, and about to be logged again) are dropped, the rest is kept
        and appended to, so the file holds each step once.
      resume_update: the checkpoint's update count: progress lines count on from it.
    """

    def __init__(
        self,
        run_dir: str | Path,
        total_timesteps: int | None = None,
        table_every: int = 10,
        stream: IO[str] | None = None,
        force_terminal: bool | None = None,
        resume_step: int | None = None,
        resume_update: int | None = None,
    ) -> None:
        from rich.console import Console

        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / METRICS_FILE
        if resume_step is not None:
            truncate_after(self.metrics_path, resume_step)
        self._file: IO[str] | None = self.metrics_path.open("a", encoding="utf-8")
        self._total = total_timesteps
        self._table_every = table_every
        self._console = Console(
            file=stream if stream is not None else sys.stdout,
            force_terminal=force_terminal,
            highlight=False,
        )
        self._is_live = self._console.is_terminal
        self._progress: Any = None
        self._task: Any = None
        self._first_update = resume_update or 0
        self._updates = self._first_update  # the run's update count, a resume's included
        self._start = time.monotonic()
        self._first_step: int | None = None
        self._latest_return: float | None = None
        self._closed = False

    # ---- MetricsLogger port ---------------------------------------------------
    def log_config(self, config: Mapping[str, object]) -> None:
        """Write the config to ``config.json`` and pick up the step budget for the ETA."""
        for key in ("effective_total_timesteps", "total_timesteps"):
            value = config.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and self._total is None:
                self._total = value
        path = self.run_dir / CONFIG_FILE
        path.write_text(json.dumps(dict(config), indent=2, sort_keys=True, default=str) + "\n")
        self._console.print(f"run folder: {self.run_dir}  (metrics: {self.metrics_path.name})")

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Append one JSON line (flushed) and refresh the console."""
        if self._file is None:
            raise RuntimeError("StdoutLogger is closed")
        record: dict[str, Any] = {"step": int(step)}
        record.update({key: _plain(value) for key, value in metrics.items()})
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

        self._updates += 1
        if self._first_step is None:
            self._first_step = int(step)
        value = metrics.get(RETURN_KEY)
        if value is not None and math.isfinite(float(value)):
            self._latest_return = float(value)
        self._show(metrics, int(step))

    def log_html(self, name: str, html: str, step: int) -> None:
        """Write the page to ``<run_dir>/replays/<name>-<step>.html`` (atomically) and
        say where it is."""
        folder = self.run_dir / REPLAY_FOLDER
        folder.mkdir(exist_ok=True)
        path = folder / page_file_name(name, step)
        write_html(path, html)
        self._console.print(f"{name} at env step {int(step):,}: {path}", soft_wrap=True)

    def close(self) -> None:
        """Stop the display and close the JSON-lines file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._file is not None:
            self._file.close()
            self._file = None
        logged, first = self._updates - self._first_update, self._first_update + 1
        which = ""
        if self._first_update and logged:  # a resumed run: which of the run's updates
            which = f" (update {first})" if logged == 1 else f" (updates {first}-{self._updates})"
        self._console.print(
            f"done: {logged} update{'' if logged == 1 else 's'} logged to {self.metrics_path}{which}",
            soft_wrap=True,  # one line, whatever the path's length
        )

    # ---- console --------------------------------------------------------------
    def _rate(self, metrics: Mapping[str, float], step: int) -> float:
        if SPS_KEY in metrics:
            return float(metrics[SPS_KEY])
        elapsed = time.monotonic() - self._start
        return step / elapsed if elapsed > 0 else float("nan")

    def _show(self, metrics: Mapping[str, float], step: int) -> None:
        rate = self._rate(metrics, step)
        remaining = (self._total - step) / rate if self._total and rate > 0 else float("nan")
        ret = "n/a" if self._latest_return is None else f"{self._latest_return:.3f}"
        summary = (
            f"update {self._updates} | env steps {step:,}"
            + (f"/{self._total:,}" if self._total else "")
            + f" | {rate:,.0f} steps/s | ETA {format_duration(remaining)} | return {ret}"
            + _teacher_phase(metrics)
        )
        if self._is_live:
            self._show_live(step, summary)
        else:
            self._console.print(summary, soft_wrap=True)
        if EVAL_STAGE_KEY in metrics:
            self._console.print(
                f"evaluation at update {self._updates} (greedy, fixed games): mean highest stage "
                f"{float(metrics[EVAL_STAGE_KEY]):.2f} | win rate "
                f"{float(metrics.get('eval/win_rate', float('nan'))):.3f} | return "
                f"{float(metrics.get('eval/mean_return', float('nan'))):.2f}",
                soft_wrap=True,
            )
        if self._table_every and self._updates % self._table_every == 0:
            self._console.print(self._table(metrics, step))

    def _show_live(self, step: int, summary: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        if self._progress is None:
            self._progress = Progress(
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(summary, total=self._total)
        self._progress.update(self._task, completed=step, total=self._total, description=summary)

    def _table(self, metrics: Mapping[str, float], step: int) -> Any:
        from rich.table import Table

        table = Table(title=f"update {self._updates} @ {step:,} env steps", show_header=True)
        table.add_column("metric")
        table.add_column("value", justify="right")
        for key in KEY_METRICS:
            if key in metrics:
                table.add_row(key, f"{float(metrics[key]):.4g}")
        return table


def truncate_after(path: Path, step: int) -> int:
    """Drop the JSON lines of ``path`` whose ``step`` exceeds ``step`` (atomic rewrite).

    Returns the number of lines dropped; a missing file is left missing. A torn last
    line (a crash mid-write) is dropped too.
    """
    if not path.exists():
        return 0
    kept: list[str] = []
    dropped = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row_step = int(json.loads(line)["step"])
        except (ValueError, KeyError, TypeError):
            dropped += 1
            continue
        if row_step <= step:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, path)
    return dropped


def _plain(value: Any) -> Any:
    """Host scalar -> JSON-serialisable Python number (numpy scalars included)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _teacher_phase(metrics: Mapping[str, float]) -> str:
    """" | imitating the teacher, agreement 0.81" while the imitation phase runs,
    " | teacher weight 0.60, agreement 0.88" while the kickstarting term is on, else ""."""
    agreement = metrics.get("train/teacher_agreement")
    if agreement is None:
        return ""
    if metrics.get("train/imitating", 0.0) > 0.0:
        return f" | imitating the teacher, agreement {agreement:.2f}"
    weight = metrics.get("train/teacher_coef", 0.0)
    if weight > 0.0:
        return f" | teacher weight {weight:.2f}, agreement {agreement:.2f}"
    return ""
