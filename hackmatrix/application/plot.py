"""``python -m hackmatrix.application.plot RUN_DIR``: PNG figures of a run's metrics.

Reads ``RUN_DIR/metrics.jsonl`` (one JSON object per update, with ``step`` = env
steps) and writes, into ``--out`` (default ``RUN_DIR/plots``):

- ``returns.png``: mean episode return and length vs env steps (2 panels)
- ``reward_components.png``: the 15 ``reward/`` means per transition on ONE shared
  symlog axis (linear within +-0.001, logarithmic beyond), so a 0.01 step penalty and
  a rare 100-point victory read on the same scale
- ``actions.png``: move, siphon and program shares, one panel each with its own scale
  (siphons and programs stay visible when moves are 98 %)
- ``highest_stage.png``: highest stage reached per update
- ``ppo_health.png``: approx_kl, clip_frac and entropy with the healthy ranges of
  docs/training.md shaded (approx_kl below 0.02, alarm line 0.05; clip_frac < 0.30;
  entropy above 0.3)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hackmatrix.application.errors import ArgumentParser, report
from hackmatrix.application.metrics import ACTION_METRIC_KEYS
from hackmatrix.domain.constants import REWARD_KEYS

PROG = "python -m hackmatrix.application.plot"
METRICS_FILE = "metrics.jsonl"
FIGURES = ("returns", "reward_components", "actions", "highest_stage", "ppo_health")
# The healthy ranges of docs/training.md, as measured on fresh runs (see there).
KL_HEALTHY = (0.0, 0.02)
KL_ALARM = 0.05
CLIP_FRAC_MAX = 0.30
ENTROPY_HEALTHY = (0.3, math.log(28))  # ln 28: uniform over every action
SYMLOG_LINEAR_WITHIN = 1e-3  # reward components: linear in +-this, logarithmic beyond


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl, sorted by step; ValueError naming the file and line."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"no metrics file at {str(file)!r}")
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            int(row["step"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{str(file)!r} line {number} is not a metrics record: {error}") from None
        rows.append(row)
    if not rows:
        raise ValueError(f"{str(file)!r} holds no records")
    return sorted(rows, key=lambda row: int(row["step"]))


def series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of the rows that have ``key`` with a finite value."""
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if isinstance(value, (int, float)) and math.isfinite(float(value)):
            xs.append(int(row["step"]))
            ys.append(float(value))
    return xs, ys


def _line(ax: Any, rows: list[dict[str, Any]], key: str, title: str, **kw: Any) -> None:
    xs, ys = series(rows, key)
    if xs:
        ax.plot(xs, ys, marker="." if len(xs) < 50 else None, **kw)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("env steps", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def make_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One matplotlib Figure per name of ``FIGURES`` (Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figures: dict[str, Any] = {}

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    _line(axes[0], rows, "train/mean_episode_return", "mean episode return")
    _line(axes[1], rows, "train/mean_episode_length", "mean episode length (steps)")
    figures["returns"] = fig

    fig, ax = plt.subplots(figsize=(12, 6))
    colours = [plt.get_cmap("tab20")(i) for i in range(20)]
    for i, key in enumerate(REWARD_KEYS):
        xs, ys = series(rows, f"reward/{key}")
        if xs:
            ax.plot(xs, ys, label=key, color=colours[i % len(colours)],
                    linestyle="-" if i < 10 else "--", marker="." if len(xs) < 50 else None)
    ax.set_yscale("symlog", linthresh=SYMLOG_LINEAR_WITHIN)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set_title("reward components: mean per transition (symlog: linear within "
                 f"+-{SYMLOG_LINEAR_WITHIN:g})", fontsize=10)
    ax.set_xlabel("env steps")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    figures["reward_components"] = fig

    fig, axes = plt.subplots(1, len(ACTION_METRIC_KEYS), figsize=(15, 4))
    for ax, key in zip(axes, ACTION_METRIC_KEYS):
        _line(ax, rows, key, f"{key.split('/')[1]} (share of sampled actions)")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    fig.suptitle("action shares: one scale per panel")
    figures["actions"] = fig

    fig, ax = plt.subplots(figsize=(8, 4))
    _line(ax, rows, "stats/highest_stage", "highest stage reached in the update", drawstyle="steps-post")
    ax.set_ylim(0.5, 8.5)
    figures["highest_stage"] = fig

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    _line(axes[0], rows, "train/approx_kl",
          f"approx_kl (healthy < {KL_HEALTHY[1]:g}, alarm > {KL_ALARM:g})")
    axes[0].axhspan(*KL_HEALTHY, color="green", alpha=0.15, label="healthy")
    axes[0].axhline(KL_ALARM, color="red", linestyle="--", label="alarm")
    _line(axes[1], rows, "train/clip_frac", "clip_frac (healthy < 0.30)")
    axes[1].axhspan(0.0, CLIP_FRAC_MAX, color="green", alpha=0.15, label="healthy")
    _line(axes[2], rows, "train/entropy",
          f"entropy of the masked policy (healthy > {ENTROPY_HEALTHY[0]:g}; ln 28 = 3.33 uniform)")
    axes[2].axhspan(*ENTROPY_HEALTHY, color="green", alpha=0.15, label="healthy")
    for ax in axes:
        ax.legend(fontsize=7)
    figures["ppo_health"] = fig
    return figures


def write_figures(run_dir: str | Path, out: str | Path | None = None) -> list[Path]:
    """Read the run's metrics and write every figure as PNG; returns the paths."""
    import matplotlib.pyplot as plt

    rows = read_metrics(Path(run_dir) / METRICS_FILE)
    folder = Path(out) if out is not None else Path(run_dir) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in make_figures(rows).items():
        path = folder / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written


def build_parser() -> ArgumentParser:
    """The command line; ``--help`` lists every figure and what it shows."""
    import argparse

    head, figures = __doc__.replace("``", "").split("\n\n", 2)[1:]  # plain text, no rst quotes
    return ArgumentParser(
        prog=PROG, description=head, epilog="figures:\n" + figures,
        formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run folder holding metrics.jsonl")
    parser.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: RUN_DIR/plots)")
    args = parser.parse_args(argv)
    try:
        written = write_figures(args.run_dir, args.out)
    except (ValueError, OSError) as error:  # no/bad metrics, an unwritable --out
        return report(PROG, error)
    for path in written:
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
