"""Weights & Biases tracker (module name avoids shadowing the ``wandb`` package).

``wandb`` is imported in the constructor, so a run that does not choose this
tracker never loads it. Without an explicit mode, ``WANDB_MODE`` wins, then
``online`` when ``WANDB_API_KEY`` is set, else ``offline`` (no network needed;
``wandb sync <run_dir>/wandb/offline-run-*`` uploads later). HTML pages (the
evaluations' replays) are ``wandb.Html`` panels in the row of their step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MODES = ("online", "offline", "disabled")
STEP_METRIC = "env_step"
# Metric groups plotted against env steps rather than wandb's internal step.
STEP_GROUPS = ("train", "reward", "actions", "stats", "key", "eval", "debug")


def resolve_mode(mode: str | None, environ: Mapping[str, str] | None = None) -> str:
    """Pick the wandb mode: explicit > WANDB_MODE > online with an API key > offline."""
    env = os.environ if environ is None else environ
    chosen = mode or env.get("WANDB_MODE") or ("online" if env.get("WANDB_API_KEY") else "offline")
    if chosen == "dryrun":  # wandb's legacy alias
        chosen = "offline"
    if chosen not in MODES:
        raise ValueError(f"wandb mode must be one of {', '.join(MODES)}, got {chosen!r}")
    return chosen


class WandbLogger:
    """Logs one wandb history row per update at ``step`` (= env steps consumed).

    Args:
      run_dir: the run folder; wandb writes under ``<run_dir>/wandb``.
      project: wandb project.
      run_name: display name of the run (None: wandb picks one).
      mode: online, offline or disabled (None: see ``resolve_mode``).
      config: initial run config (more can come through ``log_config``).
      entity: wandb entity/team (None: the account default).
      resume_id: id of an earlier run to continue (``resume="allow"``), e.g. the
        ``wandb_run_id`` a checkpoint stored; None starts a new run.
    """

    def __init__(
        self,
        run_dir: str | Path,
        project: str = "hackmatrix",
        run_name: str | None = None,
        mode: str | None = None,
        config: Mapping[str, Any] | None = None,
        entity: str | None = None,
        resume_id: str | None = None,
    ) -> None:
        import wandb

        self._html = wandb.Html
        self.mode = resolve_mode(mode)
        run_path = Path(run_dir)
        run_path.mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(
            project=project,
            entity=entity,
            name=run_name,
            config=dict(config or {}),
            mode=self.mode,
            dir=str(run_path),
            **({"id": resume_id, "resume": "allow"} if resume_id else {}),
            # Keep stdout for the console tracker; the history is what matters here.
            settings=wandb.Settings(console="off", silent=True),
        )
        self._run.define_metric(STEP_METRIC)
        for group in STEP_GROUPS:
            self._run.define_metric(f"{group}/*", step_metric=STEP_METRIC)
        self._closed = False

    @property
    def run_dir(self) -> str:
        """The folder wandb writes this run's files to."""
        return str(self._run.dir)

    def run_ids(self) -> dict[str, str]:
        """``{"wandb_run_id": ...}``, stored in checkpoints so a resume continues this run."""
        return {"wandb_run_id": str(self._run.id)}

    def log_config(self, config: Mapping[str, object]) -> None:
        """Merge ``config`` into the run config."""
        self._run.config.update(dict(config), allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """Log one update at wandb step ``step`` with ``env_step`` as the x axis."""
        row: dict[str, Any] = {key: float(value) for key, value in metrics.items()}
        row[STEP_METRIC] = int(step)
        self._run.log(row, step=int(step))

    def log_html(self, name: str, html: str, step: int) -> None:
        """Log the page as a ``wandb.Html`` panel under ``name`` at wandb step ``step``
        (the row of that step's metrics, logged just before)."""
        page = self._html(html, inject=False, data_is_not_path=True)
        self._run.log({name: page, STEP_METRIC: int(step)}, step=int(step))

    def close(self) -> None:
        """Finish the run (idempotent)."""
        if not self._closed:
            self._closed = True
            self._run.finish()
