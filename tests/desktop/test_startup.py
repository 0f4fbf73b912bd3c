"""Startup stays light: the window is built and painted before any heavy engine import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ["torch", "transformers", "onnxruntime", "pymilvus", "av", "numpy", "watchdog", "soundfile"]

SCRIPT = """
import sys
from pathlib import Path
from PySide6.QtWidgets import QApplication
from desktop.app import build
app = QApplication([])
window = build(Path(sys.argv[1]), opener=lambda: None)
window.show()
app.processEvents()
print(",".join(sorted(m for m in {heavy!r} if m in sys.modules)))
window.ipc_server.close()
"""


def test_first_paint_imports_nothing_heavy(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO), LOOKALIKE_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY), str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported before the first paint: {proc.stdout.strip()}"
