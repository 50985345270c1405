"""Config sources: defaults < file < HACKMATRIX_* env < flags; bad input fails naming it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from hackmatrix.adapters.config.cli import build_parser, flag_name, parse_command_line
from hackmatrix.adapters.config.sources import (
    TRACKING_DEFAULTS,
    EnvConfigSource,
    FileConfigSource,
    LayeredConfigSource,
    MappingConfigSource,
    default_run_dir,
    parse_backends,
)
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.ports import ConfigSource

YAML = "num_envs: 32\nnum_steps: 16\nlearning_rate: 1.0e-3\nlogger: stdout,mlflow\n"
TOML = 'num_envs = 32\nnum_steps = 16\nlearning_rate = 1e-3\nlogger = "stdout,mlflow"\n'


@pytest.fixture(params=[("cfg.yaml", YAML), ("cfg.yml", YAML), ("cfg.toml", TOML)])
def config_file(request, tmp_path):
    name, text = request.param
    path = tmp_path / name
    path.write_text(text)
    return path


def _load(argv, environ, tmp_path):
    _, _, source = parse_command_line([*argv, "--run-dir", str(tmp_path / "run")], environ)
    return source.load(), source.tracking()


def test_defaults_when_nothing_is_set(tmp_path):
    config, tracking = _load([], {}, tmp_path)
    assert config == TrainConfig(run_dir=str(tmp_path / "run"))
    assert tracking["backends"] == ["stdout"] and tracking["backend"] == "stdout"
    assert tracking["project"] == "hackmatrix" and tracking["run_name"] == "run"


@pytest.mark.parametrize(
    ("env", "argv", "expected"),
    [
        # (env vars, flags) -> (num_envs, num_steps, learning_rate, logger)
        ({}, [], (32, 16, 1e-3, ["stdout", "mlflow"])),
        ({"HACKMATRIX_NUM_ENVS": "64"}, [], (64, 16, 1e-3, ["stdout", "mlflow"])),
        ({"HACKMATRIX_NUM_ENVS": "64"}, ["--num-envs", "8"], (8, 16, 1e-3, ["stdout", "mlflow"])),
        ({"HACKMATRIX_LOGGER": "wandb"}, [], (32, 16, 1e-3, ["wandb"])),
        ({"HACKMATRIX_LOGGER": "wandb"}, ["--logger", "mlflow"], (32, 16, 1e-3, ["mlflow"])),
        ({}, ["--learning-rate", "5e-4", "--num-steps", "4"], (32, 4, 5e-4, ["stdout", "mlflow"])),
    ],
)
def test_file_then_env_then_flags_take_precedence(config_file, tmp_path, env, argv, expected):
    config, tracking = _load(["--config", str(config_file), *argv], env, tmp_path)
    assert (config.num_envs, config.num_steps, config.learning_rate, tracking["backends"]) == expected
    assert tracking["backend"] == ("composite" if len(expected[3]) > 1 else expected[3][0])
    assert config.gamma == 0.99  # untouched fields keep their defaults


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["--num-minibatches", "8"], "num_minibatches", 8),
        (["--num-minibatches", "none"], "num_minibatches", None),
        (["--track-breakdown", "false"], "track_breakdown", False),
        (["--total-timesteps", "1e6"], "total_timesteps", 1_000_000),
        (["--checkpoint-dir", "ckpt"], "checkpoint_dir", "ckpt"),
        (["--ent-coef", "0"], "ent_coef", 0.0),
    ],
)
def test_flags_are_coerced_to_the_field_type(tmp_path, argv, field, value):
    config, _ = _load(argv, {}, tmp_path)
    assert getattr(config, field) == value
    assert type(getattr(config, field)) is type(value)


def test_every_train_config_field_has_a_flag_and_help_shows_defaults():
    help_text = " ".join(build_parser().format_help().split())
    for field in dataclasses.fields(TrainConfig):
        assert flag_name(field.name) in help_text, field.name
    for key in TRACKING_DEFAULTS:
        assert flag_name(key) in help_text, key
    assert "--num-envs INT (default: 256; env HACKMATRIX_NUM_ENVS)" in help_text
    assert "--ent-coef FLOAT (default: 0.15; env HACKMATRIX_ENT_COEF)" in help_text
    assert "--run-dir TEXT|none (default: runs/<timestamp>; env HACKMATRIX_RUN_DIR)" in help_text
    assert "--logger NAME[,NAME] tracker(s): stdout|wandb|mlflow" in help_text
    assert "--config PATH" in help_text


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--num-envs", "abc"], {}, "argument --num-envs: bad value for num_envs in flag --num-envs: 'abc'"),
        (["--num-envs", "0"], {}, "num_envs must be >= 1, got 0"),
        (["--gamma", "1.5"], {}, "gamma must be in (0, 1], got 1.5"),
        (["--logger", "tensorboard"], {}, "unknown logger 'tensorboard'"),
        (["--wandb-mode", "sometimes"], {}, "bad value for wandb_mode in flag --wandb-mode: 'sometimes'"),
        (["--num-env", "4"], {}, "unrecognized arguments: --num-env 4"),
        ([], {"HACKMATRIX_NUM_ENV": "4"}, "unknown environment variable HACKMATRIX_NUM_ENV='4'"),
        ([], {"HACKMATRIX_SEED": "-1"}, "seed must be >= 0, got -1"),
        ([], {"HACKMATRIX_NUM_ENVS": "many"},
         "bad value for num_envs in environment variable HACKMATRIX_NUM_ENVS: 'many'"),
        (["--num-envs", "3", "--num-steps", "3"], {}, "must be divisible by num_minibatches"),
    ],
)  # fmt: skip
def test_bad_flags_and_env_vars_exit_2_naming_key_and_value(argv, environ, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line(argv, environ)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "num_envs: 4\nnum_env: 8\n", "unknown config key 'num_env' in config file"),
        ("bad.toml", "hidden_dims = 8\n", "unknown config key 'hidden_dims'"),
        ("bad.yaml", "num_envs: lots\n", "bad value for num_envs in config file"),
        ("bad.yaml", "- 1\n- 2\n", "must hold a mapping"),
        ("bad.toml", "num_envs = \n", "cannot parse config file"),
        ("bad.json", "{}", "must end in .yaml, .yml or .toml, got '.json'"),
    ],
)
def test_bad_config_files_raise_value_error_naming_the_problem(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=None) as error:
        FileConfigSource(path)
    assert message in str(error.value)


def test_missing_config_file_is_a_clean_cli_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        parse_command_line(["--config", str(tmp_path / "nope.yaml")], {})
    assert "config file not found" in capsys.readouterr().err


def test_file_keys_may_use_dashes_and_an_empty_file_is_fine(tmp_path):
    dashed = tmp_path / "c.yaml"
    dashed.write_text("num-envs: 8\nrun-name: demo\n")
    assert FileConfigSource(dashed).values() == {"num_envs": 8, "run_name": "demo"}
    empty = tmp_path / "e.yaml"
    empty.write_text("")
    assert FileConfigSource(empty).values() == {}


def test_each_source_implements_the_config_source_port(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("num_envs = 8\n")
    sources = [
        FileConfigSource(path),
        EnvConfigSource({"HACKMATRIX_NUM_ENVS": "8", "PATH": "/bin"}),
        MappingConfigSource({"num_envs": 8}),
        LayeredConfigSource([MappingConfigSource({"num_envs": 8, "run_dir": "r"})]),
    ]
    for source in sources:
        assert isinstance(source, ConfigSource)
        assert source.load().num_envs == 8


def test_layered_source_fixes_run_dir_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = LayeredConfigSource([MappingConfigSource({})])
    assert source.load().run_dir == source.load().run_dir
    assert source.load().run_dir.startswith("runs/")
    assert source.tracking()["run_name"] == source.load().run_dir.split("/")[-1]


def test_default_run_dir_is_a_fresh_timestamped_folder(tmp_path):
    import datetime

    now = datetime.datetime(2025, 1, 2, 3, 4, 5)
    assert default_run_dir(tmp_path, now) == str(tmp_path / "20250102-030405")
    (tmp_path / "20250102-030405").mkdir()
    assert default_run_dir(tmp_path, now) == str(tmp_path / "20250102-030405-1")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("stdout", ["stdout"]), ("stdout, MLflow", ["stdout", "mlflow"]), ("wandb,wandb", ["wandb"])],
)
def test_parse_backends(spec, expected):
    assert parse_backends(spec) == expected


def test_help_runs_as_a_module_and_exits_0():
    result = subprocess.run(
        [sys.executable, "-m", "hackmatrix.application.train", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--num-envs" in result.stdout and "--logger" in result.stdout


def test_a_config_file_that_is_not_utf8_is_refused_naming_the_file(tmp_path):
    from hackmatrix.adapters.config.sources import FileConfigSource

    path = tmp_path / "c.yaml"
    path.write_bytes(b"num_envs: 4\n\xff\n")
    with pytest.raises(ValueError, match=r"config file '.*c\.yaml' is not UTF-8 text"):
        FileConfigSource(path)
