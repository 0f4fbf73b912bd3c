"""Single instance: the running app listens on a local socket; later launches forward their request to it.

The endpoint is per user and per library: its name is derived from the data directory, so two libraries
(two ``LOOKALIKE_HOME``\\ s) never collide, and on Unix it is a socket file in a folder only the user can
enter, created with ``QLocalServer.UserAccessOption`` so only the same user can connect.

Protocol: one UTF-8 JSON object per line, at most :data:`MAX_MESSAGE` bytes.

- request ``{"v": 1, "cmd": "activate"}`` or ``{"v": 1, "cmd": "similar", "files": ["/abs/a.jpg", …]}``
- reply ``{"ok": true}`` or ``{"ok": false, "error": "…"}``

The client side (:func:`forward_to_running_app`) imports neither Qt nor the engine's heavy parts on
Unix: it is a plain ``AF_UNIX`` socket, so ``lookalike similar FILE`` from a file manager costs a few
milliseconds when the app is running.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024
#: The deepest nesting of arrays and objects a request may have (ours have 2). Python's json parser
#: recurses once per level, so 50,000 ``[`` on one line raised RecursionError in the app.
MAX_DEPTH = 8


def _runtime_dir() -> Path:
    """A folder only this user can enter: ``$XDG_RUNTIME_DIR``, else a private folder in the temp dir."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg) and os.access(xdg, os.W_OK):
        return Path(xdg)
    d = Path(tempfile.gettempdir()) / f"lookalike-{os.getuid()}"
    d.mkdir(mode=0o700, exist_ok=True)
    st = d.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        # Someone else made it, or it is open to others: do not put our socket there.
        raise OSError(f"{d} is not private to this user")
    return d


def library_key(home: Path) -> str:
    """A short stable id of a data directory (the socket name must not embed the path itself)."""
    return hashlib.sha256(str(Path(home).expanduser().resolve()).encode("utf-8")).hexdigest()[:16]


def server_name(home: Path) -> str:
    """The local socket of the app that owns ``home``: a socket path on Unix, a pipe name on Windows."""
    key = library_key(home)
    if sys.platform == "win32":
        user = os.environ.get("USERNAME", "user")
        return f"lookalike-{user}-{key}"
    return str(_runtime_dir() / f"lookalike-{key}.sock")


def request_from_args(args: Sequence[str]) -> dict | None:
    """The message for a command line, or None when it is not something the running app handles.

    ``[]`` and ``["app"]`` ask the app to come to the front; ``["similar", FILE…]`` and
    ``["app", "--similar", FILE…]`` ask it for items like the files. Options (``--json``, ``--at`` …)
    and missing files are left to the CLI, which answers them itself.
    """
    args = list(args)
    if args[:1] == ["app"]:
        args = args[1:]
        if not args:
            return {"v": PROTOCOL_VERSION, "cmd": "activate"}
        if args[0] != "--similar":
            return None
        args = ["similar", *args[1:]]
    if not args:
        return {"v": PROTOCOL_VERSION, "cmd": "activate"}
    if args[0] != "similar" or len(args) < 2:
        return None
    files = args[1:]
    if any(f.startswith("-") for f in files) or not all(os.path.isfile(f) for f in files):
        return None
    return {"v": PROTOCOL_VERSION, "cmd": "similar", "files": [str(Path(f).resolve()) for f in files]}


def encode(message: dict) -> bytes:
    data = (json.dumps(message) + "\n").encode("utf-8")
    if len(data) > MAX_MESSAGE:
        raise ValueError("message too long")
    return data


def _check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Raise ValueError when ``text`` nests arrays/objects deeper than ``limit`` (brackets in strings
    do not count). A linear scan before parsing, because the parser itself would recurse."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                raise ValueError(f"request nested too deeply (more than {limit} levels)")
        elif ch in "]}":
            depth -= 1


def loads_bounded(data: bytes) -> Any:
    """``json.loads`` for bytes from the socket, refusing what is too long or too deeply nested.

    Raises ValueError (never RecursionError or UnicodeDecodeError) with a reason for people.
    """
    if len(data) > MAX_MESSAGE:
        raise ValueError(f"message too long (over {MAX_MESSAGE} bytes)")
    text = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    _check_depth(text)
    try:
        return json.loads(text)
    except RecursionError:  # belt and braces: the depth check should make this unreachable
        raise ValueError("request nested too deeply") from None


def decode(line: bytes) -> dict:
    """Parse one request line. Raises ValueError for anything that is not a valid request."""
    msg = loads_bounded(line)
    if not isinstance(msg, dict) or msg.get("v") != PROTOCOL_VERSION:
        raise ValueError("unsupported message")
    if msg.get("cmd") == "activate":
        return msg
    files = msg.get("files")
    if msg.get("cmd") != "similar" or not isinstance(files, list) or not files:
        raise ValueError("unsupported message")
    if not all(isinstance(f, str) and os.path.isabs(f) for f in files):
        raise ValueError("files must be absolute paths")
    return msg


def _send_unix(path: str, data: bytes, timeout: float) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            s.sendall(data)
            reply = b""
            while not reply.endswith(b"\n") and len(reply) < MAX_MESSAGE:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except OSError:  # no app (refused / no such file), or it did not answer in time
            return False
    try:
        return bool(loads_bounded(reply).get("ok"))
    except (ValueError, AttributeError):
        return False


def _send_qt(name: str, data: bytes, timeout: float) -> bool:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtNetwork import QLocalSocket

    _app = QCoreApplication.instance() or QCoreApplication([])  # noqa: F841 - keeps the app alive
    ms = int(timeout * 1000)
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(ms):
        return False
    sock.write(data)
    sock.waitForBytesWritten(ms)
    reply = b""
    while not reply.endswith(b"\n") and sock.waitForReadyRead(ms):
        reply += bytes(sock.readAll().data())
    sock.disconnectFromServer()
    try:
        return bool(loads_bounded(reply).get("ok"))
    except (ValueError, AttributeError):
        return False


def forward_to_running_app(args: Sequence[str], *, home: Path | None = None, timeout: float = 2.0) -> bool:
    """Hand ``args`` (a ``lookalike`` command line) to the app running on this library.

    Returns True when a running app accepted the request (it comes to the front and shows the
    results); False when no app is running, the request is not one the app handles, or it did not
    answer within ``timeout`` seconds. Never raises for a missing app.
    """
    message = request_from_args(args)
    if message is None:
        return False
    if home is None:
        from engine.storage.settings import data_dir  # light: no torch, no pymilvus

        home = data_dir()
    try:
        name = server_name(home)
    except OSError:
        return False
    data = encode(message)
    if sys.platform == "win32":
        return _send_qt(name, data, timeout)
    return _send_unix(name, data, timeout)
