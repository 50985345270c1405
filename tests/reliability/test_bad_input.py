"""Bad input is rejected up front with a ValueError (or a CLI exit) naming the field and value,
never a crash deep in JAX: scenario JSON, TrainConfig, YAML/TOML files, HACKMATRIX_* variables
and command-line flags. Table-driven; each row says which words the message must contain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hackmatrix.adapters.config.cli import parse_command_line
from hackmatrix.adapters.config.sources import EnvConfigSource, FileConfigSource, LayeredConfigSource
from hackmatrix.application.config import TrainConfig
from hackmatrix.domain.scenario import (
    MAX_AMOUNT, BlockSpec, EnemySpec, PlayerSpec, ResourceSpec, Scenario, TransmissionSpec, build,
)
from tests.reliability.conftest import examples

P = {"row": 0, "col": 0}
VIRUS = {"type": "virus", "row": 1, "col": 1, "hp": 2}
TRANS = {"row": 1, "col": 1, "turns_remaining": 1, "enemy_type": "virus"}
DATA = {"row": 2, "col": 2, "kind": "data", "points": 1}


def with_(**fields) -> dict:
    return {"player": P, **fields}


# (id, scenario, fragments the ValueError message must contain: the field and the value)
SCENARIOS = [
    ("unknown top-level field", with_(foo=1), ["scenario", "foo"]),
    ("unknown player field", {"player": {**P, "mana": 3}}, ["player", "mana"]),
    ("unknown enemy field", with_(enemies=[{**VIRUS, "speed": 3}]), ["enemies[0]", "speed"]),
    ("unknown block field", with_(blocks=[{**DATA, "colour": "red"}]), ["blocks[0]", "colour"]),
    ("unknown resource field", with_(resources=[{"row": 1, "col": 1, "gold": 3}]), ["resources[0]", "gold"]),
    ("unknown transmission field", with_(transmissions=[{**TRANS, "hp": 1}]), ["transmissions[0]", "hp"]),
    ("missing player", {}, ["player", "missing"]),
    ("missing player.row", {"player": {"col": 0}}, ["player.row", "missing"]),
    ("missing enemy hp", with_(enemies=[{"type": "virus", "row": 1, "col": 1}]), ["enemies[0].hp", "missing"]),
    ("scenario is a list", [1, 2], ["scenario", "[1, 2]"]),
    ("player is a list", {"player": [0, 0]}, ["player", "[0, 0]"]),
    ("row is a string", {"player": {"row": "1", "col": 0}}, ["player.row", "'1'"]),
    ("row is a float", {"player": {"row": 1.0, "col": 0}}, ["player.row", "1.0"]),
    ("row is null", {"player": {"row": None, "col": 0}}, ["player.row", "None"]),
    ("hp is a boolean", {"player": {**P, "hp": True}}, ["player.hp", "True"]),
    ("stage is a string", with_(stage="3"), ["scenario.stage", "'3'"]),
    ("flag is a string", with_(show_activated="true"), ["show_activated", "'true'"]),
    ("stunned is a string", with_(enemies=[{**VIRUS, "stunned": "yes"}]), ["enemies[0].stunned", "'yes'"]),
    ("enemy type is a number", with_(enemies=[{**VIRUS, "type": 3}]), ["enemies[0].type", "3"]),
    ("enemies is an object", with_(enemies={"type": "virus"}), ["scenario.enemies", "'virus'"]),
    ("owned_programs is a string", with_(owned_programs="PUSH"), ["owned_programs", "'PUSH'"]),
    ("player row 6", {"player": {"row": 6, "col": 0}}, ["player.row", "6"]),
    ("player col -1", {"player": {"row": 0, "col": -1}}, ["player.col", "-1"]),
    ("enemy row 9", with_(enemies=[{**VIRUS, "row": 9}]), ["enemies[0].row", "9"]),
    ("transmission col 6", with_(transmissions=[{**TRANS, "col": 6}]), ["transmissions[0].col", "6"]),
    ("block row -2", with_(blocks=[{**DATA, "row": -2}]), ["blocks[0].row", "-2"]),
    ("resource row 7", with_(resources=[{"row": 7, "col": 1, "credits": 2}]), ["resources[0].row", "7"]),
    ("two blocks on one cell", with_(blocks=[DATA, {**DATA, "points": 2}]), ["blocks[1]", "(2, 2)", "blocks[0]"]),
    ("block on the exit", with_(blocks=[{**DATA, "row": 5, "col": 5}]), ["blocks[0]", "(5, 5)", "exit"]),
    ("data siphon on a block", with_(blocks=[DATA], resources=[{"row": 2, "col": 2, "data_siphon": True}]),
     ["resources[0]", "(2, 2)", "block"]),
    ("data siphon on the exit", with_(resources=[{"row": 5, "col": 5, "data_siphon": True}]),
     ["resources[0]", "(5, 5)"]),
    ("unknown enemy type", with_(enemies=[{**VIRUS, "type": "dragon"}]), ["enemies[0].type", "'dragon'"]),
    ("unknown transmission type", with_(transmissions=[{**TRANS, "enemy_type": "ghost"}]),
     ["transmissions[0].enemy_type", "'ghost'"]),
    ("unknown block kind", with_(blocks=[{**DATA, "kind": "question"}]), ["blocks[0].kind", "'question'"]),
    ("unknown program on a block", with_(blocks=[{"row": 2, "col": 2, "kind": "program", "program": "NUKE"}]),
     ["blocks[0].program", "'NUKE'"]),
    ("program block without program", with_(blocks=[{"row": 2, "col": 2, "kind": "program"}]),
     ["blocks[0].program", "missing"]),
    ("data block with a program", with_(blocks=[{**DATA, "program": "PUSH"}]), ["blocks[0].program", "'PUSH'"]),
    ("unknown owned program", with_(owned_programs=["PUSH", "NUKE"]), ["owned_programs[1]", "'NUKE'"]),
    ("owned action index 99", with_(owned_programs=[99]), ["owned_programs[0]", "99"]),
    ("stage 0", with_(stage=0), ["scenario.stage", "0"]),
    ("stage 9", with_(stage=9), ["scenario.stage", "9"]),
    ("negative turn", with_(turn=-1), ["scenario.turn", "-1"]),
    ("negative credits", {"player": {**P, "credits": -1}}, ["player.credits", "-1"]),
    ("negative energy", {"player": {**P, "energy": -5}}, ["player.energy", "-5"]),
    ("negative data siphons", {"player": {**P, "data_siphons": -2}}, ["player.data_siphons", "-2"]),
    ("negative score", {"player": {**P, "score": -3}}, ["player.score", "-3"]),
    ("attack damage 0", {"player": {**P, "attack_damage": 0}}, ["player.attack_damage", "0"]),
    ("negative enemy hp", with_(enemies=[{**VIRUS, "hp": -1}]), ["enemies[0].hp", "-1"]),
    ("negative block points", with_(blocks=[{**DATA, "points": -4}]), ["blocks[0].points", "-4"]),
    ("negative spawn count", with_(blocks=[{**DATA, "spawn_count": -1}]), ["blocks[0].spawn_count", "-1"]),
    ("negative resource credits", with_(resources=[{"row": 1, "col": 1, "credits": -2}]),
     ["resources[0].credits", "-2"]),
    ("37 enemies", with_(enemies=[VIRUS] * 37), ["scenario.enemies", "37"]),
    ("37 transmissions", with_(transmissions=[TRANS] * 37), ["scenario.transmissions", "37"]),
    ("negative transmission timer", with_(transmissions=[{**TRANS, "turns_remaining": -1}]),
     ["transmissions[0].turns_remaining", "-1"]),
    ("credits int32 max", {"player": {**P, "credits": 2**31 - 1}}, ["player.credits", "2147483647", "maximum"]),
    ("spawn count int32 max", with_(blocks=[{**DATA, "spawn_count": 2**31 - 1}]),
     ["blocks[0].spawn_count", "2147483647", "maximum"]),
    ("credits beyond int64", {"player": {**P, "credits": 2**70}}, ["player.credits", str(2**70)]),
    ("hp beyond int32", {"player": {**P, "hp": 2**31}}, ["player.hp", "2147483648"]),
]

# Every capped count (scenario.RANGES): (field as the message names it, scenario with that value).
CAPPED = [
    ("player.credits", lambda v: {"player": {**P, "credits": v}}),
    ("player.energy", lambda v: {"player": {**P, "energy": v}}),
    ("player.data_siphons", lambda v: {"player": {**P, "data_siphons": v}}),
    ("player.attack_damage", lambda v: {"player": {**P, "attack_damage": v}}),
    ("player.score", lambda v: {"player": {**P, "score": v}}),
    ("enemies[0].hp", lambda v: with_(enemies=[{**VIRUS, "hp": v}])),
    ("transmissions[0].turns_remaining", lambda v: with_(transmissions=[{**TRANS, "turns_remaining": v}])),
    ("blocks[0].points", lambda v: with_(blocks=[{**DATA, "points": v}])),
    ("blocks[0].spawn_count", lambda v: with_(blocks=[{**DATA, "spawn_count": v}])),
    ("resources[0].credits", lambda v: with_(resources=[{"row": 1, "col": 1, "credits": v}])),
    ("resources[0].energy", lambda v: with_(resources=[{"row": 1, "col": 1, "energy": v}])),
    ("scenario.turn", lambda v: with_(turn=v)),
]


@pytest.mark.parametrize(("case", "data", "fragments"), SCENARIOS, ids=[c[0] for c in SCENARIOS])
def test_bad_scenario_dict_raises_value_error_naming_field_and_value(case, data, fragments):
    with pytest.raises(ValueError) as error:
        Scenario.from_dict(data)
    for fragment in fragments:
        assert fragment in str(error.value), f"{case}: {fragment!r} not in {str(error.value)!r}"
    # build() on the raw dict validates the same way, before any array is made.
    if isinstance(data, dict):
        with pytest.raises(ValueError):
            build(data)
    # ...and so does the JSON text route.
    with pytest.raises(ValueError) as error:
        Scenario.from_json(json.dumps(data))
    assert fragments[0] in str(error.value)


@pytest.mark.parametrize(("field", "make"), CAPPED, ids=[c[0] for c in CAPPED])
def test_each_count_is_accepted_at_its_cap_and_rejected_one_above_naming_field_and_cap(field, make):
    build(make(MAX_AMOUNT))  # the cap itself builds
    for value in (MAX_AMOUNT + 1, 2**31 - 1, 2**31, 2**63):
        with pytest.raises(ValueError) as error:
            Scenario.from_dict(make(value))
        assert str(error.value) == f"{field}: {value} is above the maximum {MAX_AMOUNT}"


def _raw(data: dict) -> Scenario:
    """The spec objects of a scenario dict, built in code without any check."""
    classes = {"enemies": EnemySpec, "transmissions": TransmissionSpec, "blocks": BlockSpec,
               "resources": ResourceSpec}
    fields = {k: tuple(classes[k](**e) for e in v) if k in classes else tuple(v) if isinstance(v, list) else v
              for k, v in data.items() if k != "player"}
    return Scenario(player=PlayerSpec(**data["player"]), **fields)


def _buildable_in_code(data) -> bool:
    try:
        _raw(data)
    except TypeError:  # unknown or missing fields, not an object: only JSON can say that
        return False
    return True


CODE_ROUTE = [c for c in SCENARIOS if isinstance(c[1], dict) and isinstance(c[1].get("player"), dict)
              and _buildable_in_code(c[1])]


@pytest.mark.parametrize(("case", "data", "fragments"), CODE_ROUTE, ids=[c[0] for c in CODE_ROUTE])
def test_a_scenario_built_in_code_is_rejected_by_build_with_the_json_message(case, data, fragments):
    """Scenario(...) objects go through the same checks: no row-10 player, stage 99 or
    negative credits reaches an array, and the message is the one from_dict gives."""
    with pytest.raises(ValueError) as from_json:
        Scenario.from_dict(data)
    with pytest.raises(ValueError) as from_code:
        build(_raw(data))
    assert str(from_code.value) == str(from_json.value)


# Scenario objects only code can make (specs of the wrong class, floats, flags that are not
# booleans, integers too long to print, not a Scenario at all): (input, message fragment).
CODE_ONLY = [
    (Scenario(player=PlayerSpec(row=10, col=0)), "player.row: 10 is off the 6x6 board"),
    (Scenario(player=PlayerSpec(row=0, col=0), stage=99), "scenario.stage: 99 is above the maximum 8"),
    (Scenario(player=PlayerSpec(row=0, col=0, credits=-5)), "player.credits: -5 is below the minimum 0"),
    (Scenario(player={"row": 0, "col": 0}), "player: expected a PlayerSpec"),
    (Scenario(player=PlayerSpec(row=0, col=0), enemies=({"type": "virus"},)), "enemies[0]: expected an EnemySpec"),
    (Scenario(player=PlayerSpec(row=0, col=0), enemies=EnemySpec("virus", 1, 1, 2)), "scenario.enemies"),
    (Scenario(player=PlayerSpec(row=0.5, col=0)), "player.row: expected an integer, got 0.5"),
    (Scenario(player=PlayerSpec(row=0, col=0), show_activated=1), "scenario.show_activated"),
    (Scenario(player=PlayerSpec(row=0, col=0, score=10**5000)),  # too long for str(): not quoted
     "player.score: <an integer of 16610 bits> is above the maximum 1000000"),
    ([1, 2], "scenario: expected a Scenario or a scenario dict, got [1, 2]"),
]


def test_code_route_catches_what_json_cannot_express():
    for bad, message in CODE_ONLY:
        with pytest.raises(ValueError) as error:
            build(bad)
        assert message in str(error.value), (message, str(error.value))
    # numpy integers and lists are fine in code, and come out as plain values
    s = Scenario(player=PlayerSpec(row=np.int64(1), col=np.int32(2)), owned_programs=["push", 26]).validated()
    assert s.player.row == 1 and type(s.player.row) is int and s.owned_programs == ("PUSH", "ATK+")


# ---- hostile JSON -------------------------------------------------------------------------------

# JSON text nested 100,000 deep (closed, unclosed, mixed).
DEEP_JSON = ("[" * 100_000 + "]" * 100_000, '{"player": ' * 100_000, '{"a": [' * 50_000)


def nested_list(depth: int = 100_000) -> list:
    """A Python list nested ``depth`` deep (no recursion to build it)."""
    nested: list = []
    for _ in range(depth):
        nested = [nested]
    return nested


def test_deeply_nested_json_raises_value_error_not_recursion_error():
    for text in DEEP_JSON:
        with pytest.raises(ValueError, match="nested too deeply|not valid JSON"):
            Scenario.from_json(text)
    with pytest.raises(ValueError) as error:  # as a Python object too: the message stays short
        Scenario.from_dict({"player": {"row": nested_list(), "col": 0}})
    assert "player.row" in str(error.value) and len(str(error.value)) < 200


HUGE_WHERE = ["value", "key", "enemy type", "program", "list", "json text"]


def huge_input(where: str, huge: str) -> dict | str:
    """A scenario holding the string ``huge`` at ``where`` (a dict; JSON text for "json text")."""
    if where == "json text":
        return '{"player": "' + huge + '"}'
    return {
        "value": {"player": {"row": huge, "col": 0}},
        "key": {"player": P, huge: 1},
        "enemy type": with_(enemies=[{**VIRUS, "type": huge}]),
        "program": with_(owned_programs=[huge]),
        "list": {"player": {"row": [huge] * 1000, "col": 0}},
    }[where]


@pytest.mark.parametrize("where", HUGE_WHERE)
def test_a_50_mb_bad_value_gives_a_short_message(where):
    data = huge_input(where, "x" * 50_000_000)
    with pytest.raises(ValueError) as error:
        if isinstance(data, str):
            Scenario.from_json(data)
        else:
            Scenario.from_dict(data)
    assert len(str(error.value)) < 200, str(error.value)[:300]
    assert "xxxxxxxxxx" in str(error.value) and "..." in str(error.value)


def test_bad_utf8_from_a_file_names_the_file(tmp_path):
    path = tmp_path / "latin1-scenario.json"
    path.write_bytes('{"player": {"row": 0, "col": 0}, "foo": "caf\u00e9"}'.encode("latin-1") + b"\xe9\xff")
    with pytest.raises(ValueError) as error:
        Scenario.from_bytes(path.read_bytes(), str(path))
    assert str(path) in str(error.value) and "UTF-8" in str(error.value)
    # other problems of a file's text name it too
    path.write_bytes(b'{"player": {"row": 9, "col": 0}}')
    with pytest.raises(ValueError, match="latin1-scenario.json.*player.row"):
        Scenario.from_bytes(path.read_bytes(), str(path))
    path.write_bytes(b'{"player": {"row": 1, "col": 0}}')
    assert Scenario.from_bytes(path.read_bytes(), str(path)).player.row == 1


# (JSON text, fragments of the message)
JSON_TEXTS = [
    ("{", ["not valid JSON", "line 1 column 2"]),
    ("", ["not valid JSON"]),
    ('{"player": {"row": 0, "col": 0}} trailing', ["not valid JSON", "Extra data"]),
    ("{'player': {}}", ["not valid JSON"]),
    ("null", ["scenario", "None"]),
    ("[]", ["scenario", "[]"]),
    ("NaN", ["scenario", "nan"]),
    ('{"player": {"row": 0, "col": 0, "hp": 2.5}}', ["player.hp", "2.5"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "fragments"), JSON_TEXTS)
def test_invalid_json_text_raises_value_error(text, fragments):
    with pytest.raises(ValueError) as error:
        Scenario.from_json(text)
    for fragment in fragments:
        assert fragment in str(error.value)


def test_out_of_range_hp_becomes_3_as_in_the_original():
    """game-rules §9.2 step 2: not an error, documented behaviour."""
    for hp in (-1, 4, 7):
        assert int(build({"player": {**P, "hp": hp}}).player.hp) == 3


# ---- TrainConfig.from_dict (observation-reward-metrics §5.6) ---------------------------------

CONFIGS = [
    ({"num_env": 4}, ["num_env", "unknown"]),
    ({"lr": 1e-3}, ["lr", "unknown"]),
    ({"num_envs": 0}, ["num_envs", "0"]),
    ({"num_envs": -4}, ["num_envs", "-4"]),
    ({"num_steps": 0}, ["num_steps", "0"]),
    ({"num_minibatches": 0}, ["num_minibatches", "0"]),
    ({"update_epochs": 0}, ["update_epochs", "0"]),
    ({"hidden_dim": 0}, ["hidden_dim", "0"]),
    ({"num_layers": 0}, ["num_layers", "0"]),
    ({"log_interval": 0}, ["log_interval", "0"]),
    ({"total_timesteps": 0}, ["total_timesteps", "0"]),
    ({"gamma": 0.0}, ["gamma", "0.0"]),
    ({"gamma": 1.5}, ["gamma", "1.5"]),
    ({"gamma": float("nan")}, ["gamma", "nan"]),
    ({"gae_lambda": -0.1}, ["gae_lambda", "-0.1"]),
    ({"gae_lambda": 1.01}, ["gae_lambda", "1.01"]),
    ({"clip_eps": 0}, ["clip_eps", "0"]),
    ({"learning_rate": 0}, ["learning_rate", "0"]),
    ({"learning_rate": -1e-4}, ["learning_rate", "-0.0001"]),
    ({"learning_rate": float("nan")}, ["learning_rate", "nan"]),
    ({"max_grad_norm": 0}, ["max_grad_norm", "0"]),
    ({"vf_coef": -1}, ["vf_coef", "-1"]),
    ({"ent_coef": -0.1}, ["ent_coef", "-0.1"]),
    ({"seed": -1}, ["seed", "-1"]),
    ({"num_envs": 3, "num_steps": 3, "num_minibatches": 2}, ["divisible", "num_minibatches", "9"]),
    ({"num_envs": 2, "num_steps": 2, "num_minibatches": 8}, ["num_minibatches", "8"]),
    ({"num_envs": "many"}, ["num_envs", "'many'"]),
    ({"num_envs": 2.5}, ["num_envs", "2.5"]),
    ({"num_envs": True}, ["num_envs", "True"]),
    ({"num_envs": None}, ["num_envs", "None"]),
    ({"learning_rate": "fast"}, ["learning_rate", "'fast'"]),
    ({"track_breakdown": "maybe"}, ["track_breakdown", "'maybe'"]),
    ({"checkpoint_dir": 3}, ["checkpoint_dir", "3"]),
]


@pytest.mark.parametrize(("values", "fragments"), CONFIGS, ids=[str(v) for v, _ in CONFIGS])
def test_bad_train_config_raises_value_error_naming_field_and_value(values, fragments):
    with pytest.raises(ValueError) as error:
        TrainConfig.from_dict(values)
    for fragment in fragments:
        assert fragment in str(error.value)


# ---- config files ------------------------------------------------------------------------------

FILES = [
    ("c.yaml", "num_envs: 4\nnum_env: 8\n", ["num_env", "c.yaml"]),
    ("c.yml", "learning-rat: 0.1\n", ["learning-rat"]),
    ("c.toml", "hidden_dims = 8\n", ["hidden_dims", "c.toml"]),
    ("c.toml", "[train]\nnum_envs = 4\n", ["train"]),
    ("c.yaml", "num_envs: lots\n", ["num_envs", "'lots'"]),
    ("c.yaml", "num_envs: [1, 2]\n", ["num_envs", "[1, 2]"]),
    ("c.yaml", "gamma: 2.0\n", ["gamma", "2.0"]),
    ("c.yaml", "gamma: .nan\n", ["gamma", "nan"]),
    ("c.toml", "learning_rate = -0.1\n", ["learning_rate", "-0.1"]),
    ("c.toml", 'num_steps = "x"\n', ["num_steps", "'x'"]),
    ("c.toml", "track_breakdown = 3\n", ["track_breakdown", "3"]),
    ("c.yaml", "logger: tensorboard\n", ["logger", "tensorboard"]),
    ("c.yaml", "num_envs: 4\n  bad indent: [\n", ["cannot parse", "c.yaml"]),
    ("c.toml", "num_envs = \n", ["cannot parse", "c.toml"]),
    ("c.yaml", "- 1\n- 2\n", ["mapping", "c.yaml"]),
    ("c.json", "{}", ["c.json", ".json"]),
]


@pytest.mark.parametrize(("name", "text", "fragments"), FILES, ids=[f"{n}:{t!r}" for n, t, _ in FILES])
def test_bad_config_file_raises_value_error_naming_key_and_value(tmp_path, name, text, fragments):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        FileConfigSource(path).load()
    for fragment in fragments:
        assert fragment in str(error.value)


def test_missing_config_file_raises_value_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="nope.yaml"):
        FileConfigSource(tmp_path / "nope.yaml")


# ---- HACKMATRIX_* environment variables ------------------------------------------------------

ENVS = [
    ({"HACKMATRIX_NUM_ENV": "4"}, ["HACKMATRIX_NUM_ENV", "'4'"]),
    ({"HACKMATRIX_TOTALLY_UNKNOWN": "1"}, ["HACKMATRIX_TOTALLY_UNKNOWN"]),
    ({"HACKMATRIX_NUM_ENVS": "many"}, ["HACKMATRIX_NUM_ENVS", "'many'"]),
    ({"HACKMATRIX_NUM_ENVS": "0"}, ["num_envs", "0"]),
    ({"HACKMATRIX_GAMMA": "abc"}, ["HACKMATRIX_GAMMA", "'abc'"]),
    ({"HACKMATRIX_GAMMA": "1.5"}, ["gamma", "1.5"]),
    ({"HACKMATRIX_LEARNING_RATE": "-1"}, ["learning_rate", "-1"]),
    ({"HACKMATRIX_TRACK_BREAKDOWN": "maybe"}, ["HACKMATRIX_TRACK_BREAKDOWN", "'maybe'"]),
    ({"HACKMATRIX_NUM_MINIBATCHES": "0"}, ["num_minibatches", "0"]),
    ({"HACKMATRIX_HIDDEN_DIM": "1.5"}, ["HACKMATRIX_HIDDEN_DIM", "'1.5'"]),
    ({"HACKMATRIX_LOGGER": "tensorboard"}, ["logger", "tensorboard"]),
    ({"HACKMATRIX_WANDB_MODE": "sometimes"}, ["HACKMATRIX_WANDB_MODE", "'sometimes'"]),
    ({"HACKMATRIX_TABLE_EVERY": "-1"}, ["HACKMATRIX_TABLE_EVERY", "'-1'"]),
]


@pytest.mark.parametrize(("environ", "fragments"), ENVS, ids=[str(e) for e, _ in ENVS])
def test_bad_environment_variable_raises_value_error_naming_it(environ, fragments):
    with pytest.raises(ValueError) as error:
        EnvConfigSource(environ).load()
        LayeredConfigSource([EnvConfigSource(environ)], run_root="/nonexistent-run-root").tracking()
    for fragment in fragments:
        assert fragment in str(error.value)


def test_other_environment_variables_are_ignored():
    assert EnvConfigSource({"PATH": "/bin", "HACKMATRIXX": "1", "WANDB_MODE": "x"}).values() == {}


# ---- command-line flags (parser run in-process) ----------------------------------------------

FLAGS = [
    (["--num-envs", "-3"], {}, ["num_envs", "-3"]),
    (["--num-envs", "abc"], {}, ["--num-envs", "'abc'"]),
    (["--hidden-dim", "1.5"], {}, ["--hidden-dim", "'1.5'"]),
    (["--learning-rate", "fast"], {}, ["--learning-rate", "'fast'"]),
    (["--gamma", "0"], {}, ["gamma", "0"]),
    (["--gae-lambda", "2"], {}, ["gae_lambda", "2"]),
    (["--ent-coef", "-1"], {}, ["ent_coef", "-1"]),
    (["--track-breakdown", "maybe"], {}, ["--track-breakdown", "'maybe'"]),
    (["--num-minibatches", "3"], {}, ["num_minibatches", "3", "divisible"]),
    (["--logger", "tensorboard"], {}, ["logger", "tensorboard"]),
    (["--table-every", "x"], {}, ["--table-every", "'x'"]),
    (["--num-env", "4"], {}, ["--num-env"]),
    (["--foo"], {}, ["--foo"]),
    (["--num-envs"], {}, ["--num-envs", "expected one argument"]),
    (["--config", "/nonexistent/c.yaml"], {}, ["/nonexistent/c.yaml"]),
    ([], {"HACKMATRIX_SEED": "-1"}, ["seed", "-1"]),
    ([], {"HACKMATRIX_NUM_ENV": "4"}, ["HACKMATRIX_NUM_ENV"]),
]


@pytest.mark.parametrize(("argv", "environ", "fragments"), FLAGS, ids=[" ".join(a) or str(e) for a, e, _ in FLAGS])
def test_bad_flag_exits_2_with_a_message_naming_flag_and_value(argv, environ, fragments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_command_line(argv, environ)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err


# ---- checkpoints (hackmatrix/adapters/checkpoints) ------------------------------------------

def _store_with_one_checkpoint(tmp_path):
    import numpy as np

    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore

    store = MsgpackCheckpointStore(tmp_path / "ckpt")
    path = store.save(128, {"params": {"w": np.arange(12, dtype=np.float32).reshape(3, 4)}},
                      {"update": 1, "env_steps": 128})
    return store, path


def _foreign_checkpoints() -> list[tuple[str, bytes, str]]:
    from flax import serialization

    from hackmatrix.adapters.checkpoints.msgpack_store import MAGIC

    doc = lambda **kw: serialization.msgpack_serialize(  # noqa: E731
        {"magic": MAGIC, "format_version": 1, "metadata": "{}", "payload": {}, **kw})
    v2 = lambda **kw: doc(format_version=2, payload=serialization.msgpack_serialize({}), **kw)  # noqa: E731
    return [
        ("empty file", b"", "empty"),
        ("text file", b"hello, world\n", "ckpt"),
        ("json file", b'{"params": []}', "ckpt"),
        ("random bytes", bytes(range(256)) * 4, "ckpt"),
        ("msgpack without marker", serialization.msgpack_serialize({"payload": {}}), "not a hackmatrix checkpoint"),
        ("msgpack list", serialization.msgpack_serialize([1, 2, 3]), "not a hackmatrix checkpoint"),
        ("another format version", doc(format_version=3), "format version 3"),
        ("a future string version", doc(format_version="2.0"), "format version '2.0'"),
        ("metadata not json", doc(metadata="{oops"), "bad metadata"),
        ("payload not a map", doc(payload=[1, 2]), "not a map"),
        ("format 2 without a digest", v2(), "sha256 missing"),
        ("format 2 with a wrong digest", v2(sha256="0" * 64), "checksum mismatch"),
        ("format 2 with a map payload", doc(format_version=2, sha256="0" * 64), "wrong type"),
    ]


@pytest.mark.parametrize("case", [c[0] for c in _foreign_checkpoints()])
def test_a_file_that_is_not_a_checkpoint_of_this_version_raises_value_error_naming_it(tmp_path, case):
    store, _ = _store_with_one_checkpoint(tmp_path)
    _, data, fragment = next(c for c in _foreign_checkpoints() if c[0] == case)
    path = tmp_path / "ckpt-000000000256.msgpack"
    path.write_bytes(data)
    with pytest.raises(ValueError) as error:
        store.load(str(path))
    assert str(path) in str(error.value) and fragment in str(error.value), str(error.value)


def test_every_truncation_of_a_checkpoint_raises_value_error_naming_the_file(tmp_path):
    store, good = _store_with_one_checkpoint(tmp_path)
    data = open(good, "rb").read()
    cut_file = tmp_path / "cut.msgpack"
    for cut in range(len(data)):
        cut_file.write_bytes(data[:cut])
        with pytest.raises(ValueError) as error:
            store.load(str(cut_file))
        assert "cut.msgpack" in str(error.value), (cut, str(error.value))
    assert store.load(good)[1]["update"] == 1  # the good one is untouched


def test_missing_checkpoint_and_folder_raise_value_error(tmp_path):
    store, _ = _store_with_one_checkpoint(tmp_path)
    for path, fragment in ((tmp_path / "nope.msgpack", "does not exist"), (tmp_path, "folder")):
        with pytest.raises(ValueError, match=fragment):
            store.load(str(path))


@settings(max_examples=examples("parse"))
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6))
def test_corrupted_checkpoint_bytes_raise_value_error_never_load(tmp_path_factory, flips):
    """The SHA-256 digest covers metadata and arrays: any changed byte is refused with a
    ValueError naming the file; only a file whose bytes all came back unchanged loads."""
    tmp = tmp_path_factory.mktemp("flip")
    store, good = _store_with_one_checkpoint(tmp)
    original = open(good, "rb").read()
    data = bytearray(original)
    for where, value in flips:
        data[where % len(data)] = value
    bad = tmp / "bad.msgpack"
    bad.write_bytes(bytes(data))
    if bytes(data) == original:
        assert store.load(str(bad))[1]["update"] == 1
        return
    with pytest.raises(ValueError) as error:
        store.load(str(bad))
    assert "bad.msgpack" in str(error.value)
