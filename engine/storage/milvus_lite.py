"""Hosting the native Milvus Lite (``milvus-lite`` 2.5.x) for one library, and moving a 3.2.x library into it.

Milvus Lite 2.5.x is Milvus's C++ engine: a ``milvus`` executable shipped in the wheel, started per
database, that keeps everything in one SQLite file and serves pymilvus over gRPC on a Unix socket. It
has wheels for Linux and macOS only; Windows keeps the pure-Python 3.2.x (see engine.storage.store).
Only one of the two can be installed, so :func:`engine_name` says which this installation runs.

We start the executable ourselves rather than through pymilvus' launcher, because the launcher puts
the socket at a guessable name in the shared temporary folder with the umask's permissions (0755 on
a default system: any local user could connect and read or wipe the library). Ours lives in the
database's own folder, which is made 0700, and is chmod 0600 as soon as it appears; when that folder's
path is too long for a socket name, in a fresh 0700 folder of our own under the temporary folder.

Facts this relies on (measured with 2.5.1, recorded in docs/architecture.md):

* The executable takes ``<db file> unix:<socket> <log level> <lock file>`` and exits by itself about a
  second after nobody holds the lock file any more (``lockf``), e.g. when our process is killed: a
  killed app leaves no server behind for long. We hold that lock for as long as the store is open,
  and it is what tells a second process that the library is busy.
* Every write is in the SQLite file when its call returns: a SIGKILL loses nothing acknowledged, and
  collections come back loaded.
* A 3.2.x database is a folder of Parquet files, Arrow write-ahead logs and JSON manifests (see
  :func:`read_lite3_collection`), readable with pyarrow without the 3.2 package.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import LibraryBusyError, StoreError

log = logging.getLogger(__name__)

BUSY_MESSAGE = (
    "This library is open in another Lookalike process (the app or a lookalike command). "
    "Close it and try again."
)

#: The SQLite file of the native engine inside the library's vector folder.
DB_NAME = "milvus.db"
SOCKET_NAME = "milvus.sock"
LOG_NAME = "milvus.log"
PID_NAME = "milvus.pid"
#: Where a 3.2.x database's files go once they have been copied into the native engine and checked.
LITE3_ASIDE = "lite3-before-upgrade"
#: Longest socket path we use (sun_path holds 108 bytes on Linux, 104 on macOS, with the NUL).
_MAX_SOCKET_PATH = 100
START_TIMEOUT_S = 30.0
#: How long an orphaned server (its app was killed) gets to exit before it is killed.
_ORPHAN_WAIT_S = 5.0
_STOP_WAIT_S = 10.0


def engine_name() -> str:
    """Which Milvus Lite is installed: "lite2" (the native 2.x engine) or "lite3" (3.x, pure Python)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("milvus-lite")
    except PackageNotFoundError:
        return "lite3"  # no distribution metadata (a frozen app): the store tries 3.x's internals
    return "lite2" if v.split(".")[0] in ("2",) else "lite3"


def has_lite3_data(folder: Path) -> bool:
    """Whether ``folder`` holds a database written by Milvus Lite 3.2.x (its ``collections/`` tree)."""
    return (folder / "collections").is_dir()


# ── the native server ───────────────────────────────────────────────────────────────────────


#: Folders with a server started by this process: POSIX locks are per process, so a second open in the
#: same process would get the lock too and start a second server on the same file.
_OPEN_HERE: set[str] = set()
_OPEN_HERE_LOCK = threading.Lock()


class NativeLite:
    """One running ``milvus`` executable serving ``folder/milvus.db`` on a private Unix socket."""

    def __init__(
        self, proc: subprocess.Popen[bytes], lock_fd: int, socket: Path, own_dir: Path | None, folder: Path
    ) -> None:
        self._proc, self._lock_fd, self._own_dir = proc, lock_fd, own_dir
        self.socket, self.folder = socket, folder

    @property
    def uri(self) -> str:
        return f"unix:{self.socket}"

    @property
    def pid(self) -> int:
        return self._proc.pid

    @classmethod
    def start(cls, folder: Path) -> NativeLite:
        """Start the server for the database in ``folder`` (created, made 0700) and wait until it answers.

        Raises:
            LibraryBusyError: another process has this database open.
            StoreError: the executable is missing or exits, or its socket does not appear in time.
        """
        binary = _binary()
        if not binary.is_file():
            raise StoreError(f"Milvus Lite's server program is missing ({binary}); reinstall Lookalike.")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)  # the socket and the data are the user's alone
        except OSError as err:
            raise StoreError(f"Could not create the vector database folder {folder}: {err}") from err
        key = str(folder.resolve())
        with _OPEN_HERE_LOCK:
            if key in _OPEN_HERE:
                raise LibraryBusyError(BUSY_MESSAGE)
            lock_fd = _take_lock(folder / f".{DB_NAME}.lock")
            _OPEN_HERE.add(key)
        own_dir: Path | None = None
        try:
            _end_orphan(folder)
            check_db(folder / DB_NAME)
            socket = folder / SOCKET_NAME
            if len(str(socket)) > _MAX_SOCKET_PATH:
                own_dir = Path(tempfile.mkdtemp(prefix="lookalike-"))  # 0700 by mkdtemp
                socket = own_dir / SOCKET_NAME
            with contextlib.suppress(FileNotFoundError):
                socket.unlink()  # left by a killed server: the new one could not bind
            proc = _spawn(binary, folder, socket)
        except BaseException:
            os.close(lock_fd)
            with _OPEN_HERE_LOCK:
                _OPEN_HERE.discard(key)
            if own_dir is not None:
                shutil.rmtree(own_dir, ignore_errors=True)
            raise
        server = cls(proc, lock_fd, socket, own_dir, folder)
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        # The socket file appears at bind(), before the server listens: connect until it answers.
        while not _answers(self.socket):
            if self._proc.poll() is not None:
                raise StoreError(
                    f"Milvus Lite stopped as it started (exit {self._proc.returncode}): {self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StoreError(
                    f"Milvus Lite did not start within {START_TIMEOUT_S:.0f} s: {self._log_tail()}"
                )
            time.sleep(0.01)
        # The folder is 0700 already; this also closes the socket where it is in a folder of its own.
        with contextlib.suppress(OSError):
            os.chmod(self.socket, 0o600)

    def _log_tail(self) -> str:
        try:
            text = (self.folder / LOG_NAME).read_text(errors="replace").strip()
        except OSError:
            return "no log"
        return text[-500:] or "no log"

    def stop(self) -> float:
        """Let go of the lock (the server then exits by itself), wait for it, tidy up. Idempotent.

        Returns how long the server took to exit, in seconds.
        """
        t0 = time.monotonic()
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing releases lockf
            self._lock_fd = -1
            with _OPEN_HERE_LOCK:
                _OPEN_HERE.discard(str(self.folder.resolve()))
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                log.warning("Milvus Lite did not exit within %.0f s; killing it", _STOP_WAIT_S)
                self._proc.kill()
                self._proc.wait(timeout=5)
        with contextlib.suppress(OSError):
            (self.folder / PID_NAME).unlink()
        with contextlib.suppress(OSError):
            self.socket.unlink()
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None
        return time.monotonic() - t0


def check_db(db: Path) -> None:
    """SQLite's ``quick_check`` of the engine's file before the server opens it.

    Measured with 2.5.1: a database file with damaged pages opens without complaint, lists its
    collections and counts 0 rows in them (a silent loss); this check names the damage instead, so the
    library says to run ``lookalike repair``. It reads the whole file (about 0.1 s per 100k vectors).

    Raises:
        StoreError: the file is damaged or is not a database.
    """
    import sqlite3

    if not db.is_file():
        return
    try:
        # Read-write: a hot journal left by a kill is rolled back here, as the server would do.
        con = sqlite3.connect(f"file:{db}?mode=rw", uri=True)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"The vector database file {db} is damaged: {err}") from err
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        raise StoreError(f"The vector database file {db} is damaged: {'; '.join(problems[:3])}")


def _answers(path: Path) -> bool:
    import socket

    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def _binary() -> Path:
    """The ``milvus`` program in the milvus_lite package, found without importing the package (its
    ``__init__`` imports pkg_resources, which prints a deprecation warning on every CLI command).

    Raises:
        StoreError: milvus_lite is not installed.
    """
    import importlib.util

    spec = importlib.util.find_spec("milvus_lite")
    if spec is None or not spec.submodule_search_locations:
        raise StoreError("Milvus Lite is not usable in this installation (milvus-lite is not installed).")
    return Path(next(iter(spec.submodule_search_locations))) / "lib" / "milvus"


def _take_lock(lock: Path) -> int:
    """The database's lock (``lockf``, as the server watches it), or LibraryBusyError."""
    import fcntl

    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise LibraryBusyError(BUSY_MESSAGE) from None
    return fd


def _end_orphan(folder: Path) -> None:
    """Wait for (then kill) a server left by a process that was killed: we hold the lock, so any server
    still running on this folder is an orphan, which exits by itself within about a second."""
    try:
        pid = int((folder / PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return
    if not _is_our_server(pid):
        return
    deadline = time.monotonic() + _ORPHAN_WAIT_S
    while _is_our_server(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _is_our_server(pid):
        log.warning("killing Milvus Lite server %d left running by a killed process", pid)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not _is_our_server(pid):
                break
            time.sleep(0.02)


def _is_our_server(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    if sys.platform.startswith("linux"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            return False
        return Path(os.fsdecode(cmd)).name == "milvus"
    return True  # macOS: a live pid recorded by us; a reused pid is unlikely within seconds


def _spawn(binary: Path, folder: Path, socket: Path) -> subprocess.Popen[bytes]:
    libdir = str(binary.parent)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")}
    extra = os.environ.get("LD_LIBRARY_PATH", "")
    env["LD_LIBRARY_PATH"] = env["DYLD_LIBRARY_PATH"] = f"{libdir}:{extra}" if extra else libdir
    level = os.environ.get("LOOKALIKE_MILVUS_LOG_LEVEL", "ERROR")
    try:
        logf = open(folder / LOG_NAME, "wb")  # noqa: SIM115 - the child keeps it; we close our copy
    except OSError as err:
        raise StoreError(f"Could not write to the vector database folder {folder}: {err}") from err
    try:
        proc = subprocess.Popen(
            [str(binary), str(folder / DB_NAME), f"unix:{socket}", level, str(folder / f".{DB_NAME}.lock")],
            cwd=str(folder),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal stops us, and we stop it after a clean close.
            start_new_session=True,
        )
    except OSError as err:
        raise StoreError(f"Could not start Milvus Lite ({binary}): {err}") from err
    finally:
        logf.close()
    with contextlib.suppress(OSError):
        (folder / PID_NAME).write_text(str(proc.pid))
    return proc


# ── reading a 3.2.x database without the 3.2 package ────────────────────────────────────────


@dataclass
class Lite3Collection:
    """The live rows of one 3.2.x collection."""

    name: str
    dim: int
    fields: list[str]
    ids: np.ndarray  # int64
    file_ids: np.ndarray  # int64
    ts: np.ndarray  # float64
    kinds: np.ndarray  # int64
    vectors: np.ndarray  # float32 (n, dim), as stored (not normalised)


def lite3_collections(folder: Path) -> list[str]:
    """Names of the collections in a 3.2.x database folder."""
    root = folder / "collections"
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []


def read_lite3_collection(folder: Path, name: str) -> Lite3Collection:
    """Every live row of collection ``name`` of the 3.2.x database in ``folder``.

    The format (milvus-lite 3.2.2): ``collections/<name>/schema.json`` (fields, the vector's ``dim``),
    ``manifest.json`` (the flushed ``data_files`` and ``delta_files`` of each partition), Parquet data
    files whose rows carry a sequence number ``_seq``, Parquet delta files of ``(id, _seq)`` deletes,
    and Arrow IPC write-ahead logs ``wal/wal_data_*.arrow`` / ``wal_delta_*.arrow`` for what was not
    flushed yet. A row is live when it is the highest-``_seq`` row of its id and no delete of that id
    has a higher ``_seq`` (an upsert is a new row with a higher ``_seq``). A write-ahead log cut short
    by a kill is read up to its last whole batch, as 3.2 itself recovers it.

    Raises:
        StoreError: the files are missing or unreadable, or the collection was not made by Lookalike.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = folder / "collections" / name
    try:
        schema = json.loads((base / "schema.json").read_text())
        manifest = json.loads((base / "manifest.json").read_text())
    except (OSError, ValueError) as err:
        raise StoreError(f"Could not read the old vector collection '{name}' in {folder}: {err}") from err
    fields = [f["name"] for f in schema.get("fields", [])]
    dims = [int(f.get("dim") or 0) for f in schema.get("fields", []) if f.get("dtype") == "float_vector"]
    if sorted(fields) != sorted(["id", "file_id", "t", "kind", "vector"]) or not dims or dims[0] <= 0:
        raise StoreError(f"The old vector collection '{name}' was not made by Lookalike (fields: {fields}).")
    dim = dims[0]
    data: list[pa.Table] = []
    deltas: list[pa.Table] = []
    cols = ["_seq", "id", "file_id", "t", "kind", "vector"]
    try:
        for part, info in manifest.get("partitions", {}).items():
            pdir = base / "partitions" / part
            data += [pq.read_table(pdir / f, columns=cols) for f in info.get("data_files", [])]
            deltas += [pq.read_table(pdir / f, columns=["id", "_seq"]) for f in info.get("delta_files", [])]
        for f in sorted((base / "wal").glob("wal_data_*.arrow")):
            data += [t.select(cols) for t in _read_arrow_log(f)]
        for f in sorted((base / "wal").glob("wal_delta_*.arrow")):
            deltas += [t.select(["id", "_seq"]) for t in _read_arrow_log(f)]
    except (OSError, pa.ArrowException, KeyError) as err:
        raise StoreError(f"Could not read the old vector collection '{name}' in {folder}: {err}") from err

    if data:
        ids = np.concatenate([t.column("id").to_numpy() for t in data]).astype(np.int64)
        seqs = np.concatenate([t.column("_seq").to_numpy() for t in data]).astype(np.uint64)
        # Highest _seq per id: sort by (id, seq) and keep each id's last row.
        order = np.lexsort((seqs, ids))
        last = np.ones(len(order), dtype=bool)
        last[:-1] = ids[order][1:] != ids[order][:-1]
        pick = order[last]
        if deltas:
            d_ids = np.concatenate([t.column("id").to_numpy() for t in deltas]).astype(np.int64)
            d_seq = np.concatenate([t.column("_seq").to_numpy() for t in deltas]).astype(np.uint64)
            newest_delete: dict[int, int] = {}
            for i, s in zip(d_ids.tolist(), d_seq.tolist(), strict=True):
                if s > newest_delete.get(i, -1):
                    newest_delete[i] = s
            alive = np.array(
                [newest_delete.get(int(i), -1) < int(s) for i, s in zip(ids[pick], seqs[pick], strict=True)],
                dtype=bool,
            )
            pick = pick[alive]
        pick = np.sort(pick)
        table = pa.concat_tables([t.cast(data[0].schema) for t in data])

        def col(c: str) -> np.ndarray:
            return table.column(c).take(pa.array(pick)).to_numpy()

        vec = table.column("vector").take(pa.array(pick)).combine_chunks()
        vectors = np.asarray(vec.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, dim)
        return Lite3Collection(
            name, dim, fields, col("id").astype(np.int64), col("file_id").astype(np.int64),
            col("t").astype(np.float64), col("kind").astype(np.int64), vectors,
        )  # fmt: skip
    empty = np.zeros(0, dtype=np.int64)
    return Lite3Collection(
        name, dim, fields, empty, empty, np.zeros(0), empty, np.zeros((0, dim), dtype=np.float32)
    )


def _read_arrow_log(path: Path) -> Iterator[Any]:
    """The whole record batches of an Arrow IPC stream (a tail cut by a kill is left out)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        reader = ipc.open_stream(pa.memory_map(str(path)))
    except (pa.ArrowException, OSError):  # pyarrow reports a short read as OSError
        return  # empty or cut before the first batch
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, OSError):
            log.warning("old write-ahead log %s ends in a partial batch; its whole batches are kept", path)
            return
        yield pa.Table.from_batches([batch])


def set_lite3_aside(folder: Path) -> Path:
    """Move a 3.2.x database's files (``collections/``, ``LOCK``) into ``folder/lite3-before-upgrade/``
    after they were copied and checked. Returns where they went.

    Raises:
        OSError: the move failed (the copy is complete; the next open checks it again).
    """
    aside = folder / LITE3_ASIDE
    if aside.exists():
        aside = folder / f"{LITE3_ASIDE}-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir(mode=0o700)
    for name in ("collections", "LOCK"):
        if (folder / name).exists():
            os.replace(folder / name, aside / name)  # a rename: all or nothing
    return aside
