"""Expected failures of ``train`` end in ONE line and exit status 2, leaving nothing behind;
a crafted checkpoint cannot make a resume write outside the chosen run folder.

``main([...])`` is called in-process (no subprocess start-up, and every run here shares
one compiled training chunk: same shapes as the module's first run).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from hackmatrix.adapters.checkpoints import msgpack_store
from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore, checkpoint_name
from hackmatrix.adapters.logging.mlflow_logger import MlflowLogger
from hackmatrix.adapters.logging.stdout import StdoutLogger
from hackmatrix.application.train import PROG, main
from tests.adapters.helpers import read_jsonl

TINY = ["--num-envs", "8", "--num-steps", "8", "--hidden-dim", "16", "--log-interval", "1",
        "--save-interval", "100"]  # fmt: skip
B = 64  # env steps per update
ERROR = f"{PROG}: error: "


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` -> its bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(root.rglob("*"))
    }


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(ERROR), err
    assert "Traceback" not in err
    return lines[0][len(ERROR):]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A finished 3-update run (one checkpoint at 192 env steps)."""
    run = tmp_path_factory.mktemp("base") / "run"
    assert main([*TINY, "--total-timesteps", str(3 * B), "--run-dir", str(run)]) == 0
    assert [p.name for p in (run / "checkpoints").iterdir()] == [checkpoint_name(3 * B)]
    return run


@pytest.fixture
def run_copy(base, tmp_path) -> Path:
    """A private copy of the base run, to resume into."""
    return Path(shutil.copytree(base, tmp_path / "run"))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default runs/<timestamp> would land here


# ---- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num-envs", "abc"], "argument --num-envs: bad value for num_envs in flag --num-envs: "
                                "'abc' (num_envs must be int, got 'abc')"),
        (["--num-env", "8"], "unrecognized arguments: --num-env 8"),
        (["--num-envs", "-8"], "num_envs must be >= 1, got -8"),
    ],
    ids=["bad-value", "unknown-flag", "invalid-config"],
)
def test_bad_settings_exit_2_with_one_line(tmp_path, capsys, argv, message):
    assert main(argv) == 2
    assert _one_error_line(capsys.readouterr().err) == message
    assert list(tmp_path.iterdir()) == []


# ---- untrusted checkpoints ------------------------------------------------------------


def test_a_crafted_checkpoint_cannot_make_a_resume_write_outside_the_chosen_run_folder(base, tmp_path):
    victim = tmp_path / "victim"
    (victim / "checkpoints").mkdir(parents=True)
    (victim / "config.json").write_text('{"precious": true}\n')
    (victim / "metrics.jsonl").write_text("".join(json.dumps({"step": s}) + "\n" for s in (64, 128)))
    for step in (64, 128):
        (victim / "checkpoints" / checkpoint_name(step)).write_bytes(b"victim checkpoint %d" % step)
    # A checkpoint as anyone can write it (the digest is not a signature).
    payload, metadata = MsgpackCheckpointStore(base).load(str(base / "checkpoints" / checkpoint_name(3 * B)))
    metadata["config"].update(run_dir=str(victim), checkpoint_dir=str(victim / "checkpoints"),
                              keep_checkpoints=1, mlflow_tracking_uri=f"sqlite:///{victim}/m.db")
    metadata["resolved_config"] = dict(metadata["config"])
    chosen = tmp_path / "downloaded"
    crafted = MsgpackCheckpointStore(chosen / "checkpoints").save(3 * B, payload, metadata)
    before = {k: v for k, v in _tree(tmp_path).items() if not k.startswith("downloaded")}

    assert main(["--resume", crafted, "--total-timesteps", str(4 * B)]) == 0

    after = _tree(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("downloaded")} == before
    assert _tree(victim) == {k[len("victim/"):]: v for k, v in before.items() if k.startswith("victim/")}
    # Everything the run wrote is in the folder the checkpoint sits in, keep=3 (default) kept both.
    assert sorted(p.name for p in (chosen / "checkpoints").iterdir()) == [
        checkpoint_name(3 * B), checkpoint_name(4 * B)]
    assert json.loads((chosen / "config.json").read_text())["run_dir"] == str(chosen)
    assert [r["step"] for r in read_jsonl(chosen / "metrics.jsonl")] == [4 * B]


def test_a_flipped_bit_in_the_checkpoint_is_refused_in_one_line(run_copy, tmp_path, capsys):
    path = run_copy / "checkpoints" / checkpoint_name(3 * B)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x04
    path.write_bytes(bytes(data))
    before = _tree(tmp_path)
    assert main(["--resume", str(path), "--total-timesteps", str(4 * B)]) == 2
    message = _one_error_line(capsys.readouterr().err)
    assert message.startswith(f"checkpoint '{path}' is corrupted (checksum mismatch")
    assert _tree(tmp_path) == before


# ---- resume of another network shape ---------------------------------------------------


def test_another_network_shape_on_resume_exits_2_before_writing_anything(run_copy, tmp_path, capsys):
    before = _tree(tmp_path)
    latest = run_copy / "checkpoints" / checkpoint_name(3 * B)
    # Into its own run folder (metrics.jsonl would be cut back, config.json rewritten) ...
    assert main(["--resume", str(run_copy), "--hidden-dim", "32", "--total-timesteps", str(6 * B)]) == 2
    message = _one_error_line(capsys.readouterr().err)
    assert message.startswith(f"checkpoint '{latest}': params")
    assert "has shape (16,), but this network/config needs (32,)" in message
    # ... and into a new one: neither the new folder nor runs/ is created.
    assert main(["--resume", str(latest), "--num-layers", "3", "--run-dir", "new"]) == 2
    assert "params does not match this network/config" in _one_error_line(capsys.readouterr().err)
    assert _tree(tmp_path) == before


# ---- disk and folder faults ----------------------------------------------------------


def test_a_full_disk_at_start_up_exits_2_and_leaves_no_run_folder(tmp_path, monkeypatch, capsys):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(msgpack_store.os, "fsync", no_space)  # the start-up probe's sync
    assert main([*TINY, "--run-dir", "runs/new"]) == 2
    message = _one_error_line(capsys.readouterr().err)
    assert "runs/new/checkpoints is not writable" in message and "No space left on device" in message
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_at_a_save_exits_2_keeping_earlier_checkpoints_and_metrics(
    run_copy, monkeypatch, capsys
):
    earlier = run_copy / "checkpoints" / checkpoint_name(3 * B)
    earlier_bytes = earlier.read_bytes()

    def write_some_then_fail(handle, data):
        handle.write(data[:100])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(MsgpackCheckpointStore, "_write", staticmethod(write_some_then_fail))
    assert main(["--resume", str(run_copy), "--total-timesteps", str(4 * B)]) == 2
    message = _one_error_line(capsys.readouterr().err)
    assert message == (f"[Errno {errno.ENOSPC}] cannot save checkpoint "
                       f"{run_copy / 'checkpoints' / checkpoint_name(4 * B)}: No space left on device")
    assert [p.name for p in (run_copy / "checkpoints").iterdir()] == [earlier.name]  # no temp file
    assert earlier.read_bytes() == earlier_bytes
    # The update before the failed save stays logged.
    assert [r["step"] for r in read_jsonl(run_copy / "metrics.jsonl")] == [B, 2 * B, 3 * B, 4 * B]


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES], ids=["read-only", "permission"])
def test_an_unwritable_run_folder_exits_2_in_one_line_leaving_nothing(tmp_path, monkeypatch, capsys, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), kwargs.get("dir"))

    monkeypatch.setattr(msgpack_store.tempfile, "mkstemp", refuse)
    assert main([*TINY, "--run-dir", "a/b/run"]) == 2
    message = _one_error_line(capsys.readouterr().err)
    assert "a/b/run/checkpoints is not writable" in message and os.strerror(code) in message
    assert list(tmp_path.iterdir()) == []


def test_a_run_folder_under_a_file_exits_2_in_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main([*TINY, "--run-dir", "file/run"]) == 2
    assert "not writable" in _one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# ---- trackers ------------------------------------------------------------------------


def _mlflow_unreachable(self, *args, **kwargs):
    raise ConnectionError("tracking server at http://10.0.0.1:5000 unreachable")


def test_a_tracker_that_cannot_start_is_skipped_with_one_warning(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setattr(MlflowLogger, "__init__", _mlflow_unreachable)
    stale = tmp_path / "run" / "checkpoints" / ".tmp-abcd1234.msgpack"  # left by a killed save
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    with caplog.at_level(logging.WARNING):
        code = main([*TINY, "--total-timesteps", str(3 * B), "--run-dir", "run",
                     "--logger", "stdout,mlflow"])
    assert code == 0, capsys.readouterr().err
    warnings = [r.getMessage() for r in caplog.records if "tracker" in r.getMessage()]
    assert warnings == ["could not start the mlflow tracker: tracking server at "
                        "http://10.0.0.1:5000 unreachable; training goes on with the other tracker(s)"]
    assert len(read_jsonl(tmp_path / "run" / "metrics.jsonl")) == 3
    assert [p.name for p in stale.parent.iterdir()] == [checkpoint_name(3 * B)]


@pytest.mark.parametrize("logger", ["mlflow", "stdout,mlflow"])
def test_no_tracker_able_to_start_exits_2_in_one_line_leaving_nothing(
    tmp_path, monkeypatch, capsys, logger
):
    monkeypatch.setattr(MlflowLogger, "__init__", _mlflow_unreachable)

    def disk_gone(self, *args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(StdoutLogger, "__init__", disk_gone)
    assert main([*TINY, "--run-dir", "run", "--logger", logger]) == 2
    message = _one_error_line(capsys.readouterr().err)
    mlflow = "could not start the mlflow tracker: tracking server at http://10.0.0.1:5000 unreachable"
    if logger == "mlflow":
        assert message == mlflow
    else:
        assert message == ("no tracker could start: could not start the stdout tracker: "
                           f"[Errno {errno.EIO}] {os.strerror(errno.EIO)}; {mlflow}")
    assert list(tmp_path.iterdir()) == []


def test_a_tracker_failing_for_good_mid_run_is_named_in_the_last_line(tmp_path, monkeypatch, capsys):
    real = MlflowLogger.log_metrics

    def dies_after_the_first_update(self, metrics, step):
        if step > B:
            raise ConnectionError("tracking server went away")
        real(self, metrics, step)

    monkeypatch.setattr(MlflowLogger, "log_metrics", dies_after_the_first_update)
    code = main([*TINY, "--total-timesteps", str(3 * B), "--run-dir", "run",
                 "--logger", "stdout,mlflow"])
    out, err = capsys.readouterr()
    assert code == 0, err
    dropped = [line for line in err.splitlines() if "dropped" in line]
    assert len(dropped) == 1 and dropped[0].startswith(
        "WARNING hackmatrix.tracking: mlflow tracker failed in log_metrics(step=128)")
    assert out.splitlines()[-1] == (
        "trackers that stopped early: mlflow after update 1 (of 3); the others hold every update")
    # Third-party INFO (mlflow creating its tables) stays off the console without --verbose.
    assert "INFO" not in err and "mlflow.store" not in err
    # The logged params are the values as trained, with the tracker choice.
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["num_minibatches"], config["update_epochs"], config["logger"]) == (4, 4, "stdout,mlflow")
    assert config["minibatch_size"] == B // 4


# ---- console -------------------------------------------------------------------------


def test_a_resumed_run_counts_its_updates_from_the_checkpoint(run_copy, capsys):
    assert main(["--resume", str(run_copy), "--total-timesteps", str(5 * B)]) == 0
    out = capsys.readouterr().out
    latest = run_copy / "checkpoints" / checkpoint_name(3 * B)
    assert f"resumed from {latest} at update 3 ({3 * B} env steps)" in out
    assert "compiling the training program (about a minute" in out and "compiled in " in out
    assert "compilation cache" in out.split("compiling the training program", 1)[1].splitlines()[0]
    progress = [line.split(" |")[0] for line in out.splitlines() if line.startswith("update ")]
    assert progress == ["update 4", "update 5"]  # one line per update, counted on from 3
    assert f"done: 2 updates logged to {run_copy / 'metrics.jsonl'} (updates 4-5)" in out
