"""Use cases: train a policy (logging each update through the MetricsLogger port) and evaluate it."""

from __future__ import annotations

import dataclasses
import logging
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.application import sharding
from hackmatrix.application.checkpointing import restore_tree, runner_payload, runner_state_dict
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.evaluation import (
    MODE_GREEDY,
    evaluate,
    evaluate_random_policy,
    run_episodes,
    summarize_detailed,
)
from hackmatrix.application.metrics import PPO_METRIC_KEYS, host_records
from hackmatrix.application.ports import (
    CheckpointStore,
    DroppingLogger,
    MetricsLogger,
    ResumableLogger,
)
from hackmatrix.application.ppo import (
    RunnerState,
    init_runner_state,
    make_env,
    make_optimizer,
    make_train_chunk,
)
from hackmatrix.domain.state import EnvParams

__all__ = [
    "NonFiniteTrainingError", "TrainPolicy", "TrainResult", "check_resumable", "evaluate",
    "evaluate_random_policy",
]

_log = logging.getLogger("hackmatrix.train")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class NonFiniteTrainingError(RuntimeError):
    """A loss or a parameter became NaN/inf; training stopped without saving."""

    def __init__(self, message: str, update: int) -> None:
        super().__init__(message)
        self.update = update  # 1-based index of the first bad update


@dataclasses.dataclass
class TrainResult:
    """What a training run hands back."""

    params: Any  # host pytree of numpy arrays
    config: TrainConfig  # resolved (auto-scaled, bumped) config actually trained
    num_updates: int  # updates done in total, those before a resume included
    env_steps: int
    compile_seconds: float
    train_seconds: float  # wall time of the chunks, compile excluded
    last_metrics: dict[str, float]
    checkpoints: list[str]
    runner: Any = None  # final RunnerState (device arrays), e.g. for in-progress episode stats
    interrupted_by: str | None = None  # "SIGINT"/"SIGTERM" when a signal stopped the run
    resumed_from: str | None = None  # checkpoint the run continued from
    # Trackers that failed for good mid-run -> the last update they recorded.
    trackers_stopped: dict[str, int] = dataclasses.field(default_factory=dict)


_COMPILED: dict[tuple[Any, ...], Any] = {}
# A compiled call runs up to log_interval updates; the loop asks for fewer when updates
# are slow, so that progress shows about this often (every update, when one takes longer).
PROGRESS_SECONDS = 1.0
# Measured on the 2-core CPU: the default network's chunk ~65 s (docs/performance.md),
# the whole start-up 3 min at load average 15; the tests' tiny networks 10-35 s.
COMPILE_HINT = "about a minute on a 2-core CPU for the default network, several when it is busy"


# TrainConfig fields that never reach the compiled chunk: the run's seed (its keys are
# an argument), evaluation and checkpointing (outside the chunk) and the budget (only
# its length in updates, for the schedules; see _program_key).
_OUTSIDE_THE_PROGRAM = (
    "total_timesteps", "seed", "eval_interval", "eval_episodes", "eval_seed",
    "save_interval", "save_minutes", "checkpoint_dir", "keep_checkpoints", "run_dir",
)  # fmt: skip


def _program_key(cfg: TrainConfig, env: Any, mesh: Any = None) -> tuple[Any, ...]:
    """What shapes the compiled chunk: every config field but _OUTSIDE_THE_PROGRAM's (a
    field added to TrainConfig is in the key unless listed there), the run's length in
    updates where a schedule spans it, the env and the mesh."""
    defaults = TrainConfig()
    program = dataclasses.replace(
        cfg, **{name: getattr(defaults, name) for name in _OUTSIDE_THE_PROGRAM}
    )
    schedules = cfg.anneal_lr or cfg.ent_coef_final is not None or cfg.uses_teacher
    return (program, cfg.num_updates if schedules else None, env, mesh)


def _compiled_chunk(cfg: TrainConfig, env: Any, runner: Any, mesh: Any = None) -> Any:
    """Ahead-of-time compiled train chunk, cached per program so that reruns skip compiling.

    Compiling ahead keeps compile time out of the first chunk's steps_per_second.
    """
    key = _program_key(cfg, env, mesh)
    if key not in _COMPILED:
        train_chunk = make_train_chunk(cfg, env=env, mesh=mesh, runner_template=runner)
        _COMPILED[key] = train_chunk.lower(runner, jnp.int32(cfg.log_interval)).compile()
    return _COMPILED[key]


@jax.jit
def _tree_is_finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)
              if jnp.issubdtype(x.dtype, jnp.floating)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.bool_(True)


class _StopFlag:
    """Set by SIGINT/SIGTERM; the training loop checks it between chunks.

    A second signal while the flag is set raises KeyboardInterrupt at once (abort
    without waiting for the chunk or the save).
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        _log.warning(
            "%s received: finishing the current chunk, saving a checkpoint and stopping "
            "(send it again to abort without saving)", self.signal_name,
        )


class TrainPolicy:
    """Train the actor-critic with PPO, one compiled chunk of ``log_interval`` updates at a time.

    Between chunks it does one ``jax.device_get``, checks that the losses and the
    parameters are finite, then calls ``logger.log_metrics(record, step=env_steps)``
    once per update of the chunk (and, after an evaluation, ``logger.log_html`` with
    the replay of one evaluation game), and saves a checkpoint when ``save_interval``
    updates (or ``save_minutes``) have passed, at the end, and when a stop signal
    arrived (with ``handle_signals``).

    Args:
      config: the hyperparameters (auto-scaled here).
      logger: the tracker(s).
      checkpoints: where checkpoints go (None: no checkpoints).
      env_params: engine parameters (None: from the config).
      resume_from: a checkpoint path, or ``"latest"`` (the store's newest), to continue.
        Same ``num_envs``: the full runner state is restored and training continues
        exactly as if it had never stopped. Other ``num_envs``: only the weights are
        kept (optimizer and games start afresh) and a warning is issued.
      handle_signals: install SIGINT/SIGTERM handlers that stop between chunks.
      before_chunk: test hook ``f(next_update_index_0_based, runner) -> runner`` run
        before each chunk (e.g. to poison the parameters at update K).
      mesh: devices to shard the env batch across (``sharding.make_mesh``); None or a
        one-device mesh: the plain single-device program. Results match the
        single-device run with the same total batch (float summation order aside).
      is_primary: False on the processes other than 0 of a multi-process run: they
        train in lockstep but neither log nor write checkpoints (process 0's decisions
        to save or stop are shared with them).
      run_settings: logged with the config (e.g. ``{"logger": "stdout,mlflow"}``).
      compilation_cache: the persistent compilation cache's folder (None: off), named
        in the notice printed before compiling.

    Console notices go to the ``hackmatrix.train`` logger at INFO: the compile (before
    and after), the resume point and each checkpoint.
    """

    def __init__(
        self,
        config: TrainConfig,
        logger: MetricsLogger,
        checkpoints: CheckpointStore | None = None,
        env_params: EnvParams | None = None,
        *,
        resume_from: str | None = None,
        handle_signals: bool = False,
        before_chunk: Callable[[int, RunnerState], RunnerState] | None = None,
        mesh: Any = None,
        is_primary: bool = True,
        run_settings: Mapping[str, object] | None = None,
        compilation_cache: str | None = None,
    ):
        if resume_from is not None and checkpoints is None:
            raise ValueError(f"resume_from={resume_from!r} needs a checkpoint store")
        self.config = config
        self.logger = logger
        self.checkpoints = checkpoints
        self.env_params = env_params
        self.resume_from = resume_from
        self.handle_signals = handle_signals
        self.before_chunk = before_chunk
        if mesh is not None and mesh.size == 1 and jax.process_count() == 1:
            mesh = None  # one device: the unsharded program (no shard_map wrappers)
        self.mesh = mesh
        self.is_primary = is_primary
        self.run_settings = dict(run_settings or {})
        self.compilation_cache = compilation_cache

    def run(self) -> TrainResult:
        """Train up to the config's budget; always closes the logger."""
        try:
            # The values as trained: num_minibatches/update_epochs/total_timesteps resolved.
            cfg = self.config.auto_scale_for_batch_size()
            self.logger.log_config({**cfg.to_dict(), **cfg.derived(), **self.run_settings})
            if not self.handle_signals:
                return self._train(_StopFlag())
            with _StopFlag() as stop:
                return self._train(stop)
        finally:
            self.logger.close()

    # ---- resume -------------------------------------------------------------------
    def _resume(self, cfg: TrainConfig, runner: RunnerState) -> tuple[RunnerState, int, int, str]:
        """Restore ``runner`` from the checkpoint; returns (runner, updates, env_steps, path)."""
        assert self.checkpoints is not None and self.resume_from is not None
        path = self.resume_from
        if path == "latest":
            latest = self.checkpoints.latest()
            if latest is None:
                raise ValueError("--resume latest: no checkpoint found to resume from")
            path = latest
        payload, metadata = self.checkpoints.load(path)
        params, restored, updates, env_steps, saved_envs = _restored(cfg, runner, payload, metadata, path)
        if restored is not None:
            return restored, updates, env_steps, path
        message = (
            f"resuming {path!r} with num_envs={cfg.num_envs} (checkpoint: {saved_envs}): "
            "keeping the weights, resetting the optimizer state and the games; "
            "Adam's moment estimates were calibrated to the old batch"
        )
        warnings.warn(message, stacklevel=3)
        _log.warning(message)
        params = jax.tree_util.tree_map(jnp.asarray, params)
        fresh = runner.replace(params=params, opt_state=make_optimizer(cfg).init(params))
        return fresh, updates, env_steps, path

    # ---- training loop ------------------------------------------------------------
    def _train(self, stop: _StopFlag) -> TrainResult:
        cfg = self.config.auto_scale_for_batch_size()
        # A cold start compiles the games' set-up, then the chunk: silent for minutes.
        compile_started = self._announce_compile()
        if self.mesh is not None:
            sharding.check_batch_fits(cfg.num_envs, self.mesh, cfg.minibatch_size)
        env = make_env(cfg, self.env_params)
        runner = init_runner_state(cfg, env)
        done_updates, env_steps, resumed_from = 0, 0, None
        if self.resume_from is not None:
            runner, done_updates, env_steps, resumed_from = self._resume(cfg, runner)
            self._notice("resumed from %s at update %d (%d env steps)",
                         resumed_from, done_updates, env_steps)
        if self.mesh is not None:
            runner = sharding.place_runner(runner, self.mesh)
        # Updates left in the env-step budget (equals num_updates - done at an unchanged batch).
        remaining = max(0, (cfg.effective_total_timesteps - env_steps) // cfg.batch_size)
        start = time.perf_counter()
        compiled = _compiled_chunk(cfg, env, runner, self.mesh) if remaining else None
        compile_seconds = time.perf_counter() - start
        sharding.wait_for_all_processes("hackmatrix:compiled")  # see its docstring
        self._notice("compiled in %.1f s; training", time.perf_counter() - compile_started)
        total_updates = done_updates + remaining
        train_seconds = 0.0
        last_record: dict[str, float] = {}
        saved: list[str] = []
        last_save_update, last_save_time = done_updates, time.perf_counter()
        stopping = False
        stopped: dict[str, int] = {}
        seconds_per_update: float | None = None  # of the last chunk; None: no chunk yet
        while done_updates < total_updates and not stopping:
            n = min(cfg.log_interval, total_updates - done_updates)
            n = min(n, _updates_for_progress(seconds_per_update, done_updates, cfg.log_interval))
            if cfg.eval_interval:  # a chunk ends on every evaluation update
                n = min(n, cfg.eval_interval - done_updates % cfg.eval_interval)
            (n,) = sharding.agree((n,))  # timed on process 0, for every process
            if self.before_chunk is not None:
                runner = self.before_chunk(done_updates, runner)
            start = time.perf_counter()
            runner, metrics = compiled(runner, jnp.int32(n))
            metrics, params_finite = jax.device_get((metrics, _tree_is_finite(runner.params)))
            elapsed = time.perf_counter() - start
            train_seconds += elapsed
            seconds_per_update = elapsed / n
            records = host_records(
                metrics, n, first_update=done_updates, batch_size=cfg.batch_size,
                steps_per_second=n * cfg.batch_size / max(elapsed, 1e-9),
            )
            records = [(env_steps + (i + 1) * cfg.batch_size, r) for i, (_, r) in enumerate(records)]
            bad = _first_non_finite(metrics, n, bool(params_finite))
            replay = None
            # Single-process runs only: in a multi-process run the other processes would
            # wait at the next collective while process 0 plays (evaluate a checkpoint).
            if (bad is None and jax.process_count() == 1
                    and _evaluation_due(cfg, done_updates + n, total_updates)):
                records[-1][1].update(evaluation_metrics(cfg, env, runner.params))
                if self.is_primary:
                    replay = evaluation_replay(cfg, env, runner.params, records[-1][0])
            for i, (step, record) in enumerate(records[: n if bad is None else bad]
                                               if self.is_primary else ()):
                self.logger.log_metrics(record, step=step)
                for name in _dropped(self.logger):  # the update it failed at is lost
                    stopped.setdefault(name, done_updates + i)
            if replay is not None:  # after its step's metrics (wandb adds it to that row)
                self.logger.log_html(REPLAY_NAME, replay, step=records[-1][0])
            if bad is not None:
                self._fail_non_finite(metrics, bad, done_updates, saved)
            last_record = records[-1][1]
            done_updates += n
            env_steps += n * cfg.batch_size
            save = self._should_save(cfg, done_updates, last_save_update, last_save_time,
                                     total_updates, stop)
            # Process 0 decides for all (a save gathers the shards of every process).
            save, stopping = (bool(v) for v in sharding.agree((save, stop.signal_name is not None)))
            if save:
                path = self._save(cfg, runner, done_updates, env_steps)
                saved.extend([path] if path is not None else [])
                last_save_update, last_save_time = done_updates, time.perf_counter()

        return TrainResult(
            params=jax.device_get(runner.params),
            config=cfg,
            num_updates=done_updates,
            env_steps=env_steps,
            compile_seconds=compile_seconds,
            train_seconds=train_seconds,
            last_metrics=last_record,
            checkpoints=saved,
            runner=runner,
            # A secondary process stopped by process 0's signal reports SIGTERM.
            interrupted_by=stop.signal_name or ("SIGTERM" if stopping else None),
            resumed_from=resumed_from,
            trackers_stopped=stopped,
        )

    def _announce_compile(self) -> float:
        """Say that compiling starts, how long it usually takes and what the cache does;
        returns the time it started."""
        cache = (
            f"the compilation cache ({self.compilation_cache}) makes the next run with "
            "these settings start in seconds" if self.compilation_cache
            else "the compilation cache is off: every run compiles again"
        )
        self._notice("compiling the training program (%s; %s) ...", COMPILE_HINT, cache)
        return time.perf_counter()

    def _notice(self, message: str, *args: object) -> None:
        """A console notice (INFO), from process 0 only: the others train silently."""
        if self.is_primary:
            _log.info(message, *args)

    def _fail_non_finite(
        self, metrics: Mapping[str, np.ndarray], bad: int, done_updates: int, saved: list[str]
    ) -> None:
        update = done_updates + bad + 1
        values = {k: float(np.asarray(metrics[k])[bad]) for k in PPO_METRIC_KEYS if k in metrics}
        shown = ", ".join(f"{k}={v}" for k, v in values.items() if not np.isfinite(v))
        last_good = saved[-1] if saved else (self.checkpoints.latest() if self.checkpoints else None)
        raise NonFiniteTrainingError(
            f"training diverged at update {update}: non-finite "
            f"{shown or 'parameters'}; stopped without saving "
            f"(last good checkpoint: {last_good or 'none'})",
            update,
        )

    def _should_save(
        self, cfg: TrainConfig, done: int, last_update: int, last_time: float, total: int,
        stop: _StopFlag,
    ) -> bool:
        if self.checkpoints is None or done == last_update:
            return False
        if done >= total or stop.signal_name is not None:
            return True
        if cfg.save_interval is not None:
            return done - last_update >= cfg.save_interval
        return time.perf_counter() - last_time >= 60.0 * cfg.save_minutes

    def _save(
        self, cfg: TrainConfig, runner: Any, done_updates: int, env_steps: int
    ) -> str | None:
        """Write a checkpoint (process 0); every process takes part in gathering it."""
        assert self.checkpoints is not None
        runner = sharding.host_runner(runner)
        if not self.is_primary:
            return None
        metadata: dict[str, Any] = {
            "env_steps": env_steps,
            "update": done_updates,
            "num_envs": cfg.num_envs,
            "batch_size": cfg.batch_size,
            "config": self.config.to_dict(),  # as the user set it (auto-scaling re-applies)
            "resolved_config": cfg.to_dict(),
            "trackers": _run_ids(self.logger),
        }
        path = self.checkpoints.save(env_steps, runner_payload(runner), metadata)
        _log.info("checkpoint saved: %s (update %d)", path, done_updates)
        return path


EVAL_MAX_STEPS = 1000  # cap per evaluation game (greedy policies can loop)
EVAL_KEYS = ("mean_return", "mean_highest_stage", "win_rate", "mean_length",
             "truncated_frac", "actions/siphon_frac", "actions/program_frac",
             "per_game/siphons", "ends/siphon_caused")


REPLAY_NAME = "eval/replay"


def evaluation_replay(cfg: TrainConfig, env: Any, params: Any, step: int) -> str:
    """The HTML replay of evaluation game 0 (greedy, same keys as in ``eval/*``): one
    game played on the host, a few milliseconds per step once compiled."""
    # Imported here: only runs with evaluations need them.
    from hackmatrix.application.html_replay import render_html
    from hackmatrix.application.network import network_for
    from hackmatrix.application.replay import evaluation_game

    network = network_for(cfg)
    frames = evaluation_game(network, jax.device_get(params), env, cfg.eval_seed,
                             cfg.eval_episodes, EVAL_MAX_STEPS)
    total = sum(frame.reward or 0.0 for frame in frames)
    ending = "game over" if frames[-1].done else f"still running at the {EVAL_MAX_STEPS}-step cap"
    return render_html(
        frames, title=f"HackMatrix evaluation replay at {step:,} env steps",
        subtitle=(f"greedy game 0 of the {cfg.eval_episodes} evaluation games (eval_seed "
                  f"{cfg.eval_seed}): {len(frames) - 1} steps, return {total:.3f}, stage "
                  f"{frames[-1].stage}, {ending}"),
    )


def _evaluation_due(cfg: TrainConfig, done_updates: int, total_updates: int) -> bool:
    """Evaluate after every ``eval_interval``-th update and after the last one."""
    if not cfg.eval_interval:
        return False
    return done_updates % cfg.eval_interval == 0 or done_updates == total_updates


def evaluation_metrics(cfg: TrainConfig, env: Any, params: Any) -> dict[str, float]:
    """``eval/*`` of ``cfg.eval_episodes`` greedy games on the fixed evaluation games of
    ``cfg.eval_seed`` (``evaluation.evaluation_key``: a key stream training never draws)."""
    params = jax.device_get(params)
    raw = run_episodes(params, cfg, cfg.eval_episodes, MODE_GREEDY, cfg.eval_seed,
                       EVAL_MAX_STEPS, env)
    stats = summarize_detailed(raw)
    keys = EVAL_KEYS + tuple(k for k in stats if k.startswith("reach_stage_"))
    return {f"eval/{key.split('/')[-1]}": stats[key] for key in keys}


def _restored(
    cfg: TrainConfig, template: Any, payload: Mapping[str, Any], metadata: Mapping[str, Any],
    path: str,
) -> tuple[Any, Any, int, int, int]:
    """(params, runner or None, updates, env_steps, saved num_envs) of a loaded checkpoint.

    The runner is restored only when the checkpoint has ``cfg.num_envs`` games (else
    None: the caller keeps the weights only). ValueError names the checkpoint and the
    first mismatching leaf.
    """
    state = runner_state_dict(payload, path)
    try:
        updates, env_steps = int(metadata["update"]), int(metadata["env_steps"])
        saved_envs = int(metadata["num_envs"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {path!r} lacks training metadata ({error!r})") from None
    params = restore_tree(template.params, state["params"], "params", path)
    restored = None
    if saved_envs == cfg.num_envs:
        restored = restore_tree(template, _with_gymnax_env_state(state, saved_envs), "runner state", path)
    return params, restored, updates, env_steps, saved_envs


def _with_gymnax_env_state(state: dict[str, Any], num_envs: int) -> dict[str, Any]:
    """A runner state dict whose games are gymnax states: checkpoints written before the
    trainer ran the gymnax env hold the bare games, which resume as games in progress
    (step counter 0, no time limit is in force in training)."""
    games = state.get("env_state")
    if not isinstance(games, Mapping) or "game" in games:
        return state
    return {**state, "env_state": {"time": np.zeros((num_envs,), np.int32), "game": games,
                                   "terminated": np.zeros((num_envs,), np.bool_)}}


def check_resumable(
    config: TrainConfig, checkpoints: CheckpointStore, path: str,
    env_params: EnvParams | None = None,
) -> None:
    """Raise the ValueError that resuming from ``path`` would raise, before anything runs.

    Reads the checkpoint and compares it with a shape-only template of the runner
    (``jax.eval_shape``: nothing is compiled or computed), so a checkpoint of another
    network shape is refused before a run folder, a tracker or a checkpoint folder is
    created.
    """
    cfg = config.auto_scale_for_batch_size()
    env = make_env(cfg, env_params)
    template = jax.eval_shape(lambda: init_runner_state(cfg, env))
    payload, metadata = checkpoints.load(path)
    _restored(cfg, template, payload, metadata, path)


def _first_non_finite(metrics: Mapping[str, np.ndarray], n: int, params_finite: bool) -> int | None:
    """0-based index in the chunk of the first update with a non-finite loss.

    Parameters are checked at the end of the chunk only: non-finite parameters with
    finite losses blame the chunk's last update.
    """
    for i in range(n):
        for key in PPO_METRIC_KEYS:
            if key in metrics and not np.isfinite(np.asarray(metrics[key])[i]):
                return i
    return None if params_finite else n - 1


def _updates_for_progress(seconds_per_update: float | None, done: int, log_interval: int) -> int:
    """Updates for the next compiled call: one first (progress right after the compile),
    then enough for about PROGRESS_SECONDS, cut at the next multiple of log_interval
    (so fast runs keep the chunk boundaries of log_interval)."""
    if seconds_per_update is None:
        return 1
    wanted = max(1, int(PROGRESS_SECONDS / max(seconds_per_update, 1e-9)))
    return min(wanted, log_interval - done % log_interval)


def _dropped(logger: MetricsLogger) -> list[str]:
    return logger.dropped() if isinstance(logger, DroppingLogger) else []


def _run_ids(logger: MetricsLogger) -> dict[str, str]:
    if isinstance(logger, ResumableLogger):
        try:
            return {str(k): str(v) for k, v in logger.run_ids().items()}
        except Exception as error:  # noqa: BLE001 - a tracker must not stop a save
            _log.debug("run_ids failed: %r", error)
    return {}
