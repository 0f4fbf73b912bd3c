"""``lookalike integrate open``: forwards to a running app, or starts the app with the files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from desktop import handoff, ipc

REPO = Path(__file__).resolve().parents[2]


class FakeApp:
    """A listener on the library's socket that answers like the app's IpcServer and keeps the requests."""

    def __init__(self, home: Path) -> None:
        self.path = ipc.server_name(home)
        self.requests: list[dict] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                line = conn.makefile("rb").readline()
                self.requests.append(ipc.decode(line.rstrip(b"\n")))
                conn.sendall(b'{"ok": true}\n')

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)


@pytest.fixture
def fake_app(tmp_path: Path):
    app = FakeApp(tmp_path / "library")
    yield app
    app.close()


def test_the_file_manager_command_forwards_all_files_at_once(tmp_path: Path, fake_app: FakeApp) -> None:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    for name in ("a.jpg", "b c.png"):
        (folder / name).write_bytes(b"x")
    env = dict(os.environ, LOOKALIKE_HOME=str(tmp_path / "library"), PYTHONPATH=str(REPO))
    env.pop("QT_QPA_PLATFORM", None)
    env.pop("DISPLAY", None)  # forwarding needs no display: nothing of Qt is loaded
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "desktop.launcher", "integrate", "open", "a.jpg", "b c.png", "gone.jpg"],
        cwd=folder,  # Nautilus passes names relative to the folder it runs the script in
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    assert "not a file, left out" in out.stderr and "gone.jpg" in out.stderr
    assert fake_app.requests == [
        {"v": 1, "cmd": "similar", "files": [str(folder / "a.jpg"), str(folder / "b c.png")]}
    ]
    assert elapsed < 5  # a plain socket: well under a second on a desktop (the bench measures it)


def test_without_files_the_running_app_comes_to_the_front(
    tmp_path: Path, fake_app: FakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert handoff.open_files([], tmp_path / "library") == 0
    assert fake_app.requests == [{"v": 1, "cmd": "activate"}]


def test_without_a_running_app_it_starts_one_with_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import desktop.app

    started: list[list[str]] = []
    monkeypatch.setattr(desktop.app, "run_app", lambda argv: started.append(list(argv)) or 0)
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    uri = "file://" + str(tmp_path / "b%20c.jpg")
    (tmp_path / "b c.jpg").write_bytes(b"x")
    assert handoff.open_files([str(photo), uri, str(tmp_path)], tmp_path / "nobody-home") == 0
    home = ["--home", str(tmp_path / "nobody-home")]
    assert started == [[*home, "--similar", str(photo), str(tmp_path / "b c.jpg")]]  # the folder is left out
    assert handoff.open_files([], tmp_path / "nobody-home") == 0
    assert started[-1] == home  # the menu launcher: just the window


def test_the_request_is_one_json_line(tmp_path: Path) -> None:
    """What the app's server parses (desktop.ipc): absolute paths, protocol version."""
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    msg = ipc.request_from_args(["similar", str(photo)])
    assert json.loads(ipc.encode(msg)) == {"v": 1, "cmd": "similar", "files": [str(photo)]}
