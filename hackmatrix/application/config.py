"""Typed PPO configuration (observation-reward-metrics §5.1, §5.5, §5.6; README decision 10).

``TrainConfig`` is a frozen dataclass whose field defaults are the CLI defaults.
Field annotations are real types (no postponed annotations) so that adapters can
build CLI flags from ``dataclasses.fields``; ``FIELD_TYPES`` gives the same
information as ``(base_type, is_optional)`` pairs.

``num_minibatches`` and ``update_epochs`` default to ``None`` ("unset"). When both
are unset they resolve to 4 and 4 and are then auto-scaled for large batches
(§5.5); a user value for either disables the scaling. Every instance is validated
on construction (§5.6), including the divisibility check on the *resolved*
number of minibatches.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Optional

from hackmatrix.application.network import NETWORKS

TEACHERS = ("none", "scripted")
# Soft labels' lowest temperature: the teacher's ties are TIE = 1e-3 apart, and far
# below it (scores / T) overflows float32.
MIN_TEMPERATURE = 1e-3
# The fields that turn the defaults into the spec's training (observation-reward-metrics
# §5): its MLP, raw rewards, PPO alone. recipes/spec.yaml is these plus the 10M budget.
SPEC_TRAINING: dict[str, Any] = {"network": "mlp", "normalize_returns": False,
                                 "teacher": "none", "imitation_fraction": 0.0}
# Fields added after the first release whose default has moved: a checkpoint written
# before a field existed leaves it out, and ran as these values say (before `network`,
# the MLP; before `teacher`, no teacher; before `imitation_fraction`, no imitation;
# before `teacher_temperature`, hard labels). ``saved_settings`` fills them in.
# History, not the spec: these stay fixed whatever SPEC_TRAINING becomes.
BEFORE_THE_FIELD: dict[str, Any] = {"network": "mlp", "normalize_returns": False,
                                    "teacher": "none", "imitation_fraction": 0.0,
                                    "teacher_temperature": None, "separate_critic": False}

REFERENCE_BATCH = 256 * 128  # R of §5.5
DEFAULT_MINIBATCHES = 4
DEFAULT_EPOCHS = 4
MAX_AUTO_MINIBATCHES = 64
MIN_AUTO_EPOCHS = 2
MIN_UPDATES = 3


def auto_scale_for_batch_size(batch_size: int) -> tuple[int, int]:
    """Return (num_minibatches, update_epochs) for a batch when the user set neither (§5.5).

    Args:
      batch_size: num_envs x num_steps.
    Returns:
      ``(4, 4)`` up to R = 32,768; above, with s = floor(B / R):
      ``(min(4 s, 64), max(2, floor(4 / s)))``.
    """
    if batch_size <= REFERENCE_BATCH:
        return DEFAULT_MINIBATCHES, DEFAULT_EPOCHS
    scale = batch_size // REFERENCE_BATCH
    num_minibatches = min(DEFAULT_MINIBATCHES * scale, MAX_AUTO_MINIBATCHES)
    update_epochs = max(MIN_AUTO_EPOCHS, DEFAULT_EPOCHS // scale)
    return num_minibatches, update_epochs


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """PPO hyperparameters; defaults follow observation-reward-metrics §5.1."""

    num_envs: int = 256
    num_steps: int = 128
    # Spec §5.1 says 10M; 2.5M keeps the default run near 15 min on a 2-core CPU (issue 4
    # learning check: README). Pass --total-timesteps 10000000 for the spec's budget.
    total_timesteps: int = 2_500_000
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: Optional[int] = None  # None: 4, auto-scaled unless update_epochs is set
    update_epochs: Optional[int] = None  # None: 4, auto-scaled unless num_minibatches is set
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.15
    max_grad_norm: float = 0.5
    hidden_dim: int = 256
    num_layers: int = 2
    # The default learns from the scripted teacher first, then by PPO (docs/training.md:
    # what each choice gained); recipes/spec.yaml is the spec's exact configuration.
    network: str = "ego"  # NETWORKS: "mlp" is §5.2's network with Flax-default init
    separate_critic: bool = False  # the value gets its own copy of the network (§5.2: shared)
    # Training features beyond §5.
    anneal_lr: bool = False  # learning rate linearly to 0 over the run's gradient steps
    ent_coef_final: Optional[float] = None  # entropy coef. linearly ent_coef -> this; None: constant
    normalize_returns: bool = True  # rewards / running std of the discounted return
    # Kickstarting: a cross-entropy term pulls the policy toward a teacher's action on the
    # states the policy itself visits; its weight stays teacher_coef through the imitation
    # phase, then falls linearly to teacher_coef_final at teacher_fraction of the run's
    # updates (1.0: at the last update, so it anchors PPO's whole phase) and stays there.
    teacher: str = "scripted"  # TEACHERS: "none" or "scripted" (application/scripted_policy.py)
    teacher_coef: float = 1.0
    teacher_fraction: float = 1.0
    teacher_coef_final: float = 0.0  # the term's floor; > 0 keeps the teacher to the end
    # Soft labels: the term is the cross-entropy with softmax(teacher's scores / T) over
    # the valid actions (one path step off the goal scores 1.1 less: exp(-1.1 / T) of
    # the best's weight); T >= MIN_TEMPERATURE. None: -log pi(the teacher's best actions).
    teacher_temperature: Optional[float] = 0.5
    # Imitation (DAgger) before PPO: for the first imitation_fraction of the updates the
    # policy learns only the teacher's choices (and the critic the returns), at
    # imitation_learning_rate; the teacher acts in a share of the games that falls from
    # all to none over the first half of that phase (docs/training.md).
    imitation_fraction: float = 0.8
    imitation_learning_rate: float = 1e-3
    log_interval: int = 10  # updates per compiled chunk
    seed: int = 0
    eval_interval: int = 25  # updates between greedy evaluations (eval/*), and the last; 0: none
    eval_episodes: int = 256  # games per evaluation
    eval_seed: int = 0  # evaluation games come from a key stream training never draws
    save_interval: Optional[int] = None  # updates between checkpoints; None: every save_minutes
    save_minutes: float = 10.0
    checkpoint_dir: str = "checkpoints"  # relative: inside run_dir
    keep_checkpoints: int = 3  # newest checkpoints kept; older ones are deleted
    run_dir: Optional[str] = None
    track_breakdown: bool = True  # aggregate the 15 reward/ means in jit
    undo_depth: int = 8  # EnvParams.undo_depth
    clear_undo_on_new_stage: bool = False  # EnvParams.clear_undo_on_new_stage

    def __post_init__(self) -> None:
        _check_types(self)
        _validate(self)

    # ---- resolution (§5.5) -------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def is_auto_scaled(self) -> bool:
        """True when the user set neither num_minibatches nor update_epochs."""
        return self.num_minibatches is None and self.update_epochs is None

    @property
    def resolved_num_minibatches(self) -> int:
        if self.is_auto_scaled:
            return auto_scale_for_batch_size(self.batch_size)[0]
        return DEFAULT_MINIBATCHES if self.num_minibatches is None else self.num_minibatches

    @property
    def resolved_update_epochs(self) -> int:
        if self.is_auto_scaled:
            return auto_scale_for_batch_size(self.batch_size)[1]
        return DEFAULT_EPOCHS if self.update_epochs is None else self.update_epochs

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.resolved_num_minibatches

    @property
    def gradient_steps(self) -> int:
        return self.resolved_num_minibatches * self.resolved_update_epochs

    @property
    def effective_total_timesteps(self) -> int:
        """total_timesteps, raised to exactly 3 x batch_size when it is smaller."""
        return max(self.total_timesteps, MIN_UPDATES * self.batch_size)

    @property
    def num_updates(self) -> int:
        return self.effective_total_timesteps // self.batch_size

    @property
    def uses_teacher(self) -> bool:
        return self.teacher != "none" and self.teacher_coef > 0.0

    @property
    def imitation_updates(self) -> int:
        """Updates (from the first) that imitate the teacher instead of running PPO."""
        return int(self.imitation_fraction * self.num_updates)

    def auto_scale_for_batch_size(self) -> TrainConfig:
        """Return a copy with num_minibatches, update_epochs and total_timesteps resolved.

        Idempotent: the result has both values set, so resolving it again changes nothing.
        """
        return dataclasses.replace(
            self,
            num_minibatches=self.resolved_num_minibatches,
            update_epochs=self.resolved_update_epochs,
            total_timesteps=self.effective_total_timesteps,
        )

    resolve = auto_scale_for_batch_size

    # ---- (de)serialisation -------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (what the user set; derived values excluded)."""
        return dataclasses.asdict(self)

    def derived(self) -> dict[str, int]:
        """Derived values, for logging next to the config."""
        return {
            "batch_size": self.batch_size,
            "minibatch_size": self.minibatch_size,
            "num_updates": self.num_updates,
            "gradient_steps": self.gradient_steps,
            "resolved_num_minibatches": self.resolved_num_minibatches,
            "resolved_update_epochs": self.resolved_update_epochs,
            "effective_total_timesteps": self.effective_total_timesteps,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping; unknown keys and ill-typed values raise ValueError.

        Strings (from env vars or CLI) and integral floats (``1e7`` in YAML) are
        coerced to the field's type.
        """
        unknown = sorted(set(values) - set(FIELD_TYPES))
        if unknown:
            raise ValueError(
                f"unknown TrainConfig field(s): {', '.join(unknown)}; "
                f"known fields: {', '.join(FIELD_TYPES)}"
            )
        kwargs = {name: coerce_field(name, value) for name, value in values.items()}
        return cls(**kwargs)


def saved_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's saved settings, with the value each field it lacks had before that
    field existed (``BEFORE_THE_FIELD``), so an older run resumes and loads as it ran
    instead of under today's defaults."""
    return {**{k: v for k, v in BEFORE_THE_FIELD.items() if k not in values}, **values}


def _base_and_optional(tp: Any) -> tuple[type, bool]:
    args = getattr(tp, "__args__", None)
    if args:  # Optional[X]
        base = next(a for a in args if a is not type(None))
        return base, True
    return tp, False


# Resolved at import: annotations are strings under ``from __future__ import annotations``.
_NAMESPACE = {"int": int, "float": float, "str": str, "bool": bool, "Optional": Optional}
FIELD_TYPES: dict[str, tuple[type, bool]] = {
    f.name: _base_and_optional(eval(f.type, _NAMESPACE) if isinstance(f.type, str) else f.type)
    for f in dataclasses.fields(TrainConfig)
}
FIELD_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_NONE = {"", "none", "null"}


def coerce_field(name: str, value: Any) -> Any:
    """Convert a raw value (str, int, float, bool, None) to the type of field ``name``."""
    if name not in FIELD_TYPES:
        raise ValueError(f"unknown TrainConfig field: {name}")
    base, optional = FIELD_TYPES[name]
    if isinstance(value, str) and base is not str:
        text = value.strip().lower()
        if optional and text in _NONE:
            return None
        if base is bool:
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError(f"{name} must be a boolean, got {value!r}")
        try:
            value = float(text) if base is float else _parse_int(text)
        except ValueError:
            raise ValueError(f"{name} must be {base.__name__}, got {value!r}") from None
        return value
    if value is None:
        return None
    if base is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _parse_int(text: str) -> int:
    text = text.replace("_", "")
    try:
        return int(text)
    except ValueError:
        as_float = float(text)  # accepts "1e7"
        if not as_float.is_integer():
            raise
        return int(as_float)


def _check_types(cfg: TrainConfig) -> None:
    for name, (base, optional) in FIELD_TYPES.items():
        value = getattr(cfg, name)
        if value is None:
            if optional:
                continue
            raise ValueError(f"{name} must be {base.__name__}, got None")
        if base is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif base is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, base)
        if not ok:
            raise ValueError(f"{name} must be {base.__name__}, got {value!r}")


def _validate(cfg: TrainConfig) -> None:
    """Enforce observation-reward-metrics §5.6; each error names the field and value."""
    for name in ("num_envs", "num_steps", "hidden_dim", "num_layers", "log_interval",
                 "total_timesteps", "eval_episodes", "undo_depth", "keep_checkpoints"):
        value = getattr(cfg, name)
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name in ("num_minibatches", "update_epochs", "save_interval"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    for name in ("learning_rate", "gamma", "gae_lambda", "clip_eps", "vf_coef", "ent_coef",
                 "max_grad_norm", "save_minutes"):
        value = getattr(cfg, name)
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if not 0.0 < cfg.gamma <= 1.0:
        raise ValueError(f"gamma must be in (0, 1], got {cfg.gamma}")
    if not 0.0 <= cfg.gae_lambda <= 1.0:
        raise ValueError(f"gae_lambda must be in [0, 1], got {cfg.gae_lambda}")
    for name in ("clip_eps", "learning_rate", "max_grad_norm", "save_minutes"):
        value = getattr(cfg, name)
        if not value > 0.0:
            raise ValueError(f"{name} must be > 0, got {value}")
    for name in ("vf_coef", "ent_coef"):
        value = getattr(cfg, name)
        if not value >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    for name in ("seed", "eval_seed", "eval_interval"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(cfg, name)}")
    if cfg.ent_coef_final is not None and not (
        math.isfinite(cfg.ent_coef_final) and cfg.ent_coef_final >= 0.0
    ):
        raise ValueError(f"ent_coef_final must be a finite number >= 0, got {cfg.ent_coef_final}")
    if cfg.teacher not in TEACHERS:
        raise ValueError(f"teacher must be one of {', '.join(TEACHERS)}, got {cfg.teacher!r}")
    if not (math.isfinite(cfg.teacher_coef) and cfg.teacher_coef >= 0.0):
        raise ValueError(f"teacher_coef must be a finite number >= 0, got {cfg.teacher_coef}")
    if not (math.isfinite(cfg.teacher_fraction) and 0.0 < cfg.teacher_fraction <= 1.0):
        raise ValueError(f"teacher_fraction must be in (0, 1], got {cfg.teacher_fraction}")
    if not (math.isfinite(cfg.teacher_coef_final)
            and 0.0 <= cfg.teacher_coef_final <= cfg.teacher_coef):
        raise ValueError(f"teacher_coef_final must be in [0, teacher_coef = {cfg.teacher_coef}], "
                         f"got {cfg.teacher_coef_final}")
    if cfg.teacher_temperature is not None and not (
        math.isfinite(cfg.teacher_temperature) and cfg.teacher_temperature >= MIN_TEMPERATURE
    ):
        raise ValueError(
            f"teacher_temperature must be a finite number >= {MIN_TEMPERATURE}, got "
            f"{cfg.teacher_temperature}"
        )
    if not (math.isfinite(cfg.imitation_fraction) and 0.0 <= cfg.imitation_fraction < 1.0):
        raise ValueError(f"imitation_fraction must be in [0, 1), got {cfg.imitation_fraction}")
    if cfg.imitation_fraction > 0.0 and not cfg.uses_teacher:
        raise ValueError(
            f"imitation_fraction = {cfg.imitation_fraction} needs a teacher (teacher = "
            f"{cfg.teacher!r}, teacher_coef = {cfg.teacher_coef})"
        )
    if not (math.isfinite(cfg.imitation_learning_rate) and cfg.imitation_learning_rate > 0.0):
        raise ValueError(
            f"imitation_learning_rate must be a finite number > 0, got {cfg.imitation_learning_rate}"
        )
    if cfg.network not in NETWORKS:
        raise ValueError(f"network must be one of {', '.join(NETWORKS)}, got {cfg.network!r}")
    # Divisibility runs on the resolved (possibly auto-scaled) value (§5.5, §5.6).
    batch = cfg.batch_size
    minibatches = cfg.resolved_num_minibatches
    source = "num_minibatches" if cfg.num_minibatches is not None else "num_minibatches (auto-scaled)"
    if minibatches > batch:
        raise ValueError(
            f"{source} must be <= batch_size = num_envs x num_steps = {batch}, got {minibatches}"
        )
    if batch % minibatches != 0:
        raise ValueError(
            f"batch_size = num_envs x num_steps = {cfg.num_envs} x {cfg.num_steps} = {batch} "
            f"must be divisible by {source} = {minibatches}"
        )
