"""A standalone Milvus server for the ``milvus_server`` tests, reachable only from this machine.

The server is the one in the PyPI package ``milvus==2.3.5``. Measured: it binds its gRPC ports
(19530 and eight internal ones) and its metrics port on every interface whatever ``*.ip`` says, so
started plainly it would serve an unauthenticated database to the network. We start it inside a
private network namespace (``unshare --net --map-root-user``: nothing outside can reach it) and
relay one path to it: a TCP listener on 127.0.0.1 here -> a Unix socket in the base dir -> a
relay inside the namespace -> the server's 127.0.0.1:19530 there. Tests connect to
``http://127.0.0.1:<port>`` like to any server.

Run as a script (``milvus_server.py serve BASE_DIR SOCKET``) it is the inside half. It stops the
server when its stdin closes, so the server dies with the test session even if pytest is killed.
``LOOKALIKE_TEST_MILVUS_URI`` points the tests at an already running server instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

START_TIMEOUT_S = 120.0
_PORT = 19530


class ServerUnavailable(Exception):
    """The server cannot run here; ``str()`` says why (used as the skip reason)."""


# ── byte relays ─────────────────────────────────────────────────────────────────────────────


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _relay_forever(listener: socket.socket, connect: tuple[int, object]) -> None:
    """Accept on ``listener``; pipe each connection to a new socket of ``connect`` = (family, address)."""
    family, address = connect
    while True:
        try:
            client, _ = listener.accept()
        except OSError:  # listener closed: stop
            return
        upstream = socket.socket(family, socket.SOCK_STREAM)
        try:
            upstream.connect(address)
        except OSError:
            client.close()
            upstream.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


# ── inside the namespace ────────────────────────────────────────────────────────────────────


def _loopback_up() -> None:
    """``ip link set lo up`` without needing iproute2 (a new namespace starts with lo down)."""
    import fcntl  # Linux only, like the rest of the inside half

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, siocgifflags, ifreq))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def serve(base_dir: str, sock_path: str) -> None:
    """Inside the namespace: start Milvus, relay ``sock_path`` to it, stop when stdin closes."""
    _loopback_up()
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(var, None)  # the health check uses urllib
    from milvus import default_server

    default_server.set_base_dir(base_dir)
    for role in ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode"):
        default_server.config.set(f"{role}.ip", "127.0.0.1")  # advertise loopback, not a NIC
    default_server.listen_port = _PORT
    default_server.start()
    try:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(sock_path)
        os.chmod(sock_path, 0o600)
        listener.listen()
        threading.Thread(
            target=_relay_forever, args=(listener, (socket.AF_INET, ("127.0.0.1", _PORT))), daemon=True
        ).start()
        print("READY", flush=True)
        sys.stdin.read()  # until the test session closes our stdin (or dies)
    finally:
        default_server.stop()


# ── outside: the pytest side ────────────────────────────────────────────────────────────────


class ContainedServer:
    """A running server plus our relay; :attr:`uri` is what the store connects to."""

    def __init__(self, proc: subprocess.Popen[str], listener: socket.socket, log: Path) -> None:
        self._proc, self._listener, self.log = proc, listener, log
        self.uri = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def stop(self) -> None:
        """Stop the relay and the server (SIGKILL to its process group if it does not exit)."""
        self._listener.close()
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)  # our own session: the helper and milvus
            self._proc.wait(timeout=10)


def start(base_dir: Path) -> ContainedServer:
    """Start the contained server with its data in ``base_dir``.

    Raises:
        ServerUnavailable: no ``milvus`` package, no ``unshare``, no network namespaces here, or
            the server did not come up (the reason includes the end of its log).
    """
    try:
        import milvus  # noqa: F401
    except ImportError:
        raise ServerUnavailable("the milvus package (pip install milvus==2.3.5) is not installed") from None
    unshare = shutil.which("unshare")
    if sys.platform != "linux" or unshare is None:
        raise ServerUnavailable(
            "Milvus 2.3.5 binds every network interface; it is only run here inside a private "
            "network namespace, which needs Linux and unshare"
        )
    probe = subprocess.run([unshare, "--net", "--map-root-user", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise ServerUnavailable(
            "Milvus 2.3.5 binds every network interface and this machine does not allow a private "
            f"network namespace to confine it: {probe.stderr.strip()}"
        )
    sock_path = base_dir / "relay.sock"
    log = base_dir / "helper.log"
    with open(log, "w") as log_f:
        proc = subprocess.Popen(
            [unshare, "--net", "--map-root-user", sys.executable, __file__, "serve", str(base_dir / "milvus"),
             str(sock_path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_f, text=True, start_new_session=True,
        )  # fmt: skip
    ready = threading.Event()

    def wait_ready() -> None:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() == "READY":
            ready.set()

    threading.Thread(target=wait_ready, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready.wait(0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            tail = log.read_text(errors="replace")[-1500:]
            raise ServerUnavailable(f"the Milvus server did not start: {tail or 'no output'}")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", _PORT))
    except OSError:  # someone else's 19530: any free loopback port will do
        listener.bind(("127.0.0.1", 0))
    listener.listen()
    threading.Thread(
        target=_relay_forever, args=(listener, (socket.AF_UNIX, str(sock_path))), daemon=True
    ).start()
    return ContainedServer(proc, listener, log)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(sys.argv[2], sys.argv[3])
