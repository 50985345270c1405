"""Action-masked PPO whose rollout and update compile into one XLA program.

``make_train_chunk(config, env_params)`` returns a jitted ``train_chunk(runner, n)``
that runs ``n`` (1 <= n <= config.log_interval) PPO updates in one call and returns
per-update metrics, one scalar per metric per update (observation-reward-metrics §4,
§5.4; README decisions 7-9). ``n`` is a traced argument, so the remainder chunk at the
end of training reuses the same compiled program instead of compiling a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from hackmatrix.application import distribution, sharding
from hackmatrix.application.config import TrainConfig
from hackmatrix.application.metrics import rollout_metrics
from hackmatrix.application.network import init_params
from hackmatrix.application.network import network_for
from hackmatrix.application.scripted_policy import (
    batched_best_actions,
    batched_best_and_soft_labels,
)
from hackmatrix.domain.constants import NUM_ACTIONS, REWARD_KEYS
from hackmatrix.domain.state import EnvParams

if TYPE_CHECKING:  # imported where used: gymnax starts JAX's backend at import
    from hackmatrix.application.gymnax_env import HackMatrixGymnax

ADV_NORM_EPS = 1e-8


class Transition(NamedTuple):
    """One rollout step for N envs; obs/mask/log_prob/value belong to the pre-step o_t."""

    obs: jax.Array  # (N, 1545) int8 observation codes (env.decode_observation)
    mask: jax.Array  # (N, 28) bool
    action: jax.Array  # (N,) int32
    log_prob: jax.Array  # (N,) float32
    value: jax.Array  # (N,) float32
    reward: jax.Array  # (N,) float32
    done: jax.Array  # (N,) bool
    teacher_choice: jax.Array | None  # (N, 28) bool teacher's best actions (none: not asked)
    teacher_target: jax.Array | None = None  # (N, 28) float32 soft labels (teacher_temperature)


class StepStats(NamedTuple):
    """Per-step quantities reduced into metrics after the rollout."""

    finished_return: jax.Array  # (N,) float32, the return of an episode ending here, else 0
    finished_length: jax.Array  # (N,) int32, its length in steps, else 0
    stage: jax.Array  # (N,) int32, post-step (pre-reset)
    breakdown: dict[str, jax.Array]  # 15 x (N,) float32; empty when not tracked


@struct.dataclass
class ReturnStats:
    """Running mean/variance of the discounted return (for ``normalize_returns``)."""

    count: jax.Array  # () float32, samples merged so far (starts at a tiny prior)
    mean: jax.Array  # () float32
    var: jax.Array  # () float32


@struct.dataclass
class RunnerState:
    """Everything carried from one update to the next."""

    params: Any  # network parameters
    opt_state: Any  # optax state of make_optimizer(config)
    env_state: Any  # batched HackMatrixGymnaxState (time, game, terminated), leading axis N
    obs: jax.Array  # (N, 1545) int8 code of the observation the next action is sampled from
    episode_return: jax.Array  # (N,) float32, undiscounted return so far
    episode_length: jax.Array  # (N,) int32, steps so far
    discounted_return: jax.Array  # (N,) float32, sum of gamma^k r over the episode so far
    return_stats: ReturnStats  # running statistics of discounted_return
    update: jax.Array  # () int32, PPO updates done (drives the schedules)
    key: jax.Array  # PRNG key


def total_gradient_steps(config: TrainConfig) -> int:
    """Adam steps over the whole run (the learning-rate schedule's horizon)."""
    return config.num_updates * config.gradient_steps


def learning_rate_at(config: TrainConfig, gradient_step: jax.Array | int) -> jax.Array:
    """The learning rate used at ``gradient_step``: constant, or linear to 0 (``anneal_lr``)."""
    if not config.anneal_lr:
        return jnp.float32(config.learning_rate)
    frac = jnp.asarray(gradient_step, jnp.float32) / total_gradient_steps(config)
    return jnp.float32(config.learning_rate) * jnp.clip(1.0 - frac, 0.0, 1.0)


def ent_coef_at(config: TrainConfig, update: jax.Array | int) -> jax.Array:
    """The entropy coefficient of update ``update`` (0-based): constant, or linear from
    ``ent_coef`` to ``ent_coef_final`` over the run's updates."""
    if config.ent_coef_final is None:
        return jnp.float32(config.ent_coef)
    frac = jnp.clip(jnp.asarray(update, jnp.float32) / config.num_updates, 0.0, 1.0)
    return jnp.float32(config.ent_coef + (config.ent_coef_final - config.ent_coef) * frac)


def teacher_coef_at(config: TrainConfig, update: jax.Array | int) -> jax.Array:
    """The teacher term's weight in update ``update`` (0-based): ``teacher_coef`` through
    the imitation phase, then falling linearly to ``teacher_coef_final`` at
    ``teacher_fraction`` of the run's updates and staying there; 0 without a teacher."""
    if not config.uses_teacher:
        return jnp.float32(0.0)
    start = config.imitation_updates
    horizon = max(config.teacher_fraction * config.num_updates - start, 1e-6)
    frac = (jnp.asarray(update, jnp.float32) - start) / jnp.float32(horizon)
    final, span = config.teacher_coef_final, config.teacher_coef - config.teacher_coef_final
    return jnp.float32(final) + jnp.float32(span) * jnp.clip(1.0 - frac, 0.0, 1.0)


def imitating_at(config: TrainConfig, update: jax.Array | int) -> jax.Array:
    """Whether update ``update`` (0-based) belongs to the imitation phase."""
    return jnp.asarray(update, jnp.int32) < config.imitation_updates


def teacher_acts_at(config: TrainConfig, update: jax.Array | int) -> jax.Array:
    """Share of the games in which the teacher, not the policy, picks the action in
    update ``update``: 1 at the first update, falling linearly to 0 at half the
    imitation phase, 0 after (DAgger's mixing: the first data are the teacher's games)."""
    half = max(config.imitation_updates / 2.0, 1e-6)
    return jnp.clip(1.0 - jnp.asarray(update, jnp.float32) / jnp.float32(half), 0.0, 1.0)


Teacher = Callable[[Any], tuple[jax.Array, "jax.Array | None"]]


def make_teacher(config: TrainConfig) -> Teacher | None:
    """``teacher(states) -> (choice, target)``: (N, 28) bool, the actions
    ``config.teacher`` rates best (ties included), and with ``teacher_temperature`` its
    (N, 28) float32 soft labels (else None); None without a teacher."""
    if not config.uses_teacher:
        return None
    temperature = config.teacher_temperature
    if temperature is None:
        return lambda states: (batched_best_actions(states), None)
    return lambda states: batched_best_and_soft_labels(states, temperature)


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Global-norm clipping, then Adam(lr, b1 0.9, b2 0.999, eps 1e-8) (§5.1); with
    ``anneal_lr`` the learning rate falls linearly to 0 over the run's gradient steps."""
    lr: Any = config.learning_rate
    if config.anneal_lr:
        lr = lambda count: learning_rate_at(config, count)  # noqa: E731
    return optax.chain(
        optax.clip_by_global_norm(config.max_grad_norm),
        optax.adam(lr, b1=0.9, b2=0.999, eps=1e-8),
    )


RETURN_STATS_PRIOR = 1e-4  # pseudo-count of the initial (mean 0, var 1) estimate
RETURN_SCALE_EPS = 1e-8


def initial_return_stats() -> ReturnStats:
    return ReturnStats(
        count=jnp.float32(RETURN_STATS_PRIOR), mean=jnp.float32(0.0), var=jnp.float32(1.0)
    )


def merge_return_stats(stats: ReturnStats, samples: jax.Array) -> ReturnStats:
    """``stats`` updated with every value of ``samples`` (parallel mean/variance merge)."""
    x = samples.astype(jnp.float32).reshape(-1)
    n = jnp.float32(x.size)
    batch_mean = jnp.mean(x)
    batch_var = jnp.mean(jnp.square(x - batch_mean))
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * n / total
    m2 = stats.var * stats.count + batch_var * n + jnp.square(delta) * stats.count * n / total
    return ReturnStats(count=total, mean=mean, var=m2 / total)


def reward_scale(stats: ReturnStats) -> jax.Array:
    """1 / std of the discounted return: rewards times this train the critic and actor."""
    return jax.lax.rsqrt(stats.var + RETURN_SCALE_EPS)


def make_env(config: TrainConfig, env_params: EnvParams | None = None) -> HackMatrixGymnax:
    """The gymnax env the trainer runs (no time limit), with ``config``'s UNDO settings."""
    from hackmatrix.application.gymnax_env import HackMatrixGymnax

    if env_params is None:
        env_params = EnvParams(
            undo_depth=config.undo_depth,
            clear_undo_on_new_stage=config.clear_undo_on_new_stage,
        )
    return HackMatrixGymnax(env_params)


@lru_cache(maxsize=None)
def _batched_reset(env: HackMatrixGymnax) -> Callable[[jax.Array], tuple[jax.Array, Any]]:
    # Jitted (an eager vmap dispatches thousands of small ops) and cached per env.
    return jax.jit(jax.vmap(lambda key: env.reset_compact(key)))


def init_runner_state(
    config: TrainConfig, env: HackMatrixGymnax, key: jax.Array | None = None
) -> RunnerState:
    """Fresh parameters (from a key split off PRNGKey(seed)), optimizer and N reset games."""
    if key is None:
        key = jax.random.PRNGKey(config.seed)
    key, k_params, k_reset = jax.random.split(key, 3)
    network = network_for(config)
    params = init_params(network, k_params)
    opt_state = make_optimizer(config).init(params)
    obs, env_state = _batched_reset(env)(jax.random.split(k_reset, config.num_envs))
    return RunnerState(
        params=params,
        opt_state=opt_state,
        env_state=env_state,
        obs=obs,
        episode_return=jnp.zeros((config.num_envs,), jnp.float32),
        episode_length=jnp.zeros((config.num_envs,), jnp.int32),
        discounted_return=jnp.zeros((config.num_envs,), jnp.float32),
        return_stats=initial_return_stats(),
        update=jnp.int32(0),
        key=key,
    )


def compute_gae(
    rewards: jax.Array,
    values: jax.Array,
    dones: jax.Array,
    last_value: jax.Array,
    gamma: float,
    gae_lambda: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a time-major rollout (§5.4).

    Args:
      rewards, values, dones: (T, ...) with dones as bool or float.
      last_value: (...) value of the observation after the last step.
    Returns:
      (advantages, returns) each (T, ...), returns = advantages + values.
    """
    not_done = 1.0 - dones.astype(jnp.float32)

    def backward(carry, xs):
        next_adv, next_value = carry
        reward, value, nd = xs
        delta = reward + gamma * next_value * nd - value
        adv = delta + gamma * gae_lambda * nd * next_adv
        return (adv, value), adv

    init = (jnp.zeros_like(last_value), last_value)
    _, advantages = jax.lax.scan(backward, init, (rewards, values, not_done), reverse=True)
    return advantages, advantages + values


def explained_variance(values: jax.Array, targets: jax.Array) -> jax.Array:
    """1 - Var(targets - values) / Var(targets): 1 is a perfect critic, 0 no better than
    a constant, negative worse; 0 when the targets are constant."""
    var_targets = jnp.var(targets)
    ev = 1.0 - jnp.var(targets - values) / jnp.maximum(var_targets, 1e-12)
    return jnp.where(var_targets > 0.0, ev, 0.0)


class LossInfo(NamedTuple):
    pg_loss: jax.Array
    vf_loss: jax.Array
    ent_loss: jax.Array
    entropy: jax.Array
    total_loss: jax.Array
    approx_kl: jax.Array
    clip_frac: jax.Array
    ratio_max_dev: jax.Array  # max |rho - 1| over the minibatch
    teacher_loss: jax.Array  # mean -log pi(teacher's choices) over labelled rows; 0: none
    teacher_agreement: jax.Array  # share of those rows whose greedy action is a choice


class LossCoefs(NamedTuple):
    """Per-update weights of the loss terms (traced: one compiled update serves every phase)."""

    pg: jax.Array  # policy-gradient term: 1, or 0 while imitating
    ent: jax.Array  # entropy bonus (0 while imitating)
    teacher: jax.Array  # teacher term
    lr_scale: jax.Array  # step-size multiplier (imitation_learning_rate / learning_rate)


class Minibatch(NamedTuple):
    obs: jax.Array  # what ``apply_fn`` takes (in training: int8 observation codes)
    mask: jax.Array
    action: jax.Array
    log_prob: jax.Array
    advantage: jax.Array
    target: jax.Array
    teacher_choice: jax.Array | None = None  # (B, 28) bool; a row of False: no label
    teacher_target: jax.Array | None = None  # (B, 28) float32 soft labels (None: hard)


def ppo_loss(
    params: Any,
    apply_fn: Callable[..., tuple[jax.Array, jax.Array]],
    batch: Minibatch,
    clip_eps: float,
    vf_coef: float,
    ent_coef: float | jax.Array,
    teacher_coef: float | jax.Array = 0.0,
    pg_coef: float | jax.Array = 1.0,
) -> tuple[jax.Array, LossInfo]:
    """Clipped PPO loss with per-minibatch advantage normalisation and unclipped value loss,
    plus ``teacher_coef`` x the teacher term when the batch has teacher labels: the mean
    over labelled rows of -log pi(S), S the set of actions the teacher rates best (one
    action, or the ties its random tie-breaking would choose between), or with soft
    labels q (``teacher_target``) the cross-entropy -sum_a q(a) log pi(a). Agreement: the
    greedy action is in S. ``pg_coef`` 0 drops the policy-gradient term (imitation: the
    teacher term and the critic only)."""
    logits, value = apply_fn(params, batch.obs)
    all_log_probs = distribution.log_probs(logits, batch.mask)
    log_prob = distribution.log_prob_of(all_log_probs, batch.action)
    log_ratio = log_prob - batch.log_prob
    ratio = jnp.exp(log_ratio)
    adv = batch.advantage
    adv = (adv - adv.mean()) / (adv.std() + ADV_NORM_EPS)
    pg_loss = jnp.maximum(-adv * ratio, -adv * jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)).mean()
    vf_loss = 0.5 * jnp.mean(jnp.square(value - batch.target))
    entropy = distribution.entropy(all_log_probs).mean()
    ent_loss = -entropy
    total = pg_coef * pg_loss + vf_coef * vf_loss + ent_coef * ent_loss
    teacher_loss = teacher_agreement = jnp.float32(0.0)
    if batch.teacher_choice is not None:
        choice = batch.teacher_choice
        weight = jnp.any(choice, axis=-1).astype(jnp.float32)
        count = jnp.maximum(weight.sum(), 1.0)
        if batch.teacher_target is None:
            log_p_choice = jax.nn.logsumexp(jnp.where(choice, all_log_probs, -jnp.inf), axis=-1)
        else:  # q is 0 on invalid actions (log-probability about -1e9): they add nothing
            q = batch.teacher_target
            log_p_choice = jnp.sum(jnp.where(q > 0, q * all_log_probs, 0.0), axis=-1)
        nll = -jnp.where(weight > 0, log_p_choice, 0.0)
        greedy = jnp.argmax(all_log_probs, axis=-1)
        picked = jnp.take_along_axis(choice, greedy[:, None], axis=-1)[:, 0]
        teacher_loss = jnp.sum(nll * weight) / count
        teacher_agreement = jnp.sum(picked * weight) / count
        total = total + teacher_coef * teacher_loss
    info = LossInfo(
        pg_loss=pg_loss,
        vf_loss=vf_loss,
        ent_loss=ent_loss,
        entropy=entropy,
        total_loss=total,
        approx_kl=jnp.mean((ratio - 1.0) - log_ratio),
        clip_frac=jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
        ratio_max_dev=jnp.max(jnp.abs(ratio - 1.0)),
        teacher_loss=teacher_loss,
        teacher_agreement=teacher_agreement,
    )
    return total, info


def make_update_step(
    config: TrainConfig, env: HackMatrixGymnax, mesh: jax.sharding.Mesh | None = None
) -> Callable[[RunnerState], tuple[RunnerState, dict[str, jax.Array]]]:
    """One PPO update: T rollout steps on N envs, GAE, epochs x minibatches of SGD.

    With a ``mesh`` the env batch and every minibatch are split across its devices
    (``hackmatrix.application.sharding``); the result is the single-device update's.
    """
    num_envs, num_steps = config.num_envs, config.num_steps
    batch_size = config.batch_size
    num_minibatches = config.resolved_num_minibatches
    update_epochs = config.resolved_update_epochs
    minibatch_size = config.minibatch_size
    track_breakdown = config.track_breakdown
    network = network_for(config)
    optimizer = make_optimizer(config)
    # The rollout keeps observations as int8 codes (a quarter of the bytes to store and
    # shuffle); the network always sees them decoded, exactly the float observations.
    batched_step = env.batched_step_compact
    batched_mask = jax.vmap(env.action_mask)
    teacher_fn = make_teacher(config)

    def policy(params: Any, obs_code: jax.Array) -> tuple[jax.Array, jax.Array]:
        return network.apply(params, env.decode_observation(obs_code))

    if mesh is not None:
        sharding.check_batch_fits(num_envs, mesh, minibatch_size)
        # Each device steps its own games: the engine's batch-level skipping of work no
        # game needs then looks at the local games only, with no cross-device traffic.
        def per_device(f: Callable[..., Any]) -> Callable[..., Any]:
            spec = jax.sharding.PartitionSpec(sharding.AXIS)
            return jax.shard_map(f, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)

        batched_step = per_device(batched_step)
        batched_mask = per_device(batched_mask)
        if teacher_fn is not None:
            teacher_fn = per_device(teacher_fn)

    def teacher_labels(env_state: Any, coef: jax.Array) -> tuple[Any, Any]:
        """The teacher's best actions and soft labels while its weight is positive, else
        rows with no label (the teacher is not run); (None, None) without a teacher."""
        if teacher_fn is None:
            return None, None
        soft = config.teacher_temperature is not None
        return jax.lax.cond(
            coef > 0.0,
            lambda: teacher_fn(env_state.game),
            lambda: (jnp.zeros((num_envs, NUM_ACTIONS), jnp.bool_),
                     jnp.zeros((num_envs, NUM_ACTIONS), jnp.float32) if soft else None),
        )

    def env_step(carry, schedule):
        teacher_coef, teacher_acts = schedule
        params, env_state, obs, ep_return, ep_length, disc_return, key = carry
        key, k_action, k_env = jax.random.split(key, 3)
        mask = batched_mask(env_state)
        teacher_choice, teacher_target = teacher_labels(env_state, teacher_coef)
        logits, value = policy(params, obs)
        action = distribution.sample(k_action, logits, mask)
        if teacher_choice is not None and config.imitation_updates > 0:
            # Imitation: in a share of the games the teacher acts (one of its best actions,
            # uniformly); the policy's log-probability of it is stored as for its own.
            k_pick, k_who = jax.random.split(jax.random.fold_in(k_action, 1))
            taught = distribution.sample(k_pick, jnp.zeros(logits.shape, logits.dtype), teacher_choice)
            by_teacher = jax.random.uniform(k_who, (num_envs,)) < teacher_acts
            action = jnp.where(by_teacher & jnp.any(teacher_choice, axis=-1), taught, action)
        log_prob = distribution.log_prob_of(distribution.log_probs(logits, mask), action)
        next_obs, next_state, reward, done, info = batched_step(
            jax.random.split(k_env, num_envs), env_state, action
        )
        ep_return = ep_return + reward
        ep_length = ep_length + 1
        disc_return = disc_return * config.gamma + reward
        seen_return = disc_return
        stats = StepStats(
            finished_return=jnp.where(done, ep_return, 0.0),
            finished_length=jnp.where(done, ep_length, 0),
            stage=info["stage"],
            breakdown={k: info[k] for k in REWARD_KEYS} if track_breakdown else {},
        )
        ep_return = jnp.where(done, 0.0, ep_return)
        ep_length = jnp.where(done, 0, ep_length)
        disc_return = jnp.where(done, 0.0, disc_return)
        transition = Transition(obs, mask, action, log_prob, value, reward, done, teacher_choice,
                                teacher_target)
        carry = (params, next_state, next_obs, ep_return, ep_length, disc_return, key)
        return carry, (transition, stats, seen_return)

    def minibatch_step(carry, batch: Minibatch):
        params, opt_state, coefs = carry
        grad_fn = jax.value_and_grad(ppo_loss, has_aux=True)
        (_, info), grads = grad_fn(
            params, policy, batch, config.clip_eps, config.vf_coef, coefs.ent, coefs.teacher,
            coefs.pg,
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        # Adam's step does not depend on the gradient's scale: scaling the step is a
        # learning rate of lr_scale x the schedule's (the imitation phase's own rate).
        updates = jax.tree_util.tree_map(lambda u: u * coefs.lr_scale, updates)
        grad_norm = optax.tree.norm(grads)  # before clipping
        carry = (optax.apply_updates(params, updates), opt_state, coefs)
        return carry, (info, grad_norm)

    def update_step(runner: RunnerState) -> tuple[RunnerState, dict[str, jax.Array]]:
        key, k_rollout, k_epochs = jax.random.split(runner.key, 3)
        carry = (runner.params, runner.env_state, runner.obs, runner.episode_return,
                 runner.episode_length, runner.discounted_return, k_rollout)
        teacher_coef = teacher_coef_at(config, runner.update)
        imitating = imitating_at(config, runner.update)
        teacher_acts = teacher_acts_at(config, runner.update)
        carry, (traj, stats, seen_returns) = jax.lax.scan(
            env_step, carry,
            (jnp.broadcast_to(teacher_coef, (num_steps,)), jnp.broadcast_to(teacher_acts, (num_steps,))),
        )
        params, env_state, obs, ep_return, ep_length, disc_return, _ = carry

        return_stats = merge_return_stats(runner.return_stats, seen_returns)
        scale = reward_scale(return_stats) if config.normalize_returns else jnp.float32(1.0)
        _, last_value = policy(params, obs)
        advantages, targets = compute_gae(
            traj.reward * scale, traj.value, traj.done, last_value, config.gamma,
            config.gae_lambda,
        )
        ent_coef = ent_coef_at(config, runner.update)
        coefs = LossCoefs(
            pg=jnp.where(imitating, 0.0, 1.0).astype(jnp.float32),
            ent=jnp.where(imitating, 0.0, ent_coef).astype(jnp.float32),
            teacher=teacher_coef,
            lr_scale=jnp.where(
                imitating, config.imitation_learning_rate / config.learning_rate, 1.0
            ).astype(jnp.float32),
        )
        flat = Minibatch(
            obs=traj.obs, mask=traj.mask, action=traj.action, log_prob=traj.log_prob,
            advantage=advantages, target=targets, teacher_choice=traj.teacher_choice,
            teacher_target=traj.teacher_target,
        )
        if mesh is None:
            flat = jax.tree_util.tree_map(lambda x: x.reshape((batch_size,) + x.shape[2:]), flat)

        def epoch(carry, k: jax.Array):
            perm = jax.random.permutation(k, batch_size)
            if mesh is not None:
                # Minibatch by minibatch, each device receives its slice of the rows the
                # permutation picks (from whichever device holds them): no device ever
                # holds the whole rollout.
                def sharded_step(carry, i):
                    rows = jax.lax.dynamic_slice_in_dim(perm, i * minibatch_size, minibatch_size)
                    return minibatch_step(carry, sharding.gather_rows(mesh, flat, rows))

                return jax.lax.scan(sharded_step, carry, jnp.arange(num_minibatches))
            shuffled = jax.tree_util.tree_map(
                lambda x: jnp.take(x, perm, axis=0).reshape(
                    (num_minibatches, minibatch_size) + x.shape[1:]
                ),
                flat,
            )
            return jax.lax.scan(minibatch_step, carry, shuffled)

        (params, opt_state, _), (loss_info, grad_norms) = jax.lax.scan(
            epoch, (params, runner.opt_state, coefs),
            jax.random.split(k_epochs, update_epochs),
        )
        metrics = {
            f"train/{name}": jnp.mean(getattr(loss_info, name))
            for name in ("pg_loss", "vf_loss", "ent_loss", "entropy", "total_loss",
                         "approx_kl", "clip_frac")
        }
        metrics["train/grad_norm"] = jnp.mean(grad_norms)
        metrics["train/explained_variance"] = explained_variance(traj.value, targets)
        metrics["train/learning_rate"] = coefs.lr_scale * learning_rate_at(
            config, runner.update * num_minibatches * update_epochs
        )
        metrics["train/ent_coef"] = coefs.ent
        metrics["train/return_std"] = jnp.sqrt(return_stats.var)
        if teacher_fn is not None:
            metrics["train/teacher_coef"] = teacher_coef
            metrics["train/imitating"] = imitating.astype(jnp.float32)
            metrics["train/teacher_acts"] = jnp.where(imitating, teacher_acts, 0.0)
            metrics["train/teacher_loss"] = jnp.mean(loss_info.teacher_loss)
            metrics["train/teacher_agreement"] = jnp.mean(loss_info.teacher_agreement)
        # Ratio on the first minibatch of the first epoch: exactly 1 (README decision 9).
        metrics["debug/first_minibatch_ratio_max_dev"] = loss_info.ratio_max_dev[0, 0]
        metrics.update(
            rollout_metrics(
                rewards=traj.reward, dones=traj.done, actions=traj.action,
                finished_return=stats.finished_return, finished_length=stats.finished_length,
                stage=stats.stage, breakdown=stats.breakdown,
            )
        )
        new_runner = RunnerState(
            params=params, opt_state=opt_state, env_state=env_state, obs=obs,
            episode_return=ep_return, episode_length=ep_length, discounted_return=disc_return,
            return_stats=return_stats, update=runner.update + 1, key=key,
        )
        return new_runner, metrics

    return update_step


def make_train_chunk(
    config: TrainConfig,
    env_params: EnvParams | None = None,
    *,
    env: HackMatrixGymnax | None = None,
    mesh: jax.sharding.Mesh | None = None,
    runner_template: RunnerState | None = None,
) -> Callable[[RunnerState, jax.Array], tuple[RunnerState, dict[str, jax.Array]]]:
    """Jitted ``train_chunk(runner, num_updates) -> (runner, metrics)``.

    ``num_updates`` (int32, 1..config.log_interval) updates run in a loop inside the
    program; ``metrics`` maps each key to a (log_interval,) array whose first
    ``num_updates`` entries are that many updates' values, in order (no averaging).

    With a ``mesh`` (and a ``runner_template`` of the runner's structure) the runner's
    env-batched fields stay split across the devices from call to call, and the
    metrics come back replicated.
    """
    env = make_env(config, env_params) if env is None else env
    update_step = make_update_step(config, env, mesh)
    chunk = config.log_interval

    def train_chunk(runner: RunnerState, num_updates: jax.Array):
        shapes = jax.eval_shape(update_step, runner)[1]
        buffer = jax.tree_util.tree_map(lambda s: jnp.zeros((chunk,) + s.shape, s.dtype), shapes)

        def body(i, carry):
            runner, buffer = carry
            runner, metrics = update_step(runner)
            buffer = jax.tree_util.tree_map(lambda b, m: b.at[i].set(m), buffer, metrics)
            return runner, buffer

        n = jnp.clip(jnp.asarray(num_updates, jnp.int32), 0, chunk)
        return jax.lax.fori_loop(0, n, body, (runner, buffer))

    if mesh is None:
        return jax.jit(train_chunk, donate_argnums=(0,))
    if runner_template is None:
        raise ValueError("make_train_chunk with a mesh needs runner_template")
    runner_shardings = sharding.runner_shardings(runner_template, mesh)
    replicated = sharding.replicated(mesh)
    return jax.jit(
        train_chunk,
        donate_argnums=(0,),
        in_shardings=(runner_shardings, replicated),
        out_shardings=(runner_shardings, replicated),
    )
