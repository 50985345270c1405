"""Composition root: the one module that imports adapters and binds them to ports.

``Container.config`` only picks and builds adapters (which tracker, its options,
where the ``TrainConfig`` comes from); hyperparameters reach the use case as a
typed ``TrainConfig`` through the ``ConfigSource`` port. Every tracker is wrapped
in ``ResilientLogger`` so a failing one is dropped instead of stopping training.
Tracker policy: a tracker that cannot start is skipped with one warning naming it
and the error, and training goes on with the others; when none of the selected
trackers starts, ``TrackerStartError`` stops the run before training. Tracker SDKs
are imported by the adapters' constructors, so a stdout run never loads wandb or
mlflow.

Config layout (``strict=True``: a missing key is an error)::

    source:   {kind: "mapping", values: {...}}                 # already merged values
          or  {kind: "layered", config_file: path|None, overrides: {...}}  # + env vars
    tracking: {backend: stdout|wandb|mlflow|composite, backends: [...], project, run_name,
               wandb_mode, wandb_entity, mlflow_tracking_uri, mlflow_experiment, table_every}
    resume:   {path: str|None, step: int|None, updates: int|None, wandb_run_id: str|None,
               mlflow_run_id: str|None}
    runtime:  {compilation_cache_dir, num_devices, coordinator, num_processes, process_id}
    console:  {verbose: bool}                                  # third-party INFO on the console

``jax_runtime`` (the persistent compilation cache, ``jax.distributed`` for multi-host)
is set up before the mesh of devices the env batch is sharded across. In a
multi-process run only process 0 logs and writes checkpoints; the other processes
get a ``NullLogger`` and a read-only checkpoint store (for ``--resume``).

Checkpoints go to ``<run_dir>/<checkpoint_dir>`` through ``MsgpackCheckpointStore``.
``start_training`` builds a run in an order that leaves nothing behind on an expected
failure: the resume is checked against the config first (reading only), then the
checkpoint store, then the trackers; folders created by a start that fails are
removed again.
A resumed run (``resume.path`` set) continues the trackers' runs: wandb with
``resume="allow"`` and the saved id, mlflow in the saved run, and the stdout tracker
appends to ``metrics.jsonl`` after dropping lines past the checkpoint's step.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from hackmatrix.adapters.checkpoints.locate import (
    ResumePoint,
    checkpoint_directory,
    locate_checkpoint,
)
from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore
from hackmatrix.adapters.config.cli import parse_command_line
from hackmatrix.adapters.config.sources import (
    RUNTIME_DEFAULTS,
    TRACKING_DEFAULTS,
    LayeredConfigSource,
    MappingConfigSource,
    parse_backends,
)
from hackmatrix.adapters.logging.composite import CompositeLogger
from hackmatrix.adapters.logging.console import configure_console_logging
from hackmatrix.adapters.logging.mlflow_logger import MlflowLogger
from hackmatrix.adapters.logging.null import NullLogger
from hackmatrix.adapters.logging.resilient import ResilientLogger
from hackmatrix.adapters.logging.stdout import StdoutLogger
from hackmatrix.adapters.logging.wandb_logger import WandbLogger
from hackmatrix.adapters.runtime import JaxRuntime, setup_jax_runtime
from hackmatrix.application.config import FIELD_DEFAULTS
from hackmatrix.application.errors import TrackerStartError, one_line
from hackmatrix.application.ports import MetricsLogger
from hackmatrix.application.sharding import make_mesh
from hackmatrix.application.use_cases import TrainPolicy, check_resumable

_log = logging.getLogger("hackmatrix.tracking")


def mapping_source(values: Mapping[str, Any]) -> LayeredConfigSource:
    """A config source over fixed values (run_dir defaulted once if missing)."""
    return LayeredConfigSource([MappingConfigSource(values)])


def start_trackers(
    names: Sequence[str], trackers: Mapping[str, Callable[[], MetricsLogger]]
) -> MetricsLogger:
    """Build only the named trackers, in the given order: one alone, several behind a
    ``CompositeLogger``.

    A tracker that cannot start is skipped with ONE warning naming it and the error
    while the others go on; when none starts, ``TrackerStartError`` names them all.
    """
    started: list[MetricsLogger] = []
    failures: list[str] = []
    for name in names:
        try:
            started.append(trackers[name]())
        except Exception as error:  # noqa: BLE001 - any start-up failure of one tracker
            message = one_line(error)
            if not isinstance(error, TrackerStartError):
                message = f"could not start the {name} tracker: {message}"
            failures.append(message)
    if not started:
        raise TrackerStartError(
            failures[0] if len(failures) == 1 else "no tracker could start: " + "; ".join(failures)
        )
    for message in failures:
        _log.warning("%s; training goes on with the other tracker(s)", message)
    return started[0] if len(names) == 1 else CompositeLogger(started)



def writable_checkpoint_store(directory: str, keep: int) -> MsgpackCheckpointStore:
    """The training run's store, checked writable before any training starts."""
    store = MsgpackCheckpointStore(directory, keep=keep)
    store.ensure_writable()
    return store


def device_mesh(runtime: JaxRuntime, num_devices: int | None):  # type: ignore[no-untyped-def]
    """The mesh of devices to train on, once the runtime (multi-host) is set up."""
    del runtime  # a dependency only: jax.distributed must start before devices are listed
    return make_mesh(num_devices)


class Container(containers.DeclarativeContainer):
    """Binds ports to adapters; see the module docstring for the config layout."""

    config = providers.Configuration(strict=True)

    jax_runtime = providers.Singleton(
        setup_jax_runtime,
        compilation_cache_dir=config.runtime.compilation_cache_dir,
        coordinator=config.runtime.coordinator,
        num_processes=config.runtime.num_processes,
        process_id=config.runtime.process_id,
    )
    mesh = providers.Singleton(device_mesh, jax_runtime, config.runtime.num_devices)

    config_source = providers.Selector(
        config.source.kind,
        mapping=providers.Singleton(mapping_source, values=config.source.values),
        layered=providers.Singleton(
            LayeredConfigSource.standard,
            config_file=config.source.config_file,
            overrides=config.source.overrides,
        ),
    )
    train_config = config_source.provided.load.call()
    run_dir = train_config.provided.run_dir

    # Raw adapters; built only when selected.
    stdout_tracker = providers.Singleton(
        StdoutLogger,
        run_dir=run_dir,
        total_timesteps=train_config.provided.effective_total_timesteps,
        table_every=config.tracking.table_every,
        resume_step=config.resume.step,
        resume_update=config.resume.updates,
    )
    wandb_tracker = providers.Singleton(
        WandbLogger,
        run_dir=run_dir,
        project=config.tracking.project,
        run_name=config.tracking.run_name,
        mode=config.tracking.wandb_mode,
        entity=config.tracking.wandb_entity,
        config=train_config.provided.to_dict.call(),
        resume_id=config.resume.wandb_run_id,
    )
    mlflow_tracker = providers.Singleton(
        MlflowLogger,
        run_dir=run_dir,
        tracking_uri=config.tracking.mlflow_tracking_uri,
        experiment_name=config.tracking.mlflow_experiment,
        run_name=config.tracking.run_name,
        run_id=config.resume.mlflow_run_id,
    )

    # Fault-tolerant wrappers: a failing tracker warns once and is dropped.
    stdout = providers.Singleton(ResilientLogger, stdout_tracker.provider, name="stdout")
    wandb = providers.Singleton(ResilientLogger, wandb_tracker.provider, name="wandb")
    mlflow = providers.Singleton(ResilientLogger, mlflow_tracker.provider, name="mlflow")

    # The selected trackers; one that cannot start is skipped (none: TrackerStartError).
    tracker = providers.Singleton(
        start_trackers,
        config.tracking.backends,
        providers.Dict(stdout=stdout.provider, wandb=wandb.provider, mlflow=mlflow.provider),
    )

    # Process 0 logs; the others of a multi-process run stay silent.
    metrics_logger = providers.Selector(
        jax_runtime.provided.role,
        primary=tracker,
        secondary=providers.Singleton(NullLogger),
    )

    checkpoint_directory = providers.Callable(
        checkpoint_directory, run_dir, train_config.provided.checkpoint_dir
    )
    checkpoint_store = providers.Selector(
        jax_runtime.provided.role,
        primary=providers.Singleton(
            writable_checkpoint_store,
            directory=checkpoint_directory,
            keep=train_config.provided.keep_checkpoints,
        ),
        # Processes other than 0 read checkpoints (to resume) but never write them.
        secondary=providers.Singleton(
            MsgpackCheckpointStore,
            directory=checkpoint_directory,
            keep=train_config.provided.keep_checkpoints,
        ),
    )

    train_policy = providers.Factory(
        TrainPolicy,
        config=train_config,
        logger=metrics_logger,
        checkpoints=checkpoint_store,
        resume_from=config.resume.path,
        handle_signals=True,
        mesh=mesh,
        is_primary=jax_runtime.provided.is_primary,
        run_settings=providers.Dict(logger=config.tracking.logger),
        compilation_cache=jax_runtime.provided.compilation_cache_dir,
    )


def _first_missing(path: str | Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None: it all exists)."""
    current = Path(os.path.abspath(path))
    missing = None
    while not os.path.lexists(current):
        missing = current
        if current.parent == current:
            break
        current = current.parent
    return missing


def start_training(container: Container) -> TrainPolicy:
    """The run's ``TrainPolicy``, built so that an expected failure leaves nothing behind.

    1. A resume is checked against the config (the checkpoint is read, nothing is
       written): a checkpoint of another network shape fails here.
    2. The checkpoint store: folder created, checked writable, stale temp files removed.
    3. The trackers (see ``start_trackers``).

    If 2 or 3 fails, the folders this call created (the run folder, the checkpoint
    folder, missing parents) are removed again; existing files are never touched.

    Raises:
      ValueError (bad or incompatible checkpoint, unwritable checkpoint folder),
      OSError (a run folder that cannot be created), TrackerStartError (no tracker).
    """
    config = container.train_config()
    resume = container.config.resume.path()
    if resume is not None and resume != "latest":
        check_resumable(config, checkpoint_store_for(resume), resume)
    if not container.jax_runtime().is_primary:
        return container.train_policy()  # writes nothing
    folders = (config.run_dir, container.checkpoint_directory())
    created = {top for folder in folders if folder and (top := _first_missing(folder))}
    try:
        container.checkpoint_store()
        container.metrics_logger()
        return container.train_policy()
    except BaseException:
        for top in created:
            shutil.rmtree(top, ignore_errors=True)
        raise


def configure_console(container: Container) -> None:
    """hackmatrix's notices on stdout, third-party INFO only with ``--verbose``."""
    configure_console_logging(bool(container.config.console.verbose()))


NO_RESUME: dict[str, Any] = {
    "path": None, "step": None, "updates": None, "wandb_run_id": None, "mlflow_run_id": None,
}


def resume_settings(point: ResumePoint | None) -> dict[str, Any]:
    """The container's ``resume`` section for a ResumePoint (or a fresh run)."""
    if point is None:
        return dict(NO_RESUME)
    return {
        "path": point.path,
        "step": point.step,
        "updates": point.update,
        "wandb_run_id": point.trackers.get("wandb_run_id"),
        "mlflow_run_id": point.trackers.get("mlflow_run_id"),
    }


def default_jax_runtime(compilation_cache_dir: str | None = None) -> JaxRuntime:
    """The runtime of the single-process tools (evaluate, watch): the compilation cache
    in its default folder (``HACKMATRIX_COMPILATION_CACHE_DIR`` overrides, ``none``
    switches it off; ``compilation_cache_dir``, from a flag, wins over both)."""
    if compilation_cache_dir is None:
        compilation_cache_dir = os.environ.get("HACKMATRIX_COMPILATION_CACHE_DIR")
    return setup_jax_runtime(compilation_cache_dir)


def checkpoint_store_for(path: str) -> MsgpackCheckpointStore:
    """A store over the folder of checkpoint file ``path`` (for evaluate/watch)."""
    from pathlib import Path

    return MsgpackCheckpointStore(Path(path).parent)


def find_checkpoint(spec: str, option: str = "CHECKPOINT") -> str:
    """The checkpoint file ``spec`` names, as ``--resume`` reads it (for evaluate/watch): a
    file, a run or checkpoint folder (its newest checkpoint), or ``latest`` (the newest
    under ``runs/``); ValueError naming ``spec`` otherwise."""
    return str(locate_checkpoint(spec, None, FIELD_DEFAULTS["checkpoint_dir"], option=option))


def load_checkpoint(path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(payload, metadata) of a checkpoint file; ValueError naming the path on problems."""
    return checkpoint_store_for(path).load(path)


def tracking_settings(logger: str = "stdout", **options: Any) -> dict[str, Any]:
    """A complete ``tracking`` section: defaults, ``options`` on top, selector keys derived."""
    unknown = sorted(set(options) - set(TRACKING_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown tracking option(s): {', '.join(unknown)}")
    settings = {**TRACKING_DEFAULTS, **options, "logger": logger}
    backends = parse_backends(logger)
    settings["backends"] = backends
    settings["backend"] = backends[0] if len(backends) == 1 else "composite"
    return settings


def container_for(
    values: Mapping[str, Any],
    logger: str = "stdout",
    runtime: Mapping[str, Any] | None = None,
    **options: Any,
) -> Container:
    """A container over fixed TrainConfig values (tests, notebooks); ``runtime``
    overrides RUNTIME_DEFAULTS (e.g. ``{"num_devices": 1}``)."""
    container = Container()
    container.config.from_dict(
        {
            "source": {"kind": "mapping", "values": dict(values)},
            "tracking": tracking_settings(logger, **options),
            "resume": dict(NO_RESUME),
            "runtime": dict(RUNTIME_DEFAULTS, **(runtime or {})),
            "console": {"verbose": False},
        }
    )
    return container


def create_container(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Container:
    """Parse the command line (plus file and env) and build the container.

    Exits with status 2 and a message naming the bad key/value on invalid input.
    """
    _, _, source = parse_command_line(argv, environ)
    values = source.values()
    train_values = {
        k: v for k, v in values.items() if k not in TRACKING_DEFAULTS and k not in RUNTIME_DEFAULTS
    }
    container = Container()
    container.config.from_dict(
        {
            "source": {"kind": "mapping", "values": train_values},
            "tracking": source.tracking(),
            "resume": resume_settings(getattr(source, "resume", None)),
            "runtime": source.runtime(),
            "console": {"verbose": source.verbose},
        }
    )
    return container
