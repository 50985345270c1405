"""Runtime settings: the persistent compilation cache and the multi-host flags (issue 7 items 4-5)."""

from __future__ import annotations

import re

import jax
import pytest

from hackmatrix.adapters.config.cli import build_parser, parse_command_line
from hackmatrix.adapters.runtime import (
    check_distributed_settings,
    default_compilation_cache_dir,
    enable_compilation_cache,
    resolve_compilation_cache_dir,
)
from hackmatrix.containers import create_container


def test_default_cache_folder_is_under_the_user_cache_dir():
    assert default_compilation_cache_dir({"HOME": "/home/u"}).endswith("/.cache/hackmatrix/jax")
    assert default_compilation_cache_dir({"XDG_CACHE_HOME": "/c"}) == "/c/hackmatrix/jax"


def test_jax_own_cache_variable_wins_over_the_default_folder():
    env = {"XDG_CACHE_HOME": "/c", "JAX_COMPILATION_CACHE_DIR": "/jaxcache"}
    assert default_compilation_cache_dir(env) == "/jaxcache"


@pytest.mark.parametrize("word", ["none", "None", "off", "false", ""])
def test_an_off_word_switches_the_cache_off(word):
    assert resolve_compilation_cache_dir(word, {"XDG_CACHE_HOME": "/c"}) is None


def test_an_explicit_folder_overrides_the_default():
    assert resolve_compilation_cache_dir("/tmp/x", {"XDG_CACHE_HOME": "/c"}) == "/tmp/x"
    assert resolve_compilation_cache_dir(None, {"XDG_CACHE_HOME": "/c"}) == "/c/hackmatrix/jax"


def test_enabling_the_cache_points_jax_at_the_folder(tmp_path):
    before = jax.config.jax_compilation_cache_dir
    try:
        folder = tmp_path / "cache" / "jax"
        assert enable_compilation_cache(str(folder)) == str(folder)
        assert folder.is_dir()
        assert jax.config.jax_compilation_cache_dir == str(folder)
    finally:
        jax.config.update("jax_compilation_cache_dir", before)


def test_an_uncreatable_cache_folder_only_disables_the_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    before = jax.config.jax_compilation_cache_dir
    assert enable_compilation_cache(str(blocker / "sub")) is None
    assert jax.config.jax_compilation_cache_dir == before


def test_single_process_needs_none_of_the_distributed_flags():
    assert check_distributed_settings(None, None, None) is False
    assert check_distributed_settings("10.0.0.1:1234", 2, 1) is True
    assert check_distributed_settings("auto", None, None) is True  # TPU pod slice, SLURM


@pytest.mark.parametrize(
    ("coordinator", "num_processes", "process_id", "message"),
    [
        ("127.0.0.1:1234", None, 0, "missing: --num-processes"),
        (None, 2, 0, "missing: --coordinator"),
        ("127.0.0.1", 2, 0, "coordinator must be host:port, got '127.0.0.1'"),
        ("127.0.0.1:99999", 2, 0, "got '127.0.0.1:99999'"),
        ("127.0.0.1:1234", 2, 2, "process_id must be in 0..1, got 2"),
        ("auto", 2, None, "drop --num-processes (2)"),
    ],
)
def test_bad_distributed_settings_are_named(coordinator, num_processes, process_id, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_distributed_settings(coordinator, num_processes, process_id)


def test_runtime_flags_reach_the_container_and_stay_out_of_the_train_config():
    argv = ["--num-devices", "1", "--compilation-cache-dir", "none", "--num-envs", "8"]
    container = create_container(argv, environ={})
    assert container.config.runtime.num_devices() == 1
    assert container.config.runtime.compilation_cache_dir() == "none"
    assert container.config.runtime.coordinator() is None
    assert container.train_config().num_envs == 8


def test_runtime_settings_also_come_from_environment_variables():
    _, _, source = parse_command_line([], {"HACKMATRIX_NUM_DEVICES": "2"})
    assert source.runtime()["num_devices"] == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num-devices", "0"], "bad value for num_devices in flag --num-devices: '0' (must be an integer >= 1)"),
        (["--process-id", "-1"], "must be an integer >= 0"),
        (["--coordinator", "h:1", "--num-processes", "2"], "missing: --process-id"),
    ],
)
def test_bad_runtime_flags_exit_2_naming_the_value(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line(argv, {})
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_documents_the_multi_host_flags():
    text = build_parser().format_help()
    for flag in ("--coordinator", "--num-processes", "--process-id", "--num-devices",
                 "--compilation-cache-dir", "HACKMATRIX_COMPILATION_CACHE_DIR"):  # fmt: skip
        assert flag in text
