"""The recipes (recipes/*.yaml): valid configs, and `default` is the README's command."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hackmatrix.adapters.config.sources import FileConfigSource
from hackmatrix.application.config import TrainConfig

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _values(name: str) -> dict:
    return FileConfigSource(RECIPES / f"{name}.yaml").values()


def test_the_four_recipes_exist_and_load():
    assert sorted(p.stem for p in RECIPES.glob("*.yaml")) == ["cpu-long", "default", "gpu", "spec"]
    for path in RECIPES.glob("*.yaml"):
        FileConfigSource(path).load()  # raises on unknown keys or bad values


def test_default_recipe_is_exactly_the_defaults_of_the_readme_command():
    defaults = dataclasses.asdict(TrainConfig())
    values = _values("default")
    assert values == {key: defaults[key] for key in values}
    assert TrainConfig.from_dict(values) == TrainConfig()


def test_spec_recipe_is_the_spec_configuration():
    cfg = FileConfigSource(RECIPES / "spec.yaml").load()
    assert (cfg.total_timesteps, cfg.network, cfg.ent_coef, cfg.learning_rate) == (
        10_000_000, "mlp", 0.15, 2.5e-4)
    assert not cfg.anneal_lr and not cfg.normalize_returns and cfg.ent_coef_final is None
    assert cfg.teacher == "none"  # no kickstarting: the spec's PPO alone
    assert (cfg.num_envs, cfg.num_steps, cfg.resolved_num_minibatches,
            cfg.resolved_update_epochs) == (256, 128, 4, 4)


@pytest.mark.parametrize("name,envs,minibatches,epochs", [("cpu-long", 2048, 32, 2),
                                                          ("gpu", 8192, 64, 2)])
def test_large_batch_recipes_follow_the_auto_scaling_and_learning_rate_guidance(
        name, envs, minibatches, epochs):
    cfg = FileConfigSource(RECIPES / f"{name}.yaml").load()
    assert cfg.num_envs == envs and cfg.learning_rate == pytest.approx(6.25e-5)
    assert (cfg.resolved_num_minibatches, cfg.resolved_update_epochs) == (minibatches, epochs)
    assert cfg.ent_coef == 0.15
