"""Where a batched env step's time goes: each phase of the step timed on its own.

Usage:
  python benchmarks/step_phases.py                 # 2048 envs, 4 snapshots, 15 rounds
  python benchmarks/step_phases.py --quick         # smoke: 64 envs, 2 snapshots, 3 rounds
  python benchmarks/step_phases.py --envs 8192 --snapshots 8

The step the trainer runs per rollout step (``HackMatrixGymnax.batched_step_compact``):
the action mask, the policy's action (here: a uniform valid action, the env benchmark's sampler), then
``env.batched_step_auto_reset`` and the observation codes of the next states. This
script splits it into the phases that ``env._step_phases`` lists (its docstring): 1
player action (move/attack, siphon, programs: ``_player_actions``' three parts), 2
stage advance, 3 enemy moves, 4 spawns, 5 end of the enemy turn with the undo
snapshot (``enemy_turn.enemy_moves``, ``spawn_transmissions``, ``end_enemy_turn``), 6
reward and done, 7 generation (``batched_step_auto_reset``'s pass: new stages and
auto-reset), then the observation. The phases run on the games apart from their undo
history (``undo.split_history``, untimed, as the engine does) and only programs (UNDO)
and the end of the enemy turn touch the history. Each phase is called with the
engine's own functions and arguments (``batching.KNOBS``' sub-batch shares and
widths), and the script checks that chaining the phases gives
``batched_step_auto_reset``'s next states, rewards and dones bit for bit (so the
phases are the step's, not a copy that drifted).

Realistic inputs: N games reset, then ``--warm-steps`` random valid steps (the env
benchmark's rollout), then ``--snapshots`` states ``--gap`` steps apart; every phase
is timed on the inputs it receives in each snapshot (its own ``jit``, compiled
before timing). Rounds alternate the phases (phase 1 on every snapshot, phase 2, ...)
so load drift hits them alike; a phase's time is the mean over snapshots of its
median over ``--rounds``. Compared with ``whole step`` (the same work as one jitted
program): the isolated calls pay one dispatch each (``dispatch`` row: a trivial
jitted call) and write their outputs to fresh buffers, which the fused program may
not, so the phases' sum is expected to exceed the whole a little.

The phase functions are private to ``hackmatrix/domain/env.py``; if the domain's
step is restructured, the ``bit for bit`` check fails loudly rather than timing
something else. Ends with one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", type=int, default=2048, help="env count (default 2048)")
    p.add_argument("--warm-steps", type=int, default=200,
                   help="random valid steps before the first snapshot (default 200)")
    p.add_argument("--snapshots", type=int, default=4, help="states the phases are timed on (4)")
    p.add_argument("--gap", type=int, default=16,
                   help="random steps between snapshots (16; the warm steps round up to a multiple)")
    p.add_argument("--rounds", type=int, default=15, help="timed calls per phase and snapshot (median)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 64 envs, 32 warm steps, 2 snapshots, 3 rounds")
    args = p.parse_args(argv)
    if args.quick:
        args.envs = 64 if args.envs == 2048 else args.envs
        args.warm_steps = 32 if args.warm_steps == 200 else args.warm_steps
        args.snapshots = 2 if args.snapshots == 4 else args.snapshots
        args.gap = 4 if args.gap == 16 else args.gap
        args.rounds = 3 if args.rounds == 15 else args.rounds
    return args


# ---- the phases ------------------------------------------------------------------------

def phase_functions(params) -> dict[str, Any]:
    """name -> function of the step's intermediate values (a dict) returning a dict.

    In order, each reads only what the earlier ones wrote (``setup`` first, ``finish``
    last, both untimed); chained they compute ``mask, action,
    env.batched_step_auto_reset, observation_code`` (see ``chain``). Phases 1-7 are
    those of ``env._step_phases``, with its own functions and arguments.
    """
    import jax
    import jax.numpy as jnp
    from hackmatrix.domain import env
    from hackmatrix.domain.batching import KNOBS, on_rows, where_rows
    from hackmatrix.domain.constants import FIRST_PROGRAM_ACTION, NUM_ACTIONS, NUM_STAGES
    from hackmatrix.domain.enemy_turn import end_enemy_turn, enemy_moves, spawn_transmissions, turn_keys
    from hackmatrix.domain.mask import program_valid
    from hackmatrix.domain.observation import observation_code
    from hackmatrix.domain.player_action import direction_action
    from hackmatrix.domain.programs import program_action
    from hackmatrix.domain.rewards import RewardInputs, calculate_reward
    from hackmatrix.domain.siphon import siphon_action
    from hackmatrix.domain.stage import advance_stage, initialise_stage
    from hackmatrix.domain.state import select_state
    from hackmatrix.domain.undo import split_history

    import env_throughput

    def mask(v):
        return {"mask": jax.vmap(env.valid_actions)(v["states"])}

    def sample(v):
        return {"actions": env_throughput.uniform_valid_action(v["k_action_pick"], v["mask"])}

    def keys(v):
        split = jax.vmap(lambda k: jax.random.split(k, 3))(v["keys"])
        step_keys, spawn_keys = turn_keys(split[:, 2])
        return {"k_action": split[:, 0], "k_stage": split[:, 1],
                "step_keys": step_keys, "spawn_keys": spawn_keys}

    def distance_before(v):
        return {"d_old": jax.vmap(env._distance)(v["core"])}

    def move_attack(v):
        out, ev = jax.vmap(direction_action)(v["core"], jnp.clip(v["actions"], 0, 3))
        return {"out": out, "ev": ev}

    def siphon(v):
        out, ev = on_rows(v["actions"] == 4, lambda rows, valid: jax.vmap(siphon_action)(rows),
                          v["core"], (v["out"], v["ev"]), share=KNOBS.siphon_share)
        return {"out": out, "ev": ev}

    def programs(v):
        core, history, actions = v["core"], v["history"], v["actions"]
        is_program = (actions >= FIRST_PROGRAM_ACTION) & (actions < NUM_ACTIONS)
        program = jnp.clip(actions - FIRST_PROGRAM_ACTION, 0, 22)

        def run(rows, valid):
            st, prog, key, row = rows
            snap = jax.tree_util.tree_map(lambda buf: buf[row, (st.undo_head - 1) % params.undo_depth], history)
            new, e = jax.vmap(lambda a, b, c, d: program_action(a, b, c, params, d))(st, prog, key, snap)
            ok = jax.vmap(lambda a, b: program_valid(a)[b])(st, prog)
            return new, e.replace(success=ok)

        rows = jnp.arange(actions.shape[0])
        out, ev = on_rows(is_program, run, (core, program, v["k_action"], rows), (v["out"], v["ev"]),
                          share=KNOBS.program_share)
        return {"out": out, "ev": ev}

    def select_advance(v):
        actions = v["actions"]
        ev = v["ev"].replace(success=v["ev"].success & (actions >= 0) & (actions < NUM_ACTIONS))
        s = jax.vmap(select_state)(ev.success, v["out"], v["core"])
        completes = ev.success & ev.exit_reached
        s, advance = jax.vmap(advance_stage, in_axes=(0, 0, None))(s, completes, params)
        return {"ev": ev, "s": s, "advance": advance, "completes": completes,
                "runs_turn": ev.success & ev.ends_turn}

    def moves(v):
        s, turn_ran = enemy_moves(v["s"], v["step_keys"], v["runs_turn"])
        return {"s": s, "turn_ran": turn_ran}

    def spawns(v):
        return {"s": spawn_transmissions(v["s"], v["spawn_keys"], v["turn_ran"])}

    def end_turn(v):
        s, history = end_enemy_turn(v["s"], v["history"], params, v["turn_ran"])
        return {"s": s, "history": history}

    def reward(v):
        states, s, ev = v["core"], v["s"], v["ev"]
        p0, p1 = states.player, s.player
        died = ev.success & (p1.hp == 0)
        won = v["completes"] & (states.stage >= NUM_STAGES)
        inputs = RewardInputs(
            score_before=p0.score, score_after=p1.score, hp_before=p0.hp, hp_after=p1.hp,
            credits_before=p0.credits, credits_after=p1.credits,
            energy_before=p0.energy, energy_after=p1.energy,
            distance_before=v["d_old"], distance_after=jax.vmap(env._distance)(s),
            stage_before=states.stage, died=died,
            siphon_death=v["runs_turn"] & jax.vmap(env._siphon_death)(s),
        )
        r, _breakdown = jax.vmap(calculate_reward, in_axes=(0, 0, None))(ev, inputs, params)
        return {"reward": r, "done": ~ev.success | died | won}

    def generation(v):
        s, done = v["s"], v["done"]

        def generate(rows, valid):
            st, k_st, k_reset, is_done = rows
            fresh, k_fresh = jax.vmap(env._new_game_base, in_axes=(0, None))(k_reset, params)
            base = where_rows(is_done, split_history(fresh)[0], st)
            return jax.vmap(initialise_stage)(base, jnp.where(is_done[:, None], k_fresh, k_st), valid)

        return {"next_core": on_rows(v["advance"] | done, generate, (s, v["k_stage"], v["reset_keys"], done),
                                     s, width=KNOBS.generation_width)}

    def observation(v):
        # The observation reads nothing of the undo history (``undo_count`` stays with the game).
        return {"obs": jax.vmap(observation_code)(v["next_core"])}

    return {
        "action mask": mask, "sample action (benchmark's)": sample,
        "split keys (+ turn keys)": keys, "distance before": distance_before,
        "1 player: move/attack": move_attack, "1 player: siphon": siphon,
        "1 player: programs": programs, "1-2 select + stage advance": select_advance,
        "3 enemy moves": moves, "4 spawns": spawns,
        "5 end of enemy turn + undo snapshot": end_turn, "6 reward + done": reward,
        "7 generation (new stages + auto-reset)": generation, "observation codes": observation,
    }


def setup(v: dict[str, Any]) -> dict[str, Any]:
    """Untimed, before the phases: the games apart from their undo history, as
    ``batched_step_auto_reset`` hands them to ``env._step_phases`` (no arithmetic)."""
    from hackmatrix.domain.undo import split_history

    core, history = split_history(v["states"])
    return {"core": core, "history": history}


def finish(v: dict[str, Any]) -> dict[str, Any]:
    """Untimed, after the phases: the next states with their undo history again."""
    from hackmatrix.domain.undo import join_history

    return {"next": join_history(v["next_core"], v["history"])}


def whole_step(params):
    """The same work as one program: mask, sample, batched_step_auto_reset, observation."""
    import jax
    from hackmatrix.domain import env
    from hackmatrix.domain.observation import observation_code

    import env_throughput

    def step(v):
        m = jax.vmap(env.valid_actions)(v["states"])
        actions = env_throughput.uniform_valid_action(v["k_action_pick"], m)
        nxt, reward, done, _b, _e = env.batched_step_auto_reset(
            v["states"], actions, v["keys"], v["reset_keys"], params)
        return {"next": nxt, "reward": reward, "done": done, "obs": jax.vmap(observation_code)(nxt),
                "actions": actions}

    return step


def chain(phases: dict[str, Any], inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The input dict of every phase, in order (the last entry: after the last phase)."""
    values = dict(inputs)
    values.update(setup(values))
    seen = []
    for fn in phases.values():
        seen.append(dict(values))
        values.update(fn(values))
    values.update(finish(values))
    seen.append(values)
    return seen


def snapshots(args: argparse.Namespace) -> list[dict[str, Any]]:
    """``--snapshots`` step inputs (states and keys) after ``--warm-steps`` random steps."""
    import jax

    import env_throughput

    n = args.envs
    gap = max(1, args.gap)
    rollout, initial = env_throughput.make_rollout(n, gap, "batched", False)  # one compile
    key = jax.random.PRNGKey(args.seed)
    states = initial(key)
    for _ in range(-(-args.warm_steps // gap)):  # warm steps, rounded up to the gap
        states, key, *_ = rollout(states, key)
    out = []
    for i in range(args.snapshots):
        if i:
            states, key, *_ = rollout(states, key)
        k_pick, k_step, k_reset = jax.random.split(jax.random.fold_in(key, 10_000 + i), 3)
        # copy: the rollouts donate their states
        out.append({"states": jax.tree_util.tree_map(lambda x: x.copy(), states),
                    "k_action_pick": k_pick, "keys": jax.random.split(k_step, n),
                    "reset_keys": jax.random.split(k_reset, n)})
    return jax.block_until_ready(out)


FINAL_KEYS = ("next", "reward", "done", "obs", "actions", "runs_turn", "turn_ran", "advance")


def check_chain(chained, whole_compiled, snap) -> None:
    """The chained phases' results equal the whole step's, bit for bit."""
    import jax
    import numpy as np

    ref = whole_compiled(snap)
    for name in ("reward", "done", "obs", "actions"):
        np.testing.assert_array_equal(np.asarray(chained[name]), np.asarray(ref[name]), err_msg=name)
    for a, b in zip(jax.tree_util.tree_leaves(chained["next"]), jax.tree_util.tree_leaves(ref["next"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg="next states")


def _reads(fn, values: dict[str, Any]) -> set[str]:
    """The keys of ``values`` that ``fn`` reads (traced on abstract values)."""
    import jax

    used: set[str] = set()

    class Probe(dict):
        def __getitem__(self, k):
            used.add(k)
            return dict.__getitem__(self, k)

    jax.eval_shape(lambda v: fn(Probe(v)), values)
    return used


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import jax
    import jax.numpy as jnp
    import numpy as np
    from hackmatrix.domain import env

    benchlib.setup_jax()
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    print(f"step phases: {args.envs} envs, {args.warm_steps} warm steps, {args.snapshots} snapshots "
          f"{args.gap} steps apart, {args.rounds} rounds", flush=True)
    params = env.DEFAULT_PARAMS
    phases = phase_functions(params)
    whole = whole_step(params)

    prep_s, snaps = benchlib.timed(lambda: snapshots(args))
    print(f"snapshots ready in {prep_s:.0f} s", flush=True)

    # Every phase's input dict, per snapshot, holding only the keys it reads: the keys
    # are found by tracing each phase on abstract values; one jitted chain computes the
    # intermediate ones (the snapshot's own arrays are passed as they are, not copied).
    names = list(phases)
    abstract = jax.eval_shape(lambda v: chain(phases, v), snaps[0])
    reads = {name: sorted(_reads(phases[name], abstract[i])) for i, name in enumerate(names)}

    def prepare(v):
        seen = chain(phases, v)
        made = [{k: seen[i][k] for k in reads[name] if k not in v} for i, name in enumerate(names)]
        return made, {k: seen[-1][k] for k in FINAL_KEYS}

    prepare_jit = jax.jit(prepare)
    programs: dict[str, Any] = {}
    inputs: dict[str, list[Any]] = {name: [] for name in names}
    finals = []
    for snap in snaps:
        made, last = jax.block_until_ready(prepare_jit(snap))
        finals.append(last)
        for i, name in enumerate(names):
            inputs[name].append({k: made[i][k] if k in made[i] else snap[k] for k in reads[name]})
    whole_inputs = [{k: s[k] for k in ("states", "k_action_pick", "keys", "reset_keys")} for s in snaps]
    compile_s: dict[str, float] = {}
    compile_s["whole step"], programs["whole step"] = benchlib.timed(
        lambda: jax.jit(whole).lower(whole_inputs[0]).compile())
    inputs["whole step"] = whole_inputs
    check_s, _ = benchlib.timed(lambda: check_chain(finals[0], programs["whole step"], whole_inputs[0]))
    print(f"chained phases == mask, sample, batched_step_auto_reset, observation_code: bit for "
          f"bit ({check_s:.0f} s)", flush=True)
    for name in names:
        compile_s[name], programs[name] = benchlib.timed(
            lambda fn=phases[name], x=inputs[name][0]: jax.jit(fn).lower(x).compile())
    # What an isolated phase pays to hand back a whole state (undo buffer included,
    # ~24 KB of a game's ~27 KB): a forced copy, and the identity (JAX may forward it).
    state_in = [{"states": snap["states"]} for snap in snaps]
    for ref, fn in (("state copy (reference)", lambda v: jax.tree_util.tree_map(jnp.copy, v)),
                    ("state identity (reference)", lambda v: v)):
        compile_s[ref], programs[ref] = benchlib.timed(
            lambda fn=fn: jax.jit(fn).lower(state_in[0]).compile())
        inputs[ref] = state_in
    tiny = jnp.zeros((args.envs,), jnp.int32)
    programs["dispatch"] = jax.jit(lambda x: x + 1).lower(tiny).compile()
    inputs["dispatch"] = [tiny] * len(snaps)
    compile_s["dispatch"] = 0.0
    print(f"compiled {len(programs)} programs in {sum(compile_s.values()):.0f} s", flush=True)

    references = ["whole step", "state copy (reference)", "state identity (reference)", "dispatch"]
    order = names + references
    times = {name: [[] for _ in snaps] for name in order}
    for name in order:  # warm-up
        for x in inputs[name]:
            jax.block_until_ready(programs[name](x))
    for _ in range(args.rounds):
        for name in order:
            for j, x in enumerate(inputs[name]):
                dt, _ = benchlib.timed(lambda p=programs[name], x=x: jax.block_until_ready(p(x)))
                times[name][j].append(dt)
    ms = {name: 1e3 * float(np.mean([benchlib.median(t) for t in times[name]])) for name in order}
    total = sum(ms[n] for n in names)

    # How many rows take each gathered phase, per snapshot (mean): the rounds it loops.
    counts = {}
    for key, sel in (("siphon rows", lambda v: v["actions"] == 4),
                     ("program rows", lambda v: v["actions"] >= 5),
                     ("turn-ending rows", lambda v: v["runs_turn"]),
                     ("enemy-turn rows (STEP skips out)", lambda v: v["turn_ran"]),
                     ("new-stage rows", lambda v: v["advance"]),
                     ("finished rows", lambda v: v["done"])):
        counts[key] = float(np.mean([int(jnp.sum(sel(c))) for c in finals]))

    rows = [{"phase": n, "ms": benchlib.clean(ms[n]), "share": benchlib.clean(ms[n] / total, 3),
             "compile_s": benchlib.clean(compile_s[n])} for n in names]
    print()
    print(benchlib.format_table(
        ["phase", "ms", "share of sum", "us/env", "compile s"],
        [[r["phase"], ms[r["phase"]], f"{100 * ms[r['phase']] / total:.1f} %",
          1e3 * ms[r["phase"]] / args.envs, compile_s[r["phase"]]] for r in rows]
        + [["sum of phases", total, "100 %", 1e3 * total / args.envs, None],
           ["whole step (one program)", ms["whole step"], f"{100 * ms['whole step'] / total:.1f} %",
            1e3 * ms["whole step"] / args.envs, compile_s["whole step"]],
           ["copy of the states", ms["state copy (reference)"],
            f"{100 * ms['state copy (reference)'] / total:.1f} %", None, None],
           ["identity on the states", ms["state identity (reference)"],
            f"{100 * ms['state identity (reference)'] / total:.1f} %", None, None],
           ["dispatch (trivial call)", ms["dispatch"], f"{100 * ms['dispatch'] / total:.1f} %", None, None]]))
    print("(phases returning the games - select + stage advance, enemy moves, spawns, end of "
          "enemy turn, generation - may include a copy of them, and end of enemy turn one of the "
          "undo history, that the fused step does not make)")
    print(f"machine: {machine['cpu']}, {machine['nproc']} cores, load {machine['loadavg_1m']} at start")
    print("rows taking each gathered phase (mean per step): "
          + ", ".join(f"{k} {v:.1f}" for k, v in counts.items()))
    print(f"whole step: {args.envs / ms['whole step'] * 1e3:,.0f} env steps/s outside a scan "
          f"(the env benchmark scans 128-256 steps in one call)")

    metrics = {f"phase.{n}": benchlib.clean(ms[n]) for n in names}
    metrics.update({"whole_ms": benchlib.clean(ms["whole step"]), "sum_ms": benchlib.clean(total),
                    "dispatch_ms": benchlib.clean(ms["dispatch"]),
                    "state_copy_ms": benchlib.clean(ms["state copy (reference)"]),
                    "state_identity_ms": benchlib.clean(ms["state identity (reference)"])})
    better = dict.fromkeys(metrics, "lower")
    for k in ("dispatch_ms", "state_copy_ms", "state_identity_ms"):
        better[k] = "info"
    run_args = {"envs": args.envs, "warm_steps": args.warm_steps, "snapshots": args.snapshots,
                "gap": args.gap, "rounds": args.rounds, "quick": args.quick}
    rows.append({"whole_ms": metrics["whole_ms"], "sum_ms": metrics["sum_ms"],
                 "dispatch_ms": metrics["dispatch_ms"], "state_copy_ms": metrics["state_copy_ms"],
                 "state_identity_ms": metrics["state_identity_ms"], "rows_taking": counts})
    return benchlib.emit_result("step_phases", run_args, machine, rows, metrics, better)


if __name__ == "__main__":
    main()
