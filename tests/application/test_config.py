"""TrainConfig: defaults, auto-scaling (§5.5), the 3-update bump and validation (§5.6)."""

from __future__ import annotations

import dataclasses

import pytest

from hackmatrix.application.config import FIELD_TYPES, TrainConfig, auto_scale_for_batch_size


def test_defaults_match_spec_table():
    cfg = TrainConfig()
    assert (cfg.num_envs, cfg.num_steps, cfg.total_timesteps) == (256, 128, 2_500_000)
    assert (cfg.learning_rate, cfg.gamma, cfg.gae_lambda) == (2.5e-4, 0.99, 0.95)
    assert (cfg.num_minibatches, cfg.update_epochs) == (None, None)
    assert (cfg.clip_eps, cfg.vf_coef, cfg.ent_coef, cfg.max_grad_norm) == (0.2, 0.5, 0.15, 0.5)
    assert (cfg.hidden_dim, cfg.num_layers, cfg.log_interval, cfg.seed) == (256, 2, 10, 0)
    assert cfg.checkpoint_dir == "checkpoints"
    assert cfg.derived() == {
        "batch_size": 32768, "minibatch_size": 8192, "num_updates": 76, "gradient_steps": 16,
        "resolved_num_minibatches": 4, "resolved_update_epochs": 4,
        "effective_total_timesteps": 2_500_000,
    }


@pytest.mark.parametrize(
    "num_envs, batch, minibatches, minibatch_size, epochs, grad_steps",
    [
        (256, 32_768, 4, 8_192, 4, 16),
        (384, 49_152, 4, 12_288, 4, 16),  # s floors to 1: unchanged
        (512, 65_536, 8, 8_192, 2, 16),
        (1024, 131_072, 16, 8_192, 2, 32),
        (2048, 262_144, 32, 8_192, 2, 64),
        (4096, 524_288, 64, 8_192, 2, 128),
        (8192, 1_048_576, 64, 16_384, 2, 128),
    ],
)
def test_auto_scaling_table(num_envs, batch, minibatches, minibatch_size, epochs, grad_steps):
    cfg = TrainConfig(num_envs=num_envs, num_steps=128)
    assert cfg.batch_size == batch
    assert cfg.resolved_num_minibatches == minibatches
    assert cfg.minibatch_size == minibatch_size
    assert cfg.resolved_update_epochs == epochs
    assert cfg.gradient_steps == grad_steps
    resolved = cfg.auto_scale_for_batch_size()
    assert (resolved.num_minibatches, resolved.update_epochs) == (minibatches, epochs)
    assert resolved.auto_scale_for_batch_size() == resolved  # idempotent


def test_auto_scale_function_small_batch_keeps_four_and_four():
    assert auto_scale_for_batch_size(64) == (4, 4)
    assert auto_scale_for_batch_size(32_768) == (4, 4)
    assert auto_scale_for_batch_size(32_769) == (4, 4)


@pytest.mark.parametrize(
    "kwargs, minibatches, epochs",
    [
        ({"num_minibatches": 4}, 4, 4),  # explicitly 4 is distinguishable from unset
        ({"update_epochs": 3}, 4, 3),  # either flag alone opts out (D31)
        ({"num_minibatches": 16, "update_epochs": 1}, 16, 1),
    ],
)
def test_user_value_for_either_disables_auto_scaling(kwargs, minibatches, epochs):
    cfg = TrainConfig(num_envs=2048, num_steps=128, **kwargs)
    assert not cfg.is_auto_scaled
    assert (cfg.resolved_num_minibatches, cfg.resolved_update_epochs) == (minibatches, epochs)


def test_short_budget_is_bumped_to_three_updates():
    cfg = TrainConfig(num_envs=8, num_steps=16, total_timesteps=100)
    assert cfg.effective_total_timesteps == 384
    assert cfg.num_updates == 3
    assert cfg.auto_scale_for_batch_size().total_timesteps == 384
    long = TrainConfig(num_envs=8, num_steps=16, total_timesteps=1000)
    assert (long.effective_total_timesteps, long.num_updates) == (1000, 7)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"num_envs": 0}, "num_envs must be >= 1, got 0"),
        ({"num_steps": -3}, "num_steps must be >= 1, got -3"),
        ({"num_minibatches": 0}, "num_minibatches must be >= 1, got 0"),
        ({"update_epochs": 0}, "update_epochs must be >= 1, got 0"),
        ({"hidden_dim": 0}, "hidden_dim must be >= 1, got 0"),
        ({"num_layers": 0}, "num_layers must be >= 1, got 0"),
        ({"log_interval": 0}, "log_interval must be >= 1, got 0"),
        ({"total_timesteps": 0}, "total_timesteps must be >= 1, got 0"),
        ({"gamma": 0.0}, "gamma must be in (0, 1], got 0.0"),
        ({"gamma": 1.5}, "gamma must be in (0, 1], got 1.5"),
        ({"gae_lambda": -0.1}, "gae_lambda must be in [0, 1], got -0.1"),
        ({"gae_lambda": 1.01}, "gae_lambda must be in [0, 1], got 1.01"),
        ({"clip_eps": 0.0}, "clip_eps must be > 0, got 0.0"),
        ({"learning_rate": -1e-4}, "learning_rate must be > 0, got -0.0001"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be > 0, got 0.0"),
        ({"vf_coef": -0.5}, "vf_coef must be >= 0, got -0.5"),
        ({"ent_coef": -0.01}, "ent_coef must be >= 0, got -0.01"),
        ({"learning_rate": float("inf")}, "learning_rate must be finite, got inf"),
        ({"ent_coef": float("inf")}, "ent_coef must be finite, got inf"),
        ({"vf_coef": float("nan")}, "vf_coef must be finite, got nan"),
        ({"num_envs": 257, "num_steps": 129},
         "33153 must be divisible by num_minibatches (auto-scaled) = 4"),
        ({"num_envs": 6, "num_steps": 5, "num_minibatches": 4},
         "30 must be divisible by num_minibatches = 4"),
        ({"num_envs": 2, "num_steps": 2, "num_minibatches": 8},
         "num_minibatches must be <= batch_size = num_envs x num_steps = 4, got 8"),
        ({"num_envs": 2.5}, "num_envs must be int, got 2.5"),
        ({"num_envs": True}, "num_envs must be int, got True"),
        ({"track_breakdown": 1}, "track_breakdown must be bool, got 1"),
        ({"gamma": None}, "gamma must be float, got None"),
    ],
)
def test_invalid_values_raise_error_naming_field_and_value(kwargs, fragment):
    with pytest.raises(ValueError) as err:
        TrainConfig(**kwargs)
    assert fragment in str(err.value)


def test_nan_learning_rate_is_rejected():
    with pytest.raises(ValueError, match="learning_rate must be finite, got nan"):
        TrainConfig(learning_rate=float("nan"))


def test_from_dict_round_trips_and_coerces_strings():
    cfg = TrainConfig(num_envs=8, num_steps=16, num_minibatches=2, ent_coef=0.01, run_dir="r")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    coerced = TrainConfig.from_dict(
        {"num_envs": "8", "total_timesteps": 1e7, "learning_rate": "6.25e-5",
         "track_breakdown": "false", "num_minibatches": "none", "vf_coef": 1}
    )
    assert coerced.num_envs == 8 and coerced.total_timesteps == 10_000_000
    assert coerced.learning_rate == 6.25e-5 and coerced.track_breakdown is False
    assert coerced.num_minibatches is None and coerced.vf_coef == 1.0


def test_from_dict_rejects_unknown_keys_by_name():
    with pytest.raises(ValueError, match="unknown TrainConfig field\\(s\\): bogus, lr"):
        TrainConfig.from_dict({"lr": 1e-3, "bogus": 1, "seed": 3})


def test_from_dict_rejects_unparseable_string_by_field():
    with pytest.raises(ValueError, match="num_envs must be int, got 'many'"):
        TrainConfig.from_dict({"num_envs": "many"})


def test_field_types_cover_every_field_with_simple_types():
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    assert list(FIELD_TYPES) == names
    assert {base for base, _ in FIELD_TYPES.values()} == {int, float, str, bool}
    assert FIELD_TYPES["num_minibatches"] == (int, True)
    assert FIELD_TYPES["ent_coef"] == (float, False)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().num_envs = 3  # type: ignore[misc]
