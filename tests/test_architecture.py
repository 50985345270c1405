"""Imports point inward: domain is pure JAX; application never sees adapters or SDKs.

Parsed with ``ast`` (nothing is imported), so the check is cheap and covers
imports inside functions too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hackmatrix"

# Domain: pure computation. Third-party array libraries plus stdlib modules without
# I/O; json is allowed for domain/scenario.py's scenario (de)serialisation.
DOMAIN_ALLOWED_ROOTS = {
    "hackmatrix",  # narrowed to hackmatrix.domain below
    "jax", "flax", "chex", "numpy",
    "__future__", "abc", "collections", "dataclasses", "enum", "functools", "itertools",
    "math", "operator", "typing", "types", "json",
}  # fmt: skip
APPLICATION_FORBIDDEN = ("hackmatrix.adapters", "hackmatrix.containers", "wandb", "mlflow",
                         "dependency_injector")  # fmt: skip
# The documented exceptions: the ``python -m`` shims call the composition root.
APPLICATION_EXCEPTIONS = {
    ("train.py", "hackmatrix.containers"),
    ("evaluate.py", "hackmatrix.containers"),
    ("watch.py", "hackmatrix.containers"),
    ("play.py", "hackmatrix.containers"),
}


def imported_modules(source: str, module: str) -> list[str]:
    """Absolute names of every module imported by ``source`` (module = its dotted name)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = module.split(".")[: -node.level]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.append(target)
    return names


def _is_within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def domain_violations(source: str, module: str) -> list[str]:
    bad = []
    for name in imported_modules(source, module):
        root = name.split(".")[0]
        if root not in DOMAIN_ALLOWED_ROOTS or (
            root == "hackmatrix" and not _is_within(name, "hackmatrix.domain")
        ):
            bad.append(name)
    return bad


def application_violations(source: str, module: str, filename: str) -> list[str]:
    return [
        name
        for name in imported_modules(source, module)
        if any(_is_within(name, forbidden) for forbidden in APPLICATION_FORBIDDEN)
        and (filename, name) not in APPLICATION_EXCEPTIONS
    ]


def _modules(layer: str) -> list[tuple[Path, str]]:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    return [
        (path, ".".join(("hackmatrix", *path.relative_to(PACKAGE).with_suffix("").parts)))
        for path in files
    ]


def test_domain_imports_only_domain_jax_flax_chex_numpy_and_pure_stdlib():
    found = {
        str(path.relative_to(PACKAGE)): bad
        for path, module in _modules("domain")
        if (bad := domain_violations(path.read_text(), module))
    }
    assert found == {}


def test_application_never_imports_adapters_trackers_or_the_di_framework():
    found = {
        str(path.relative_to(PACKAGE)): bad
        for path, module in _modules("application")
        if (bad := application_violations(path.read_text(), module, path.name))
    }
    assert found == {}


def test_only_the_composition_root_imports_adapters_outside_the_adapters_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("hackmatrix", *path.relative_to(PACKAGE).with_suffix("").parts))
        if _is_within(module, "hackmatrix.adapters") or module == "hackmatrix.containers":
            continue
        if any(_is_within(n, "hackmatrix.adapters") for n in imported_modules(path.read_text(), module)):
            found.append(module)
    assert found == []


def test_the_shim_exceptions_are_used_and_nothing_else_is_excused():
    for name in ("train", "evaluate", "watch", "play"):
        shim = (PACKAGE / "application" / f"{name}.py").read_text()
        assert "hackmatrix.containers" in imported_modules(shim, f"hackmatrix.application.{name}")
    assert APPLICATION_EXCEPTIONS == {
        (f"{name}.py", "hackmatrix.containers") for name in ("train", "evaluate", "watch", "play")
    }


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import os", "hackmatrix.domain.env", ["os"]),
        ("from pathlib import Path", "hackmatrix.domain.env", ["pathlib"]),
        ("import wandb", "hackmatrix.domain.env", ["wandb"]),
        ("def f():\n    import mlflow", "hackmatrix.domain.env", ["mlflow"]),
        ("from hackmatrix.application import ppo", "hackmatrix.domain.env", ["hackmatrix.application"]),
        ("from ..application import ppo", "hackmatrix.domain.env", ["hackmatrix.application"]),
        ("from . import state\nimport jax.numpy as jnp\nimport json", "hackmatrix.domain.env", []),
        ("from flax import struct\nimport chex, numpy as np", "hackmatrix.domain.env", []),
    ],
)
def test_domain_checker_flags_io_sdks_and_outer_layers(source, module, expected):
    assert domain_violations(source, module) == expected


@pytest.mark.parametrize(
    ("source", "filename", "expected"),
    [
        ("from hackmatrix.adapters.logging import stdout", "ppo.py", ["hackmatrix.adapters.logging"]),
        ("from ..adapters import logging", "ppo.py", ["hackmatrix.adapters"]),
        ("import wandb", "use_cases.py", ["wandb"]),
        ("from dependency_injector import providers", "use_cases.py", ["dependency_injector"]),
        ("from hackmatrix.containers import create_container", "use_cases.py", ["hackmatrix.containers"]),
        ("from hackmatrix.containers import create_container", "train.py", []),
        ("import wandb", "train.py", ["wandb"]),
        ("from hackmatrix.application.ports import MetricsLogger", "use_cases.py", []),
    ],
)
def test_application_checker_flags_adapters_and_sdks(source, filename, expected):
    module = f"hackmatrix.application.{filename[:-3]}"
    assert application_violations(source, module, filename) == expected


def test_importing_the_entry_points_leaves_jaxs_backend_unstarted():
    # jax.distributed.initialize (multi-process training) must run before anything starts
    # JAX's backend; the train entry point imports the composition root first, so no
    # module it loads may build a jax array at import.
    assert _backends_after_importing("hackmatrix.containers", "hackmatrix.application.train") == "[]"


def test_importing_the_trainer_evaluation_and_scripted_policy_leaves_jaxs_backend_unstarted():
    # The scripted policy's tables are NumPy too, so the trainer and the evaluation import
    # it at module level.
    modules = ("hackmatrix.application.scripted_policy", "hackmatrix.application.ppo",
               "hackmatrix.application.evaluation")
    assert _backends_after_importing(*modules) == "[]"


def test_importing_every_domain_module_leaves_jaxs_backend_unstarted():
    # The domain's module constants are NumPy (made jax arrays where a rule indexes them
    # with a traced value), so importing the engine has no process-wide effect at all.
    modules = sorted(f"hackmatrix.domain.{path.stem}" for path in (PACKAGE / "domain").glob("*.py"))
    assert len(modules) > 20
    assert _backends_after_importing(*modules) == "[]"


def _backends_after_importing(*modules: str) -> str:
    import subprocess
    import sys

    code = (
        f"import {', '.join(modules)}\n"
        "from jax._src import xla_bridge\n"
        "print(sorted(xla_bridge._backends))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    return out.stdout.strip()
