"""Runner state <-> checkpoint payload, with shape checks and clear errors.

The payload handed to the ``CheckpointStore`` port is the flax state dict of the
whole ``RunnerState`` (parameters, optimizer state, env states, last observations,
episode accumulators, PRNG key) as host numpy arrays. Restoring checks every leaf's
shape against a freshly built runner, so a checkpoint of another network shape
fails with the mismatching path and shapes instead of a reshape error deep in XLA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from flax import serialization

RUNNER_KEY = "runner"


def runner_payload(runner: Any) -> dict[str, Any]:
    """The checkpoint payload of ``runner``: ``{"runner": state dict of numpy arrays}``."""
    host = jax.device_get(runner)
    state = serialization.to_state_dict(host)
    # Copies: a zero-copy view of a CPU buffer must not alias a later donated runner.
    return {RUNNER_KEY: jax.tree_util.tree_map(lambda x: np.array(x, copy=True), state)}


def _leaves_with_paths(tree: Any) -> dict[str, Any]:
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    return {jax.tree_util.keystr(path): leaf for path, leaf in flat}


def restore_tree(template: Any, state: Any, what: str, origin: str) -> Any:
    """``template``'s structure filled from the state dict ``state``.

    Raises:
      ValueError naming ``origin`` (the checkpoint path), ``what`` and the first
      missing key or mismatching shape/dtype.
    """
    try:
        restored = serialization.from_state_dict(template, state)
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"checkpoint {origin!r}: {what} does not match this network/config ({error})"
        ) from None
    expected = _leaves_with_paths(serialization.to_state_dict(template))
    found = _leaves_with_paths(serialization.to_state_dict(restored))
    if set(expected) != set(found):
        missing = sorted(set(expected) - set(found))[:3]
        extra = sorted(set(found) - set(expected))[:3]
        raise ValueError(
            f"checkpoint {origin!r}: {what} has a different structure "
            f"(missing {missing}, unexpected {extra})"
        )
    for path, want in expected.items():
        got = np.asarray(found[path])
        want_shape = tuple(np.shape(want))
        if got.shape != want_shape:
            raise ValueError(
                f"checkpoint {origin!r}: {what}{path} has shape {got.shape}, but this "
                f"network/config needs {want_shape} (incompatible network shape: check "
                "network, separate_critic, hidden_dim and num_layers)"
            )
        # Templates may be shape-only (jax.ShapeDtypeStruct, from jax.eval_shape).
        want_dtype = np.dtype(want.dtype) if hasattr(want, "dtype") else np.asarray(want).dtype
        if got.dtype != want_dtype:
            raise ValueError(
                f"checkpoint {origin!r}: {what}{path} has dtype {got.dtype}, expected {want_dtype}"
            )
    return restored


def runner_state_dict(payload: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """The runner state dict inside a loaded payload (ValueError when absent)."""
    state = payload.get(RUNNER_KEY)
    if not isinstance(state, Mapping) or "params" not in state:
        raise ValueError(f"checkpoint {origin!r} has no runner state (keys: {sorted(payload)})")
    return dict(state)


def all_finite(tree: Any) -> bool:
    """True when every floating-point leaf of ``tree`` is finite (host check)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        array = np.asarray(leaf)
        if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
            return False
    return True


def policy_from_checkpoint(
    payload: Mapping[str, Any], metadata: Mapping[str, Any], origin: str
) -> tuple[Any, Any]:
    """(TrainConfig, params) of a loaded checkpoint, params checked against the config's shape."""
    from hackmatrix.application.config import TrainConfig, saved_settings
    from hackmatrix.application.network import init_params, network_for

    values = metadata.get("resolved_config") or metadata.get("config")
    if not isinstance(values, Mapping):
        raise ValueError(f"checkpoint {origin!r} has no config in its metadata")
    config = TrainConfig.from_dict(saved_settings(values))
    network = network_for(config)
    template = init_params(network, jax.random.PRNGKey(0))
    params = restore_tree(template, runner_state_dict(payload, origin)["params"], "params", origin)
    return config, params
