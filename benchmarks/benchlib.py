"""Shared helpers of the benchmark scripts: machine facts, timing, memory, RESULT lines.

Every benchmark prints a plain-text table and then exactly one line
``RESULT {json}`` that ``benchmarks/compare.py`` (or ``grep '^RESULT '``) reads. The
JSON has ``benchmark``, ``machine``, ``args``, ``rows`` (the table) and ``metrics``
(a flat name -> number map) plus ``better`` (name -> "higher" | "lower" | "info"),
which tells ``compare.py`` which direction is a regression.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULT_PREFIX = "RESULT "


def disable_persistent_cache() -> None:
    """Compile times must measure compiling, not reading JAX's on-disk cache."""
    import jax

    os.environ["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    try:
        jax.config.update("jax_enable_compilation_cache", False)
    except (AttributeError, KeyError):  # older JAX: no such option, nothing to disable
        pass


def setup_jax() -> None:
    """The entry points' process-wide JAX set-up (``setup_jax_runtime``: threefry
    straight-line on CPU), with the persistent compilation cache off."""
    from hackmatrix.adapters.runtime import setup_jax_runtime

    disable_persistent_cache()
    setup_jax_runtime(compilation_cache_dir="none")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision(path: Path) -> str:
    try:
        rev = subprocess.run(["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--", "hackmatrix"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "") if rev else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict[str, Any]:
    """Where a number came from: CPU, cores, load, JAX, device, and the engine's revision."""
    import jax
    import hackmatrix

    device = jax.devices()[0]
    package = Path(hackmatrix.__file__).resolve().parent
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": cpu_model(),
        "nproc": affinity,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "device_count": jax.device_count(),
        "hackmatrix": str(package),
        "revision": _git_revision(package.parent),
    }


def has_gpu() -> bool:
    import jax

    return jax.default_backend() == "gpu"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def peak_memory_mib() -> tuple[float, str]:
    """Peak memory so far: the device's peak on GPU/TPU, else this process's max RSS.

    Returns (MiB, source). Max RSS only grows, so on CPU it is the peak of the whole
    process up to now (run configurations in increasing size to read it per row).
    """
    import jax

    device = jax.devices()[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "peak_bytes_in_use" in stats:
            return stats["peak_bytes_in_use"] / 2**20, "device_peak"
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return rss_kib / 1024, "maxrss"


def xla_memory_mib(compiled: Any) -> float | None:
    """Arguments + outputs + temporaries of a compiled program (XLA's own estimate)."""
    try:
        m = compiled.memory_analysis()
        total = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
                 - getattr(m, "alias_size_in_bytes", 0))
        return total / 2**20
    except Exception:  # noqa: BLE001 - not every backend/version implements it
        return None


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            if v != v:  # nan
                return "-"
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return "-" if v is None else str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in text]
    return "\n".join(lines)


def print_machine(info: dict[str, Any]) -> None:
    print(f"machine: {info['cpu']} | nproc {info['nproc']} | load {info['loadavg_1m']} | "
          f"jax {info['jax']} | {info['backend']} ({info['device']} x{info['device_count']})")
    print(f"engine:  {info['hackmatrix']} @ {info['revision']}")


def emit_result(benchmark: str, args: dict[str, Any], machine: dict[str, Any],
                rows: list[dict[str, Any]], metrics: dict[str, float],
                better: dict[str, str]) -> dict[str, Any]:
    result = {"benchmark": benchmark, "machine": machine, "args": args, "rows": rows,
              "metrics": metrics, "better": better}
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True, allow_nan=False, default=_json_default))
    sys.stdout.flush()
    return result


def _json_default(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def clean(value: float | None, digits: int = 4) -> float | None:
    """JSON-safe rounded float (NaN/inf become None)."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(f"{value:.{digits}g}")


def parse_result_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[len(RESULT_PREFIX):]) for line in text.splitlines()
            if line.startswith(RESULT_PREFIX)]
