"""Hosting the pure-Python Milvus Lite 3.2.x (the engine where the native 2.5 has no wheel: Windows).

What is particular to it (facts measured with 3.2.2; docs/architecture.md):

* **We serve it, not pymilvus.** Milvus Lite 3.2 answers pymilvus over gRPC on a loopback TCP port
  without authentication, so any local user could read or wipe the library. We start its gRPC servicer
  ourselves on 127.0.0.1 with an interceptor that rejects every call lacking a random per-process
  secret, and hand that secret to our client as its token. If milvus_lite's internals move
  (ImportError) we fall back to pymilvus' own launcher, unprotected, with a logged warning.
* **One process per database**: a second process gets :class:`LibraryBusyError` (its LOCK file).
* **Collections start released** in a new process: attaching loads them, and rebuilds truncated index
  sidecars (a kill right after a flush can leave them cut short).
* **Unflushed rows are searched slowly**, so the store flushes once after opening, whenever more than
  :data:`AUTO_FLUSH_ROWS` rows are unflushed, and when the indexer calls ``flush`` after each batch.
* Its per-search cost is a Python loop over every stored row before the index is used (0.3-0.7 us per
  row), which is why the native engine is the default wherever it has wheels.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hmac
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from pymilvus import MilvusClient, MilvusException

from engine.errors import LibraryBusyError, StoreError
from engine.storage.milvus_lite import BUSY_MESSAGE
from engine.storage.store_common import (
    CONNECT_TIMEOUT_S,
    LOAD_TIMEOUT_S,
    CollectionInfo,
    StoreHost,
    reason,
)

log = logging.getLogger(__name__)

S = TypeVar("S", bound=StoreHost)

#: Lite flushes on its own only at 128 MiB; unflushed rows cost ~15 ms per 1,000 on every search.
AUTO_FLUSH_ROWS = 2_000
#: IVF cells per index. Lite indexes each segment (up to 100k rows) on its own and clamps nlist to
#: the segment's row count; 128 keeps cells well filled for segments from a few thousand rows up.
NLIST = 128
#: Cells probed at least. Measured (bench/bench_store.py, 30k clustered 256-d rows in Lite): recall@10
#: 0.72 / 0.86 / 0.95 / 1.0 at nprobe 16 / 32 / 64 / 128, for 15.7 / 15.9 / 17.3 / 28 ms a search;
#: Lite's per-row Python work dominates until the scan is exhaustive.
NPROBE_MIN = 64


def open_lite32(cls: Callable[..., S], path: Path) -> S:
    """Open (or create) the 3.2 database in folder ``path`` behind our token-checked server.

    Raises:
        LibraryBusyError: another process holds the database.
        StoreError: the folder or database cannot be opened, or the first flush failed.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"Could not create the vector database folder {path}: {err}") from err
    server: _LiteServer | None = None
    try:
        server = _LiteServer.start(path)
    except ImportError as err:
        log.warning(
            "milvus_lite internals changed (%s); starting Milvus Lite the plain way. Its port "
            "on 127.0.0.1 is then open to every local user.",
            err,
        )
        endpoint = _start_lite_plain(path)
        secret = ""
    else:
        endpoint, secret = f"http://127.0.0.1:{server.port}", server.secret
    try:
        # No HTTP proxy: the connection is loopback, and the secret must not travel anywhere else.
        client = MilvusClient(
            uri=endpoint,
            token=secret,
            timeout=CONNECT_TIMEOUT_S,
            grpc_options={"grpc.enable_http_proxy": 0},
        )
        store = cls(client, is_lite=True, endpoint=endpoint, lite_server=server, lite_path=path)
    except Exception as err:  # MilvusException, grpc.RpcError, ...: never leave the server running
        stop_lite(server, path)
        raise StoreError(f"Could not connect to Milvus Lite in {path}: {reason(err)}") from err
    atexit.register(store.close)  # flush and let go of the LOCK even if the caller forgets
    # Rows recovered from the write-ahead log are unflushed: flush once after opening.
    try:
        with store._write_lock:
            for name in store._call("list collections", "", client.list_collections):
                store._call("flush", name, client.flush, name, timeout=LOAD_TIMEOUT_S)
    except StoreError:
        with contextlib.suppress(StoreError):
            store.close()
        raise
    return store


def attach_lite32(store: StoreHost, name: str, dim: int) -> CollectionInfo:
    """Give an existing collection its IVF_FLAT index if missing, load it (rebuilding truncated index
    sidecars), and describe it."""
    c = store._client
    if "vector" not in store._call("list indexes", name, c.list_indexes, name):
        params = c.prepare_index_params()
        params.add_index(
            field_name="vector", index_type="IVF_FLAT", metric_type="COSINE", params={"nlist": NLIST}
        )
        # sync=False: waiting polls AllocTimestamp, which Lite does not implement; load waits anyway.
        store._call("index", name, c.create_index, name, params, sync=False)
    index = store._call("describe index", name, c.describe_index, name, "vector")
    if str(index.get("index_type", "")).upper() != "IVF_FLAT":
        log.warning("collection %s has a %s index, not IVF_FLAT", name, index.get("index_type"))
    load(store, name)
    return CollectionInfo(dim=dim, nlist=int(index.get("nlist", NLIST)))


def load(store: StoreHost, name: str) -> None:
    """Load a collection; when that fails and index sidecars exist, delete them and load again."""
    try:
        store._client.load_collection(name, timeout=LOAD_TIMEOUT_S)
        return
    except (MilvusException, grpc.RpcError) as err:
        sidecars = index_sidecars(store._lite_path, name)
        if not sidecars:
            raise StoreError(f"Could not load vector collection '{name}': {reason(err)}") from err
        log.warning(
            "loading %s failed (%s); deleting %d index sidecar(s) to rebuild them",
            name,
            reason(err),
            len(sidecars),
        )
    # Sidecars are derived from the stored vectors; a truncated one (kill right after a flush)
    # makes every load fail until it is gone.
    for f in sidecars:
        with contextlib.suppress(FileNotFoundError):
            f.unlink()
    store._call("load", name, store._client.load_collection, name, timeout=LOAD_TIMEOUT_S)


def index_sidecars(lite_path: Path | None, name: str) -> list[Path]:
    if lite_path is None:
        return []
    root = lite_path / "collections" / name / "partitions"
    return sorted(root.glob("*/indexes/*.idx")) + sorted(root.glob("*/indexes/*.sidx"))


def search_params(info: CollectionInfo, fetch: int, *, filtered: bool) -> dict[str, Any]:
    """IVF returns only rows in the probed cells. Probe at least ``fetch`` cells so a small segment (nlist
    clamped to its row count, ~1 row per cell) still yields ``fetch`` rows; probe all of them under a
    filter, which may leave the nearest cells with no matching row."""
    return {"nprobe": info.nlist if filtered else min(info.nlist, max(NPROBE_MIN, fetch))}


# ── Milvus Lite served by us, behind a per-process secret ───────────────────────────────────


class _TokenInterceptor(grpc.ServerInterceptor):
    """Rejects every RPC whose ``authorization`` metadata is not our secret.

    pymilvus sends ``authorization: base64(token)`` on every call (client/grpc_handler.py,
    ``_setup_authorization_interceptor``).
    """

    def __init__(self, secret: str) -> None:
        self._expected = base64.b64encode(secret.encode())

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        for key, value in details.invocation_metadata or ():
            if key == "authorization":
                got = value.encode() if isinstance(value, str) else bytes(value)
                if hmac.compare_digest(got, self._expected):
                    return continuation(details)
        return _deny(continuation(details))


def _deny(handler: Any) -> Any:
    def abort(_request: Any, context: Any) -> None:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")

    if handler is not None and handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if handler is not None and handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler is not None and handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class _LiteServer:
    """Milvus Lite's gRPC servicer on 127.0.0.1 behind :class:`_TokenInterceptor`, in this process."""

    def __init__(self, server: Any, db: Any, port: int, secret: str) -> None:
        self._server, self._db, self.port, self.secret = server, db, port, secret

    @classmethod
    def start(cls, path: Path) -> _LiteServer:
        """Open the database in ``path`` and serve it.

        Raises:
            ImportError: milvus_lite's internals moved (the caller falls back).
            LibraryBusyError: another process holds the database's LOCK.
            StoreError: the database could not be opened or the port bound.
        """
        from concurrent import futures

        from milvus_lite.adapter.grpc.servicer import MilvusServicer
        from milvus_lite.db import MilvusLite
        from milvus_lite.exceptions import DataDirLockedError
        from pymilvus.grpc_gen import milvus_pb2_grpc

        from engine.core.logs import quiet_faiss_training

        quiet_faiss_training()  # faiss prints "WARNING clustering ..." for every small segment

        try:
            db = MilvusLite(str(path))
        except DataDirLockedError as err:
            raise LibraryBusyError(BUSY_MESSAGE) from err
        except Exception as err:  # milvus_lite raises many kinds (OSError, corrupt manifest, ...)
            raise StoreError(f"Could not open the vector database in {path}: {err}") from err
        secret = secrets.token_urlsafe(32)
        try:
            server = grpc.server(
                futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="milvus-lite"),
                interceptors=[_TokenInterceptor(secret)],
                options=[
                    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
                    ("grpc.max_send_message_length", 256 * 1024 * 1024),
                    ("grpc.so_reuseport", 0),  # nobody else may bind our port beside us
                ],
            )
            milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
            port = server.add_insecure_port("127.0.0.1:0")
            server.start()
        except Exception as err:
            db.close()
            raise StoreError(f"Could not start the vector database server: {err}") from err
        return cls(server, db, port, secret)

    def stop(self) -> None:
        """Stop serving, then close the database (flushes nothing; frees the LOCK). Idempotent."""
        self._server.stop(grace=2).wait()
        self._db.close()


def stop_lite(server: _LiteServer | None, path: Path | None) -> None:
    """Stop our Lite server, or the one pymilvus' launcher started for ``path`` (fallback)."""
    if server is not None:
        server.stop()
    elif path is not None:
        with contextlib.suppress(ImportError):
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(str(path))


def _start_lite_plain(path: Path) -> str:
    """Fallback: pymilvus' own Lite launcher (no token). Returns the endpoint.

    Raises:
        LibraryBusyError: another process holds the database's LOCK.
        StoreError: Milvus Lite could not be started at all.
    """
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError as err:
        raise StoreError(f"Milvus Lite is not usable in this installation: {err}") from err
    uri = server_manager_instance.start_and_get_uri(str(path))
    if uri is None:
        if _lock_held(path / "LOCK"):
            raise LibraryBusyError(BUSY_MESSAGE)
        raise StoreError(f"Could not open the vector database in {path} (see the log for details).")
    return str(uri)


def _lock_held(lock: Path) -> bool:
    """Whether another process holds Milvus Lite's LOCK (flock on POSIX, msvcrt on Windows)."""
    try:
        fd = os.open(lock, os.O_RDWR)
    except OSError:
        return False
    try:
        if sys.platform == "win32":
            import msvcrt

            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            except OSError:
                return True
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            return False
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
