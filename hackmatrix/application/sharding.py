"""Data-parallel training over a device mesh (one axis, ``envs``).

The env batch is split across the mesh's devices: each device steps its own slice of
games (``jax.shard_map`` around the engine's batched step and action mask, so the
engine's per-batch work skipping stays local), the policy's forward passes run on
each device's slice, and every PPO minibatch is split across the devices too. The
parameters and the optimizer state are replicated; XLA's SPMD partitioner turns the
minibatch mean of the loss into a per-device partial sum plus an all-reduce, so the
gradients are averaged across devices before the (replicated) Adam step.

Every random draw is made from the same keys as on one device (JAX's partitionable
threefry gives each shard exactly its slice of the unsharded draw, and each game's
step key is its slice of the same split), so a sharded run reproduces the
single-device run with the same total batch up to float summation order.

The mesh may span several processes (multi-host, after ``jax.distributed.initialize``):
``place_runner`` builds global arrays from the host copy every process computed
identically from the seed, and ``host_runner`` gathers them back for a checkpoint.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "envs"
# RunnerState fields with a leading env axis (split across devices); the rest is replicated.
BATCHED_FIELDS = (
    "env_state", "obs", "episode_return", "episode_length", "discounted_return",
)


def make_mesh(num_devices: int | None = None) -> Mesh:
    """A 1-D mesh over the first ``num_devices`` of ``jax.devices()`` (every device of
    every process; None: all of them)."""
    available = jax.devices()
    if num_devices is None:
        num_devices = len(available)
    if not 1 <= num_devices <= len(available):
        raise ValueError(
            f"num_devices={num_devices} but {len(available)} device(s) are available "
            f"({available[0].platform})"
        )
    if jax.process_count() > 1 and num_devices != len(available):
        raise ValueError(
            f"num_devices={num_devices}: a multi-process run uses every device "
            f"({len(available)} across {jax.process_count()} processes)"
        )
    return Mesh(np.array(available[:num_devices]), (AXIS,))


def check_batch_fits(num_envs: int, mesh: Mesh, minibatch_size: int | None = None) -> None:
    """ValueError unless num_envs (and the minibatch) split evenly across the mesh's devices."""
    if num_envs % mesh.size:
        raise ValueError(
            f"num_envs={num_envs} is not divisible by the {mesh.size} devices it is "
            f"sharded across; pick a multiple of {mesh.size} (or set num_devices)"
        )
    if minibatch_size is not None and minibatch_size % mesh.size:
        raise ValueError(
            f"minibatch size {minibatch_size} is not divisible by the {mesh.size} devices "
            "it is split across; change num_envs, num_steps or num_minibatches"
        )


def gather_rows(mesh: Mesh, data: Any, rows: jax.Array) -> Any:
    """Rows ``rows`` of a time-major rollout, split across the devices.

    Args:
      data: pytree of (T, N, ...) arrays split along N (the env axis) across ``mesh``.
      rows: (M,) replicated indices into the flattened (T * N) batch; M divisible by
        the device count.
    Returns:
      The pytree of (M, ...) arrays ``x.reshape(T * N, ...)[rows]``, split along M:
      device d holds rows d*M/D .. (d+1)*M/D - 1. Each device picks the requested rows
      it owns (zeros elsewhere) and a reduce-scatter hands every device its slice, so
      no device holds more than one minibatch; the sum adds exact zeros, so the values
      are the unsharded gather's bit for bit.
    """
    spec_data = PartitionSpec(None, AXIS)

    def local(data: Any, rows: jax.Array) -> Any:
        num_local = jax.tree_util.tree_leaves(data)[0].shape[1]
        num_envs = num_local * mesh.size
        t, env = rows // num_envs, rows % num_envs
        mine = env // num_local == jax.lax.axis_index(AXIS)
        t, env = jnp.where(mine, t, 0), jnp.where(mine, env % num_local, 0)

        def pick(x: jax.Array) -> jax.Array:
            picked = x[t, env]
            owned = mine.reshape(mine.shape + (1,) * (picked.ndim - 1))
            summable = picked.astype(jnp.int32) if picked.dtype == jnp.bool_ else picked
            summable = jnp.where(owned, summable, jnp.zeros_like(summable))
            mine_only = jax.lax.psum_scatter(summable, AXIS, scatter_dimension=0, tiled=True)
            return mine_only.astype(x.dtype)

        return jax.tree_util.tree_map(pick, data)

    return jax.shard_map(
        local, mesh=mesh, in_specs=(spec_data, PartitionSpec()), out_specs=PartitionSpec(AXIS),
        check_vma=False,
    )(data, rows)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def split_envs(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Sharding that splits dimension ``axis`` (the env / sample axis) across the mesh."""
    return NamedSharding(mesh, PartitionSpec(*([None] * axis), AXIS))


def runner_shardings(runner: Any, mesh: Mesh) -> Any:
    """The RunnerState-shaped tree of shardings: batched fields split, the rest replicated."""
    fields = {
        name: jax.tree_util.tree_map(
            lambda _, s=split_envs(mesh) if name in BATCHED_FIELDS else replicated(mesh): s,
            getattr(runner, name),
        )
        for name in runner.__dataclass_fields__
    }
    return runner.replace(**fields)


def place_runner(runner: Any, mesh: Mesh) -> Any:
    """Global arrays on ``mesh`` from a runner every process holds whole (same seed)."""
    host = jax.device_get(runner)
    shardings = runner_shardings(runner, mesh)

    def place(x: Any, sharding: NamedSharding) -> jax.Array:
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    return jax.tree_util.tree_map(place, host, shardings)


def host_runner(runner: Any) -> Any:
    """The whole runner on this host (gathering shards of other processes; collective)."""
    if jax.process_count() == 1:
        return jax.device_get(runner)
    return jax.tree_util.tree_map(
        lambda x: np.asarray(x) if x.is_fully_replicated
        else np.asarray(multihost_utils.process_allgather(x, tiled=True)),
        runner,
    )


# How long a process waits for the others to finish compiling (a busy machine can take
# many minutes; a process that is killed ends the wait sooner, through jax.distributed's
# heartbeat; one that exits normally does not, it waits in jax.distributed's own
# shutdown barrier).
BARRIER_TIMEOUT_S = 3600


def wait_for_all_processes(name: str, timeout_s: float = BARRIER_TIMEOUT_S) -> None:
    """Return once every process of the run has called this with ``name`` (a no-op with
    one process).

    A barrier of jax.distributed's coordination service, not a device collective. The
    first collective of a multi-process CPU run sets up gloo, which waits only 30 s for
    the other processes: less than one process's compile can lag another's on a busy
    machine. Waiting here after the compile starts the first collective together.
    Every process must call it with the same ``name``; a name can be used again once
    every process has passed it.
    """
    if jax.process_count() == 1:
        return
    # jax.distributed has no public barrier; JAX's own multi-process tests and orbax's
    # multihost helpers call this client's.
    from jax._src import distributed

    client = distributed.global_state.client
    if client is None:  # processes joined without jax.distributed: a device collective
        multihost_utils.sync_global_devices(name)
        return
    client.wait_at_barrier(name, int(timeout_s * 1000))


def agree(values: tuple[int, ...]) -> tuple[int, ...]:
    """Process 0's ``values`` (ints or bools, as ints), on every process (collective;
    with one process: the values themselves).

    Keeps decisions made from host state (wall-clock timers: a chunk's length, when to
    save; stop signals) in step across processes, since each of them leads to
    collectives: two processes running chunks of different lengths would wait for each
    other's collectives forever.
    """
    if jax.process_count() == 1:
        return tuple(int(v) for v in values)
    shared = multihost_utils.broadcast_one_to_all(np.asarray(values, dtype=np.int32))
    return tuple(int(v) for v in np.asarray(shared))
