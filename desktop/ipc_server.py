"""The running app's end of the single-instance socket (see :mod:`desktop.ipc` for the protocol)."""

from __future__ import annotations

import json
from pathlib import Path

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
    """

    activateRequested = Signal()
    similarRequested = Signal(list)

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = ipc.server_name(home)
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_new_connection)
        self._buffers: dict[QLocalSocket, bytes] = {}

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

    def _reply(self, sock: QLocalSocket, ok: bool, error: str = "") -> None:
        reply = {"ok": ok} if ok else {"ok": False, "error": error}
        sock.write((json.dumps(reply) + "\n").encode("utf-8"))
        sock.flush()
        sock.disconnectFromServer()

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
        self._reply(sock, True)
        if msg["cmd"] == "similar":
            emit(self.similarRequested, list(msg["files"]))
        else:
            emit(self.activateRequested)
