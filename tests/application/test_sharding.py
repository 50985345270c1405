"""Mesh construction and the runner's layout on it (issue 7 item 4).

The equivalence of sharded and single-device training is checked end to end, with
four host devices and with two processes, in tests/e2e/test_sharded_training.py.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec

from hackmatrix.application import sharding
from hackmatrix.application.ppo import RunnerState, initial_return_stats


def _runner(n: int) -> RunnerState:
    return RunnerState(
        params={"w": jnp.ones((3, 2))}, opt_state=(jnp.zeros(()),),
        env_state={"hp": jnp.arange(n), "grid": jnp.zeros((n, 6, 6), jnp.int8)},
        obs=jnp.zeros((n, 5)), episode_return=jnp.zeros((n,)),
        episode_length=jnp.zeros((n,), jnp.int32), discounted_return=jnp.arange(n) * 0.5,
        return_stats=initial_return_stats(), update=jnp.int32(3), key=jax.random.PRNGKey(0),
    )  # fmt: skip


def test_mesh_over_all_devices_by_default():
    mesh = sharding.make_mesh()
    assert mesh.axis_names == (sharding.AXIS,)
    assert mesh.size == len(jax.devices())


def test_asking_for_more_devices_than_there_are_is_named():
    count = len(jax.devices())
    with pytest.raises(ValueError, match=f"num_devices={count + 1} but {count} device"):
        sharding.make_mesh(count + 1)
    with pytest.raises(ValueError, match="num_devices=0"):
        sharding.make_mesh(0)


def test_a_batch_that_does_not_split_evenly_is_named():
    devices = jax.devices() * 4  # the check only looks at the mesh size
    mesh = jax.sharding.Mesh(np.array(devices[:4]), (sharding.AXIS,))
    sharding.check_batch_fits(8, mesh)
    with pytest.raises(ValueError, match="num_envs=6 is not divisible by the 4 devices"):
        sharding.check_batch_fits(6, mesh)


def test_games_are_split_across_devices_and_weights_replicated():
    mesh = sharding.make_mesh(1)
    specs = jax.tree_util.tree_map(lambda s: s.spec, sharding.runner_shardings(_runner(4), mesh))
    split, whole = PartitionSpec(sharding.AXIS), PartitionSpec()
    assert specs.env_state == {"hp": split, "grid": split}
    assert (specs.obs, specs.episode_return, specs.episode_length) == (split, split, split)
    assert specs.params == {"w": whole} and specs.opt_state == (whole,) and specs.key == whole


def test_placing_and_gathering_keeps_every_value():
    runner = _runner(4)
    placed = sharding.place_runner(runner, sharding.make_mesh(1))
    back = sharding.host_runner(placed)
    for a, b in zip(jax.tree_util.tree_leaves(runner), jax.tree_util.tree_leaves(back)):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_one_process_agrees_with_itself():
    assert sharding.agree((True, False, 7)) == (1, 0, 7)


def test_a_minibatch_that_does_not_split_evenly_is_named():
    mesh = jax.sharding.Mesh(np.array((jax.devices() * 4)[:4]), (sharding.AXIS,))
    with pytest.raises(ValueError, match="minibatch size 6 is not divisible by the 4 devices"):
        sharding.check_batch_fits(8, mesh, minibatch_size=6)


_GATHER_ROWS_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
from hackmatrix.application import sharding
mesh = sharding.make_mesh()
assert mesh.size == 4, mesh
rng = np.random.default_rng(0)
data = {"obs": rng.normal(size=(3, 8, 5)).astype(np.float32),
        "mask": rng.random((3, 8, 2)) < 0.5, "action": rng.integers(0, 28, (3, 8)).astype(np.int32)}
placed = jax.device_put(data, sharding.split_envs(mesh, axis=1))
rows = jnp.asarray(rng.permutation(24)[:12])
got = jax.jit(lambda d, r: sharding.gather_rows(mesh, d, r))(placed, rows)
for name, x in data.items():
    expected = x.reshape((24,) + x.shape[2:])[np.asarray(rows)]
    assert got[name].dtype == x.dtype, name
    assert len(got[name].sharding.device_set) == 4, name
    np.testing.assert_array_equal(np.asarray(got[name]), expected, err_msg=name)
print("ok")
"""


def test_gather_rows_on_four_devices_equals_the_unsharded_gather_bit_for_bit():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))  # fmt: skip
    result = subprocess.run([sys.executable, "-c", _GATHER_ROWS_SCRIPT], env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]
