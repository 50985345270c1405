"""plot: every figure is a non-empty PNG with the expected panels and healthy bands."""

from __future__ import annotations

import json

import pytest

from hackmatrix.application.plot import FIGURES, main, make_figures, read_metrics
from hackmatrix.domain.constants import REWARD_KEYS


def _rows(n: int = 6) -> list[dict]:
    rows = []
    for i in range(1, n + 1):
        row = {"step": 32 * i, "train/approx_kl": 0.01 * i, "train/clip_frac": 0.05 * i,
               "train/entropy": 3.0 - 0.2 * i, "stats/highest_stage": float(1 + i // 3),
               "actions/move_frac": 0.7, "actions/siphon_frac": 0.2, "actions/program_frac": 0.1}
        row.update({f"reward/{k}": 0.001 * j * i for j, k in enumerate(REWARD_KEYS)})
        if i % 2 == 0:  # episode means are absent when no episode ended
            row["train/mean_episode_return"] = float(i)
            row["train/mean_episode_length"] = float(10 * i)
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    rows = _rows()
    # Written out of order: the plot sorts by step.
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)))
    return folder


def test_main_writes_one_non_empty_png_per_figure(run_dir, capsys):
    assert main([str(run_dir)]) == 0
    for name in FIGURES:
        data = (run_dir / "plots" / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    assert capsys.readouterr().out.count("written: ") == 5


def test_out_option_chooses_the_folder(run_dir, tmp_path):
    assert main([str(run_dir), "--out", str(tmp_path / "figs")]) == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(f"{n}.png" for n in FIGURES)


def test_figures_have_the_expected_panels_and_data(run_dir):
    import matplotlib.pyplot as plt

    figures = make_figures(read_metrics(run_dir / "metrics.jsonl"))
    assert {name: len(fig.axes) for name, fig in figures.items()} == {
        "returns": 2, "reward_components": 15, "actions": 1, "highest_stage": 1, "ppo_health": 3,
    }
    returns_ax = figures["returns"].axes[0]
    assert list(returns_ax.lines[0].get_xdata()) == [64, 128, 192]  # only rows with episodes
    assert [ax.get_title() for ax in figures["reward_components"].axes] == list(REWARD_KEYS)
    kl, clip, entropy = figures["ppo_health"].axes
    assert list(kl.lines[0].get_ydata()) == pytest.approx([0.01 * i for i in range(1, 7)])
    assert [line.get_ydata()[0] for line in kl.lines[1:]] == [0.08]  # the alarm line
    bands = [p.get_extents() for p in kl.patches + clip.patches + entropy.patches]
    assert len(bands) == 3  # healthy ranges shaded on each panel
    for fig in figures.values():
        plt.close(fig)


def test_missing_or_bad_metrics_exit_2_naming_the_file(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert f"no metrics file at '{tmp_path / 'metrics.jsonl'}'" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text('{"step": 32}\nnot json\n')
    assert main([str(tmp_path)]) == 2
    assert "line 2 is not a metrics record" in capsys.readouterr().err
