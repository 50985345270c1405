"""Command line for ``python -m hackmatrix.application.train``.

One ``--flag`` per ``TrainConfig`` field (generated from ``dataclasses.fields``)
plus the tracker settings and ``--config``. Flags left out do not override
anything, so the file and ``HACKMATRIX_*`` variables show through.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hackmatrix.adapters.checkpoints.locate import read_resume_point
from hackmatrix.adapters.config.sources import (
    ENV_PREFIX,
    NONE_DEFAULT_TEXT,
    RUNTIME_DEFAULTS,
    RUNTIME_HELP,
    TRACKING_DEFAULTS,
    TRACKING_HELP,
    EnvConfigSource,
    FileConfigSource,
    LayeredConfigSource,
    MappingConfigSource,
    coerce_value,
    env_var_name,
)
from hackmatrix.adapters.runtime import check_distributed_settings
from hackmatrix.application.config import FIELD_DEFAULTS, FIELD_TYPES, TrainConfig
from hackmatrix.application.errors import EXIT_USAGE, ArgumentParser, report

PROG = "python -m hackmatrix.application.train"
SETTING_METAVARS = {
    "logger": "NAME[,NAME]", "wandb_mode": "MODE", "table_every": "INT",
    "compilation_cache_dir": "PATH|none", "num_devices": "INT", "coordinator": "HOST:PORT",
    "num_processes": "INT", "process_id": "INT",
}


def flag_name(key: str) -> str:
    """``num_envs`` -> ``--num-envs``."""
    return "--" + key.replace("_", "-")


def _converter(key: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return coerce_value(key, text, f"flag {flag_name(key)}")
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = key  # argparse names it in "invalid <name> value"
    return convert


def _metavar(key: str) -> str:
    base, optional = FIELD_TYPES[key]
    word = {bool: "{true,false}", int: "INT", float: "FLOAT", str: "TEXT"}[base]
    return f"{word}|none" if optional else word


def _default_text(key: str, default: Any) -> str:
    if default is None and key in NONE_DEFAULT_TEXT:
        return NONE_DEFAULT_TEXT[key]
    return repr(default) if isinstance(default, str) else str(default)


def build_parser() -> ArgumentParser:
    """The argparse parser; every option's help shows its default and env variable."""
    parser = ArgumentParser(
        prog=PROG,
        usage="%(prog)s [--config PATH] [--resume PATH|latest] [--<setting> VALUE ...]  (see --help)",
        description=(
            "Train a PPO policy on HackMatrix. Settings come from, lowest to highest "
            "precedence: defaults < --config file (YAML or TOML, flat snake_case keys) < "
            f"{ENV_PREFIX}<KEY> environment variables < these flags."
        ),
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,  # a typo must not silently match a longer flag
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="YAML (.yaml/.yml) or TOML (.toml) file of settings (default: none)",
    )
    parser.add_argument(
        "--resume",
        metavar="PATH|latest",
        help="continue a run from a checkpoint file, a run or checkpoint folder (its newest "
        "checkpoint), or 'latest' (the newest checkpoint of --run-dir, else of any run under "
        "runs/). The checkpoint's hyperparameters are the base; file, env and flags still "
        "override. Where the run writes never comes from the checkpoint: --run-dir, else the "
        "run folder the checkpoint sits in (<run>/<checkpoint-dir>/), else a fresh "
        "runs/<timestamp>. (default: none)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also print the INFO messages of the libraries (mlflow, jax.distributed, ...) "
        "and hackmatrix's debug messages (default: warnings only, plus hackmatrix's notices)",
    )
    train = parser.add_argument_group("training (TrainConfig)")
    for field in dataclasses.fields(TrainConfig):
        train.add_argument(
            flag_name(field.name),
            dest=field.name,
            type=_converter(field.name),
            metavar=_metavar(field.name),
            help=f"(default: {_default_text(field.name, field.default)}; "
            f"env {env_var_name(field.name)})",
        )
    groups = (
        ("tracking", TRACKING_DEFAULTS, TRACKING_HELP),
        ("runtime (devices, multi-host, compilation cache)", RUNTIME_DEFAULTS, RUNTIME_HELP),
    )
    for title, defaults, helps in groups:
        group = parser.add_argument_group(title)
        for key, default in defaults.items():
            group.add_argument(
                flag_name(key),
                dest=key,
                type=_converter(key),
                metavar=SETTING_METAVARS.get(key, "TEXT"),
                help=f"{helps[key]} (default: {_default_text(key, default)}; "
                f"env {env_var_name(key)})",
            )
    return parser


def parse_command_line(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[str | None, dict[str, Any], LayeredConfigSource]:
    """Parse ``argv`` and validate the whole stack at once.

    Returns:
      ``(config_file, flag_values, source)``: the file path (or None), the values
      set by flags, and the layered source built from them.
    Raises:
      SystemExit(2) with a message naming the bad key and value (argparse style).
    """
    parser = build_parser()
    namespace = vars(parser.parse_args(argv))
    config_file = namespace.pop("config", None)
    resume = namespace.pop("resume", None)
    verbose = bool(namespace.pop("verbose", False))
    try:
        base = []
        resume_point = None
        if resume is not None:
            resume_point = _resume_point(resume, config_file, namespace, environ)
            base = [MappingConfigSource(resume_point.config, f"checkpoint {resume_point.path!r}")]
        source = LayeredConfigSource.standard(config_file, namespace, environ, base=base)
        source.resume = resume_point
        source.verbose = verbose
        source.tracking()
        check_distributed_settings(**{
            k: v for k, v in source.runtime().items()
            if k in ("coordinator", "num_processes", "process_id")
        })
    except ValueError as error:  # one line, no usage: the message names the problem
        report(PROG, error)
        raise SystemExit(EXIT_USAGE) from None
    return config_file, namespace, source


def _resume_point(
    spec: str, config_file: str | None, flags: Mapping[str, Any], environ: Mapping[str, str] | None
):  # type: ignore[no-untyped-def]
    """Read the checkpoint ``--resume`` names, looking in the run folder given, if any."""
    explicit: dict[str, Any] = {}
    if config_file:
        explicit.update(FileConfigSource(config_file).values())
    explicit.update(EnvConfigSource(environ).values())
    explicit.update(flags)
    checkpoint_dir = explicit.get("checkpoint_dir") or FIELD_DEFAULTS["checkpoint_dir"]
    return read_resume_point(spec, explicit.get("run_dir"), checkpoint_dir)
