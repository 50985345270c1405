"""The numbers the docs state about the trainer are the code's."""

from __future__ import annotations

import re
from pathlib import Path

from hackmatrix.application.config import FIELD_DEFAULTS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _defaults_table() -> dict[str, str]:
    """``{field: default text}`` of the Defaults table of docs/training.md."""
    text = (DOCS / "training.md").read_text(encoding="utf-8")
    table = text.split("## Defaults", 1)[1].split("\n\n", 2)[1]
    cells: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        parts = [part.strip() for part in line.strip("|").split("|")]
        for name, value in zip(parts[::2], parts[1::2]):
            if name.startswith("`"):
                cells[name.strip("`")] = value
    return cells


def test_the_training_doc_states_the_real_defaults():
    cells = _defaults_table()
    assert cells["total_timesteps"].startswith("2,500,000")
    checked = 0
    for name, text in cells.items():
        default = FIELD_DEFAULTS[name]
        number = re.match(r"[-+]?[\d,]*\.?\d+(?:e[-+]?\d+)?", text)
        if isinstance(default, bool) or not isinstance(default, (int, float)) or number is None:
            continue
        assert float(number.group().replace(",", "")) == default, (name, text, default)
        checked += 1
    assert checked >= 15
