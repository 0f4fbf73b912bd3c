"""Helpers the benchmarks share: how figures print, medians with their spread, the interpreter's own
start-up time (the floor under any "start a process" figure).

Benchmarks run as scripts (``python bench/bench_x.py``), so this folder is first on ``sys.path`` and
they import this module as ``_common``. What tests and benchmarks both need (synthetic photos, the app
runner, a Milvus server) is in :mod:`testkit`; benchmarks never import from tests/.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

#: The repository root: benchmarks put it on ``sys.path`` to import the engine from the checkout.
REPO = Path(__file__).resolve().parent.parent


def ms(s: float) -> str:
    """Seconds as right-aligned milliseconds: ``0.0734`` -> ``"     73 ms"``."""
    return f"{s * 1000:7.0f} ms"


def summary(xs: list[float]) -> dict[str, float]:
    """Median, min, max and count of a list of timings in seconds (for the JSON line)."""
    return {"median_s": statistics.median(xs), "min_s": min(xs), "max_s": max(xs), "n": len(xs)}


def spread(x: dict[str, float], target: float) -> str:
    """A :func:`summary` as "(min 41, max 73, n=10; target 1 s)" (milliseconds, target in seconds)."""
    return f"(min {x['min_s'] * 1000:.0f}, max {x['max_s'] * 1000:.0f}, n={x['n']:.0f}; target {target:g} s)"


def bare_python(n: int = 5) -> float:
    """Median seconds for ``python -c pass`` with this interpreter: what starting any process costs here."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
