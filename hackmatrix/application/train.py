"""``python -m hackmatrix.application.train``: parse flags, build the container, train.

A thin shim: all wiring lives in the composition root ``hackmatrix.containers``
(imported inside ``main`` -- the one place the application layer reaches it, as
cosmicpython's entry points call ``bootstrap``). ``--help`` lists every option.

Ctrl-C (SIGINT) or SIGTERM stops training after the current chunk, saves a
checkpoint and exits with status 128 + the signal number (130 for Ctrl-C);
``--resume latest`` continues. A second Ctrl-C aborts at once, without saving: one
line, status 130. Training that diverges (a NaN/inf loss or
parameter) exits with status 1 and a message naming the update.

Expected failures print one line ``<prog>: error: <message>`` and exit with status 2,
without a traceback: bad settings, a missing, corrupted or incompatible checkpoint
(another network shape: refused before anything is written), a run or checkpoint
folder that cannot be written (read-only, full disk), no tracker able to start, and a
checkpoint save failing mid-run (earlier checkpoints and logged metrics are kept).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

PROG = "python -m hackmatrix.application.train"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one training job configured from flags, ``HACKMATRIX_*`` env vars and a file."""
    try:
        return _main(argv)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training started
        print(f"{PROG}: aborted by Ctrl-C (nothing saved after the last checkpoint)",
              file=sys.stderr)
        return 128 + int(signal.SIGINT)


def _main(argv: Sequence[str] | None) -> int:
    from hackmatrix.application.errors import TrackerStartError, report
    from hackmatrix.application.sharding import check_batch_fits
    from hackmatrix.application.use_cases import NonFiniteTrainingError
    from hackmatrix.containers import configure_console, create_container, start_training

    try:
        container = create_container(argv)  # bad settings: one line, exit 2
    except SystemExit as stop:  # also --help (0): main() returns the status
        return stop.code if isinstance(stop.code, int) else 2
    configure_console(container)  # before any tracker SDK is imported
    # First: jax.distributed (multi-host) must start before any other JAX call.
    runtime = container.jax_runtime()
    try:
        mesh = container.mesh()
        config = container.train_config().auto_scale_for_batch_size()
        num_envs = config.num_envs
        check_batch_fits(num_envs, mesh, config.minibatch_size)
        policy = start_training(container)  # nothing is left behind when this fails
    except (ValueError, OSError, TrackerStartError) as error:
        return report(PROG, error)
    if runtime.is_primary:
        print(
            f"devices: {mesh.size} x {mesh.devices.flat[0].platform} across "
            f"{runtime.process_count} process(es), {num_envs // mesh.size} envs each; "
            f"compilation cache: {runtime.compilation_cache_dir or 'off'}",
            flush=True,
        )
    try:
        result = policy.run()  # run() closes the tracker(s), also on errors
    except NonFiniteTrainingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:  # e.g. a full disk at a save: earlier ones are kept
        return report(PROG, error)
    stopped_early = ", ".join(
        f"{name} after update {update}" for name, update in result.trackers_stopped.items()
    )
    if result.interrupted_by is not None:
        where = result.checkpoints[-1] if result.checkpoints else result.resumed_from
        message = (
            f"stopped by {result.interrupted_by} after update {result.num_updates} "
            f"({result.env_steps} env steps)"
        )
        if where is None:
            message += "; nothing to save yet"
        else:
            message += (
                f"; checkpoint: {where}\n"
                f"continue with: python -m hackmatrix.application.train --resume {where}"
            )
        if stopped_early:
            message += f"\ntrackers that stopped early: {stopped_early}"
        print(message, file=sys.stderr)
        return 128 + int(signal.Signals[result.interrupted_by])
    if result.checkpoints:
        print(f"checkpoint: {result.checkpoints[-1]}")
    if stopped_early:
        print(
            f"trackers that stopped early: {stopped_early} (of {result.num_updates}); "
            "the others hold every update"
        )
    return 0


if __name__ == "__main__":
    status = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C while exiting: no traceback
    raise SystemExit(status)
