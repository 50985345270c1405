"""Helpers shared by the end-to-end tests."""

from __future__ import annotations

import numpy as np


def flatten_tree(tree, prefix: str = "") -> dict[str, np.ndarray]:
    """A nested dict of arrays (a checkpoint payload) as ``{"/a/b": array}``."""
    if isinstance(tree, dict):
        out: dict[str, np.ndarray] = {}
        for key, value in tree.items():
            out.update(flatten_tree(value, f"{prefix}/{key}"))
        return out
    return {prefix: np.asarray(tree)}
