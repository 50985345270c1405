"""MsgpackCheckpointStore: round trip, pruning, atomic saves, clear errors; locating --resume."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from flax import serialization

from hackmatrix.adapters.checkpoints import msgpack_store
from hackmatrix.adapters.checkpoints.locate import (
    checkpoint_directory,
    locate_checkpoint,
    read_resume_point,
)
from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore, checkpoint_name
from hackmatrix.adapters.config.cli import parse_command_line
from hackmatrix.adapters.logging.stdout import truncate_after
from hackmatrix.application.config import BEFORE_THE_FIELD, TrainConfig
from hackmatrix.application.ports import CheckpointStore


def _payload(value: float) -> dict:
    return {
        "runner": {
            "params": {"w": np.full((3, 2), value, np.float32)},
            "key": np.array([0, 42], np.uint32),
            "empty": {},
        }
    }


def _metadata(step: int, **extra) -> dict:
    return {"env_steps": step, "update": step // 32, "num_envs": 4,
            "config": {"num_envs": 4, "num_steps": 8, "hidden_dim": 16}, **extra}


def test_store_implements_the_port_and_round_trips_arrays_and_metadata(tmp_path):
    store = MsgpackCheckpointStore(tmp_path / "ckpt")
    assert isinstance(store, CheckpointStore)
    assert store.latest() is None
    path = store.save(64, _payload(1.5), _metadata(64, trackers={"wandb_run_id": "abc"}))
    assert path == str(tmp_path / "ckpt" / "ckpt-000000000064.msgpack")
    payload, metadata = store.load(path)
    w = payload["runner"]["params"]["w"]
    assert w.dtype == np.float32 and w.shape == (3, 2) and float(w[2, 1]) == 1.5
    assert payload["runner"]["key"].tolist() == [0, 42]
    assert payload["runner"]["key"].dtype == np.uint32
    assert metadata == {**_metadata(64, trackers={"wandb_run_id": "abc"}), "format_version": 2}
    assert store.latest() == path


def test_save_keeps_only_the_newest_k_checkpoints(tmp_path):
    store = MsgpackCheckpointStore(tmp_path, keep=2)
    for step in (32, 64, 96, 128):
        store.save(step, _payload(step), _metadata(step))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [checkpoint_name(96), checkpoint_name(128)]
    assert store.latest() == str(tmp_path / checkpoint_name(128))


@pytest.mark.parametrize("keep", [0, -1, 1.5])
def test_keep_must_be_a_positive_int(tmp_path, keep):
    with pytest.raises(ValueError, match=f"keep must be an int >= 1, got {keep!r}"):
        MsgpackCheckpointStore(tmp_path, keep=keep)


def test_a_save_failing_midway_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    store = MsgpackCheckpointStore(tmp_path, keep=1)
    good = store.save(32, _payload(1.0), _metadata(32))

    def write_half_then_fail(handle, data):
        handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(MsgpackCheckpointStore, "_write", staticmethod(write_half_then_fail))
    with pytest.raises(OSError, match="disk full"):
        store.save(64, _payload(2.0), _metadata(64))
    # Neither the new checkpoint nor a temporary file is left; the old one is intact.
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint_name(32)]
    assert store.latest() == good
    payload, metadata = store.load(good)
    assert float(payload["runner"]["params"]["w"][0, 0]) == 1.0 and metadata["env_steps"] == 32


def test_a_failing_rename_also_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    store = MsgpackCheckpointStore(tmp_path)
    good = store.save(32, _payload(1.0), _metadata(32))
    monkeypatch.setattr(msgpack_store.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("EIO")))
    with pytest.raises(OSError, match="EIO"):
        store.save(64, _payload(2.0), _metadata(64))
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint_name(32)]
    assert store.load(good)[1]["env_steps"] == 32


def test_truncated_file_raises_a_value_error_naming_the_path(tmp_path):
    store = MsgpackCheckpointStore(tmp_path)
    path = store.save(32, _payload(1.0), _metadata(32))
    data = open(path, "rb").read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 3])
    with pytest.raises(ValueError, match=rf"checkpoint '{path}' is truncated or corrupted"):
        store.load(path)
    open(path, "wb").close()
    with pytest.raises(ValueError, match=rf"checkpoint '{path}' is empty \(truncated\)"):
        store.load(path)


def test_another_format_version_is_refused_by_number(tmp_path):
    path = tmp_path / checkpoint_name(32)
    document = {"magic": msgpack_store.MAGIC, "format_version": 3, "metadata": "{}", "payload": {}}
    path.write_bytes(serialization.msgpack_serialize(document))
    with pytest.raises(ValueError, match=rf"'{path}' has format version 3; .* reads formats 1, 2"):
        MsgpackCheckpointStore(tmp_path).load(str(path))


def test_a_format_1_checkpoint_without_a_digest_still_loads(tmp_path):
    """Runs saved before the digest was added can still be evaluated and resumed."""
    path = tmp_path / checkpoint_name(32)
    document = {"magic": msgpack_store.MAGIC, "format_version": 1,
                "metadata": json.dumps({**_metadata(32), "format_version": 1}),
                "payload": _payload(1.5)}
    path.write_bytes(serialization.msgpack_serialize(document))
    payload, metadata = MsgpackCheckpointStore(tmp_path).load(str(path))
    assert float(payload["runner"]["params"]["w"][1, 1]) == 1.5 and metadata["env_steps"] == 32


def test_a_flipped_bit_in_the_arrays_is_refused_by_the_checksum(tmp_path):
    store = MsgpackCheckpointStore(tmp_path)
    path = store.save(32, _payload(1.5), _metadata(32))
    data = bytearray(open(path, "rb").read())
    where = bytes(data).index(np.full((3, 2), 1.5, np.float32).tobytes())  # inside w's data
    data[where + 2] ^= 0x01  # 1.5 -> a slightly different float: decodes fine without a digest
    bad = tmp_path / "flipped.msgpack"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"checkpoint '{bad}' is corrupted \(checksum mismatch"):
        store.load(str(bad))
    assert float(store.load(path)[0]["runner"]["params"]["w"][0, 0]) == 1.5


def test_every_single_bit_flip_anywhere_in_the_file_is_refused(tmp_path):
    """Marker, version, metadata, arrays or the digest itself: no flip loads."""
    store = MsgpackCheckpointStore(tmp_path)
    good = open(store.save(32, _payload(1.5), _metadata(32)), "rb").read()
    bad = tmp_path / "bad.msgpack"
    loaded = []
    for where in range(len(good)):
        for bit in (0x01, 0x80):
            data = bytearray(good)
            data[where] ^= bit
            bad.write_bytes(bytes(data))
            try:
                store.load(str(bad))
            except ValueError as error:
                assert "bad.msgpack" in str(error)
            else:
                loaded.append((where, bit))
    assert loaded == []


def test_opening_the_folder_for_writing_removes_only_stale_temp_files(tmp_path):
    """A kill mid-save leaves ``.tmp-*``; the next run's start-up removes it and nothing else."""
    folder = tmp_path / "checkpoints"
    store = MsgpackCheckpointStore(folder)
    kept = store.save(32, _payload(1.0), _metadata(32))
    stale = [folder / ".tmp-k3_9zq0a.msgpack", folder / ".probe-abcd1234"]
    others = [folder / ".tmp-notes.txt", folder / ".tmp-ABCDEFGH.msgpack", folder / "tmp-x1234567.msgpack",
              folder / "notes.txt"]
    for path in stale + others:
        path.write_bytes(b"half a checkpoint")
    (folder / ".tmp-dir12345.msgpack").mkdir()  # a folder with the pattern's name: left alone
    store.ensure_writable()
    remaining = sorted(p.name for p in folder.iterdir())
    assert remaining == sorted([checkpoint_name(32), ".tmp-dir12345.msgpack", *(p.name for p in others)])
    assert store.load(kept)[1]["env_steps"] == 32


def test_a_full_disk_during_a_save_names_the_checkpoint_and_keeps_the_errno(tmp_path, monkeypatch):
    import errno

    store = MsgpackCheckpointStore(tmp_path)
    good = store.save(32, _payload(1.0), _metadata(32))

    def no_space(handle, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(MsgpackCheckpointStore, "_write", staticmethod(no_space))
    with pytest.raises(OSError) as error:
        store.save(64, _payload(2.0), _metadata(64))
    assert error.value.errno == errno.ENOSPC
    assert f"cannot save checkpoint {tmp_path / checkpoint_name(64)}: No space left" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [checkpoint_name(32)]
    assert store.load(good)[1]["env_steps"] == 32


@pytest.mark.parametrize(
    "content",
    [b"num_envs: 4\n", serialization.msgpack_serialize({"params": {"w": np.zeros(2)}})],
    ids=["yaml-text", "foreign-msgpack"],
)
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, content):
    path = tmp_path / "something.msgpack"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"'{path}' is (not a hackmatrix checkpoint|truncated or corrupted)"):
        MsgpackCheckpointStore(tmp_path).load(str(path))


def test_missing_file_and_folder_are_refused_by_name(tmp_path):
    store = MsgpackCheckpointStore(tmp_path)
    with pytest.raises(ValueError, match=rf"checkpoint '{tmp_path}/nope.msgpack' does not exist"):
        store.load(str(tmp_path / "nope.msgpack"))
    with pytest.raises(ValueError, match=rf"checkpoint '{tmp_path}' is a folder"):
        store.load(str(tmp_path))


# ---- --resume -------------------------------------------------------------------------


def _run_with_checkpoints(root, name, steps):
    store = MsgpackCheckpointStore(checkpoint_directory(root / name, "checkpoints"))
    return [store.save(s, _payload(s), _metadata(s)) for s in steps]


def test_locate_latest_in_a_given_run_a_folder_or_any_run(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    a = _run_with_checkpoints(runs, "a", [32, 64])
    b = _run_with_checkpoints(runs, "b", [32])
    os.utime(a[-1], (1, 1))  # run b's checkpoint is the most recent
    assert locate_checkpoint("latest", str(runs / "a"), "checkpoints") == runs / "a" / "checkpoints" / checkpoint_name(64)
    monkeypatch.chdir(tmp_path)
    assert str(locate_checkpoint("latest", None, "checkpoints")) == os.path.join("runs", "b", "checkpoints", checkpoint_name(32))
    assert str(locate_checkpoint(str(runs / "a"), None, "checkpoints")) == a[-1]
    assert str(locate_checkpoint(str(runs / "a" / "checkpoints"), None, "checkpoints")) == a[-1]
    assert str(locate_checkpoint(a[0], None, "checkpoints")) == a[0]
    assert str(b[0]).endswith(checkpoint_name(32))


def test_locate_errors_name_what_was_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"--resume latest: no checkpoint under 'runs/\*/checkpoints'"):
        locate_checkpoint("latest", None, "checkpoints")
    with pytest.raises(ValueError, match=r"--resume latest: no checkpoint in 'r/checkpoints'"):
        locate_checkpoint("latest", "r", "checkpoints")
    with pytest.raises(ValueError, match=r"--resume 'gone.msgpack': no such checkpoint file or folder"):
        locate_checkpoint("gone.msgpack", None, "checkpoints")


def test_resume_point_takes_run_dir_from_the_checkpoint_location(tmp_path):
    (path,) = _run_with_checkpoints(tmp_path, "run", [96])
    point = read_resume_point(path, None, "checkpoints")
    assert (point.path, point.step, point.update) == (path, 96, 3)
    assert point.config["run_dir"] == str((tmp_path / "run").resolve())
    assert point.config["hidden_dim"] == 16


def test_cli_resume_uses_the_checkpoint_settings_under_file_env_and_flags(tmp_path):
    (path,) = _run_with_checkpoints(tmp_path, "run", [96])
    _, _, source = parse_command_line(["--resume", path, "--num-steps", "16"], {"HACKMATRIX_NUM_ENVS": "8"})
    config = source.load()
    assert (config.hidden_dim, config.num_envs, config.num_steps) == (16, 8, 16)
    assert config.run_dir == str((tmp_path / "run").resolve())
    assert source.resume.path == path and source.resume.step == 96


def test_a_checkpoint_from_before_a_field_existed_resumes_as_it_ran(tmp_path):
    """Saved settings lack the fields added after the run began; their defaults have moved
    since (soft labels, the ego network, the teacher, imitation), so a resume takes the
    value that reproduces the run, and the user's flags still decide."""
    store = MsgpackCheckpointStore(tmp_path / "old" / "checkpoints")
    today = TrainConfig(num_envs=4, num_steps=8).to_dict()
    assert today["teacher_temperature"] == 0.5 and today["network"] == "ego"
    before_soft_labels = {k: v for k, v in today.items() if k != "teacher_temperature"}
    path = store.save(96, _payload(1.0), {**_metadata(96), "config": before_soft_labels})
    config = parse_command_line(["--resume", path], {})[2].load()
    assert config.teacher_temperature is None  # hard labels, as before the field
    assert (config.network, config.teacher, config.imitation_fraction) == ("ego", "scripted", 0.8)
    before_the_teacher = {k: v for k, v in before_soft_labels.items()
                          if k not in ("network", "normalize_returns", "teacher",
                                       "teacher_fraction", "teacher_coef",
                                       "teacher_coef_final", "imitation_fraction",
                                       "imitation_learning_rate")}
    path = store.save(128, _payload(1.0), {**_metadata(128), "config": before_the_teacher})
    config = parse_command_line(["--resume", path], {})[2].load()
    assert (config.network, config.normalize_returns, config.teacher,
            config.imitation_fraction) == ("mlp", False, "none", 0.0)
    config = parse_command_line(["--resume", path, "--network", "conv"], {})[2].load()
    assert config.network == "conv"


def test_cli_resume_of_nothing_exits_2_naming_it_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line(["--resume", str(tmp_path / "none")], {})
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"python -m hackmatrix.application.train: error: --resume '{tmp_path / 'none'}': "
        "no such checkpoint file or folder\n"
    )


def _crafted(tmp_path, folder: str, victim, **metadata_extra):
    """A checkpoint (valid digest: anyone can write one) whose metadata points at ``victim``."""
    config = {"num_envs": 4, "num_steps": 8, "hidden_dim": 16, "run_dir": str(victim),
              "checkpoint_dir": str(victim / "checkpoints"), "keep_checkpoints": 1,
              "logger": "mlflow", "mlflow_tracking_uri": f"sqlite:///{victim}/mlflow.db",
              "compilation_cache_dir": str(victim / "cache"), "future_setting": 1}
    store = MsgpackCheckpointStore(tmp_path / folder)
    return store.save(96, _payload(1.0), {**_metadata(96), "config": config, **metadata_extra})


def test_checkpoint_metadata_decides_no_output_location(tmp_path, caplog):
    """run_dir, checkpoint_dir, keep_checkpoints and non-hyperparameters of the metadata are
    dropped; the run folder is the one the checkpoint sits in."""
    victim = tmp_path / "victim"
    path = _crafted(tmp_path, "dl/checkpoints", victim)
    point = read_resume_point(path, None, "checkpoints")
    assert point.config == {"num_envs": 4, "num_steps": 8, "hidden_dim": 16,
                            "run_dir": str(tmp_path / "dl"), **BEFORE_THE_FIELD}
    assert "ignoring unknown setting(s) in its metadata: compilation_cache_dir, future_setting, " \
        "logger, mlflow_tracking_uri" in caplog.text
    _, _, source = parse_command_line(["--resume", path], {})
    config, tracking = source.load(), source.tracking()
    assert (config.run_dir, config.checkpoint_dir, config.keep_checkpoints) == (
        str(tmp_path / "dl"), "checkpoints", 3)
    assert tracking["backends"] == ["stdout"] and tracking["mlflow_tracking_uri"] is None
    assert source.runtime()["compilation_cache_dir"] is None
    # The user's own command still decides everything.
    _, _, source = parse_command_line(
        ["--resume", path, "--run-dir", str(tmp_path / "mine"), "--keep-checkpoints", "1"], {})
    assert (source.load().run_dir, source.load().keep_checkpoints) == (str(tmp_path / "mine"), 1)


def test_a_checkpoint_outside_a_checkpoints_folder_starts_a_fresh_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _crafted(tmp_path, "Downloads", tmp_path / "victim")  # metadata names it "victim"
    _, _, source = parse_command_line(["--resume", path], {})
    run_dir = source.load().run_dir
    assert run_dir.startswith("runs" + os.sep) and not (tmp_path / run_dir).exists()


def test_a_larger_keep_checkpoints_of_the_metadata_is_kept_a_smaller_one_is_not(tmp_path):
    store = MsgpackCheckpointStore(tmp_path / "a" / "checkpoints")
    for keep, expected in ((10, 10), (1, 3), (True, 3), ("9", 3)):
        config = {"num_envs": 4, "keep_checkpoints": keep}
        path = store.save(32, _payload(1.0), {**_metadata(32), "config": config})
        assert parse_command_line(["--resume", path], {})[2].load().keep_checkpoints == expected


@pytest.mark.parametrize("bad_id", ["../../victim", "/etc/passwd", "a b", "", "x" * 200, 7])
def test_a_tracker_id_that_is_not_a_plain_identifier_is_refused(tmp_path, bad_id):
    path = _crafted(tmp_path, "r/checkpoints", tmp_path / "v", trackers={"mlflow_run_id": bad_id})
    with pytest.raises(ValueError, match=r"tracker id mlflow_run_id=.* is not a plain identifier"):
        read_resume_point(path, None, "checkpoints")


def test_plain_tracker_ids_pass_and_other_tracker_keys_are_dropped(tmp_path):
    trackers = {"wandb_run_id": "a1b2c3d4", "mlflow_run_id": "0" * 32, "dir": "/victim"}
    path = _crafted(tmp_path, "r/checkpoints", tmp_path / "v", trackers=trackers)
    point = read_resume_point(path, None, "checkpoints")
    assert point.trackers == {"wandb_run_id": "a1b2c3d4", "mlflow_run_id": "0" * 32}


def test_metrics_file_is_cut_back_to_the_checkpoint_step_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "x": s}) + "\n" for s in (32, 64, 96, 128)) + '{"st')
    assert truncate_after(path, 64) == 3  # 96, 128 and the torn line
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [32, 64]
    assert truncate_after(tmp_path / "missing.jsonl", 0) == 0


def test_an_unwritable_checkpoint_folder_fails_before_training_with_the_folder_named(tmp_path):
    from hackmatrix.containers import writable_checkpoint_store

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the checkpoint folder should be")
    with pytest.raises(ValueError, match="not-a-folder.*not writable"):
        writable_checkpoint_store(str(blocker / "checkpoints"), keep=3)
    store = writable_checkpoint_store(str(tmp_path / "ok" / "checkpoints"), keep=3)
    assert store.directory.is_dir() and list(store.directory.iterdir()) == []
