"""Kickstarting (``teacher``): the teacher's cross-entropy in the PPO loss, its schedule,
and a training run that carries the scripted policy's actions through the rollout."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application import distribution
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.network import ActorCritic, init_params
from hackmatrix.application.ppo import (
    Minibatch, imitating_at, ppo_loss, teacher_acts_at, teacher_coef_at,
)
from hackmatrix.domain import env as engine
from tests.application.conftest import TINY
from tests.application.fakes import RecordingLogger

BATCH = TINY["num_envs"] * TINY["num_steps"]


def _choices(rows):
    """(len(rows), 28) bool from one set of action indices per row."""
    out = np.zeros((len(rows), 28), bool)
    for i, row in enumerate(rows):
        out[i, list(row)] = True
    return jnp.asarray(out)


def _batch(teacher_choice):
    net = ActorCritic(hidden_dim=16, num_layers=1)
    params = init_params(net, jax.random.PRNGKey(0))
    obs = jax.random.uniform(jax.random.PRNGKey(1), (4, 1545))
    mask = jnp.ones((4, 28), bool).at[:, 5].set(False)
    logits, value = net.apply(params, obs)
    logp_all = distribution.log_probs(logits, mask)
    action = jnp.zeros(4, jnp.int32)
    batch = Minibatch(
        obs=obs, mask=mask, action=action, log_prob=distribution.log_prob_of(logp_all, action),
        advantage=jnp.array([-1.0, 0.0, 1.0, 2.0]), target=value,
        teacher_choice=None if teacher_choice is None else _choices(teacher_choice),
    )
    return net, params, batch, logp_all


def test_teacher_loss_is_the_mean_negative_log_probability_of_the_teacher_choices():
    # Row 0: the teacher's one best action 7; row 1: a tie between 0 and 2 (either is
    # the teacher's, so the loss is -log(p0 + p2)); row 2: 27; row 3: no label, no count.
    net, params, batch, logp_all = _batch([{7}, {0, 2}, {27}, set()])
    without, info0 = ppo_loss(params, net.apply, batch._replace(teacher_choice=None),
                              0.2, 0.5, 0.15)
    total, info = ppo_loss(params, net.apply, batch, 0.2, 0.5, 0.15, teacher_coef=2.0)
    p = np.exp(np.asarray(logp_all, np.float64))
    expected = -(np.log(p[0, 7]) + np.log(p[1, 0] + p[1, 2]) + np.log(p[2, 27])) / 3
    assert float(info.teacher_loss) == pytest.approx(expected, rel=1e-5)
    greedy = np.argmax(p, axis=-1)
    agree = [greedy[0] == 7, greedy[1] in (0, 2), greedy[2] == 27]
    assert float(info.teacher_agreement) == pytest.approx(np.mean(agree))
    assert float(total) == pytest.approx(float(without) + 2.0 * expected, rel=1e-5)
    assert float(info0.teacher_loss) == 0.0  # no teacher: the loss is the plain PPO loss


def test_soft_labels_give_the_cross_entropy_with_the_teachers_distribution():
    # Row 0: q = 0.9 on action 7, 0.1 on action 3; row 1: all on 2; row 2: q over 0 and
    # 27 but the best set is empty, so the row is unlabelled (not counted); row 3: 1.0 on
    # 1. Loss: -sum_a q(a) log p(a), averaged over the three labelled rows. Action 5 is
    # invalid (its logit masked to -1e9) and q is 0 there: it adds nothing.
    net, params, batch, logp_all = _batch([{7}, {2}, set(), {1}])
    q = np.zeros((4, 28), np.float32)
    q[0, 7], q[0, 3], q[1, 2], q[2, 0], q[2, 27], q[3, 1] = 0.9, 0.1, 1.0, 0.5, 0.5, 1.0
    soft = batch._replace(teacher_target=jnp.asarray(q))
    total, info = ppo_loss(params, net.apply, soft, 0.2, 0.5, 0.15, teacher_coef=2.0)
    hard, _ = ppo_loss(params, net.apply, batch, 0.2, 0.5, 0.15, teacher_coef=0.0)
    logp = np.asarray(logp_all, np.float64)
    expected = -((0.9 * logp[0, 7] + 0.1 * logp[0, 3]) + logp[1, 2] + logp[3, 1]) / 3
    assert float(info.teacher_loss) == pytest.approx(expected, rel=1e-5)
    assert float(total) == pytest.approx(float(hard) + 2.0 * expected, rel=1e-5)
    grads = jax.grad(lambda p: ppo_loss(p, net.apply, soft, 0.2, 0.5, 0.15, 1.0)[0])(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))


def test_a_gradient_step_on_the_teacher_term_raises_the_teacher_actions_probability():
    net, params, batch, logp_all = _batch([{7}] * 4)
    grads = jax.grad(lambda p: ppo_loss(p, net.apply, batch, 0.2, 0.0, 0.0, 1.0)[1].teacher_loss)(
        params)
    stepped = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    logits, _ = net.apply(stepped, batch.obs)
    after = distribution.log_probs(logits, batch.mask)[:, 7]
    assert bool(jnp.all(after > logp_all[:, 7]))


def test_teacher_weight_falls_linearly_to_zero_at_teacher_fraction_of_the_updates():
    cfg = TrainConfig(num_envs=8, num_steps=16, total_timesteps=10 * 128, teacher="scripted",
                      teacher_coef=2.0, teacher_fraction=0.5, imitation_fraction=0.0)
    assert cfg.num_updates == 10
    assert [float(teacher_coef_at(cfg, u)) for u in (0, 1, 4, 5, 9)] == pytest.approx(
        [2.0, 1.6, 0.4, 0.0, 0.0])
    assert float(teacher_coef_at(dataclasses.replace(cfg, teacher="none"), 0)) == 0.0


def test_teacher_weight_falls_to_teacher_coef_final_and_stays_there():
    # 10 updates, 4 imitating: 2.0 through update 4, then 2.0 -> 0.5 over the 6 updates to
    # update 10 (teacher_fraction 1.0): half of the way at update 7, 1.25; 0.5 from 10 on.
    cfg = TrainConfig(num_envs=8, num_steps=16, total_timesteps=10 * 128, teacher="scripted",
                      teacher_coef=2.0, teacher_coef_final=0.5, imitation_fraction=0.4)
    assert (cfg.num_updates, cfg.imitation_updates) == (10, 4)
    assert [float(teacher_coef_at(cfg, u)) for u in (0, 4, 7, 9, 10, 12)] == pytest.approx(
        [2.0, 2.0, 1.25, 0.75, 0.5, 0.5])


@pytest.mark.parametrize("field,value,message", [
    ("teacher", "oracle", "teacher must be one of none, scripted, got 'oracle'"),
    ("teacher_coef", -1.0, "teacher_coef must be a finite number >= 0, got -1.0"),
    ("teacher_coef", float("nan"), "teacher_coef must be a finite number >= 0, got nan"),
    ("teacher_fraction", 0.0, r"teacher_fraction must be in \(0, 1\], got 0.0"),
    ("teacher_fraction", 1.5, r"teacher_fraction must be in \(0, 1\], got 1.5"),
    ("teacher_coef_final", 1.5,
     r"teacher_coef_final must be in \[0, teacher_coef = 1.0\], got 1.5"),
    ("teacher_coef_final", -0.1,
     r"teacher_coef_final must be in \[0, teacher_coef = 1.0\], got -0.1"),
])
def test_config_rejects_bad_teacher_settings_naming_the_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_training_with_the_scripted_teacher_logs_its_weight_loss_and_agreement():
    from hackmatrix.application.use_cases import TrainPolicy

    cfg = TrainConfig(**{**TINY, "teacher": "scripted"}, total_timesteps=4 * BATCH,
                      teacher_coef=1.0, teacher_fraction=0.5)
    logger = RecordingLogger()
    TrainPolicy(cfg, logger).run()
    records = [record for _, record in logger.records]
    assert [r["train/teacher_coef"] for r in records] == pytest.approx([1.0, 0.5, 0.0, 0.0])
    # While the weight is positive the teacher labels every row: a cross-entropy over
    # at most 28 valid actions, positive and below log(28) for a fresh network.
    for r in records[:2]:
        assert 0.0 < r["train/teacher_loss"] < np.log(28)
        assert 0.0 <= r["train/teacher_agreement"] <= 1.0
    # Afterwards the teacher is not run: no labelled rows, no loss.
    assert [r["train/teacher_loss"] for r in records[2:]] == [0.0, 0.0]


# ---- imitation before PPO (imitation_fraction) ------------------------------------------


def test_imitation_keeps_the_teacher_weight_then_it_falls_to_zero_at_teacher_fraction():
    # 10 updates: 4 imitate (0.4), then the weight falls linearly from 2.0 at update 4
    # to 0 at update 8 (teacher_fraction 0.8); the teacher acts in every game at update 0,
    # in half of them at update 1 and in none from update 2 (half the imitation phase).
    cfg = TrainConfig(num_envs=8, num_steps=16, total_timesteps=10 * 128, teacher="scripted",
                      teacher_coef=2.0, teacher_fraction=0.8, imitation_fraction=0.4)
    assert cfg.imitation_updates == 4
    assert [float(teacher_coef_at(cfg, u)) for u in (0, 3, 4, 5, 6, 8, 9)] == pytest.approx(
        [2.0, 2.0, 2.0, 1.5, 1.0, 0.0, 0.0])
    assert [bool(imitating_at(cfg, u)) for u in (0, 3, 4, 9)] == [True, True, False, False]
    assert [float(teacher_acts_at(cfg, u)) for u in (0, 1, 2, 3)] == pytest.approx(
        [1.0, 0.5, 0.0, 0.0])


def test_pg_coef_zero_leaves_the_value_entropy_and_teacher_terms():
    net, params, batch, _ = _batch([{7}, {0, 2}, {27}, {1}])
    full, info = ppo_loss(params, net.apply, batch, 0.2, 0.5, 0.15, teacher_coef=2.0)
    imitation, _ = ppo_loss(params, net.apply, batch, 0.2, 0.5, 0.15, teacher_coef=2.0,
                            pg_coef=0.0)
    assert float(imitation) == pytest.approx(float(full) - float(info.pg_loss), rel=1e-5)


@pytest.mark.parametrize("fields,message", [
    (dict(teacher="none", imitation_fraction=0.5), "imitation_fraction = 0.5 needs a teacher "
                                   r"\(teacher = 'none', teacher_coef = 1.0\)"),
    (dict(teacher="scripted", imitation_fraction=1.0),
     r"imitation_fraction must be in \[0, 1\), got 1.0"),
    (dict(teacher="scripted", imitation_fraction=-0.1),
     r"imitation_fraction must be in \[0, 1\), got -0.1"),
    (dict(teacher="scripted", imitation_fraction=0.2, imitation_learning_rate=0.0),
     "imitation_learning_rate must be a finite number > 0, got 0.0"),
    (dict(teacher_temperature=0.0),
     "teacher_temperature must be a finite number >= 0.001, got 0.0"),
    (dict(teacher_temperature=1e-46),
     "teacher_temperature must be a finite number >= 0.001, got 1e-46"),
    (dict(teacher_temperature=float("inf")),
     "teacher_temperature must be a finite number >= 0.001, got inf"),
])
def test_config_rejects_bad_imitation_settings_naming_the_value(fields, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**fields)


def test_imitation_updates_follow_the_teacher_at_their_own_rate_without_pg_or_entropy(monkeypatch):
    # A fake teacher that rates only the moves (0-3) best: while it acts in every game
    # (update 0) no siphon or program is ever taken, though a fresh policy picks them.
    from hackmatrix.application import ppo
    from hackmatrix.application.use_cases import TrainPolicy

    def moves_only(config):  # the teacher reads the games (EnvState), not the gymnax states
        return lambda games: (jax.vmap(engine.valid_actions)(games) & (jnp.arange(28) < 4), None)

    monkeypatch.setattr(ppo, "make_teacher", moves_only)
    # The default's network and return scaling (TINY is the plain path).
    cfg = TrainConfig(**{**TINY, "network": "ego", "normalize_returns": True, "teacher": "scripted",
                         "imitation_fraction": 0.5}, total_timesteps=4 * BATCH,
                      teacher_fraction=1.0, imitation_learning_rate=1e-3, learning_rate=2e-4,
                      teacher_temperature=None)  # the fake teacher gives hard labels only
    logger = RecordingLogger()
    TrainPolicy(cfg, logger).run()
    records = [record for _, record in logger.records]
    assert [r["train/imitating"] for r in records] == [1.0, 1.0, 0.0, 0.0]
    assert [r["train/teacher_acts"] for r in records] == [1.0, 0.0, 0.0, 0.0]
    assert [r["train/ent_coef"] for r in records] == pytest.approx([0.0, 0.0, 0.15, 0.15])
    assert [r["train/learning_rate"] for r in records] == pytest.approx([1e-3, 1e-3, 2e-4, 2e-4])
    assert [r["train/teacher_coef"] for r in records] == pytest.approx([1.0, 1.0, 1.0, 0.5])
    assert records[0]["actions/move_frac"] == 1.0
    assert records[1]["actions/move_frac"] < 1.0  # the policy acts: siphons and programs too


def test_training_with_soft_labels_logs_a_finite_teacher_term():
    # The scripted teacher's soft labels through the whole compiled update: imitation,
    # then PPO with the term. The teacher acts from its best set (update 0: only ever
    # one of its best actions, so agreement is measured as with hard labels).
    from hackmatrix.application.use_cases import TrainPolicy

    cfg = TrainConfig(**{**TINY, "teacher": "scripted", "imitation_fraction": 0.5},
                      total_timesteps=4 * BATCH, teacher_temperature=0.5)
    logger = RecordingLogger()
    TrainPolicy(cfg, logger).run()
    records = [record for _, record in logger.records]
    assert [r["train/imitating"] for r in records] == [1.0, 1.0, 0.0, 0.0]
    for r in records:
        assert np.isfinite(r["train/teacher_loss"]) and r["train/teacher_loss"] > 0.0
        assert 0.0 <= r["train/teacher_agreement"] <= 1.0
        assert np.isfinite(r["train/total_loss"])
