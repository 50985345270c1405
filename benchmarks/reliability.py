"""Reliability benchmark: the engine fuzzer, the bad-input corpus and the fault injections.

Usage:
  python benchmarks/reliability.py               # default: a few minutes on a 2-core CPU
  python benchmarks/reliability.py --quick       # smoke: tiny counts, no training subprocess
  python benchmarks/reliability.py --scale 10 --seed 3
  python benchmarks/reliability.py --sections fuzz,bad-input

Runs the test suite's own corpora and checkers (tests/reliability, tests/e2e,
tests/adapters) in one process and counts what it tried and what broke a promise of
docs/reliability.md:

1. fuzz: random valid scenarios (the hypothesis strategy ``engine.scenarios``, seeded by
   ``--seed``) stepped with ``engine.draw_action``'s actions (legal, masked, out of
   range) by ``engine.play``, every invariant (``engine.check_step``) after every step;
   and rounds of 16 scenarios through ``batched_step`` (``engine.play_batched``).
2. bad-input: every row of test_bad_input.py's tables through every route (dict, JSON
   text, ``build``, code), plus generated inputs: one-field mutations of random valid
   scenarios (wrong types, out of ``scenario.RANGES``, unknown and missing keys), random
   values beyond and within the caps, bad values for every TrainConfig field (dict,
   YAML, TOML, ``HACKMATRIX_*``, flags), non-UTF-8 files; the command line
   (``train``, ``evaluate``, ``watch``: exit 2, one line, nothing created); checkpoints:
   the foreign-file table, every truncation and every single-bit flip of a small
   checkpoint, random corruption and sampled flips/cuts of a real training checkpoint,
   bad tracker ids. A break: accepted, another exception than ``ValueError``, or a
   message without the field and value the table names.
3. faults: the fault tests of tests/reliability/test_faults.py,
   tests/e2e/test_entry_point_failures.py, tests/adapters/test_checkpoint_store.py and the
   NaN guard, called in-process with the fixtures they need; random I/O errors
   (ENOSPC, EIO, EROFS, EDQUOT, EACCES at mkstemp, write, fsync or rename) during
   checkpoint saves; SIGKILL of a process saving checkpoints at a random moment; SIGKILL
   of a ``train`` subprocess frozen in the middle of a save, then ``--resume``. A break:
   a test assertion failing, or a promised outcome not holding (earlier checkpoints
   loadable and unchanged, no temporary file left, errno kept, resume exits 0).

Prints a table (section, check, inputs/steps/faults, breaks, seconds), each break with
what to reproduce it, and one ``RESULT {json}`` line (metrics inputs_tried,
steps_fuzzed, faults_injected, breaks_found). Exit status 1 if anything broke.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import inspect
import io
import itertools
import json
import logging
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))  # tests.reliability..., the suite's corpora and checkers

# The test suite's persistent compilation cache (tests/conftest.py): compiles are shared
# with the tests and with this script's subprocesses. Set before JAX is imported.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), "hackmatrix-jax-cache"))
os.environ.setdefault("WANDB_MODE", "offline")

import benchlib  # noqa: E402

SECTIONS = ("fuzz", "bad-input", "faults")
# Counts of the default run; --scale multiplies them, --quick replaces them.
DEFAULT_COUNTS = {
    "scenarios": 1000, "batched_rounds": 10, "mutated_scenarios": 200, "mutations": 25,
    "cap_values": 20, "corruptions": 400, "real_ckpt_flips": 300, "store_faults": 60,
    "store_kills": 4, "train_kills": 1,
}
QUICK_COUNTS = {
    "scenarios": 12, "batched_rounds": 1, "mutated_scenarios": 10, "mutations": 2,
    "cap_values": 2, "corruptions": 20, "real_ckpt_flips": 20, "store_faults": 6,
    "store_kills": 1, "train_kills": 0,
}
# The tiny training run of tests/e2e/test_entry_point_failures.py (same compiled chunk).
TRAIN_TINY = ["--num-envs", "8", "--num-steps", "8", "--hidden-dim", "16", "--log-interval", "1"]
B = 64  # env steps per update of TRAIN_TINY
# Prepended to every bad command line: were one accepted, it trains one tiny update.
SAFE = [*TRAIN_TINY, "--total-timesteps", str(B), "--eval-interval", "0", "--logger", "stdout"]
# The same settings as HACKMATRIX_* variables, for bad variables (a flag would win over them).
SAFE_ENV = {f"HACKMATRIX_{flag[2:].replace('-', '_').upper()}": value for flag, value in zip(SAFE[::2], SAFE[1::2])}
MAX_BREAK_LINES = 12


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="smoke run: tiny counts, no training subprocess (~1 min of work after compiles)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every generated count (scenarios, mutations, corruptions, faults)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw (hypothesis included)")
    p.add_argument("--max-steps", type=int, default=20, help="steps per fuzzed scenario at most (default 20)")
    p.add_argument("--sections", default=",".join(SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--no-subprocess", action="store_true",
                   help="skip the SIGKILL faults (they start subprocesses)")
    p.add_argument("--workdir", default=None, help="folder for temporary files (default: a fresh temp folder)")
    args = p.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown or not sections:
        p.error(f"--sections: unknown {unknown}; choose from {','.join(SECTIONS)}")
    if args.scale <= 0:
        p.error("--scale must be > 0")
    args.sections = sections
    base = QUICK_COUNTS if args.quick else DEFAULT_COUNTS
    args.counts = {k: (max(1, round(v * args.scale)) if v else 0) for k, v in base.items()}
    if args.no_subprocess:
        args.counts.update(store_kills=0, train_kills=0)
    return args


# ---- bookkeeping --------------------------------------------------------------------------

@dataclasses.dataclass
class Row:
    """One line of the table: a check, how many inputs/steps/faults it tried, what broke."""

    section: str
    check: str
    unit: str  # "inputs" | "steps" | "faults"
    tried: int = 0
    breaks: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    note: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    def fail(self, label: str, detail: str) -> None:
        self.breaks.append(f"{label}: {detail}")


def short(text: Any, limit: int = 300) -> str:
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def rejected(row: Row, label: str, call: Callable[[], Any], fragments: Sequence[str] = (),
             exact: str | None = None, max_len: int | None = None,
             any_of: Sequence[str] = ()) -> str | None:
    """One bad input: ``call()`` must raise ValueError whose message holds every one of
    ``fragments`` and (if given) one of ``any_of``, is ``exact`` or at most ``max_len`` long."""
    row.tried += 1
    try:
        call()
    except ValueError as error:
        message = str(error)
        missing = [f for f in fragments if f not in message]
        if missing:
            row.fail(label, f"message lacks {missing}: {short(message)!r}")
        elif any_of and not any(f in message for f in any_of):
            row.fail(label, f"message names none of {list(any_of)}: {short(message)!r}")
        elif exact is not None and message != exact:
            row.fail(label, f"message {short(message)!r} != {exact!r}")
        elif max_len is not None and len(message) > max_len:
            row.fail(label, f"message of {len(message)} characters: {short(message)!r}")
        return message
    except Exception as error:  # noqa: BLE001 - the break to report
        row.fail(label, f"{type(error).__name__} instead of ValueError: {short(error)}")
    else:
        row.fail(label, "accepted")
    return None


def accepted(row: Row, label: str, call: Callable[[], Any]) -> None:
    """One good input at an edge (a value at a cap): ``call()`` must not raise."""
    row.tried += 1
    try:
        call()
    except Exception as error:  # noqa: BLE001
        row.fail(label, f"refused: {type(error).__name__}: {short(error)}")


class LogCollector(logging.Handler):
    """The root handler for the whole run: warnings are kept, not printed (caplog's source)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


LOGS = LogCollector()


class Caplog:
    """What the fault tests use of pytest's ``caplog``: records, text, at_level."""

    def __init__(self) -> None:
        self._start = len(LOGS.records)

    @property
    def records(self) -> list[logging.LogRecord]:
        return LOGS.records[self._start:]

    @property
    def text(self) -> str:
        return "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in self.records)

    @contextlib.contextmanager
    def at_level(self, level: int, logger: str | None = None) -> Iterator[None]:
        target = logging.getLogger(logger)
        old = target.level
        target.setLevel(level)
        try:
            yield
        finally:
            target.setLevel(old)


class Capsys:
    """pytest's ``capsys``: stdout/stderr captured while the test runs, read and reset."""

    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()

    def readouterr(self) -> SimpleNamespace:
        result = SimpleNamespace(out=self.out.getvalue(), err=self.err.getvalue())
        for buffer in (self.out, self.err):
            buffer.seek(0)
            buffer.truncate()
        return result


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Training prints progress lines; keep the benchmark's table readable."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def cli(main: Callable[[list[str]], int], argv: list[str],
        environ: dict[str, str] | None = None) -> tuple[int | None, str, str]:
    """Run an entry point's ``main`` in-process: (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    if environ:
        os.environ.update(environ)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else 2
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return code, out.getvalue(), err.getvalue()


def tree(root: Path) -> dict[str, bytes | None]:
    from tests.e2e.test_entry_point_failures import _tree

    return _tree(root)


def one_line_exit_2(row: Row, label: str, main: Callable, prog: str, argv: list[str], cwd: Path,
                    fragments: Sequence[str] = (), environ: dict[str, str] | None = None,
                    stdout_empty: bool = False, any_of: Sequence[str] = ()) -> None:
    """A bad command line: exit status 2, ONE stderr line ``<prog>: error: ...`` holding
    ``fragments``, no traceback, nothing created or changed under ``cwd``."""
    row.tried += 1
    before = tree(cwd)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        code, out, err = cli(main, argv, environ)
    except Exception as error:  # noqa: BLE001
        row.fail(label, f"raised {type(error).__name__}: {short(error)}")
        return
    finally:
        os.chdir(old)
    lines = [line for line in err.splitlines() if line.strip()]
    if code != 2:
        row.fail(label, f"exit status {code} (stderr {short(err)!r})")
    elif len(lines) != 1 or not lines[0].startswith(f"{prog}: error: ") or "Traceback" in err:
        row.fail(label, f"not one error line: {short(err)!r}")
    elif missing := [f for f in fragments if f not in lines[0]]:
        row.fail(label, f"message lacks {missing}: {short(lines[0])!r}")
    elif any_of and not any(f in lines[0] for f in any_of):
        row.fail(label, f"message names none of {list(any_of)}: {short(lines[0])!r}")
    elif stdout_empty and out:
        row.fail(label, f"printed {short(out)!r}")
    elif tree(cwd) != before:
        row.fail(label, "left files behind")


# ---- fixtures for calling the suite's fault tests in-process ----------------------------

class Fixtures:
    """The pytest fixtures the fault tests ask for, built once (``base``, ``reference``) or
    per call (``tmp_path``, ``monkeypatch``, ``capsys``, ``caplog``, ``run_copy``)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._base: Path | None = None
        self._reference: Any = None
        self._count = itertools.count()

    def tmp(self, name: str = "t") -> Path:
        path = self.workdir / f"{name}-{next(self._count)}"
        path.mkdir(parents=True)
        return path

    def base(self) -> Path:
        """tests/e2e/test_entry_point_failures.py's ``base``: a finished 3-update run."""
        if self._base is None:
            from hackmatrix.application.train import main

            run = self.tmp("base") / "run"
            with quiet():
                code = main([*TRAIN_TINY, "--total-timesteps", str(3 * B), "--save-interval", "100",
                             "--run-dir", str(run)])
            if code != 0:
                raise RuntimeError(f"the base training run failed with status {code}")
            self._base = run
        return self._base

    def base_checkpoint(self) -> Path:
        from hackmatrix.adapters.checkpoints.msgpack_store import checkpoint_name

        return self.base() / "checkpoints" / checkpoint_name(3 * B)

    def reference(self) -> Any:
        """tests/reliability/test_faults.py's ``reference``: a clean 3-update run."""
        if self._reference is None:
            from tests.reliability.test_determinism import tiny_run

            with quiet():
                self._reference = tiny_run()
        return self._reference

    def call(self, test: Callable, params: dict[str, Any], chdir: bool) -> None:
        """Call ``test`` with ``params`` and the fixtures its signature names."""
        import pytest

        tmp_path = self.tmp("case")
        monkeypatch = pytest.MonkeyPatch()
        capsys = Capsys()
        kwargs: dict[str, Any] = {}
        for name in inspect.signature(test).parameters:
            if name in params:
                kwargs[name] = params[name]
            elif name == "tmp_path":
                kwargs[name] = tmp_path
            elif name == "tmp_path_factory":
                kwargs[name] = SimpleNamespace(mktemp=lambda n: self.tmp(n))
            elif name == "monkeypatch":
                kwargs[name] = monkeypatch
            elif name == "capsys":
                kwargs[name] = capsys
            elif name == "caplog":
                kwargs[name] = Caplog()
            elif name == "base":
                kwargs[name] = self.base()
            elif name == "run_copy":
                kwargs[name] = Path(shutil.copytree(self.base(), tmp_path / "run"))
            elif name == "reference":
                kwargs[name] = self.reference()
            else:
                raise TypeError(f"{test.__name__}: no fixture {name!r} here")
        try:
            if chdir:  # test_entry_point_failures' autouse _in_tmp
                monkeypatch.chdir(tmp_path)
            with contextlib.redirect_stdout(capsys.out), contextlib.redirect_stderr(capsys.err):
                test(**kwargs)
        finally:
            monkeypatch.undo()


def parametrized(test: Callable) -> list[tuple[str, dict[str, Any]]]:
    """(id, arguments) of each case of a test's ``@pytest.mark.parametrize`` marks."""
    cases: list[tuple[str, dict[str, Any]]] = [("", {})]
    for mark in getattr(test, "pytestmark", []):  # the decorator nearest the function first
        if mark.name != "parametrize":
            continue
        names = mark.args[0]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        values = list(mark.args[1])
        ids = mark.kwargs.get("ids")
        expanded = []
        for i, value in enumerate(values):
            case_id = ids[i] if isinstance(ids, (list, tuple)) else short(value, 40)
            value = tuple(value) if len(names) > 1 else (value,)
            expanded.append((case_id, dict(zip(names, value))))
        cases = [(f"{a}[{b}]" if a else f"[{b}]", {**pa, **pb}) for a, pa in cases for b, pb in expanded]
    return cases


def run_tests(row: Row, fixtures: Fixtures, tests: Sequence[Callable], chdir: bool = False) -> None:
    """Each case of each test is one injected fault; a failing assertion is a break."""
    import pytest

    for test in tests:
        for case_id, params in parametrized(test):
            label = f"{test.__module__}::{test.__name__}{case_id}"
            row.tried += 1
            try:
                fixtures.call(test, params, chdir)
            except (Exception, pytest.fail.Exception) as error:  # noqa: BLE001
                where = traceback.extract_tb(error.__traceback__)[-1]
                row.fail(label, f"{type(error).__name__} at line {where.lineno}: {short(error)}")


# ---- 1. engine fuzzing --------------------------------------------------------------------

def fuzz_sequences(row: Row, args: argparse.Namespace) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from hackmatrix.domain import scenario
    from tests.reliability import engine as E

    started = 0
    endings: dict[str, int] = {}

    @hypothesis_seed(args.seed)
    @settings(max_examples=args.counts["scenarios"], database=None, derandomize=False, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(d=E.scenarios(), seed=st.integers(0, 2**31 - 1), data=st.data())
    def one(d, seed, data):
        nonlocal started
        started += 1
        trace: list[str] = []

        def on_step(t: int, action: int, legal: bool, key_seed: int) -> None:
            row.tried += 1
            trace.append(f"step {t}: action {action} (legal: {legal}), key seed {key_seed}")

        try:
            _, ending = E.play(d, seed, data, args.max_steps, on_step=on_step)
            endings[ending] = endings.get(ending, 0) + 1
        except Exception as error:  # noqa: BLE001 - a broken invariant: report, go on
            endings["a break"] = endings.get("a break", 0) + 1
            row.fail(f"scenario #{started}",
                     f"{type(error).__name__}: {short(error, 500)}\n    scenario="
                     f"{scenario.Scenario.from_dict(d).to_json()}\n    " + "\n    ".join(trace))

    one()
    # hypothesis stops an example whose draws outgrow its buffer (StopTest): the steps it
    # took were checked and count, the scenario counts as cut short.
    scenarios = sum(endings.values())
    row.note = (f"{scenarios} scenarios, <= {args.max_steps} steps each; ended by "
                + ", ".join(f"{k} {v}" for k, v in sorted(endings.items()))
                + f"; {started - scenarios} more cut short by hypothesis's draw budget")
    row.extra = {"scenarios": scenarios, "endings": endings}


def fuzz_batched(row: Row, args: argparse.Namespace) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from hackmatrix.domain import scenario
    from tests.reliability import engine as E

    rounds = 0

    @hypothesis_seed(args.seed + 1)
    @settings(max_examples=args.counts["batched_rounds"], database=None, derandomize=False,
              deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(ds=st.lists(E.scenarios(max_enemies=8, max_transmissions=5), min_size=E.BATCH,
                       max_size=E.BATCH),
           seed=st.integers(0, 2**31 - 1), data=st.data())
    def one(ds, seed, data):
        nonlocal rounds
        rounds += 1
        try:
            row.tried += E.play_batched(ds, seed, data, rounds=3)
        except Exception as error:  # noqa: BLE001
            row.tried += 3 * E.BATCH  # stepped, then found broken
            scenarios = "\n    ".join(scenario.Scenario.from_dict(d).to_json() for d in ds)
            row.fail(f"batch #{rounds} (key seed {seed})",
                     f"{type(error).__name__}: {short(error, 500)}\n    {scenarios}")

    one()
    row.note = f"{rounds} batches of {E.BATCH} scenarios x 3 steps, each env also stepped alone"


# ---- 2. bad input -------------------------------------------------------------------------

SCENARIO_MESSAGE_MAX = 300  # "names the field and quotes at most ~80 characters of the value"


def bad_scenarios(row: Row, args: argparse.Namespace) -> None:
    """test_bad_input.py's scenario tables through every route, then generated mutations."""
    from hackmatrix.domain.scenario import Scenario, build
    from tests.reliability import test_bad_input as T

    for case, data, fragments in T.SCENARIOS:
        rejected(row, f"{case} (from_dict)", lambda: Scenario.from_dict(data), fragments)
        if isinstance(data, dict):
            rejected(row, f"{case} (build)", lambda: build(data), fragments[:1])
        rejected(row, f"{case} (from_json)", lambda: Scenario.from_json(json.dumps(data)), fragments[:1])
    for case, data, _ in T.CODE_ROUTE:
        try:
            Scenario.from_dict(data)
            want = None
        except ValueError as error:
            want = str(error)  # the code route gives the JSON route's message
        rejected(row, f"{case} (Scenario in code)", lambda: build(T._raw(data)), exact=want)
    for bad, message in T.CODE_ONLY:
        rejected(row, f"code-only {short(message, 60)}", lambda: build(bad), [message])
    for text, fragments in T.JSON_TEXTS:
        rejected(row, f"JSON text {short(text, 40)!r}", lambda: Scenario.from_json(text), fragments)
    mutations(row, args)


# Values no field of the given kind accepts (the ranges come from scenario.RANGES).
WRONG_FOR_INT = ("7", 1.5, None, True, [1], {"a": 1})
WRONG_FOR_BOOL = ("true", 1, 0, None, 1.0, [])
WRONG_FOR_NAME = ("dragon", 3, None, 2.5, [])
WRONG_FOR_LIST = ("x", {"type": "virus"}, 3, None)
SPEC_OF = {"player": "PlayerSpec", "enemies": "EnemySpec", "transmissions": "TransmissionSpec",
           "blocks": "BlockSpec", "resources": "ResourceSpec"}


def _one_field_mutations(d: dict) -> list[tuple[str, tuple, Any, str]]:
    """Every way this generator knows to make the valid scenario ``d`` invalid in one field:
    (description, path of the field, its new value or DELETE, the name the message must
    hold). Integer bounds come from ``scenario.RANGES``, required keys from the specs."""
    from hackmatrix.domain import scenario as S

    out: list[tuple[str, tuple, Any, str]] = []

    def beyond(lo: int, hi: int) -> tuple[int, ...]:
        return (lo - 1, hi + 1, hi + 2**40, lo - 2**40)

    entries: list[tuple[str, tuple, dict, str]] = [("player", ("player",), d["player"], "PlayerSpec")]
    for key in ("enemies", "transmissions", "blocks", "resources"):
        entries += [(f"{key}[{i}]", (key, i), e, SPEC_OF[key]) for i, e in enumerate(d.get(key, []))]
    for where, path, entry, cls_name in entries:
        ranges = S.RANGES[cls_name]
        for f in dataclasses.fields(getattr(S, cls_name)):
            name, field = f.name, f"{where}.{f.name}"
            if name in ranges:
                values: tuple = (*beyond(*ranges[name]), *WRONG_FOR_INT)
            elif f.type in ("bool", bool):
                values = WRONG_FOR_BOOL
            elif name == "program" and entry.get("kind") != "program":
                values = tuple(v for v in WRONG_FOR_NAME if v is not None)  # a data block has none
            else:  # type, enemy_type, kind, program
                values = WRONG_FOR_NAME
            out += [(f"{field}={short(v, 30)}", (*path, name), v, field) for v in values]
            required = f.default is dataclasses.MISSING or (name == "program" and entry.get("kind") == "program")
            if required and name in entry:
                out.append((f"{field} missing", (*path, name), DELETE, field))
        out.append((f"{where} with an unknown key", (*path, "zz_unknown"), 1, "zz_unknown"))
    for i, _ in enumerate(d.get("owned_programs", [])):
        out += [(f"owned_programs[{i}]={v!r}", ("owned_programs", i), v, f"owned_programs[{i}]")
                for v in ("NUKE", 99, -1, None, 2.5)]
    for name, bounds in S.RANGES["Scenario"].items():
        out += [(f"scenario.{name}={short(v, 30)}", (name,), v, f"scenario.{name}")
                for v in (*beyond(*bounds), *WRONG_FOR_INT)]
    for name in ("show_activated", "scheduled_tasks_disabled"):
        out += [(f"scenario.{name}={v!r}", (name,), v, f"scenario.{name}") for v in WRONG_FOR_BOOL]
    for name in ("enemies", "transmissions", "blocks", "resources", "owned_programs"):
        out += [(f"scenario.{name}={v!r}", (name,), v, f"scenario.{name}") for v in WRONG_FOR_LIST]
    out.append(("scenario with an unknown key", ("zz_unknown",), 1, "zz_unknown"))
    out.append(("scenario.player missing", ("player",), DELETE, "scenario.player"))
    return out


DELETE = object()


def _mutated(d: dict, path: tuple, value: Any) -> dict:
    import copy

    bad = copy.deepcopy(d)
    target = bad
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bad


def mutations(row: Row, args: argparse.Namespace) -> None:
    """Random valid scenarios (engine.scenarios), each made invalid in one field several
    ways: from_dict and from_json must refuse naming that field. The unmutated scenario
    must be accepted (the strategy's promise)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st

    from hackmatrix.domain.scenario import Scenario
    from tests.reliability import engine as E

    per = args.counts["mutations"]

    @hypothesis_seed(args.seed + 2)
    @settings(max_examples=args.counts["mutated_scenarios"], database=None, derandomize=False,
              deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(d=E.scenarios(), pick=st.randoms(use_true_random=False))
    def one(d, pick):
        accepted(row, "a valid generated scenario", lambda: Scenario.from_dict(d))
        candidates = _one_field_mutations(d)
        for what, path, value, field in pick.sample(candidates, min(per, len(candidates))):
            bad = _mutated(d, path, value)
            rejected(row, f"mutation {what} (from_dict)", lambda: Scenario.from_dict(bad), [field],
                     max_len=SCENARIO_MESSAGE_MAX)
            rejected(row, f"mutation {what} (from_json)", lambda: Scenario.from_json(json.dumps(bad)),
                     [field], max_len=SCENARIO_MESSAGE_MAX)

    one()


def bad_caps(row: Row, args: argparse.Namespace) -> None:
    """Each capped count at its cap (accepted) and at the table's values beyond it, then
    random values beyond the cap (refused with the exact message) and within (accepted)."""
    from hackmatrix.domain.scenario import MAX_AMOUNT, Scenario, build
    from tests.reliability import test_bad_input as T

    rng = random.Random(args.seed + 3)
    for field, make in T.CAPPED:
        accepted(row, f"{field}={MAX_AMOUNT} (build)", lambda: build(make(MAX_AMOUNT)))
        beyond = [MAX_AMOUNT + 1, 2**31 - 1, 2**31, 2**63]
        beyond += [rng.randint(MAX_AMOUNT + 2, 2**rng.randint(21, 80)) for _ in range(args.counts["cap_values"])]
        for value in beyond:
            rejected(row, f"{field}={value}", lambda: Scenario.from_dict(make(value)),
                     exact=f"{field}: {value} is above the maximum {MAX_AMOUNT}")
        lo = 1 if field.endswith("attack_damage") else 0
        for value in [rng.randint(lo, MAX_AMOUNT) for _ in range(args.counts["cap_values"])]:
            accepted(row, f"{field}={value}", lambda: Scenario.from_dict(make(value)))


def bad_hostile(row: Row, args: argparse.Namespace) -> None:
    """Deep nesting, 50 MB strings, bad UTF-8 and random bytes from a named file."""
    from hackmatrix.domain.scenario import Scenario
    from tests.reliability import test_bad_input as T

    for text in T.DEEP_JSON:
        rejected(row, f"{len(text):,} characters of nesting", lambda: Scenario.from_json(text),
                 max_len=SCENARIO_MESSAGE_MAX)
    rejected(row, "100,000-deep Python list", lambda: Scenario.from_dict(
        {"player": {"row": T.nested_list(), "col": 0}}), ["player.row"], max_len=200)
    huge = "x" * 50_000_000
    for where in T.HUGE_WHERE:
        data = T.huge_input(where, huge)
        call = (lambda: Scenario.from_json(data)) if isinstance(data, str) else (lambda: Scenario.from_dict(data))
        rejected(row, f"50 MB string as {where}", call, ["xxxxxxxxxx", "..."], max_len=200)
    del huge
    rng = random.Random(args.seed + 4)
    name = "/data/scenario-from-a-user.json"
    for i in range(args.counts["corruptions"]):
        data = bytearray(rng.randbytes(rng.randint(1, 200)))
        data[rng.randrange(len(data))] = 0xFF  # never UTF-8
        rejected(row, f"random bytes #{i} {bytes(data[:16])!r}...", lambda: Scenario.from_bytes(bytes(data), name),
                 [name, "UTF-8"], max_len=SCENARIO_MESSAGE_MAX)
    latin1 = '{"player": {"row": 0, "col": 0}, "foo": "caf\u00e9"}'.encode("latin-1")
    rejected(row, "latin-1 file", lambda: Scenario.from_bytes(latin1, name), [name, "UTF-8"])


def bad_configs(row: Row, args: argparse.Namespace, fixtures: Fixtures) -> None:
    """TrainConfig dicts, YAML/TOML files and HACKMATRIX_* variables: the tables, then a
    bad value of every kind for every field."""
    from hackmatrix.adapters.config.sources import EnvConfigSource, FileConfigSource, LayeredConfigSource
    from hackmatrix.application.config import FIELD_TYPES, TrainConfig
    from tests.reliability import test_bad_input as T

    for values, fragments in T.CONFIGS:
        rejected(row, f"TrainConfig {short(values, 60)}", lambda: TrainConfig.from_dict(values), fragments)
    folder = fixtures.tmp("configs")
    for i, (name, text, fragments) in enumerate(T.FILES):
        path = folder / f"{i}-{name}"
        path.write_text(text)
        rejected(row, f"file {name} {text!r}", lambda: FileConfigSource(path).load(), fragments)
    rejected(row, "missing config file", lambda: FileConfigSource(folder / "nope.yaml"), ["nope.yaml"])

    def env_route(environ: dict[str, str]) -> None:
        EnvConfigSource(environ).load()
        LayeredConfigSource([EnvConfigSource(environ)], run_root="/nonexistent-run-root").tracking()

    for environ, fragments in T.ENVS:
        rejected(row, f"env {environ}", lambda: env_route(environ), fragments)
    for i, (name, value, text) in enumerate(generated_config_values(FIELD_TYPES)):
        rejected(row, f"TrainConfig {name}={value!r}", lambda: TrainConfig.from_dict({name: value}), [name])
        yaml_file = folder / f"generated-{i}.yaml"
        yaml_file.write_text(f"{name}: {_yaml_float(value) if isinstance(value, float) else json.dumps(value)}\n")
        rejected(row, f"YAML {name}: {value!r}", lambda: FileConfigSource(yaml_file).load(), [name])
        if text is not None:
            var = f"HACKMATRIX_{name.upper()}"
            rejected(row, f"env {var}={text!r}", lambda: env_route({var: text}), any_of=[var, name])
    rng = random.Random(args.seed + 5)
    for i, data in enumerate([b"num_envs: 4\n# caf\xe9\n", rng.randbytes(64) + b"\xff"]):
        for suffix in (".yaml", ".toml"):  # not UTF-8
            path = folder / f"not-utf8-{i}{suffix}"
            path.write_bytes(data)
            rejected(row, f"non-UTF-8 file {path.name}", lambda: FileConfigSource(path).load(), [path.name])


def _yaml_float(value: float) -> str:
    if value != value:
        return ".nan"
    if value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    return repr(value)


def generated_config_values(field_types: dict) -> list[tuple[str, Any, str]]:
    """(field, a bad value, the same as an environment variable's text) for every field
    of TrainConfig: wrong types, and values below every field's minimum (-1 for integers;
    -1, NaN, +-inf for floats)."""
    out: list[tuple[str, Any, str]] = []
    for name, (base, optional) in field_types.items():
        if base is int:
            out += [(name, -1, "-1"), (name, 2.5, "2.5"), (name, "x!", "x!"), (name, True, "yes?")]
        elif base is float:
            out += [(name, -1.0, "-1"), (name, float("nan"), "nan"), (name, float("inf"), "inf"),
                    (name, float("-inf"), "-inf"), (name, "x!", "x!")]
        elif base is bool:
            out += [(name, "maybe", "maybe"), (name, 2, "2")]
        elif name == "network":
            out += [(name, "transformer-xl", "transformer-xl"), (name, 3, None)]
        else:
            out += [(name, 3, None)]
        if not optional:
            out.append((name, None, None))
    return out


def bad_command_lines(row: Row, args: argparse.Namespace, fixtures: Fixtures) -> None:
    """``train``, ``evaluate`` and ``watch`` in-process: exit 2, one line, nothing created."""
    from hackmatrix.application import evaluate, train, watch
    from hackmatrix.application.config import FIELD_TYPES
    from tests.application import test_evaluate_watch as W
    from tests.e2e import test_entry_point_failures as F
    from tests.reliability import test_bad_input as T

    for argv, environ, fragments in T.FLAGS:
        label = f"train {' '.join(argv)} {environ or ''}".strip()
        one_line_exit_2(row, label, train.main, train.PROG, [*SAFE, *argv], fixtures.tmp("cli"),
                        fragments, environ)
    for i, (name, text, fragments) in enumerate([*T.FILES, ("latin-1.yaml", None, ["latin-1.yaml"])]):
        cwd = fixtures.tmp("cli")
        path = cwd.parent / f"{cwd.name}-{name}"
        if text is None:
            path.write_bytes(b"num_envs: 4\n# caf\xe9\n")  # not UTF-8
        else:
            path.write_text(text)
        # A flag wins over the file: leave out the safe flags of the keys the file sets.
        keys = set(re.findall(r"^\s*([A-Za-z][\w-]*)\s*[:=]", text or "", re.M))
        safe = [a for flag, v in zip(SAFE[::2], SAFE[1::2])
                if flag[2:].replace("-", "_") not in {k.replace("-", "_") for k in keys} for a in (flag, v)]
        one_line_exit_2(row, f"train --config {name} {text!r}", train.main, train.PROG,
                        [*safe, "--config", str(path)], cwd, fragments)
    for _, params in parametrized(F.test_bad_settings_exit_2_with_one_line):
        one_line_exit_2(row, f"train {' '.join(params['argv'])}", train.main, train.PROG,
                        [*SAFE, *params["argv"]], fixtures.tmp("cli"), [params["message"]])
    for name, _, text in generated_config_values(FIELD_TYPES):
        if text is None:
            continue
        flag, var = f"--{name.replace('_', '-')}", f"HACKMATRIX_{name.upper()}"
        one_line_exit_2(row, f"train {flag} {text}", train.main, train.PROG, [*SAFE, f"{flag}={text}"],
                        fixtures.tmp("cli"), any_of=[flag, name])
        one_line_exit_2(row, f"train with {var}={text}", train.main, train.PROG, [],
                        fixtures.tmp("cli"), environ={**SAFE_ENV, var: text}, any_of=[var, name])
    # watch: every bad scenario of the tables as a file, and the watch tests' own files.
    checkpoint = str(fixtures.base_checkpoint())
    folder = fixtures.tmp("watch")
    files: list[tuple[str, bytes | None]] = []
    for case, data, _ in T.SCENARIOS:
        files.append((case, json.dumps(data).encode()))
    for text, _ in T.JSON_TEXTS:
        files.append((f"JSON text {short(text, 30)!r}", text.encode()))
    for case_id, params in parametrized(W.test_watch_bad_scenario_files_give_one_line_and_exit_2):
        content = params["content"]
        files.append((f"watch test {case_id}", content.encode() if isinstance(content, str) else content))
    for i, (case, content) in enumerate(files):
        path = folder / f"s{i}.json"
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)
        one_line_exit_2(row, f"watch --scenario ({case})", watch.main, watch.PROG,
                        [checkpoint, "--scenario", str(path)], folder, [f"scenario '{path}'"], stdout_empty=True)
    # checkpoints that are not ones: train --resume and evaluate.
    from tests.reliability.test_bad_input import _foreign_checkpoints

    for case, data, fragment in _foreign_checkpoints():
        cwd = fixtures.tmp("resume")
        path = cwd / "r" / "checkpoints" / "ckpt-000000000192.msgpack"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        one_line_exit_2(row, f"train --resume ({case})", train.main, train.PROG,
                        ["--resume", str(path), *SAFE], cwd, [str(path), fragment])
        one_line_exit_2(row, f"evaluate ({case})", evaluate.main, evaluate.PROG,
                        [str(path), "--episodes", "2"], cwd, [str(path), fragment])


def bad_checkpoints(row: Row, args: argparse.Namespace, fixtures: Fixtures) -> None:
    """The foreign-file table, every cut and every single-bit flip of a small checkpoint,
    random corruption, sampled flips and cuts of a real training checkpoint, bad tracker ids."""
    from hackmatrix.adapters.checkpoints.locate import read_resume_point
    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore
    from tests.adapters import test_checkpoint_store as CS
    from tests.reliability.test_bad_input import _foreign_checkpoints, _store_with_one_checkpoint

    tmp = fixtures.tmp("ckpt")
    store, good = _store_with_one_checkpoint(tmp)
    original = Path(good).read_bytes()
    bad = tmp / "bad.msgpack"
    for case, data, fragment in _foreign_checkpoints():
        bad.write_bytes(data)
        rejected(row, f"checkpoint: {case}", lambda: store.load(str(bad)), [str(bad), fragment])
    rejected(row, "missing checkpoint", lambda: store.load(str(tmp / "nope.msgpack")), ["does not exist"])
    rejected(row, "a folder as checkpoint", lambda: store.load(str(tmp)), ["folder"])

    def corrupted(label: str, data: bytes, reference: bytes) -> None:
        bad.write_bytes(data)
        if data == reference:
            accepted(row, label + " (unchanged)", lambda: store.load(str(bad)))
        else:
            rejected(row, label, lambda: store.load(str(bad)), ["bad.msgpack"])

    for cut in range(len(original)):
        corrupted(f"small checkpoint cut at {cut}", original[:cut], original)
    for i in range(len(original) * 8):
        data = bytearray(original)
        data[i // 8] ^= 1 << (i % 8)
        corrupted(f"small checkpoint bit {i} flipped", bytes(data), original)
    rng = random.Random(args.seed + 6)
    for i in range(args.counts["corruptions"]):
        data = bytearray(original)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        corrupted(f"small checkpoint random corruption #{i}", bytes(data), original)
    real = fixtures.base_checkpoint().read_bytes()
    for i in range(args.counts["real_ckpt_flips"]):
        data = bytearray(real)
        bit = rng.randrange(len(real) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        corrupted(f"training checkpoint bit {bit} flipped", bytes(data), real)
        cut = rng.randrange(len(real))
        corrupted(f"training checkpoint cut at {cut}", real[:cut], real)
    store2 = MsgpackCheckpointStore(tmp / "real")
    bad.write_bytes(real)
    accepted(row, "the training checkpoint itself", lambda: store2.load(str(bad)))
    for case_id, params in parametrized(CS.test_a_tracker_id_that_is_not_a_plain_identifier_is_refused):
        folder = fixtures.tmp("ids")
        path = CS._crafted(folder, "r/checkpoints", folder / "v", trackers={"mlflow_run_id": params["bad_id"]})
        rejected(row, f"tracker id {case_id}", lambda: read_resume_point(path, None, "checkpoints"),
                 ["tracker id mlflow_run_id=", "is not a plain identifier"])


# ---- 3. faults ----------------------------------------------------------------------------

def fault_tests(row: Row, args: argparse.Namespace, fixtures: Fixtures, group: str) -> None:
    if group == "trackers":
        from tests.reliability import test_faults as TF

        tests = [getattr(TF, n) for n in dir(TF) if n.startswith("test_")]
        run_tests(row, fixtures, sorted(tests, key=lambda t: t.__code__.co_firstlineno))
    elif group == "entry points":
        from tests.e2e import test_entry_point_failures as F

        skip = {"test_bad_settings_exit_2_with_one_line"}  # bad input, counted there
        if args.quick:  # the ones that train (an evaluation each) take ~10 s apiece here
            skip |= {"test_a_crafted_checkpoint_cannot_make_a_resume_write_outside_the_chosen_run_folder",
                     "test_a_tracker_that_cannot_start_is_skipped_with_one_warning"}
        tests = [getattr(F, n) for n in dir(F) if n.startswith("test_") and n not in skip]
        run_tests(row, fixtures, sorted(tests, key=lambda t: t.__code__.co_firstlineno), chdir=True)
    elif group == "store":
        from tests.adapters import test_checkpoint_store as CS
        from tests.application import test_checkpoint_resume as CR

        tests = [CS.test_a_save_failing_midway_leaves_the_previous_checkpoint_loadable,
                 CS.test_a_failing_rename_also_keeps_the_previous_checkpoint,
                 CS.test_a_full_disk_during_a_save_names_the_checkpoint_and_keeps_the_errno,
                 CS.test_opening_the_folder_for_writing_removes_only_stale_temp_files,
                 CS.test_an_unwritable_checkpoint_folder_fails_before_training_with_the_folder_named,
                 CR.test_nan_at_update_3_stops_naming_it_and_keeps_the_last_good_checkpoint]
        with quiet():
            run_tests(row, fixtures, tests)


FAULT_POINTS = ("mkstemp", "write", "fsync", "replace")
FAULT_ERRNOS = (errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT, errno.EACCES)


def random_store_faults(row: Row, args: argparse.Namespace, fixtures: Fixtures) -> None:
    """A save failing at a random point with a random errno: OSError naming the
    checkpoint with the errno kept, every earlier checkpoint byte-identical and
    loadable, no temporary file, and the next save works."""
    import numpy as np
    import pytest

    from hackmatrix.adapters.checkpoints import msgpack_store
    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore, checkpoint_name

    rng = random.Random(args.seed + 7)
    folder = fixtures.tmp("store-faults") / "checkpoints"
    store = MsgpackCheckpointStore(folder, keep=3)

    def payload(step: int) -> dict:
        n = rng.randint(1, 200_000)
        return {"runner": {"params": {"w": np.full(n, step, np.float32)}, "step": np.int32(step)}}

    store.save(1, payload(1), {"update": 1, "env_steps": 1})
    for i in range(args.counts["store_faults"]):
        step = i + 2
        point, code = rng.choice(FAULT_POINTS), rng.choice(FAULT_ERRNOS)
        label = f"save #{step}: {errno.errorcode[code]} at {point}"
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        target = folder / checkpoint_name(step)
        failure = OSError(code, os.strerror(code))

        def fail(*a: Any, **k: Any) -> Any:
            raise failure

        def write_some(handle: Any, data: bytes) -> None:
            handle.write(data[: rng.randrange(len(data))])
            raise failure

        mp = pytest.MonkeyPatch()
        if point == "mkstemp":
            mp.setattr(msgpack_store.tempfile, "mkstemp", fail)
        elif point == "write":
            mp.setattr(MsgpackCheckpointStore, "_write", staticmethod(write_some))
        elif point == "fsync":
            mp.setattr(msgpack_store.os, "fsync", fail)
        else:
            mp.setattr(msgpack_store.os, "replace", fail)
        row.tried += 1
        try:
            store.save(step, payload(step), {"update": step, "env_steps": step})
        except OSError as error:
            if error.errno != code or f"cannot save checkpoint {target}" not in str(error):
                row.fail(label, f"OSError {error.errno} {short(error)!r}")
        except Exception as error:  # noqa: BLE001
            row.fail(label, f"{type(error).__name__} instead of OSError: {short(error)}")
        else:
            row.fail(label, "the save succeeded")
        finally:
            mp.undo()
        after = {p.name: p.read_bytes() for p in folder.iterdir()}
        if after != before:
            row.fail(label, f"folder changed: {sorted(set(after) ^ set(before)) or 'bytes'}")
            for name in set(after) - set(before):
                (folder / name).unlink()
        for name in before:
            try:
                store.load(str(folder / name))
            except Exception as error:  # noqa: BLE001
                row.fail(label, f"earlier {name} does not load: {short(error)}")
        try:  # the disk is back: the next save works
            loaded = store.load(store.save(step, payload(step), {"update": step, "env_steps": step}))
            if int(loaded[1]["update"]) != step:
                row.fail(label, "the next save came back wrong")
        except Exception as error:  # noqa: BLE001
            row.fail(label, f"the next save failed: {short(error)}")
    row.note = f"{', '.join(FAULT_POINTS)} x {', '.join(errno.errorcode[c] for c in FAULT_ERRNOS)}"


_SAVER = r"""
import sys
import numpy as np
from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore
folder, floats, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = MsgpackCheckpointStore(folder, keep=2)
store.ensure_writable()
w = np.random.default_rng(seed).standard_normal(floats).astype(np.float32)
print("ready", flush=True)
step = 0
while True:
    step += 1
    store.save(step, {"runner": {"params": {"w": w}}}, {"update": step, "env_steps": step})
"""


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HACKMATRIX_", "WANDB_"))}
    env.update(PYTHONPATH=str(REPO), WANDB_MODE="offline")
    return env


def store_kills(row: Row, args: argparse.Namespace, fixtures: Fixtures) -> None:
    """A process saving 8 MB checkpoints in a loop, SIGKILLed at a random moment: every
    ckpt-* file left loads, and opening the folder again removes the temporary file."""
    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore, list_checkpoints

    rng = random.Random(args.seed + 8)
    mid_save = 0
    for i in range(args.counts["store_kills"]):
        folder = fixtures.tmp("kill") / "checkpoints"
        label = f"kill #{i}"
        row.tried += 1
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(folder), str(2_000_000), str(i)],
                                 cwd=folder.parent, env=_child_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        try:
            if child.stdout is None or child.stdout.readline().strip() != "ready":
                row.fail(label, f"the saver did not start: {short(child.communicate(timeout=60)[1])}")
                continue
            time.sleep(rng.uniform(0.05, 1.0))
            deadline = time.monotonic() + 2.0  # then aim at a save: kill once a temp file exists
            while time.monotonic() < deadline and not any(
                    n.startswith(".tmp-") for n in os.listdir(folder)):
                time.sleep(0.001)
        finally:
            child.kill()  # SIGKILL, by its own pid
            child.wait(timeout=60)
            if child.stdout is not None:
                child.stdout.close()
            if child.stderr is not None:
                child.stderr.close()
        temps = [p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".probe-"))]
        mid_save += bool(temps)
        store = MsgpackCheckpointStore(folder, keep=2)
        found = list_checkpoints(folder)
        if not found:
            row.fail(label, "no checkpoint at all after the kill")
        for path in found:
            try:
                store.load(str(path))
            except Exception as error:  # noqa: BLE001
                row.fail(label, f"{path.name} left by the kill does not load: {short(error)}")
        try:
            store.ensure_writable()
        except Exception as error:  # noqa: BLE001
            row.fail(label, f"cannot reopen the folder: {short(error)}")
        left = [p.name for p in folder.iterdir() if p.name.startswith((".tmp-", ".probe-"))]
        if left:
            row.fail(label, f"stale temporary files remain after reopening: {left}")
    row.note = f"{mid_save} of {args.counts['store_kills']} killed with a temporary file open"


_FROZEN_TRAIN = r"""
import sys, time
from pathlib import Path
from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore
write = MsgpackCheckpointStore._write
saves = []
def freeze_in_the_second_save(handle, data):
    saves.append(len(data))
    if len(saves) == 2:
        handle.write(data[: len(data) // 2])
        handle.flush()
        Path(sys.argv[1]).write_text("frozen")
        time.sleep(600)
    write(handle, data)
MsgpackCheckpointStore._write = staticmethod(freeze_in_the_second_save)
from hackmatrix.application.train import main
raise SystemExit(main(sys.argv[2:]))
"""


def train_kills(row: Row, args: argparse.Namespace, fixtures: Fixtures) -> None:
    """``train`` in a subprocess, SIGKILLed halfway through writing its second checkpoint;
    the first one loads, then ``--resume`` exits 0, removes the temporary file and ends
    with loadable checkpoints and the metrics of every update once."""
    from hackmatrix.adapters.checkpoints.msgpack_store import MsgpackCheckpointStore, checkpoint_name
    from hackmatrix.application.train import main
    from tests.adapters.helpers import read_jsonl

    for i in range(args.counts["train_kills"]):
        label = f"train kill #{i}"
        cwd = fixtures.tmp("train-kill")
        run, frozen = cwd / "run", cwd / "frozen"
        row.tried += 1
        argv = [*TRAIN_TINY, "--total-timesteps", str(4 * B), "--save-interval", "1", "--eval-interval", "0",
                "--run-dir", str(run), "--seed", str(args.seed + i)]
        child = subprocess.Popen([sys.executable, "-c", _FROZEN_TRAIN, str(frozen), *argv], cwd=cwd,
                                 env=_child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 480
            while not frozen.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if not frozen.exists():
                row.fail(label, f"never reached the second save (status {child.poll()})")
                continue
        finally:
            child.kill()
            _, err = child.communicate(timeout=60)
        folder = run / "checkpoints"
        store = MsgpackCheckpointStore(folder)
        names = sorted(p.name for p in folder.iterdir())
        first = folder / checkpoint_name(B)
        if checkpoint_name(2 * B) in names or not any(n.startswith(".tmp-") for n in names):
            row.fail(label, f"not killed mid-save: {names}")
        try:
            store.load(str(first))
        except Exception as error:  # noqa: BLE001
            row.fail(label, f"the previous checkpoint does not load: {short(error)}")
        with quiet():
            code = main(["--resume", str(run), "--total-timesteps", str(3 * B), "--eval-interval", "0"])
        names = sorted(p.name for p in folder.iterdir())
        if code != 0:
            row.fail(label, f"--resume exited {code}")
        if any(n.startswith((".tmp-", ".probe-")) for n in names):
            row.fail(label, f"a stale temporary file remains after the resume: {names}")
        if names != [checkpoint_name(s * B) for s in (1, 2, 3)]:
            row.fail(label, f"checkpoints after the resume: {names}")
        for name in names:
            try:
                store.load(str(folder / name))
            except Exception as error:  # noqa: BLE001
                row.fail(label, f"{name} does not load: {short(error)}")
        steps = [r["step"] for r in read_jsonl(run / "metrics.jsonl")]
        if steps != [B, 2 * B, 3 * B]:
            row.fail(label, f"metrics steps after the resume: {steps}")


# ---- driver -------------------------------------------------------------------------------

def timed_row(rows: list[Row], section: str, check: str, unit: str,
              body: Callable[[Row], None]) -> Row:
    row = Row(section, check, unit)
    start = time.perf_counter()
    try:
        body(row)
    except Exception as error:  # noqa: BLE001 - the check itself crashed: a break, go on
        row.fail("crashed", f"{type(error).__name__}: {short(error)}\n{traceback.format_exc(limit=6)}")
    row.seconds = time.perf_counter() - start
    rows.append(row)
    print(f"  {section:9s} {check:28s} {row.tried:>8,} {unit:6s} {len(row.breaks):>4} breaks "
          f"{row.seconds:7.1f} s", flush=True)
    return row


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    for var in [v for v in os.environ if v.startswith("HACKMATRIX_")]:
        print(f"note: ignoring {var} (the benchmark sets every setting itself)")
        del os.environ[var]
    root = logging.getLogger()
    if LOGS not in root.handlers:
        root.addHandler(LOGS)  # also makes train's logging.basicConfig a no-op
    import jax

    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)  # as tests/conftest.py
    machine = benchlib.machine_info()
    benchlib.print_machine(machine)
    counts = args.counts
    print(f"seed {args.seed}, scale {args.scale:g}{' (quick)' if args.quick else ''}: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    workdir = Path(tempfile.mkdtemp(prefix="hackmatrix-reliability-", dir=args.workdir))
    fixtures = Fixtures(workdir)
    rows: list[Row] = []
    start = time.perf_counter()
    old_cwd = os.getcwd()
    try:
        if "fuzz" in args.sections:
            timed_row(rows, "fuzz", "scenario + action sequence", "steps", lambda r: fuzz_sequences(r, args))
            if counts["batched_rounds"]:
                timed_row(rows, "fuzz", "batched step, 16 scenarios", "steps", lambda r: fuzz_batched(r, args))
        if "bad-input" in args.sections:
            timed_row(rows, "bad-input", "scenario tables + mutations", "inputs", lambda r: bad_scenarios(r, args))
            timed_row(rows, "bad-input", "scenario caps", "inputs", lambda r: bad_caps(r, args))
            timed_row(rows, "bad-input", "hostile JSON / bytes", "inputs", lambda r: bad_hostile(r, args))
            timed_row(rows, "bad-input", "config dict/file/env", "inputs", lambda r: bad_configs(r, args, fixtures))
            timed_row(rows, "bad-input", "command lines", "inputs", lambda r: bad_command_lines(r, args, fixtures))
            timed_row(rows, "bad-input", "checkpoints", "inputs", lambda r: bad_checkpoints(r, args, fixtures))
        if "faults" in args.sections:
            timed_row(rows, "faults", "trackers", "faults", lambda r: fault_tests(r, args, fixtures, "trackers"))
            timed_row(rows, "faults", "entry points (disk, folders)", "faults",
                      lambda r: fault_tests(r, args, fixtures, "entry points"))
            timed_row(rows, "faults", "checkpoint store, NaN guard", "faults",
                      lambda r: fault_tests(r, args, fixtures, "store"))
            timed_row(rows, "faults", "random I/O errors at saves", "faults",
                      lambda r: random_store_faults(r, args, fixtures))
            if counts["store_kills"]:
                timed_row(rows, "faults", "SIGKILL of a saving process", "faults",
                          lambda r: store_kills(r, args, fixtures))
            if counts["train_kills"]:
                timed_row(rows, "faults", "SIGKILL of train mid-save", "faults",
                          lambda r: train_kills(r, args, fixtures))
    finally:
        os.chdir(old_cwd)
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - start

    print()
    headers = ["section", "check", "tried", "unit", "breaks", "seconds"]
    table = [[r.section, r.check, r.tried, r.unit, len(r.breaks), r.seconds] for r in rows]
    sums = {u: sum(r.tried for r in rows if r.unit == u) for u in ("inputs", "steps", "faults")}
    breaks = sum(len(r.breaks) for r in rows)
    table.append(["total", "", sum(sums.values()), "", breaks, total])
    print(benchlib.format_table(headers, table))
    for r in rows:
        if r.note:
            print(f"{r.section} / {r.check}: {r.note}")
    scenarios = sum(r.extra.get("scenarios", 0) for r in rows)
    print(f"\ninputs tried {sums['inputs']:,} | steps fuzzed {sums['steps']:,} "
          f"({scenarios:,} scenarios + batched) | faults injected {sums['faults']:,} | breaks found {breaks}")
    shown = 0
    for r in rows:
        for b in r.breaks:
            if shown < MAX_BREAK_LINES:
                print(f"BREAK {r.section} / {r.check}: {b}")
            shown += 1
    if shown > MAX_BREAK_LINES:
        print(f"... and {shown - MAX_BREAK_LINES} more breaks")

    metrics = {"inputs_tried": sums["inputs"], "steps_fuzzed": sums["steps"], "scenarios_fuzzed": scenarios,
               "faults_injected": sums["faults"], "breaks_found": breaks, "seconds": benchlib.clean(total)}
    better = {k: "info" for k in metrics}
    better["breaks_found"] = "lower"
    result_rows = [{"section": r.section, "check": r.check, "unit": r.unit, "tried": r.tried,
                    "breaks": len(r.breaks), "seconds": benchlib.clean(r.seconds), "note": r.note,
                    "first_breaks": [short(b, 400) for b in r.breaks[:3]]} for r in rows]
    run_args = {"quick": args.quick, "scale": args.scale, "seed": args.seed, "max_steps": args.max_steps,
                "sections": args.sections, "counts": counts}
    return benchlib.emit_result("reliability", run_args, machine, result_rows, metrics, better)


if __name__ == "__main__":
    sys.exit(1 if main()["metrics"]["breaks_found"] else 0)
