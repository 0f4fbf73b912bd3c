"""The real `lookalike` process: starts, takes a second launch's request, quits cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from desktop import ipc

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_lookalike_runs_takes_requests_and_quits_cleanly(home: Path, tmp_path: Path) -> None:
    from engine.library import Library
    from tests.media import make_library

    photos = make_library(tmp_path / "Pictures", 3)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LOOKALIKE_HOME=str(home), PYTHONPATH=str(REPO))
    code = "import sys; from desktop.launcher import main; sys.exit(main(sys.argv[1:]))"
    app = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        sock = Path(ipc.server_name(home))
        deadline = time.monotonic() + 60
        while not sock.exists():
            assert app.poll() is None, app.stderr.read() if app.stderr else ""
            assert time.monotonic() < deadline, "the app never listened"
            time.sleep(0.05)
        # A second `lookalike` (no arguments) and `lookalike similar FILE` both go to the running app.
        second = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, timeout=60)
        assert second.returncode == 0
        similar = subprocess.run(
            [sys.executable, "-c", code, "similar", str(photos[0])],
            env=env,
            cwd=REPO,
            timeout=60,
            capture_output=True,
            text=True,
        )
        assert similar.returncode == 0 and similar.stdout == ""
        assert app.poll() is None  # still the one app
        # Logout or `kill`: the app stops its service and releases the library.
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=60) == 0
        assert not sock.exists() or not ipc.forward_to_running_app([], home=home)
        with Library.open(home):  # the library lock was released
            pass
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
