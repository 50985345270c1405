"""Network, masked categorical, GAE and PPO loss: pure math, no environment."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application import distribution
from hackmatrix.application.network import ActorCritic, count_params, init_params
from hackmatrix.application.ppo import Minibatch, compute_gae, make_optimizer, ppo_loss
from hackmatrix.application.config import TrainConfig


def test_default_network_has_469021_parameters_and_flax_default_init():
    params = init_params(ActorCritic(), jax.random.PRNGKey(0))
    assert count_params(params) == 469_021
    layers = params["params"]
    assert sorted(layers) == ["Dense_0", "Dense_1", "Dense_2", "Dense_3"]
    assert layers["Dense_0"]["kernel"].shape == (1545, 256)
    assert layers["Dense_2"]["kernel"].shape == (256, 28)
    assert layers["Dense_3"]["kernel"].shape == (256, 1)
    for layer in layers.values():
        assert float(jnp.abs(layer["bias"]).max()) == 0.0  # zero biases
    # LeCun normal: variance 1 / fan_in (truncated normal rescaled to unit variance).
    var = float(jnp.var(layers["Dense_0"]["kernel"]))
    assert var == pytest.approx(1.0 / 1545, rel=0.05)


def test_network_outputs_logits_and_squeezed_value():
    net = ActorCritic(hidden_dim=32, num_layers=3)
    params = init_params(net, jax.random.PRNGKey(1))
    logits, value = net.apply(params, jnp.ones((5, 1545)))
    assert logits.shape == (5, 28) and value.shape == (5,)
    assert count_params(params) == 1545 * 32 + 32 + 2 * (32 * 32 + 32) + 32 * 28 + 28 + 33


def test_masked_categorical_never_samples_an_invalid_action():
    key = jax.random.PRNGKey(0)
    k_mask, k_logits, k_sample = jax.random.split(key, 3)
    mask = jax.random.bernoulli(k_mask, 0.2, (4096, 28)).at[:, 7].set(True)
    # Invalid actions get huge logits: masking must still exclude them.
    logits = jax.random.normal(k_logits, (4096, 28)) + jnp.where(mask, 0.0, 50.0)
    actions = distribution.sample(k_sample, logits, mask)
    assert actions.dtype == jnp.int32
    assert bool(jnp.all(jnp.take_along_axis(mask, actions[:, None], axis=1)))


def test_masked_log_probs_entropy_and_gumbel_frequencies():
    mask = jnp.zeros(28, bool).at[jnp.array([2, 5])].set(True)
    logits = jnp.zeros(28).at[5].set(math.log(3.0))
    logp = distribution.log_probs(logits, mask)
    assert float(jnp.exp(logp[2])) == pytest.approx(0.25, abs=1e-6)
    assert float(jnp.exp(logp[5])) == pytest.approx(0.75, abs=1e-6)
    assert float(logp[0]) < -1e8  # masked logits are -1e9, not -inf
    expected_entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert float(distribution.entropy(logp)) == pytest.approx(expected_entropy, abs=1e-6)
    keys = jax.random.split(jax.random.PRNGKey(3), 20_000)
    samples = jax.vmap(lambda k: distribution.sample(k, logits, mask))(keys)
    assert set(np.unique(np.asarray(samples))) == {2, 5}
    assert float(jnp.mean(samples == 5)) == pytest.approx(0.75, abs=0.015)
    assert int(distribution.greedy(logits, mask)) == 5


def test_all_masked_distribution_is_uniform_over_28():
    mask = jnp.zeros(28, bool)
    logp = distribution.log_probs(jnp.arange(28.0), mask)
    np.testing.assert_allclose(np.asarray(logp), -math.log(28.0), rtol=1e-6)
    assert float(distribution.entropy(logp)) == pytest.approx(math.log(28.0), rel=1e-6)


def test_log_prob_of_picks_the_action_entry():
    logp = jnp.log(jnp.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]]))
    picked = distribution.log_prob_of(logp, jnp.array([2, 0]))
    np.testing.assert_allclose(np.asarray(picked), np.log([0.7, 0.5]), rtol=1e-6)


def test_gae_matches_hand_computed_example():
    # gamma 0.9, lambda 0.8; the episode ends after step 1.
    rewards = jnp.array([1.0, 2.0, 3.0])
    values = jnp.array([0.5, 1.0, 1.5])
    dones = jnp.array([False, True, False])
    adv, ret = compute_gae(rewards, values, dones, jnp.float32(2.0), 0.9, 0.8)
    # t2: 3 + 0.9*2 - 1.5 = 3.3; t1 (done): 2 - 1 = 1.0; t0: (1 + 0.9*1 - 0.5) + 0.72*1.0 = 2.12
    np.testing.assert_allclose(np.asarray(adv), [2.12, 1.0, 3.3], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ret), [2.62, 2.0, 4.8], rtol=1e-6)


def test_gae_is_batched_over_trailing_env_axis():
    rewards = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    values = jnp.zeros((2, 2))
    dones = jnp.array([[False, True], [False, False]])
    adv, _ = compute_gae(rewards, values, dones, jnp.array([10.0, 10.0]), 0.5, 1.0)
    # env 0: A1 = 0 + 0.5*10 = 5, A0 = 1 + 0.5*A1 = 3.5; env 1: A1 = 1 + 5 = 6, A0 = 0 (done).
    np.testing.assert_allclose(np.asarray(adv), [[3.5, 0.0], [5.0, 6.0]], rtol=1e-6)


def _loss_fixture(shift: float = 0.0):
    net = ActorCritic(hidden_dim=16, num_layers=1)
    params = init_params(net, jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    obs = jax.random.uniform(key, (32, 1545))
    mask = jnp.ones((32, 28), bool).at[:, 3].set(False)
    logits, value = net.apply(params, obs)
    logp_all = distribution.log_probs(logits, mask)
    action = distribution.sample(jax.random.PRNGKey(2), logits, mask)
    batch = Minibatch(
        obs=obs, mask=mask, action=action,
        log_prob=distribution.log_prob_of(logp_all, action) + shift,
        advantage=jnp.linspace(-1.0, 2.0, 32), target=value + 1.0,
    )
    return net, params, batch, logp_all


def test_ppo_loss_with_rollout_parameters_has_ratio_one():
    net, params, batch, logp_all = _loss_fixture()
    total, info = ppo_loss(params, net.apply, batch, 0.2, 0.5, 0.15)
    assert float(info.ratio_max_dev) == 0.0
    assert float(info.approx_kl) == 0.0 and float(info.clip_frac) == 0.0
    # Normalised advantages have mean 0, so with rho = 1 the surrogate is -mean(A_hat) = 0.
    assert float(info.pg_loss) == pytest.approx(0.0, abs=1e-6)
    assert float(info.vf_loss) == pytest.approx(0.5, rel=1e-5)  # 0.5 * mean(1^2)
    entropy = float(jnp.mean(distribution.entropy(logp_all)))
    assert float(info.entropy) == pytest.approx(entropy, rel=1e-6)
    assert float(info.ent_loss) == pytest.approx(-entropy, rel=1e-6)
    assert float(total) == pytest.approx(float(info.pg_loss) + 0.25 - 0.15 * entropy, rel=1e-5)


def test_ppo_loss_clip_fraction_and_kl_for_shifted_old_log_probs():
    # Old log-probs 0.5 higher: rho = e^-0.5 ~ 0.607 everywhere, outside 1 +- 0.2.
    net, params, batch, _ = _loss_fixture(shift=0.5)
    _, info = ppo_loss(params, net.apply, batch, 0.2, 0.5, 0.15)
    assert float(info.clip_frac) == 1.0
    rho = math.exp(-0.5)
    assert float(info.approx_kl) == pytest.approx((rho - 1) + 0.5, rel=1e-4)
    assert float(info.ratio_max_dev) == pytest.approx(1 - rho, rel=1e-4)


def test_optimizer_clips_global_norm_before_adam():
    opt = make_optimizer(TrainConfig(max_grad_norm=0.5, learning_rate=0.1))
    params = {"w": jnp.zeros(3)}
    state = opt.init(params)
    updates, _ = opt.update({"w": jnp.array([30.0, 40.0, 0.0])}, state, params)
    # Adam's first step is -lr * g / (|g| + eps) per coordinate whatever the scale.
    np.testing.assert_allclose(np.asarray(updates["w"]), [-0.1, -0.1, 0.0], atol=1e-6)
