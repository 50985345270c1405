"""The network choices of ``network.make_network`` (issue 15 item 4)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hackmatrix.application.network import (
    NETWORKS, ActorCritic, Conv3x3, SeparateCritic, count_params, ego_frame, init_params,
    make_network, split_observation,
)
from hackmatrix.domain.constants import NUM_ACTIONS, OBS_FLAT_SIZE
from hackmatrix.domain.observation import decode_observation

ORTHO = [name for name in NETWORKS if name != "mlp"]


def random_obs(key: jax.Array, lead: tuple[int, ...]) -> jax.Array:
    """Observations decoded from random numerators 0..9, the player on the grid."""
    k_code, k_pos = jax.random.split(key)
    code = jax.random.randint(k_code, lead + (OBS_FLAT_SIZE,), 0, 10).astype(jnp.int8)
    code = code.at[..., :2].set(jax.random.randint(k_pos, lead + (2,), 0, 6).astype(jnp.int8))
    return decode_observation(code)


def obs_with_player(base: jax.Array, row: int, col: int) -> jax.Array:
    """``base`` (1545,) with the player at (row, col): features 0 and 1 are row / 5, col / 5."""
    code = jnp.zeros((OBS_FLAT_SIZE,), jnp.int8).at[0].set(row).at[1].set(col)
    return base.at[:2].set(decode_observation(code)[:2])


@pytest.fixture(scope="module")
def nets():
    """name -> (module, params from PRNGKey(0))."""
    out = {}
    for name in NETWORKS:
        net = make_network(name)
        out[name] = (net, init_params(net, jax.random.PRNGKey(0)))
    return out


def kernel(params, *path):
    node = params["params"]
    for key in path:
        node = node[key]
    return np.asarray(node["kernel"])


def test_names():
    assert NETWORKS[0] == "mlp"
    assert {"mlp", "mlp_ortho", "conv", "attention", "ego"} <= set(NETWORKS)
    assert len(set(NETWORKS)) == len(NETWORKS)


def test_unknown_name_raises_naming_it():
    with pytest.raises(ValueError, match="'cnn'"):
        make_network("cnn")


@pytest.mark.parametrize("name", NETWORKS)
def test_shapes_for_batched_unbatched_and_nested_inputs(nets, name):
    net, params = nets[name]
    for lead in [(5,), (), (2, 3)]:
        obs = random_obs(jax.random.PRNGKey(len(lead)), lead)
        logits, value = net.apply(params, obs)
        assert logits.shape == lead + (NUM_ACTIONS,) and value.shape == lead
        assert logits.dtype == jnp.float32 and value.dtype == jnp.float32
        assert np.all(np.isfinite(logits)) and np.all(np.isfinite(value))


@pytest.mark.parametrize("name", NETWORKS)
def test_rows_are_independent_of_the_batch(nets, name):
    """A row's output is the same alone, unbatched, or among others."""
    net, params = nets[name]
    obs = random_obs(jax.random.PRNGKey(7), (4,))
    logits, value = net.apply(params, obs)
    one_logits, one_value = net.apply(params, obs[2])
    np.testing.assert_allclose(one_logits, logits[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_value, value[2], rtol=1e-5, atol=1e-6)


# Parameter counts by hand (kernel in x out + bias out; 33 = 10 player + 23 programs):
#   mlp, mlp_ortho: 1545*256+256 = 395,776; 256*256+256 = 65,792; actor 256*28+28 = 7,196;
#     critic 256+1 = 257; total 469,021.
#   conv: cell_embed 43*16+16 = 704; conv_0 3*3*16*16+16 = 2,320;
#     torso_0 (36*16 + 33 = 609)*256+256 = 156,160; torso_1 65,792; actor 7,196;
#     critic 257; total 232,429.
#   attention: cell_embed 43*16+16 = 704; cell_position 36*16 = 576; player_embed
#     10*16+16 = 176; program_embed 23*16+16 = 384; 2 LayerNorms 2*(16+16) = 64;
#     attention query/key/value 3*(16*16+16) = 816 and out 16*16+16 = 272;
#     torso_0 (38*16 + 33 = 641)*256+256 = 164,352; torso_1 65,792; actor 7,196;
#     critic 257; total 240,589.
#   ego: cell_embed 43*16+16 = 704; torso_0 (121*16 + 33 = 1,969)*256+256 = 504,320;
#     torso_1 65,792; actor 7,196; critic 257; total 578,269.
PARAM_COUNTS = {"mlp": 469_021, "mlp_ortho": 469_021, "conv": 232_429, "attention": 240_589,
                "ego": 578_269}


@pytest.mark.parametrize("name", NETWORKS)
def test_parameter_count(nets, name):
    assert count_params(nets[name][1]) == PARAM_COUNTS[name]


def test_hand_counts_add_up():
    assert 395_776 + 65_792 + 7_196 + 257 == 469_021
    assert 704 + 2_320 + 156_160 + 65_792 + 7_196 + 257 == 232_429
    assert 704 + 576 + 176 + 384 + 64 + 816 + 272 + 164_352 + 65_792 + 7_196 + 257 == 240_589
    assert 704 + 504_320 + 65_792 + 7_196 + 257 == 578_269


@pytest.mark.parametrize("name", NETWORKS)
def test_hidden_dim_and_num_layers_shape_the_torso(name):
    h, n = 32, 3
    params = init_params(make_network(name, hidden_dim=h, num_layers=n), jax.random.PRNGKey(0))
    torso_in = {"mlp": 1545, "mlp_ortho": 1545, "conv": 36 * 16 + 33, "attention": 38 * 16 + 33,
                "ego": 121 * 16 + 33}[name]
    encoder = {"mlp": 0, "mlp_ortho": 0, "conv": 704 + 2_320, "ego": 704,
               "attention": 704 + 576 + 176 + 384 + 64 + 816 + 272}[name]
    torso = torso_in * h + h + (n - 1) * (h * h + h) + h * NUM_ACTIONS + NUM_ACTIONS + h + 1
    assert count_params(params) == encoder + torso


def test_mlp_is_the_specs_actor_critic(nets):
    net, params = nets["mlp"]
    assert type(net) is ActorCritic and net == ActorCritic()
    assert make_network("mlp", hidden_dim=64, num_layers=3) == ActorCritic(hidden_dim=64, num_layers=3)
    reference = init_params(ActorCritic(), jax.random.PRNGKey(0))
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(reference)
    for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(reference)):
        np.testing.assert_array_equal(a, b)
    obs = random_obs(jax.random.PRNGKey(3), (6,))
    for a, b in zip(net.apply(params, obs), ActorCritic().apply(reference, obs)):
        np.testing.assert_array_equal(a, b)


def test_mlp_ortho_has_the_mlps_layout(nets):
    """Same layers and parameter names as ActorCritic: the checkpoint layout is shared."""
    shapes = [jax.tree_util.tree_map(jnp.shape, nets[n][1]) for n in ("mlp", "mlp_ortho")]
    assert shapes[0] == shapes[1]
    obs = random_obs(jax.random.PRNGKey(4), (3,))
    a = ActorCritic().apply(nets["mlp_ortho"][1], obs)
    b = nets["mlp_ortho"][0].apply(nets["mlp_ortho"][1], obs)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6)  # same function of the same parameters


def assert_orthogonal(k: np.ndarray, gain: float) -> None:
    """``k`` reshaped to (fan_in, fan_out) is ``gain`` x a matrix with orthonormal columns
    (or rows, when fan_in < fan_out, e.g. the (10, 16) player embedding)."""
    m = k.reshape(-1, k.shape[-1]).astype(np.float64)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-4 * max(gain**2, 1e-2))


HEADS = {"mlp_ortho": ("Dense_2", "Dense_3"), "conv": ("actor", "critic"),
         "attention": ("actor", "critic"), "ego": ("actor", "critic")}


@pytest.mark.parametrize("name", ORTHO)
def test_orthogonal_heads(nets, name):
    params = nets[name][1]
    actor_name, critic_name = HEADS[name]
    actor, critic = kernel(params, actor_name), kernel(params, critic_name)
    assert actor.shape == (256, NUM_ACTIONS) and critic.shape == (256, 1)
    np.testing.assert_allclose(np.linalg.norm(actor, axis=0), 0.01, rtol=1e-4)
    assert_orthogonal(actor, 0.01)
    np.testing.assert_allclose(np.linalg.norm(critic), 1.0, rtol=1e-4)
    for leaf in (params["params"][actor_name]["bias"], params["params"][critic_name]["bias"]):
        np.testing.assert_array_equal(leaf, 0.0)


def test_orthogonal_hidden_layers(nets):
    ortho = nets["mlp_ortho"][1]
    assert_orthogonal(kernel(ortho, "Dense_0"), np.sqrt(2))  # (1545, 256): orthonormal columns
    assert_orthogonal(kernel(ortho, "Dense_1"), np.sqrt(2))
    for layer in ("Dense_0", "Dense_1"):
        np.testing.assert_array_equal(ortho["params"][layer]["bias"], 0.0)
    conv = nets["conv"][1]
    for layer in ("cell_embed", "conv_0", "torso_0", "torso_1"):
        assert_orthogonal(kernel(conv, layer), np.sqrt(2))
    attention = nets["attention"][1]
    for layer in ("torso_0", "torso_1"):
        assert_orthogonal(kernel(attention, layer), np.sqrt(2))
    for layer in ("cell_embed", "player_embed", "program_embed"):
        assert_orthogonal(kernel(attention, layer), 1.0)
    ego = nets["ego"][1]
    for layer in ("cell_embed", "torso_0", "torso_1"):
        assert_orthogonal(kernel(ego, layer), np.sqrt(2))


def test_flax_default_init_is_not_orthogonal(nets):
    """The spec's MLP keeps LeCun-normal kernels: actor columns have norm ~1, not 0.01."""
    actor = kernel(nets["mlp"][1], "Dense_2")
    assert 0.8 < np.linalg.norm(actor, axis=0).mean() < 1.2


@pytest.mark.parametrize("name", ORTHO)
def test_initial_policy_is_near_uniform(nets, name):
    net, params = nets[name]
    logits, _ = net.apply(params, random_obs(jax.random.PRNGKey(5), (16,)))
    assert float(jnp.max(jnp.abs(logits))) < 0.5  # actor gain 0.01


def test_player_plane_marks_the_player_cell():
    base = random_obs(jax.random.PRNGKey(6), ())
    obs = jnp.stack([obs_with_player(base, r, c) for r in range(6) for c in range(6)])
    vector, board = split_observation(obs)
    assert vector.shape == (36, 33) and board.shape == (36, 6, 6, 43)
    np.testing.assert_array_equal(vector, obs[:, :33])
    np.testing.assert_array_equal(board[..., :42], obs[:, 33:].reshape(36, 6, 6, 42))
    planes = np.asarray(board[..., 42]).reshape(36, 36)
    np.testing.assert_array_equal(planes, np.eye(36))  # position r*6+c: 1 on (r, c) only
    # grid element (r, c, k) sits at 33 + 42 * (6 r + c) + k (observation-reward-metrics §1)
    np.testing.assert_array_equal(board[0, 2, 3, 5], obs[0, 33 + 42 * (6 * 2 + 3) + 5])


@pytest.mark.parametrize("row,col", [(0, 0), (2, 3), (5, 5), (5, 0)])
def test_ego_frame_centres_the_board_on_the_player(row, col):
    base = random_obs(jax.random.PRNGKey(12), ())
    obs = obs_with_player(base, row, col)
    board = np.asarray(obs[33:]).reshape(6, 6, 42)
    frame = np.asarray(ego_frame(obs[None]))[0]
    assert frame.shape == (11, 11, 43)
    for i in range(11):
        for j in range(11):
            r, c = row + i - 5, col + j - 5
            if 0 <= r < 6 and 0 <= c < 6:  # a board cell: its 42 channels, on-board plane 1
                np.testing.assert_array_equal(frame[i, j, :42], board[r, c])
                assert frame[i, j, 42] == 1.0
            else:  # off the board: all zero
                np.testing.assert_array_equal(frame[i, j], 0.0)
    np.testing.assert_array_equal(frame[5, 5, :42], board[row, col])  # the player's cell
    assert frame[..., 42].sum() == 36  # every board cell stays in view


def cut_vector_path(name: str, params: dict) -> dict:
    """``params`` with the torso's weights on the raw player/program vector zeroed, and
    (attention) the player token's weights on the position features: the board, through
    its player plane, is then the only way the player's position reaches the output."""
    p = jax.tree_util.tree_map(lambda x: x, params)
    torso_0 = p["params"]["torso_0"]
    torso_0["kernel"] = torso_0["kernel"].at[-33:].set(0.0)
    if name == "attention":
        embed = p["params"]["player_embed"]
        embed["kernel"] = embed["kernel"].at[:2].set(0.0)
    return p


@pytest.mark.parametrize("name", ["conv", "attention"])
def test_board_encoders_see_where_the_player_is(nets, name):
    net, params = nets[name]
    base = random_obs(jax.random.PRNGKey(8), ())
    logits, _ = net.apply(params, jnp.stack([obs_with_player(base, 0, 0), obs_with_player(base, 3, 4)]))
    assert float(jnp.max(jnp.abs(logits[0] - logits[1]))) > 1e-6

    cut = cut_vector_path(name, params)
    moved = jnp.stack([obs_with_player(base, 0, 0), obs_with_player(base, 3, 4), obs_with_player(base, 5, 1)])
    logits, value = net.apply(cut, moved)
    assert float(jnp.max(jnp.abs(logits[0] - logits[1]))) > 1e-6  # through the player plane
    assert float(jnp.max(jnp.abs(logits[1] - logits[2]))) > 1e-6
    assert float(jnp.abs(value[0] - value[1])) > 1e-7
    # Control: a feature only the vector path sees (credits, feature 3) no longer matters.
    if name == "conv":
        richer = moved[0].at[3].set(0.9)
        same, _ = net.apply(cut, richer)
        np.testing.assert_allclose(same, logits[0], rtol=1e-6, atol=1e-7)


def test_conv3x3_is_flaxs_same_convolution():
    """Conv3x3 computes nn.Conv(f, (3, 3), padding="SAME") with the same parameters."""
    import flax.linen as nn

    x = jax.random.normal(jax.random.PRNGKey(10), (3, 6, 6, 5))
    ours = Conv3x3(7)
    params = ours.init(jax.random.PRNGKey(11), x)
    params = jax.tree_util.tree_map(lambda p: p + 0.1, params)  # a non-zero bias too
    reference = nn.Conv(7, (3, 3), padding="SAME").apply(params, x)
    np.testing.assert_allclose(ours.apply(params, x), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NETWORKS)
def test_gradients_are_finite_and_reach_every_parameter(nets, name):
    net, params = nets[name]
    obs = random_obs(jax.random.PRNGKey(9), (8,))

    def loss(p):
        logits, value = net.apply(p, obs)
        return jnp.mean(jax.nn.log_softmax(logits)[:, 0]) + jnp.mean(value**2)

    grads = jax.jit(jax.grad(loss))(params)
    for path, g in jax.tree_util.tree_leaves_with_path(grads):
        assert np.all(np.isfinite(g)), path
        assert float(jnp.max(jnp.abs(g))) > 0.0, path


# ---- separate_critic: the value on its own copy of the network ----------------------


@pytest.fixture(scope="module")
def split():
    """SeparateCritic over two `ego` networks, params from PRNGKey(0)."""
    net = make_network("ego", separate_critic=True)
    return net, init_params(net, jax.random.PRNGKey(0))


def test_separate_critic_is_two_copies_of_the_network(split):
    net, params = split
    assert net == SeparateCritic(actor=make_network("ego"), critic=make_network("ego"))
    assert set(params["params"]) == {"actor", "critic"}
    one = jax.tree_util.tree_map(jnp.shape, init_params(make_network("ego"), jax.random.PRNGKey(0)))
    for copy in ("actor", "critic"):
        assert jax.tree_util.tree_map(jnp.shape, {"params": params["params"][copy]}) == one
    # 2 x ego's 578,269; each copy's unused head (critic 257, actor 7,196) is counted.
    assert count_params(params) == 2 * PARAM_COUNTS["ego"] == 1_156_538


def test_separate_critic_shapes_for_batched_unbatched_and_nested_inputs(split):
    net, params = split
    for lead in [(5,), (), (2, 3)]:
        logits, value = net.apply(params, random_obs(jax.random.PRNGKey(len(lead)), lead))
        assert logits.shape == lead + (NUM_ACTIONS,) and value.shape == lead


def test_separate_critic_takes_logits_from_the_actor_copy_and_value_from_the_critic(split):
    net, params = split
    obs = random_obs(jax.random.PRNGKey(4), (6,))
    logits, value = net.apply(params, obs)
    alone = make_network("ego")
    np.testing.assert_array_equal(logits, alone.apply({"params": params["params"]["actor"]}, obs)[0])
    np.testing.assert_array_equal(value, alone.apply({"params": params["params"]["critic"]}, obs)[1])


def test_separate_critic_losses_reach_only_their_own_copy(split):
    """The value loss leaves the actor's copy untouched and the policy loss the critic's;
    the shared `ego` net's value loss reaches its torso."""
    net, params = split
    obs = random_obs(jax.random.PRNGKey(9), (8,))

    def policy_loss(p):
        return jnp.mean(jax.nn.log_softmax(net.apply(p, obs)[0])[:, 0])

    def value_loss(p):
        return jnp.mean(net.apply(p, obs)[1] ** 2)

    def largest(tree):
        return max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(tree))

    g_pi, g_v = jax.grad(policy_loss)(params)["params"], jax.grad(value_loss)(params)["params"]
    # The copies' own heads are also called actor and critic: name their torsos too.
    assert largest(g_pi["critic"]) == 0.0 and largest(g_v["actor"]) == 0.0
    assert largest(g_pi["critic"]["torso_0"]) == 0.0 and largest(g_v["actor"]["torso_0"]) == 0.0
    assert largest(g_pi["actor"]["torso_0"]) > 0.0 and largest(g_v["critic"]["torso_0"]) > 0.0
    shared, shared_params = make_network("ego"), init_params(make_network("ego"), jax.random.PRNGKey(0))
    g_shared = jax.grad(lambda p: jnp.mean(shared.apply(p, obs)[1] ** 2))(shared_params)
    assert largest(g_shared["params"]["torso_0"]) > 0.0


def test_network_for_builds_what_a_config_names():
    from hackmatrix.application.config import TrainConfig
    from hackmatrix.application.network import network_for

    assert network_for(TrainConfig()) == make_network("ego", 256, 2)
    assert network_for(TrainConfig(network="mlp", hidden_dim=32, num_layers=3)) == ActorCritic(32, 3)
    split = network_for(TrainConfig(network="conv", hidden_dim=32, num_layers=1, separate_critic=True))
    assert split == SeparateCritic(actor=make_network("conv", 32, 1), critic=make_network("conv", 32, 1))
