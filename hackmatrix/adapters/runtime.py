"""JAX runtime set-up for the command-line entry points.

* **Persistent compilation cache** (on by default): compiled XLA programs are stored
  under the user's cache folder, so a second run of the same program skips the
  compile and starts in seconds. The folder is, in order of precedence: the
  ``compilation_cache_dir`` setting (``--compilation-cache-dir`` /
  ``HACKMATRIX_COMPILATION_CACHE_DIR``; ``none`` switches the cache off), JAX's own
  ``JAX_COMPILATION_CACHE_DIR``, then ``$XDG_CACHE_HOME/hackmatrix/jax`` (default
  ``~/.cache/hackmatrix/jax``).
* **Multi-host** training: ``jax.distributed.initialize`` with the coordinator's
  ``host:port``, the number of processes and this process's id (CPU collectives use
  gloo), before any other JAX call.
* **threefry compiled straight-line on CPU** (``hackmatrix.domain.prng``): the same
  random bits, faster batched steps and compiles. Process wide, so it is set here and
  not on importing the domain.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import jax

from hackmatrix.domain.prng import use_unrolled_threefry_on_cpu

_log = logging.getLogger("hackmatrix.runtime")

# "none"/"off"/"false"/"" as a cache folder means: no persistent cache.
CACHE_OFF_WORDS = ("", "none", "off", "false", "0")
MIN_COMPILE_SECONDS_TO_CACHE = 1.0
AUTO = "auto"  # --coordinator auto: the cluster tells jax.distributed everything


def default_compilation_cache_dir(environ: dict[str, str] | None = None) -> str:
    """``$JAX_COMPILATION_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/hackmatrix/jax``
    (``~/.cache/hackmatrix/jax`` when XDG_CACHE_HOME is unset)."""
    env = os.environ if environ is None else environ
    if env.get("JAX_COMPILATION_CACHE_DIR"):
        return env["JAX_COMPILATION_CACHE_DIR"]
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hackmatrix", "jax")


def resolve_compilation_cache_dir(
    setting: str | None, environ: dict[str, str] | None = None
) -> str | None:
    """The cache folder for a setting: None -> the default; an off word -> None (no cache)."""
    if setting is None:
        return default_compilation_cache_dir(environ)
    if setting.strip().lower() in CACHE_OFF_WORDS:
        return None
    return os.path.expanduser(setting)


def enable_compilation_cache(directory: str | None) -> str | None:
    """Point JAX's persistent compilation cache at ``directory`` (None: leave it off).

    A folder that cannot be created only disables the cache, with a warning: the
    cache saves time, it must not stop a training run.
    """
    if directory is None:
        return None
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _log.warning("compilation cache disabled: cannot create %r (%s)", directory, error)
        return None
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS_TO_CACHE)
    return directory


@dataclasses.dataclass(frozen=True)
class JaxRuntime:
    """What the runtime set-up did: the cache folder and this process's place."""

    compilation_cache_dir: str | None
    process_index: int
    process_count: int
    unrolled_threefry: bool = False  # threefry lowered straight-line on CPU

    @property
    def is_primary(self) -> bool:
        """Process 0: the one that logs and writes checkpoints."""
        return self.process_index == 0

    @property
    def role(self) -> str:
        return "primary" if self.is_primary else "secondary"


def check_distributed_settings(
    coordinator: str | None, num_processes: int | None, process_id: int | None
) -> bool:
    """True for a multi-process run; ValueError naming the bad value otherwise.

    All three must be given together (or none): coordinator ``host:port``,
    num_processes >= 1 and 0 <= process_id < num_processes. ``coordinator="auto"``
    alone lets ``jax.distributed.initialize`` read them from the cluster (Cloud TPU
    pod slices, SLURM, Open MPI).
    """
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    if all(v is None for v in given.values()):
        return False
    if coordinator == AUTO:
        if num_processes is not None or process_id is not None:
            raise ValueError(
                "--coordinator auto reads the process count and id from the cluster; "
                f"drop --num-processes ({num_processes}) and --process-id ({process_id})"
            )
        return True
    missing = [name for name, v in given.items() if v is None]
    if missing:
        raise ValueError(
            "multi-process training needs --coordinator, --num-processes and --process-id "
            f"together; missing: {', '.join('--' + m.replace('_', '-') for m in missing)}"
        )
    assert coordinator is not None and num_processes is not None and process_id is not None
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"coordinator must be host:port, got {coordinator!r}")
    if num_processes < 1:
        raise ValueError(f"num_processes must be >= 1, got {num_processes}")
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id must be in 0..{num_processes - 1}, got {process_id}")
    return True


def setup_jax_runtime(
    compilation_cache_dir: str | None = None,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    unrolled_threefry: bool = True,
) -> JaxRuntime:
    """Enable the compilation cache and the straight-line threefry lowering on CPU
    (``unrolled_threefry``; False leaves JAX's rule as it is) and, when asked, join a
    multi-process run."""
    directory = enable_compilation_cache(resolve_compilation_cache_dir(compilation_cache_dir))
    if check_distributed_settings(coordinator, num_processes, process_id):
        # Cross-process collectives of the CPU backend (no effect on GPU/TPU runs).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if coordinator == AUTO:
            jax.distributed.initialize()
        else:
            jax.distributed.initialize(
                coordinator_address=coordinator, num_processes=num_processes,
                process_id=process_id,
            )
        _log.info("process %d of %d joined the run", jax.process_index(), jax.process_count())
    # After jax.distributed: registering the lowering may initialise the backend.
    unrolled = use_unrolled_threefry_on_cpu() if unrolled_threefry else False
    return JaxRuntime(directory, jax.process_index(), jax.process_count(), unrolled)

