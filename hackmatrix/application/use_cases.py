"""Use cases: train a policy (logging each update through the MetricsLogger port) and evaluate it."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hackmatrix.application.config import TrainConfig
from hackmatrix.application.evaluation import evaluate, evaluate_random_policy
from hackmatrix.application.metrics import host_records
from hackmatrix.application.ports import CheckpointStore, MetricsLogger
from hackmatrix.application.ppo import init_runner_state, make_env, make_train_chunk
from hackmatrix.domain.state import EnvParams

__all__ = ["TrainPolicy", "TrainResult", "evaluate", "evaluate_random_policy"]


@dataclasses.dataclass
class TrainResult:
    """What a training run hands back."""

    params: Any  # host pytree of numpy arrays
    config: TrainConfig  # resolved (auto-scaled, bumped) config actually trained
    num_updates: int
    env_steps: int
    compile_seconds: float
    train_seconds: float  # wall time of the chunks, compile excluded
    last_metrics: dict[str, float]
    checkpoints: list[str]
    runner: Any = None  # final RunnerState (device arrays), e.g. for in-progress episode stats


_COMPILED: dict[tuple[Any, ...], Any] = {}


def _program_key(cfg: TrainConfig, env: Any) -> tuple[Any, ...]:
    """The config fields that shape the compiled chunk (seed, budget and I/O do not)."""
    return (
        cfg.num_envs, cfg.num_steps, cfg.learning_rate, cfg.gamma, cfg.gae_lambda,
        cfg.resolved_num_minibatches, cfg.resolved_update_epochs, cfg.clip_eps, cfg.vf_coef,
        cfg.ent_coef, cfg.max_grad_norm, cfg.hidden_dim, cfg.num_layers, cfg.log_interval,
        cfg.track_breakdown, env,
    )


def _compiled_chunk(cfg: TrainConfig, env: Any, runner: Any) -> Any:
    """Ahead-of-time compiled train chunk, cached per program so that reruns skip compiling.

    Compiling ahead keeps compile time out of the first chunk's steps_per_second.
    """
    key = _program_key(cfg, env)
    if key not in _COMPILED:
        train_chunk = make_train_chunk(cfg, env=env)
        _COMPILED[key] = train_chunk.lower(runner, jnp.int32(cfg.log_interval)).compile()
    return _COMPILED[key]


class TrainPolicy:
    """Train the actor-critic with PPO, one compiled chunk of ``log_interval`` updates at a time.

    Between chunks it does one ``jax.device_get``, then calls
    ``logger.log_metrics(record, step=env_steps)`` once per update of the chunk, and
    saves a checkpoint when ``save_interval`` updates (or ``save_minutes``) have passed.
    """

    def __init__(
        self,
        config: TrainConfig,
        logger: MetricsLogger,
        checkpoints: CheckpointStore | None = None,
        env_params: EnvParams | None = None,
    ):
        self.config = config
        self.logger = logger
        self.checkpoints = checkpoints
        self.env_params = env_params

    def run(self) -> TrainResult:
        """Train for config.num_updates updates; always closes the logger."""
        try:
            self.logger.log_config(self.config.to_dict())
            return self._train()
        finally:
            self.logger.close()

    def _train(self) -> TrainResult:
        cfg = self.config.auto_scale_for_batch_size()
        env = make_env(cfg, self.env_params)
        runner = init_runner_state(cfg, env)
        start = time.perf_counter()
        compiled = _compiled_chunk(cfg, env, runner)
        compile_seconds = time.perf_counter() - start

        total_updates = cfg.num_updates
        done_updates = 0
        train_seconds = 0.0
        last_record: dict[str, float] = {}
        saved: list[str] = []
        last_save_update, last_save_time = 0, time.perf_counter()
        while done_updates < total_updates:
            n = min(cfg.log_interval, total_updates - done_updates)
            start = time.perf_counter()
            runner, metrics = compiled(runner, jnp.int32(n))
            metrics = jax.device_get(metrics)
            elapsed = time.perf_counter() - start
            train_seconds += elapsed
            records = host_records(
                metrics, n, first_update=done_updates, batch_size=cfg.batch_size,
                steps_per_second=n * cfg.batch_size / max(elapsed, 1e-9),
            )
            for step, record in records:
                self.logger.log_metrics(record, step=step)
            last_record = records[-1][1]
            done_updates += n
            if self._should_save(cfg, done_updates, last_save_update, last_save_time, total_updates):
                saved.append(self._save(cfg, runner, done_updates))
                last_save_update, last_save_time = done_updates, time.perf_counter()

        return TrainResult(
            params=jax.device_get(runner.params),
            config=cfg,
            num_updates=done_updates,
            env_steps=done_updates * cfg.batch_size,
            compile_seconds=compile_seconds,
            train_seconds=train_seconds,
            last_metrics=last_record,
            checkpoints=saved,
            runner=runner,
        )

    def _should_save(
        self, cfg: TrainConfig, done: int, last_update: int, last_time: float, total: int
    ) -> bool:
        if self.checkpoints is None:
            return False
        if done >= total:
            return True
        if cfg.save_interval is not None:
            return done - last_update >= cfg.save_interval
        return time.perf_counter() - last_time >= 60.0 * cfg.save_minutes

    def _save(self, cfg: TrainConfig, runner: Any, done_updates: int) -> str:
        assert self.checkpoints is not None
        params = jax.tree_util.tree_map(np.asarray, jax.device_get(runner.params))
        env_steps = done_updates * cfg.batch_size
        metadata = {
            "env_steps": env_steps,
            "update": done_updates,
            "num_envs": cfg.num_envs,
            "config": cfg.to_dict(),
        }
        return self.checkpoints.save(env_steps, {"params": params}, metadata)
