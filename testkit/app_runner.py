"""Run the real app in its own process, offscreen, and watch it show results (end-to-end tests, bench).

The app is instrumented by ``app_probe/sitecustomize.py`` (on ``PYTHONPATH``): it appends JSON events
to a file — library opened, query started, results shown — stamped with ``time.monotonic()``, which on
Linux is the same clock in every process, so the caller can time "right-click to results shown".
"""

from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from desktop.integration.command import parse_desktop_exec

PROBE_DIR = Path(__file__).resolve().parent / "app_probe"
REPO = Path(__file__).resolve().parents[1]


class ProbeLog:
    """The events one or more probed processes wrote to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def wait_for(
        self, pred: Callable[[dict], bool], timeout: float, proc: subprocess.Popen | None = None
    ) -> dict:
        """The first event matching ``pred``; raises TimeoutError (or RuntimeError when ``proc`` died)."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events():
                if pred(ev):
                    return ev
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode} before the event")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no such event within {timeout} s; got {self.events()}")
            time.sleep(0.005)


def app_env(home: Path, probe: ProbeLog, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the app and for the action's command: offscreen Qt, the library, the probe."""
    env = dict(base if base is not None else os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        LOOKALIKE_HOME=str(home),
        LOOKALIKE_PROBE=str(probe.path),
        PYTHONPATH=os.pathsep.join([str(PROBE_DIR), str(REPO)]),
    )
    return env


def start_app(env: dict[str, str], cwd: Path) -> subprocess.Popen:
    """``lookalike app`` in a new process (as a double-click would start it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "desktop.launcher", "app"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_app(proc: subprocess.Popen, timeout: float = 60) -> None:
    """Quit the app with SIGTERM, which it handles like its Quit (service stopped, library closed);
    kill it if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def index_folder(folder: Path, env: dict[str, str]) -> None:
    """``lookalike index FOLDER`` (the command line; no app may run on the library meanwhile)."""
    subprocess.run(
        [sys.executable, "-m", "desktop.launcher", "index", str(folder), "-q"],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )


def action_command(desktop_file: Path, files: list[str]) -> list[str]:
    """The argv a launcher runs for the .desktop file's "find-similar" action on ``files``."""
    cp = configparser.ConfigParser(interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    cp.read(desktop_file, encoding="utf-8")
    actions = [a for a in cp["Desktop Entry"]["Actions"].split(";") if a]
    return parse_desktop_exec(cp[f"Desktop Action {actions[0]}"]["Exec"], files)
