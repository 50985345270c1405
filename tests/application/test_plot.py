"""plot: every figure is a non-empty PNG with the expected panels and healthy bands."""

from __future__ import annotations

import json

import pytest

from hackmatrix.application.plot import FIGURES, KL_ALARM, main, make_figures, read_metrics
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
        "returns": 2, "reward_components": 1, "actions": 3, "highest_stage": 1, "ppo_health": 3,
    }
    returns_ax = figures["returns"].axes[0]
    assert list(returns_ax.lines[0].get_xdata()) == [64, 128, 192]  # only rows with episodes
    # One shared symlog scale for the 15 components, one line each.
    (components,) = figures["reward_components"].axes
    assert components.get_yscale() == "symlog"
    assert [line.get_label() for line in components.lines[:15]] == list(REWARD_KEYS)
    # One panel per action kind, each on its own scale: 2 % of siphons is readable.
    move, siphon, program = figures["actions"].axes
    assert list(siphon.lines[0].get_ydata()) == pytest.approx([0.2] * 6)
    assert siphon.get_ylim()[1] < 0.5 and move.get_ylim()[0] > 0.5
    kl, clip, entropy = figures["ppo_health"].axes
    assert list(kl.lines[0].get_ydata()) == pytest.approx([0.01 * i for i in range(1, 7)])
    assert [line.get_ydata()[0] for line in kl.lines[1:]] == [KL_ALARM]  # the alarm line
    bands = [p.get_extents() for p in kl.patches + clip.patches + entropy.patches]
    assert len(bands) == 3  # healthy ranges shaded on each panel
    for fig in figures.values():
        plt.close(fig)


def test_help_lists_every_figure(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for name in FIGURES:
        assert f"{name}.png" in text, name
    assert "--out DIR" in text and "symlog" in text


def test_bad_arguments_and_an_unwritable_out_give_one_line_and_exit_2(run_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(run_dir), "--bogus"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "python -m hackmatrix.application.plot: error: unrecognized arguments: --bogus\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([str(run_dir), "--out", str(blocker / "figs")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(blocker) in err


def test_missing_or_bad_metrics_exit_2_naming_the_file(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert f"no metrics file at '{tmp_path / 'metrics.jsonl'}'" in capsys.readouterr().err
    (tmp_path / "metrics.jsonl").write_text('{"step": 32}\nnot json\n')
    assert main([str(tmp_path)]) == 2
    assert "line 2 is not a metrics record" in capsys.readouterr().err
