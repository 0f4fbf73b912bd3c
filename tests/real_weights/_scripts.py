"""Running a bench/eval_* script as a person would, and reading its last line of JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"
DATA = REPO.parent / "shared" / "assets" / "data"


def run_script(name: str, *args: str, home: Path | None = None) -> tuple[str, dict]:
    """(stdout, its last JSON line) of ``bench/<name>``. With ``home``, the user's models are those of
    that (empty) home; without, the scripts look where a person's run would: ``$LOOKALIKE_REAL_MODELS``,
    the user's models folder and ``../shared/assets/models`` (bench/_evals.py)."""
    env = dict(os.environ)
    if home is not None:
        env["LOOKALIKE_HOME"] = str(home)
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), *args], env=env, capture_output=True, text=True, timeout=1200
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout, json.loads(proc.stdout.strip().splitlines()[-1])


def skip_unless_evaluated(result: dict) -> None:
    """Skip (with the script's own reason) when it found no real weights."""
    if "skipped" in result:
        pytest.skip(result["skipped"])
