"""Smoke test of a built bundle: the frozen ``lookalike`` runs the CLI, the engine, the app and the
file-manager hand-off on tiny models, in a temporary data folder and a temporary home.

    python packaging/smoke_test.py dist/lookalike/lookalike

Run it with the Python that built the bundle (it makes the tiny models and test photos with the
repository's code; the bundle itself gets no help from this interpreter). Prints each check with its
time, and the bundle's size; exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


class SmokeError(Exception):
    pass


def run(
    exe: Path, *args: str, env: dict[str, str], timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    t0 = time.perf_counter()
    out = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout)
    dt = time.perf_counter() - t0
    print(f"  {dt:6.2f} s  lookalike {' '.join(args)[:90]}  -> {out.returncode}")
    if check and out.returncode != 0:
        raise SmokeError(f"lookalike {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def library_locked(home: Path) -> bool:
    """True while a process holds the library's lock file (flock), read from /proc/locks.

    Asking the CLI instead would open the library for a moment and could take it from the app just
    as it starts, which is the race this avoids.
    """
    try:
        inode = (home / "library.lock").stat().st_ino
        locks = Path("/proc/locks").read_text()
    except OSError:
        return False
    return any(line.split()[5].endswith(f":{inode}") for line in locks.splitlines() if len(line.split()) > 5)


def wait_until_open(home: Path, app: subprocess.Popen, timeout: float = 120) -> float:
    """Wait until the app holds the library; returns the seconds it took."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if app.poll() is not None:
            raise SmokeError(
                f"the app exited with {app.returncode}:\n{app.stderr.read() if app.stderr else ''}"
            )
        if library_locked(home):
            return time.perf_counter() - t0
        time.sleep(0.05)
    raise SmokeError(f"the app did not open its library in {timeout} s")


def stop(app: subprocess.Popen) -> str:
    if app.poll() is None:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
    return app.stderr.read() if app.stderr else ""


def smoke(exe: Path, tmp: Path) -> dict:
    from engine.models.tiny import main as write_tiny
    from tests.media import make_library, recompressed_copy

    user = tmp / "user"
    user.mkdir()
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):  # the bundle must stand on its own
        env.pop(k, None)
    env.update(
        LOOKALIKE_HOME=str(tmp / "library"),
        HOME=str(user),
        XDG_DATA_HOME=str(user / ".local/share"),
        XDG_CONFIG_HOME=str(user / ".config"),
        XDG_CONFIG_DIRS=str(tmp / "etc-xdg"),
        QT_QPA_PLATFORM="offscreen",
        PATH="/usr/bin:/bin",  # no venv on PATH
        HF_HUB_OFFLINE="1",
    )
    facts: dict = {}

    print("CLI and engine:")
    out = run(exe, "--version", env=env)
    if not out.stdout.startswith("lookalike "):
        raise SmokeError(f"--version printed {out.stdout!r}")
    facts["version"] = out.stdout.strip()
    write_tiny([str(tmp / "models")])
    run(exe, "models", "install", "--from", str(tmp / "models"), env=env)
    photos = make_library(tmp / "Pictures", 8)
    run(exe, "index", str(tmp / "Pictures"), "-q", env=env)
    results = json.loads(run(exe, "search", "a red car", "--json", env=env).stdout)
    if not results:
        raise SmokeError("text search found nothing")
    copy = recompressed_copy(photos[5], tmp / "Downloads" / "copy.jpg")
    similar = json.loads(run(exe, "similar", str(copy), "--json", env=env).stdout)
    if not similar or similar[0]["path"] != str(photos[5]):
        raise SmokeError(f"similar: expected {photos[5]} first, got {similar[:3]}")
    sounds = run(exe, "status", "--json", env=env)
    facts["status_ok"] = sounds.returncode == 0

    print("integration:")
    run(exe, "integrate", "install", env=env)
    desktop = user / ".local/share/applications/io.github.lookalike.Lookalike.desktop"
    if f"Exec={exe} integrate open %F" not in desktop.read_text():
        raise SmokeError(f"the installed launcher does not run the bundle:\n{desktop.read_text()}")
    run(exe, "integrate", "uninstall", env=env)

    print("app, offscreen:")
    app = subprocess.Popen(
        [str(exe), "app"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        facts["app_open_s"] = wait_until_open(tmp / "library", app)
        print(f"  {facts['app_open_s']:6.2f} s  the app holds the library")
        t0 = time.perf_counter()
        run(exe, "integrate", "open", str(copy), str(photos[1]), env=env, timeout=30)
        if not library_locked(tmp / "library"):
            raise SmokeError("the app let go of the library")
        facts["handoff_s"] = time.perf_counter() - t0
        time.sleep(3)  # let it run the search
        if app.poll() is not None:
            raise SmokeError("the app exited after the forwarded request")
    finally:
        err = stop(app)
    if "Traceback" in err:
        raise SmokeError(f"the app printed a traceback:\n{err}")

    print("right-click with no app running (the command starts it):")
    t0 = time.perf_counter()
    started = subprocess.Popen(
        [str(exe), "integrate", "open", str(copy)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_open(tmp / "library", started)
        facts["cold_start_to_library_open_s"] = time.perf_counter() - t0
        print(f"  {facts['cold_start_to_library_open_s']:6.2f} s  it became the app and opened the library")
    finally:
        err = stop(started)
    if "Traceback" in err:
        raise SmokeError(f"the app printed a traceback:\n{err}")
    return facts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("exe", type=Path, help="the bundle's lookalike executable")
    args = ap.parse_args()
    exe = args.exe.resolve()
    if not exe.is_file():
        print(f"smoke_test: {exe} does not exist; build first", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="lookalike-smoke-"))
    try:
        facts = smoke(exe, tmp)
    except (SmokeError, subprocess.TimeoutExpired) as exc:
        print(f"SMOKE TEST FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    size = sum(p.stat().st_size for p in exe.parent.rglob("*") if p.is_file() and not p.is_symlink())
    facts["bundle_mb"] = round(size / 1e6)
    print(f"smoke test passed; bundle {exe.parent}: {facts['bundle_mb']} MB")
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
