"""The running app's end of the single-instance socket (see :mod:`desktop.ipc` for the protocol)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop import ipc
from desktop.qt_compat import emit


class IpcServer(QObject):
    """Listens for requests from later launches and turns them into signals.

    Only the same user can connect (``UserAccessOption``, and on Unix a private folder). A stale
    socket left by a crashed app is removed; a live one means another app owns the library, and
    :meth:`listen` returns False.

    Signals:
        activateRequested(): a second launch asked the app to come to the front.
        similarRequested(list): a launch asked for items like these files (absolute paths).
        queryRequested(object): ``lookalike similar FILE --json`` (or with other options) or
            ``lookalike search …`` wants results back: an :class:`IpcQuery`, whose ``answer`` or
            ``fail`` replies (see :func:`serve_queries`).
    """

    activateRequested = Signal()
    similarRequested = Signal(list)
    queryRequested = Signal(object)

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = ipc.server_name(home)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)
        self._buffers: dict[QLocalSocket, bytes] = {}
        #: Set by :func:`serve_queries`; without it a query is refused (and the CLI answers it).
        self.answers_queries = False

    def listen(self) -> bool:
        """Start listening. Returns False when another live app already listens on this library."""
        # Probe first: with socket options, Qt binds in a private folder and renames the socket into
        # place, which would silently take the name from a live app instead of failing.
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(500):
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self.name)  # a stale socket file: its app is gone
        return self._server.listen(self.name)

    def close(self) -> None:
        self._server.close()

    @property
    def is_listening(self) -> bool:
        return self._server.isListening()

    def _on_new_connection(self) -> None:
        while self._server.hasPendingConnections():
            sock = self._server.nextPendingConnection()
            self._buffers[sock] = b""
            sock.readyRead.connect(lambda s=sock: self._on_ready_read(s))
            sock.disconnected.connect(lambda s=sock: self._forget(s))

    def _forget(self, sock: QLocalSocket) -> None:
        self._buffers.pop(sock, None)
        sock.deleteLater()

    def _reply(self, sock: QLocalSocket, ok: bool, error: str = "", **extra: Any) -> None:
        reply = {"ok": ok, **extra} if ok else {"ok": False, "error": error}
        try:
            sock.write((json.dumps(reply) + "\n").encode("utf-8"))
            sock.flush()
            sock.disconnectFromServer()
        except RuntimeError:  # the client hung up and Qt deleted its socket meanwhile: nobody to tell
            pass

    def _on_ready_read(self, sock: QLocalSocket) -> None:
        if sock not in self._buffers:
            return
        data = self._buffers[sock] + bytes(sock.readAll().data())
        self._buffers[sock] = data
        if len(data) > ipc.MAX_MESSAGE:
            self._buffers.pop(sock, None)
            self._reply(sock, False, "message too long")
            return
        if b"\n" not in data:
            return
        line = data.split(b"\n", 1)[0]
        self._buffers.pop(sock, None)
        try:
            msg = ipc.decode(line)
        except ValueError as exc:
            self._reply(sock, False, str(exc))
            return
        if msg["cmd"] in ("query", "search", "use_model"):
            if not self.answers_queries:
                self._reply(sock, False, "this window does not answer queries")
                return
            emit(self.queryRequested, IpcQuery(self, sock, msg))
            return  # the connection stays open until the query is answered
        self._reply(sock, True)
        if msg["cmd"] == "similar":
            emit(self.similarRequested, list(msg["files"]))
        else:
            emit(self.activateRequested)


class IpcQuery:
    """A query from another process, waiting for its answer on the open connection."""

    def __init__(self, server: IpcServer, sock: QLocalSocket, request: dict) -> None:
        self.request = request
        self._server = server
        self._sock: QLocalSocket | None = sock

    @property
    def files(self) -> list[str]:
        return list(self.request["files"])

    @property
    def is_use_model(self) -> bool:
        """A ``lookalike models use ID``: the app switches its library to that model."""
        return bool(self.request["cmd"] == "use_model")

    def answer_use(self, result: Any) -> None:
        """Reply with what ``Service.use_model`` did (engine.indexing.switches.UseResult)."""
        if self._sock is not None:
            switch = getattr(result, "switch", None)
            self._server._reply(
                self._sock,
                True,
                message=str(getattr(result, "message", "")),
                completed=bool(getattr(result, "completed", False)),
                switch=switch.to_json() if switch is not None else None,
            )
            self._sock = None

    @property
    def is_search(self) -> bool:
        """A ``lookalike search`` (words and filters) rather than a find-similar."""
        return bool(self.request["cmd"] == "search")

    def search_box_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`desktop.library_queries.search_for_command_line`."""
        keys = ("limit", "kinds", "folder", "only", "after", "before", "place", "sort")
        return {"text": self.request["text"], **{k: self.request.get(k) for k in keys}}

    def search_options(self) -> dict[str, Any]:
        """Keyword arguments for ``Service.search_similar``, as ``lookalike similar`` passes them (the
        folder and the moment apply to one example file only)."""
        kw: dict[str, Any] = {"limit": self.request["limit"], "kinds": self.request.get("kinds")}
        if len(self.request["files"]) == 1:
            kw["folder"] = self.request.get("folder")
            kw["at"] = self.request.get("at")
        return kw

    def answer(self, results: list[Any]) -> None:
        """Reply with these results (``Result`` objects or their JSON)."""
        if self._sock is not None:
            payload = [r if isinstance(r, dict) else r.to_json() for r in results]
            self._server._reply(self._sock, True, results=payload)
            self._sock = None

    def answer_search(self, found: dict[str, Any]) -> None:
        """Reply with what :func:`desktop.library_queries.search_for_command_line` found."""
        if self._sock is not None:
            self._server._reply(self._sock, True, **found)
            self._sock = None

    def fail(self, error: str) -> None:
        if self._sock is not None:
            self._server._reply(self._sock, False, error or "the search failed")
            self._sock = None


def serve_queries(server: IpcServer, bridge: Any) -> None:
    """Answer ``server``'s queries with ``bridge`` (an :class:`desktop.bridge.EngineBridge`): once the
    library is open, the search runs on the engine thread and its results go back over the socket; a
    library that does not open fails the query with its reason."""

    def run(query: IpcQuery) -> None:
        from desktop.library_queries import search_for_command_line

        try:
            if query.is_use_model:
                task = bridge.submit(bridge.require().use_model(query.request["model"]))
                task.finished.connect(query.answer_use)
                task.errored.connect(lambda exc: query.fail(str(exc) or exc.__class__.__name__))
                return
            if query.is_search:
                task = bridge.call(search_for_command_line, **query.search_box_options())
            else:
                task = bridge.search_similar(query.files, **query.search_options())
        except RuntimeError as exc:  # the library closed meanwhile
            query.fail(str(exc))
            return
        task.finished.connect(query.answer_search if query.is_search else query.answer)
        task.errored.connect(lambda exc: query.fail(str(exc) or exc.__class__.__name__))

    waiting: list[IpcQuery] = []

    def on_opened(_session: Any) -> None:
        while waiting:
            run(waiting.pop(0))

    def on_open_failed(reason: str) -> None:
        while waiting:
            waiting.pop(0).fail(f"the library did not open: {reason}")

    def on_query(query: IpcQuery) -> None:
        if bridge.is_open:
            run(query)
        elif bridge.open_error is not None:
            query.fail(f"the library did not open: {bridge.open_error}")
        else:
            waiting.append(query)  # the window is up, the engine still loading

    bridge.opened.connect(on_opened)
    bridge.openFailed.connect(on_open_failed)
    server.queryRequested.connect(on_query)
    server.answers_queries = True
