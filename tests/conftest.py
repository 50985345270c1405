"""Test-session set-up shared by every test package."""

from __future__ import annotations

import gc
import os
import tempfile

import jax
import pytest

from hackmatrix.adapters.config.sources import env_var_name
from hackmatrix.application.config import SPEC_TRAINING
from hackmatrix.domain.prng import use_unrolled_threefry_on_cpu

# Compiles dominate the suite's time on a 2-core CPU. A persistent compilation cache
# lets identical programs compiled in different test modules, and in the subprocesses
# of the end-to-end tests, be compiled once per run.
_CACHE = os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", os.path.join(tempfile.gettempdir(), "hackmatrix-jax-cache")
)
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
os.environ.setdefault("WANDB_MODE", "offline")
# The entry points' runs (in-process and in subprocesses) skip the in-training greedy
# evaluation, which would compile and play 256 games at the end of every tiny run;
# tests/application/test_training_features.py tests it with explicit settings.
os.environ.setdefault("HACKMATRIX_EVAL_INTERVAL", "0")
# ... and train the plain PPO path (the spec's MLP, no teacher), which compiles in a
# fraction of the default's time; tests/e2e/test_train_entry_point.py clears these to
# run the true defaults once.
for _key, _value in SPEC_TRAINING.items():
    os.environ.setdefault(env_var_name(_key), str(_value).lower())

# The process-wide setting of the entry points (hackmatrix.adapters.runtime): threefry
# compiled straight-line on CPU. Same random bits; faster compiles of the engine.
use_unrolled_threefry_on_cpu()


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's in-memory compiled programs after each test module.

    The suite compiles hundreds of programs in one process; kept alive, they grew the
    process until serialising one more executable for the persistent cache aborted
    (late in the run, in tests/reliability). Later modules reload what they need from
    the persistent cache.
    """
    yield
    jax.clear_caches()
    gc.collect()
