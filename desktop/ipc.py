"""Single instance: the running app listens on a local socket; later launches forward their request to it.

The endpoint is per user and per library: its name is derived from the data directory, so two libraries
(two ``LOOKALIKE_HOME``\\ s) never collide, and on Unix it is a socket file in a folder only the user can
enter, created with ``QLocalServer.UserAccessOption`` so only the same user can connect.

Protocol: one UTF-8 JSON object per line, at most :data:`MAX_MESSAGE` bytes.

- request ``{"v": 1, "cmd": "activate"}`` or ``{"v": 1, "cmd": "similar", "files": ["/abs/a.jpg", …]}``
  (the window shows the results);
- request ``{"v": 1, "cmd": "query", "files": […], "limit": 20, "kinds": ["photo"] | null,
  "folder": "/abs" | null, "at": 83.0 | null}``: ``lookalike similar FILE --json`` (or with any other
  option) while the app owns the library; the app runs the search and answers with the results;
- request ``{"v": 1, "cmd": "search", "text": "…", "limit": 20, "kinds": […] | null, "folder": "/abs" |
  null, "only": ["names", …] | null, "after" / "before" / "place": "…" | null, "sort": "relevance" |
  "date"}``: ``lookalike search …`` while the app owns the library (the CLI could only say "busy"); the
  app runs the search box and answers with the results and what it understood;
- reply ``{"ok": true}``, ``{"ok": true, "results": [Result.to_json(), …]}`` for a query (a search's
  also has ``"understood"``, ``"describe"`` and ``"nothing"``), or ``{"ok": false, "error": "…"}``.

The client side (:func:`forward_to_running_app`) imports neither Qt nor the engine's heavy parts on
Unix: it is a plain ``AF_UNIX`` socket, so ``lookalike similar FILE`` from a file manager costs a few
milliseconds when the app is running.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

PROTOCOL_VERSION = 1
MAX_MESSAGE = 64 * 1024
#: A query's reply carries results (about 300 bytes each); the client reads at most this much.
MAX_REPLY = 16 * 1024 * 1024
KINDS = ("photo", "video", "sound")
#: The most results a query may ask the app for (their reply stays well under MAX_REPLY).
MAX_RESULTS = 10_000
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


class _UsageError(Exception):
    pass


class _QuietParser(argparse.ArgumentParser):
    """Raises instead of printing usage and exiting: a command line we cannot read goes to the CLI,
    which says what is wrong with it."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _query_from_args(args: Sequence[str]) -> dict | None:
    """``similar FILE… [--json] [-n N] [--kind K] [--folder DIR] [--at T]`` as a query message, or None
    when it does not parse (or asks for help): the CLI then answers as it always does."""
    p = _QuietParser(prog="lookalike similar", add_help=False)
    p.add_argument("files", nargs="+")
    p.add_argument("--at")
    p.add_argument("-n", "--limit", type=int, default=20)
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--folder")
    p.add_argument("--json", action="store_true")
    try:
        ns = p.parse_args(list(args))
    except _UsageError:
        return None
    if not 1 <= ns.limit <= MAX_RESULTS or not all(os.path.isfile(f) for f in ns.files):
        return None
    at = None
    if ns.at is not None:
        from engine.cli.main import parse_time  # light: argparse, json and the engine's errors

        try:
            at = parse_time(ns.at)
        except ValueError:
            return None  # the CLI explains the format
    return {
        "v": PROTOCOL_VERSION,
        "cmd": "query",
        "files": [str(Path(f).resolve()) for f in ns.files],
        "limit": ns.limit,
        "kinds": [ns.kind] if ns.kind else None,
        "folder": str(Path(ns.folder).expanduser().resolve()) if ns.folder else None,
        "at": at,
        "json": ns.json,
    }


#: The longest search text a request may carry (a typed query, not a document).
MAX_TEXT = 4096
SORTS = ("relevance", "date")
#: Model ids are short (``uform3-image-text-multilingual-base``); anything longer is not one.
MAX_MODEL_ID = 200


def _search_from_args(args: Sequence[str]) -> dict | None:
    """``search [TEXT] [--after D] [--before D] [--place P] [--sort S] [--only F]… [--explain] [-n N]
    [--kind K] [--folder DIR] [--json]`` (the CLI's options) as a search message, or None when it does
    not parse, asks for help or has nothing to search for: the CLI then answers as it always does."""
    p = _QuietParser(prog="lookalike search", add_help=False)
    p.add_argument("text", nargs="?", default="")
    for opt in ("--after", "--before", "--place", "--folder"):
        p.add_argument(opt)
    p.add_argument("--sort", choices=SORTS, default="relevance")
    p.add_argument("--explain", action="store_true")
    p.add_argument("--only", action="append")
    p.add_argument("-n", "--limit", type=int, default=20)
    p.add_argument("--kind", choices=KINDS)
    p.add_argument("--json", action="store_true")
    try:
        ns = p.parse_args(list(args))
    except _UsageError:
        return None
    if not 1 <= ns.limit <= MAX_RESULTS or len(ns.text) > MAX_TEXT:
        return None
    if not ns.text.strip() and not (ns.after or ns.before or ns.place):
        return None  # the CLI says there is nothing to search for
    return {
        "v": PROTOCOL_VERSION,
        "cmd": "search",
        "text": ns.text,
        "limit": ns.limit,
        "kinds": [ns.kind] if ns.kind else None,
        "folder": str(Path(ns.folder).expanduser().resolve()) if ns.folder else None,
        "only": ns.only,
        "after": ns.after,
        "before": ns.before,
        "place": ns.place,
        "sort": ns.sort,
        "explain": ns.explain,
        "json": ns.json,
    }


def _use_from_args(args: Sequence[str]) -> dict | None:
    """``models use ID [--json]``: the running app switches its library (``Service.use_model``), since it
    holds the library; anything else is left to the CLI."""
    rest = [a for a in args if a != "--json"]
    if len(rest) != 1 or rest[0].startswith("-") or len(rest[0]) > MAX_MODEL_ID:
        return None
    return {"v": PROTOCOL_VERSION, "cmd": "use_model", "model": rest[0], "json": "--json" in args}


def request_from_args(args: Sequence[str]) -> dict | None:
    """The message for a command line, or None when it is not something the running app handles.

    ``[]`` and ``["app"]`` ask the app to come to the front; ``["similar", FILE…]`` and
    ``["app", "--similar", FILE…]`` ask it for items like the files. ``similar`` with options
    (``--json``, ``--limit``, ``--kind``, ``--folder``, ``--at``) is a query the app answers with results
    (the window is left alone); so is ``["search", …]``, which the app answers with the results of
    its search box. ``--help``, unreadable options and missing files are left to the CLI.
    """
    args = list(args)
    if args[:1] == ["search"]:
        return _search_from_args(args[1:])
    if args[:2] == ["models", "use"]:
        return _use_from_args(args[2:])
    from_app = args[:1] == ["app"]
    if from_app:
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
    if any(f.startswith("-") for f in files):
        return _query_from_args(files) if not from_app else None
    if not all(os.path.isfile(f) for f in files):
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


def loads_bounded(data: bytes, limit: int = MAX_MESSAGE) -> Any:
    """``json.loads`` for bytes from the socket, refusing what is longer than ``limit`` bytes or too
    deeply nested.

    Raises ValueError (never RecursionError or UnicodeDecodeError) with a reason for people.
    """
    if len(data) > limit:
        raise ValueError(f"message too long (over {limit} bytes)")
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
    if msg.get("cmd") == "search":
        return _check_search(msg)
    if msg.get("cmd") == "use_model":
        model = msg.get("model")
        if not isinstance(model, str) or not model or len(model) > MAX_MODEL_ID:
            raise ValueError(f"model must be a model id of at most {MAX_MODEL_ID} characters")
        return msg
    files = msg.get("files")
    if msg.get("cmd") not in ("similar", "query") or not isinstance(files, list) or not files:
        raise ValueError("unsupported message")
    if not all(isinstance(f, str) and os.path.isabs(f) for f in files):
        raise ValueError("files must be absolute paths")
    if msg["cmd"] == "query":
        limit, kinds, folder, at = (msg.get(k) for k in ("limit", "kinds", "folder", "at"))
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_RESULTS:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_RESULTS}")
        if kinds is not None and not (isinstance(kinds, list) and all(k in KINDS for k in kinds)):
            raise ValueError(f"kinds must be a list of {', '.join(KINDS)}")
        if folder is not None and not (isinstance(folder, str) and os.path.isabs(folder)):
            raise ValueError("folder must be an absolute path")
        if at is not None and (not isinstance(at, (int, float)) or isinstance(at, bool) or at < 0):
            raise ValueError("at must be a time in seconds")
    return msg


def _check_search(msg: dict) -> dict:
    """A search request's fields, checked (ValueError with the reason)."""
    text, limit, kinds, folder, only = (msg.get(k) for k in ("text", "limit", "kinds", "folder", "only"))
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise ValueError(f"text must be a string of at most {MAX_TEXT} characters")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_RESULTS:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_RESULTS}")
    if kinds is not None and not (isinstance(kinds, list) and all(k in KINDS for k in kinds)):
        raise ValueError(f"kinds must be a list of {', '.join(KINDS)}")
    if folder is not None and not (isinstance(folder, str) and os.path.isabs(folder)):
        raise ValueError("folder must be an absolute path")
    if only is not None and not (isinstance(only, list) and all(isinstance(o, str) for o in only)):
        raise ValueError("only must be a list of finder names")
    for key in ("after", "before", "place"):
        if msg.get(key) is not None and not isinstance(msg[key], str):
            raise ValueError(f"{key} must be a string")
    if msg.get("sort", "relevance") not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    return msg


def _parse_reply(reply: bytes) -> dict | None:
    try:
        msg = loads_bounded(reply, limit=MAX_REPLY)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def _send_unix(path: str, data: bytes, timeout: float, reply_timeout: float) -> dict | None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            s.sendall(data)
        except OSError:  # no app (refused / no such file)
            return None
        s.settimeout(reply_timeout)
        chunks: list[bytes] = []
        size = 0
        try:
            while size < MAX_REPLY:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if chunk.endswith(b"\n"):
                    break
        except OSError:  # it did not answer in time
            return None
    return _parse_reply(b"".join(chunks))


def _send_qt(name: str, data: bytes, timeout: float, reply_timeout: float) -> dict | None:
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtNetwork import QLocalSocket

    _app = QCoreApplication.instance() or QCoreApplication([])  # noqa: F841 - keeps the app alive
    ms = int(timeout * 1000)
    sock = QLocalSocket()
    sock.connectToServer(name)
    if not sock.waitForConnected(ms):
        return None
    sock.write(data)
    sock.waitForBytesWritten(ms)
    reply = b""
    wait_ms = int(reply_timeout * 1000)
    while not reply.endswith(b"\n") and len(reply) < MAX_REPLY and sock.waitForReadyRead(wait_ms):
        reply += bytes(sock.readAll().data())
    sock.disconnectFromServer()
    return _parse_reply(reply)


def send_to_running_app(
    message: dict, *, home: Path | None = None, timeout: float = 2.0, reply_timeout: float | None = None
) -> dict | None:
    """Send one request to the app running on this library and return its reply.

    None when no app listens there, it did not answer within ``reply_timeout`` seconds (default
    ``timeout``; a query waits for the search), or the reply was not readable. Never raises for a
    missing app.
    """
    if home is None:
        from engine.storage.settings import data_dir  # light: no torch, no pymilvus

        home = data_dir()
    try:
        name = server_name(home)
    except OSError:
        return None
    data = encode(message)
    wait = timeout if reply_timeout is None else reply_timeout
    if sys.platform == "win32":
        return _send_qt(name, data, timeout, wait)
    return _send_unix(name, data, timeout, wait)


def forward_to_running_app(args: Sequence[str], *, home: Path | None = None, timeout: float = 2.0) -> bool:
    """Hand ``args`` (a ``lookalike`` command line) to the app running on this library, for its window.

    Returns True when a running app accepted the request (it comes to the front and shows the
    results); False when no app is running, the request is not one the window handles (a query with
    options: see :func:`send_to_running_app`), or it did not answer within ``timeout`` seconds. Never
    raises for a missing app.
    """
    message = request_from_args(args)
    if message is None or message["cmd"] in ("query", "search"):
        return False
    reply = send_to_running_app(message, home=home, timeout=timeout)
    return bool(reply and reply.get("ok"))
