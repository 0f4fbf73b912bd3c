"""bench/eval_esc50.py: says plainly when real weights are missing, and runs end to end on random ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "eval_esc50.py"
ESC50 = REPO.parent / "shared" / "assets" / "data" / "esc50_subset"

pytestmark = pytest.mark.skipif(
    not (ESC50 / "esc50_subset.csv").is_file(), reason=f"ESC-50 evaluation subset not found at {ESC50}"
)


def run(tmp_path: Path, *args: str) -> tuple[str, dict]:
    env = dict(os.environ, LOOKALIKE_HOME=str(tmp_path / "user-home"))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, json.loads(proc.stdout.strip().splitlines()[-1])


def test_without_real_weights_it_says_so_and_evaluates_nothing(tmp_path: Path) -> None:
    out, result = run(tmp_path)
    assert "No evaluation" in out and "panns-mobilenetv1" in result["skipped"]
    assert "lookalike models download" in out


def test_random_weights_run_indexes_every_clip_and_reports_chance(tmp_path: Path) -> None:
    out, result = run(tmp_path, "--random-weights")
    assert "RANDOM WEIGHTS" in out
    assert result["real_weights"] is False
    assert result["clips"] == 100 and result["classes"] == 50
    assert "indexed 100 clips (0 failed)" in out
    assert 0.0 <= result["sound_p_at_1"] <= 1.0 and result["sound_p_at_1_chance"] == pytest.approx(
        1 / 99, abs=1e-3
    )
