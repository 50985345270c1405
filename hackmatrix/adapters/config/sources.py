"""Config sources: defaults < YAML/TOML file < ``HACKMATRIX_*`` env vars < CLI flags.

Every source implements the ``ConfigSource`` port (``load() -> TrainConfig``) and
also exposes its raw ``values()``, so that ``LayeredConfigSource`` can stack
them. Besides the ``TrainConfig`` fields, each layer may carry the tracker
settings (``TRACKING_DEFAULTS``: which tracker, wandb/mlflow options). Keys are
snake_case (dashes in file keys are accepted). Unknown keys and bad values raise
``ValueError`` naming the key, where it came from and the value.
"""

from __future__ import annotations

import datetime as _dt
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import yaml

from hackmatrix.application.config import FIELD_TYPES, TrainConfig, coerce_field

ENV_PREFIX = "HACKMATRIX_"
BACKENDS = ("stdout", "wandb", "mlflow")
WANDB_MODES = ("online", "offline", "disabled")

# Tracker settings: not hyperparameters, so they live outside TrainConfig.
TRACKING_DEFAULTS: dict[str, Any] = {
    "logger": "stdout",  # one of BACKENDS, or several joined by commas
    "project": "hackmatrix",  # wandb project
    "run_name": None,  # wandb/mlflow run name (None: the run folder's name)
    "wandb_mode": None,  # None: WANDB_MODE, else online with WANDB_API_KEY, else offline
    "wandb_entity": None,
    "mlflow_tracking_uri": None,  # None: sqlite:///<run_dir>/mlflow.db
    "mlflow_experiment": "hackmatrix",
    "table_every": 10,  # stdout: key-metrics table every N updates (0: never)
}
TRACKING_HELP: dict[str, str] = {
    "logger": f"tracker(s): {'|'.join(BACKENDS)} or several joined by commas, e.g. stdout,mlflow",
    "project": "wandb project",
    "run_name": "run name for wandb and mlflow",
    "wandb_mode": f"wandb mode: {'|'.join(WANDB_MODES)}",
    "wandb_entity": "wandb entity/team",
    "mlflow_tracking_uri": "mlflow tracking URI, e.g. http://127.0.0.1:5000",
    "mlflow_experiment": "mlflow experiment name",
    "table_every": "stdout: print a table of key metrics every N updates (0: never)",
}
# What a None default means, for --help.
NONE_DEFAULT_TEXT: dict[str, str] = {
    "run_dir": "runs/<timestamp>",
    "run_name": "the run folder's name",
    "wandb_mode": "$WANDB_MODE, else online when WANDB_API_KEY is set, else offline",
    "wandb_entity": "the account's",
    "mlflow_tracking_uri": "sqlite:///<run-dir>/mlflow.db",
    "compilation_cache_dir": "$JAX_COMPILATION_CACHE_DIR, else ~/.cache/hackmatrix/jax",
    "num_devices": "all devices",
    "coordinator": "single process",
    "num_processes": "single process",
    "process_id": "single process",
}
# Runtime settings: where and how JAX runs (not hyperparameters, not trackers).
RUNTIME_DEFAULTS: dict[str, Any] = {
    "compilation_cache_dir": None,  # None: the default folder; "none": no persistent cache
    "num_devices": None,  # None: every device; N: the first N (the env batch is split over them)
    "coordinator": None,  # multi-host: host:port of process 0's coordinator
    "num_processes": None,  # multi-host: how many processes take part
    "process_id": None,  # multi-host: this process's index, 0..num_processes-1
}
RUNTIME_HELP: dict[str, str] = {
    "compilation_cache_dir": "persistent JAX compilation cache folder, or 'none' to switch it off",
    "num_devices": "devices to train on; the env batch is sharded across them",
    "coordinator": "multi-host: host:port of the coordinator (process 0), e.g. 10.0.0.1:1234, "
    "or 'auto' to let jax.distributed detect the cluster (TPU pod slice, SLURM)",
    "num_processes": "multi-host: number of processes in the run",
    "process_id": "multi-host: this process's id, 0 .. num-processes - 1",
}
RUNTIME_INT_MINIMUM = {"num_devices": 1, "num_processes": 1, "process_id": 0}
KNOWN_KEYS = tuple(FIELD_TYPES) + tuple(TRACKING_DEFAULTS) + tuple(RUNTIME_DEFAULTS)


class Layer(Protocol):
    """One layer of settings: raw, key-checked and coerced values it sets."""

    def values(self) -> dict[str, Any]: ...


# ---- validation -----------------------------------------------------------------


def normalize_key(key: object, origin: str) -> str:
    """Map ``num-envs``/``num_envs`` to ``num_envs``; raise on unknown keys."""
    name = str(key).strip().replace("-", "_")
    if name not in KNOWN_KEYS:
        raise ValueError(
            f"unknown config key {str(key)!r} in {origin}; known keys: {', '.join(KNOWN_KEYS)}"
        )
    return name


def coerce_value(name: str, value: Any, origin: str) -> Any:
    """Coerce ``value`` for key ``name``; errors name the key, origin and value."""
    try:
        if name in FIELD_TYPES:
            return coerce_field(name, value)
        if name in RUNTIME_DEFAULTS:
            return _coerce_runtime(name, value)
        return _coerce_tracking(name, value)
    except ValueError as error:
        raise ValueError(f"bad value for {name} in {origin}: {value!r} ({error})") from None


def parse_backends(spec: str) -> list[str]:
    """``"stdout, mlflow"`` -> ``["stdout", "mlflow"]``; unknown names raise ValueError."""
    names = [part.strip().lower() for part in str(spec).split(",") if part.strip()]
    if not names:
        raise ValueError(f"logger must name at least one of {', '.join(BACKENDS)}, got {spec!r}")
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise ValueError(
            f"unknown logger {', '.join(map(repr, unknown))}; choose from {', '.join(BACKENDS)}"
        )
    return list(dict.fromkeys(names))  # de-duplicated, order kept


def _coerce_tracking(name: str, value: Any) -> Any:
    if name == "table_every":
        if isinstance(value, bool):
            raise ValueError("must be an integer >= 0")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError("must be an integer >= 0") from None
        if number < 0:
            raise ValueError("must be an integer >= 0")
        return number
    if value is None:
        if name == "logger":
            raise ValueError("must name a tracker")
        return None
    text = str(value).strip()
    if name == "logger":
        return ",".join(parse_backends(text))
    if name == "wandb_mode":
        if text.lower() in ("", "none", "auto"):
            return None
        if text.lower() not in WANDB_MODES:
            raise ValueError(f"must be one of {', '.join(WANDB_MODES)}")
        return text.lower()
    return text or None


def _coerce_runtime(name: str, value: Any) -> Any:
    text = None if value is None else str(value).strip()
    if name == "compilation_cache_dir":
        return text  # "none" (switch off) is kept: None means the default folder
    if text is None or text.lower() in ("", "none"):
        return None
    if name == "coordinator":
        return text
    minimum = RUNTIME_INT_MINIMUM[name]
    if isinstance(value, bool) or not text.lstrip("-").isdigit() or int(text) < minimum:
        raise ValueError(f"must be an integer >= {minimum}")
    return int(text)


def _checked(raw: Mapping[Any, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = normalize_key(key, origin)
        out[name] = coerce_value(name, value, origin)
    return out


def _train_part(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key in FIELD_TYPES}


# ---- sources --------------------------------------------------------------------


class MappingConfigSource:
    """Settings from an in-memory mapping (CLI flags, tests)."""

    def __init__(self, values: Mapping[str, Any], origin: str = "mapping") -> None:
        self._values = _checked(values, origin)

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def load(self) -> TrainConfig:
        return TrainConfig.from_dict(_train_part(self._values))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file into a flat mapping."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"config file not found: {str(path)!r}")
    suffix = file.suffix.lower()
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"config file {str(path)!r} is not UTF-8 text: {error}") from None
    except OSError as error:
        raise ValueError(f"cannot read config file {str(path)!r}: {error}") from None
    try:
        if suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ValueError(
                f"config file {str(path)!r} must end in .yaml, .yml or .toml, got {suffix!r}"
            )
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"cannot parse config file {str(path)!r}: {error}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of keys to values")
    return dict(data)


class FileConfigSource:
    """Settings from a YAML or TOML file of flat ``key: value`` pairs."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._values = _checked(read_config_file(path), f"config file {self.path!r}")

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def load(self) -> TrainConfig:
        return TrainConfig.from_dict(_train_part(self._values))


def env_var_name(key: str) -> str:
    """``num_envs`` -> ``HACKMATRIX_NUM_ENVS``."""
    return ENV_PREFIX + key.upper()


class EnvConfigSource:
    """Settings from ``HACKMATRIX_<KEY>`` environment variables (unknown ones raise)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, raw in env.items():
            if not var.startswith(ENV_PREFIX):
                continue
            key = var[len(ENV_PREFIX) :].lower()
            if key not in KNOWN_KEYS:
                raise ValueError(
                    f"unknown environment variable {var}={raw!r}; known: "
                    + ", ".join(env_var_name(k) for k in KNOWN_KEYS)
                )
            values[key] = coerce_value(key, raw, f"environment variable {var}")
        self._values = values

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def load(self) -> TrainConfig:
        return TrainConfig.from_dict(_train_part(self._values))


def default_run_dir(root: str | Path = "runs", now: _dt.datetime | None = None) -> str:
    """A fresh ``runs/<YYYYmmdd-HHMMSS>`` path (suffixed ``-1``, ``-2``... if taken)."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = Path(root) / stamp
    suffix = 0
    while candidate.exists():
        suffix += 1
        candidate = Path(root) / f"{stamp}-{suffix}"
    return str(candidate)


class LayeredConfigSource:
    """Defaults < ``layers[0]`` < ``layers[1]`` < ...; later layers win key by key.

    ``run_dir``, when no layer sets it, is fixed once to ``runs/<timestamp>`` so the
    trainer and every tracker write into the same folder.
    """

    resume: Any = None  # set by the CLI to the ResumePoint of --resume (None: fresh run)
    verbose: bool = False  # set by the CLI from --verbose (third-party INFO on the console)

    def __init__(self, layers: Sequence[Layer], run_root: str | Path = "runs") -> None:
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update(layer.values())
        if merged.get("run_dir") is None:
            merged["run_dir"] = default_run_dir(run_root)
        self._values = merged
        self._config = TrainConfig.from_dict(_train_part(merged))  # validate now: fail fast

    @classmethod
    def standard(
        cls,
        config_file: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        base: Sequence[Layer] = (),
    ) -> LayeredConfigSource:
        """The usual stack: ``base`` (e.g. a resumed checkpoint's settings) < file (if any)
        < environment < ``overrides`` (CLI flags)."""
        layers: list[Layer] = list(base)
        if config_file:
            layers.append(FileConfigSource(config_file))
        layers.append(EnvConfigSource(environ))
        layers.append(MappingConfigSource(overrides or {}, origin="command-line flags"))
        return cls(layers)

    def values(self) -> dict[str, Any]:
        return dict(self._values)

    def load(self) -> TrainConfig:
        return self._config

    def runtime(self) -> dict[str, Any]:
        """Runtime settings (compilation cache, devices, multi-host), defaults filled in."""
        return {key: self._values.get(key, default) for key, default in RUNTIME_DEFAULTS.items()}

    def tracking(self) -> dict[str, Any]:
        """Tracker settings, with ``backends`` (list) and ``backend`` (selector key)."""
        settings = {key: self._values.get(key, default) for key, default in TRACKING_DEFAULTS.items()}
        backends = parse_backends(settings["logger"])
        settings["backends"] = backends
        settings["backend"] = backends[0] if len(backends) == 1 else "composite"
        if settings["run_name"] is None:
            settings["run_name"] = Path(str(self._config.run_dir)).name
        return settings
