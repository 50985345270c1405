"""The console of the entry points: hackmatrix's notices on stdout, third-party INFO only
with --verbose, warnings of everyone on stderr."""

from __future__ import annotations

import logging
import os

import pytest

from hackmatrix.adapters.logging.console import configure_console_logging


@pytest.fixture
def console(monkeypatch):
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    root, own = logging.getLogger(), logging.getLogger("hackmatrix")
    saved = (list(root.handlers), root.level, list(own.handlers), own.level)
    yield configure_console_logging
    root.handlers, root.level, own.handlers, own.level = saved[0], saved[1], saved[2], saved[3]


def _say_everything() -> None:
    logging.getLogger("hackmatrix.train").info("compiling the training program ...")
    logging.getLogger("hackmatrix.train").debug("a traceback for --verbose")
    logging.getLogger("jax._src.distributed").info("Connecting to JAX distributed service")
    logging.getLogger("hackmatrix.tracking").warning("mlflow tracker dropped")


def test_by_default_only_our_notices_and_warnings_reach_the_console(console, capsys):
    console(verbose=False)
    _say_everything()
    out, err = capsys.readouterr()
    assert out == "compiling the training program ...\n"
    assert err == "WARNING hackmatrix.tracking: mlflow tracker dropped\n"
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"  # read by mlflow when imported


def test_verbose_adds_third_party_info_and_our_debug_messages(console, capsys):
    console(verbose=True)
    console(verbose=True)  # a second set-up replaces the handlers, it does not stack them
    _say_everything()
    out, err = capsys.readouterr()
    assert out == "compiling the training program ...\n"
    assert err.splitlines() == [
        "DEBUG hackmatrix.train: a traceback for --verbose",
        "INFO jax._src.distributed: Connecting to JAX distributed service",
        "WARNING hackmatrix.tracking: mlflow tracker dropped",
    ]
    assert os.environ["MLFLOW_LOGGING_LEVEL"] == "INFO"


def test_the_train_command_line_takes_verbose(tmp_path, monkeypatch):
    from hackmatrix.adapters.config.cli import build_parser, parse_command_line

    monkeypatch.chdir(tmp_path)
    assert parse_command_line(["--verbose"], environ={})[2].verbose is True
    assert parse_command_line([], environ={})[2].verbose is False
    assert "--verbose" in build_parser().format_help()
