"""Vector store: one Milvus collection per embedding space, over ``pymilvus.MilvusClient``.

Each vector row is ``(id, file_id, t, kind, vector)``: ``id`` is :func:`vector_id` of the catalog row
and a sequence number, so re-indexing a file upserts the same keys (idempotent, see docs/architecture.md,
"Crash safety"); ``t`` is the time in the file; ``kind`` says photo / video frame / sound.

The same class talks to Milvus Lite (the default: a directory inside the library) or to a Milvus
server by URI. Nothing in the interface is Lite-only; the differences live here:

* **Lite is served by us, not by pymilvus.** Milvus Lite answers pymilvus over gRPC on a loopback
  TCP port without authentication, so any local user could read or wipe the library. We start its
  gRPC servicer ourselves on 127.0.0.1 with an interceptor that rejects every call lacking a random
  per-process secret, and hand that secret to our client as its token. If milvus_lite's internals
  move (ImportError) we fall back to pymilvus' own launcher, unprotected, with a logged warning.
* **One process per Lite database.** A second process gets :class:`LibraryBusyError`.
* **Lite collections start released** in a new process: :meth:`VectorStore.ensure_collection` loads
  them, and rebuilds truncated index sidecars (a kill right after a flush can leave them cut short).
* **Lite searches unflushed rows slowly**, so the store flushes once after opening, whenever more
  than :data:`AUTO_FLUSH_ROWS` rows are unflushed, and when the indexer calls :meth:`flush` after
  each batch window. A server persists writes itself and rate-limits flushes, so there ``flush`` is
  left to the server.
* **Servers before 2.4 ignore ``group_by``** (measured on 2.3.5: duplicates come back). The store
  then groups in Python by over-fetching; the answer is the same.
* **Server reads are Session-consistent**: this client's writes are visible to its next read
  without Strong's wait on every search; the one read after a delete is Strong (2.3.5 gives an
  expression delete no timestamp for Session to wait on).

Threading: one engine thread is expected to own the store and do every write (upsert, delete,
flush, ensure_collection, close). Writes are still serialised by a lock here, because a Lite flush
running beside a writer loses rows. Searches may run from other threads.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hmac
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient, MilvusException

from engine.errors import LibraryBusyError, StoreError
from engine.storage.milvus_lite import BUSY_MESSAGE, NativeLite, engine_name

__all__ = ["BUSY_MESSAGE", "Hit", "VectorStore", "vector_id"]

log = logging.getLogger(__name__)


#: Lite flushes on its own only at 128 MiB; unflushed rows cost ~15 ms per 1,000 on every search.
AUTO_FLUSH_ROWS = 2_000
#: IVF cells per index. Lite indexes each segment (up to 100k rows) on its own and clamps nlist to
#: the segment's row count; 128 keeps cells well filled for segments from a few thousand rows up.
NLIST = 128
#: Cells probed at least. Measured (bench/bench_store.py, 30k clustered 256-d rows in Lite): recall@10
#: 0.72 / 0.86 / 0.95 / 1.0 at nprobe 16 / 32 / 64 / 128, for 15.7 / 15.9 / 17.3 / 28 ms a search;
#: Lite's per-row Python work dominates until the scan is exhaustive.
NPROBE_MIN = 64
#: Native Lite (2.5.x): exact FLAT search up to this many rows in a collection, IVF_FLAT beyond. Measured
#: (bench/bench_lite_index.py, real-shaped 256-d vectors, 2 shared cores): FLAT is exact and costs what
#: numpy brute force costs (about 0.06 ns per row and dimension: 6 ms at 100k, 27 ms at 500k on a quiet
#: machine), while 2.5.1's IVF_FLAT gave recall@10 0.92 (100k), 0.98 (200k), 0.96 (500k) whatever the
#: nprobe (16 to 1024 of 1024-2048 cells): below the 0.99 the search needs. So FLAT up to where its
#: latency (about 110 ms at 2M) outweighs IVF's lost recall; past that a Milvus server is the answer.
NATIVE_FLAT_MAX_ROWS = 2_000_000
#: Native Lite's IVF: cells probed at least (its nlist is about 4 sqrt(rows), a power of two).
NATIVE_NPROBE = 64
#: Milvus' largest accepted top-k.
MAX_TOPK = 16_384

_SEQ_BITS = 16
_MAX_FILE_ID = (1 << (63 - _SEQ_BITS)) - 1
_FIELDS = ("id", "file_id", "t", "kind", "vector")
_HIT_FIELDS = ["file_id", "t"]
_WRITE_CHUNK = 1_000  # rows per upsert / ids per delete expression: bounded gRPC messages
_RPC_TIMEOUT_S = 120.0
CONNECT_TIMEOUT_S = 15.0  # how long open() waits for a server (or our Lite server) to answer
_LOAD_TIMEOUT_S = 900.0  # a load may rebuild every segment's index
_GROUP_OVERFETCH = 8  # first fetch per wanted group when grouping in Python
_NATIVE_GROUP_TRY = 2  # native Lite: vectors fetched per wanted file before its (slow) group_by
_ID_PAGE = 10_000  # rows per page when listing a collection's file ids


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: int  # vector primary key
    file_id: int  # catalog row id
    t: float  # seconds into the file; 0.0 for photos and whole-clip vectors
    score: float  # cosine similarity, higher = more similar


def vector_id(file_id: int, seq: int) -> int:
    """Primary key of the ``seq``-th vector of a catalog file: ``file_id << 16 | seq``.

    Raises:
        ValueError: ``seq`` outside [0, 65535] or ``file_id`` negative or too large for int64.
    """
    if not 0 <= seq < (1 << _SEQ_BITS):
        raise ValueError(f"seq must be in [0, 65535], got {seq}")
    if not 0 <= file_id <= _MAX_FILE_ID:
        raise ValueError(f"file_id must be in [0, {_MAX_FILE_ID}], got {file_id}")
    return (file_id << _SEQ_BITS) | seq


@dataclass
class _Collection:
    dim: int
    nlist: int
    unflushed: int = 0
    # A server (2.3.5 measured) gives an expression delete no timestamp, so a Session read may not
    # see it yet: the next read after a delete waits for the server's clock (Strong) instead.
    strong_read: bool = False
    index_type: str = "IVF_FLAT"
    rows: int = 0  # native Lite: rows at the last index check


class VectorStore:
    """Vectors of one library in Milvus Lite or a Milvus server. Create with :meth:`open`."""

    def __init__(
        self,
        client: Any,
        *,
        is_lite: bool,
        endpoint: str,
        lite_server: _LiteServer | None = None,
        lite_path: Path | None = None,
        native: NativeLite | None = None,
    ) -> None:
        self._client = client
        self._is_lite = is_lite
        self._endpoint = endpoint
        self._lite_server = lite_server  # None for a server, or for Lite started by pymilvus' launcher
        self._lite_path = lite_path
        #: The native Milvus Lite (2.5.x) server of this store, when that is the engine.
        self._native = native
        self._write_lock = threading.RLock()
        # Held by searches and by an index swap (native Lite), so no search sees a released collection.
        self._swap_lock = threading.RLock()
        self._collections: dict[str, _Collection] = {}
        self._closed = False
        self._native_group_by = True if is_lite else _server_groups(client)

    # ── opening and closing ─────────────────────────────────────────────────────────────────

    @classmethod
    def open(cls, uri: str, *, token: str = "", lite_path: Path | None = None) -> VectorStore:
        """Open the store: Milvus Lite in directory ``lite_path`` when ``uri`` is "", else a server.

        Raises:
            LibraryBusyError: another process has this Lite database open.
            StoreError: the server cannot be reached or refuses ``token``, or the Lite database
                cannot be opened (unreadable directory, corrupt files).
            ValueError: ``uri`` is "" and no ``lite_path`` was given.
        """
        if uri:
            if uri.endswith(".db"):
                # pymilvus would start an unprotected Lite server for it; Lite is ours to start.
                raise StoreError(
                    f"The store address {uri} names a Milvus Lite file. Leave it empty to use the "
                    "library's own database, or give a Milvus server address (http://host:19530)."
                )
            try:
                client = MilvusClient(uri=uri, token=token, timeout=CONNECT_TIMEOUT_S)
            except (MilvusException, grpc.RpcError) as err:
                raise StoreError(f"Could not connect to the Milvus server at {uri}: {_reason(err)}") from err
            return cls(client, is_lite=False, endpoint=uri)
        if lite_path is None:
            raise ValueError("lite_path is required when uri is empty")
        return cls._open_lite(Path(lite_path))

    @classmethod
    def _open_lite(cls, path: Path) -> VectorStore:
        if engine_name() == "lite2":
            return cls._open_native(path)
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
            _stop_lite(server, path)
            raise StoreError(f"Could not connect to Milvus Lite in {path}: {_reason(err)}") from err
        atexit.register(store.close)  # flush and let go of the LOCK even if the caller forgets
        # Rows recovered from the write-ahead log are unflushed: flush once after opening.
        try:
            with store._write_lock:
                for name in store._call("list collections", "", client.list_collections):
                    store._call("flush", name, client.flush, name, timeout=_LOAD_TIMEOUT_S)
        except StoreError:
            with contextlib.suppress(StoreError):
                store.close()
            raise
        return store

    @classmethod
    def _open_native(cls, path: Path) -> VectorStore:
        """Milvus Lite 2.5.x: our own ``milvus`` process on a private Unix socket (storage.milvus_lite);
        a 3.2.x database found in ``path`` is copied in first (see :meth:`_migrate_lite3`)."""
        native = NativeLite.start(path)
        try:
            client = MilvusClient(uri=native.uri, timeout=CONNECT_TIMEOUT_S)
            store = cls(client, is_lite=True, endpoint=native.uri, lite_path=path, native=native)
        except Exception as err:  # MilvusException, grpc.RpcError, ...: never leave the server running
            native.stop()
            raise StoreError(f"Could not connect to Milvus Lite in {path}: {_reason(err)}") from err
        atexit.register(store.close)
        try:
            from engine.storage.milvus_lite import has_lite3_data

            if has_lite3_data(path):
                store._migrate_lite3(path)
        except BaseException:
            with contextlib.suppress(StoreError):
                store.close()
            raise
        return store

    def _migrate_lite3(self, path: Path, *, sample: int = 256) -> None:
        """Copy every collection of the 3.2.x database in ``path`` into this (2.5.x) store, check it, then
        move the old files aside (``lite3-before-upgrade/``); nothing is embedded again.

        Checked per collection: the row count equals the old live rows, and for a sample of rows the
        stored vector's cosine to the old one is 1 and a search for it finds it first. A copy that was
        cut short (a kill) is dropped and made again on the next open, since the old files move aside
        only after every check passed.

        Raises:
            StoreError: the old files cannot be read, or the copy does not match them (the old files
                stay where they are).
        """
        from engine.storage.milvus_lite import lite3_collections, read_lite3_collection, set_lite3_aside

        names = lite3_collections(path)
        log.info("moving %d vector collection(s) from Milvus Lite 3.2 in %s", len(names), path)
        rng = np.random.default_rng(0)
        for name in names:
            old = read_lite3_collection(path, name)
            self.drop_collection(name)  # a copy cut short by a kill, if any
            self.ensure_collection(name, old.dim)
            keep = np.linalg.norm(old.vectors, axis=1) > 0
            if not keep.all():  # never accepted by upsert(); 3.2 had no such check for other writers
                log.warning("%s: leaving out %d zero vectors", name, int((~keep).sum()))
            for start in range(0, len(old.ids), 20_000):
                sl = slice(start, start + 20_000)
                k = keep[sl]
                self.upsert(
                    name,
                    old.ids[sl][k],
                    old.file_ids[sl][k],
                    old.ts[sl][k],
                    old.kinds[sl][k],
                    old.vectors[sl][k],
                )
            self.flush()
            want = int(keep.sum())
            got = self.count(name)
            if got != want:
                raise StoreError(
                    f"Copying vector collection '{name}' from Milvus Lite 3.2 gave {got} rows instead of "
                    f"{want}; the old files are kept in {path}."
                )
            live = np.flatnonzero(keep)
            pick = rng.choice(live, size=min(sample, len(live)), replace=False) if len(live) else live
            self._check_copy(name, old.file_ids[pick], old.ts[pick], old.vectors[pick], path)
            log.info("copied %d vectors of %s from Milvus Lite 3.2", got, name)
        try:
            aside = set_lite3_aside(path)
        except OSError as err:
            raise StoreError(f"Could not move the old Milvus Lite 3.2 files in {path} aside: {err}") from err
        log.info("the Milvus Lite 3.2 files are kept in %s (safe to delete)", aside)

    def _check_copy(
        self, name: str, file_ids: np.ndarray, ts: np.ndarray, vectors: np.ndarray, path: Path
    ) -> None:
        """Each sampled old vector is stored unchanged (cosine 1) and is its own best search hit."""
        if not len(file_ids):
            return
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        got_ids, got_vecs = self.get_vectors_many(name, sorted({int(f) for f in file_ids}))
        by_file: dict[int, list[np.ndarray]] = {}
        for f, v in zip(got_ids.tolist(), got_vecs, strict=True):
            by_file.setdefault(int(f), []).append(v)
        worst = 1.0
        for f, u in zip(file_ids.tolist(), unit, strict=True):
            mine = np.asarray(by_file.get(int(f), []), dtype=np.float32).reshape(-1, unit.shape[1])
            if not len(mine):
                worst = -1.0
                break
            mine = mine / np.linalg.norm(mine, axis=1, keepdims=True)
            worst = min(worst, float((mine @ u).max()))
        hits = self.search(name, unit, 1)
        found = all(h and h[0].score > 0.999 for h in hits)
        if worst < 0.9999 or not found:
            raise StoreError(
                f"Copying vector collection '{name}' from Milvus Lite 3.2 changed its vectors (lowest "
                f"cosine {worst:.5f}, all found: {found}); the old files are kept in {path}."
            )

    def close(self) -> None:
        """Flush (Lite), close the connection and, for Lite, stop its server and free the LOCK.

        Safe to call twice. A server's collections stay loaded: other clients may be using them.

        Raises:
            StoreError: the final flush failed (the connection is closed anyway; unflushed rows
                are still in Lite's write-ahead log and come back on the next open).
        """
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            atexit.unregister(self.close)
            try:
                # The native engine has every write in its SQLite file already, and keeps collections
                # loaded across restarts (measured): nothing to flush or release.
                if self._is_lite and self._native is None:
                    for name in self._collections:
                        self._call("flush", name, self._client.flush, name, timeout=_LOAD_TIMEOUT_S)
                        self._call("release", name, self._client.release_collection, name)
            finally:
                self._client.close()
                if self._native is not None:
                    self._native.stop()
                elif self._is_lite:
                    _stop_lite(self._lite_server, self._lite_path)

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_lite(self) -> bool:
        """True for Milvus Lite (a folder in the library), False for a Milvus server."""
        return self._is_lite

    @property
    def endpoint(self) -> str:
        """The gRPC address the client talks to (for Lite 3.2, our own loopback server; for the native
        Lite 2.5, ``unix:<socket>``)."""
        return self._endpoint

    @property
    def engine(self) -> str:
        """The engine: "lite2" (native Milvus Lite 2.5), "lite3" (pure-Python Milvus Lite 3.2) or "server"."""
        if not self._is_lite:
            return "server"
        return "lite2" if self._native is not None else "lite3"

    # ── collections ─────────────────────────────────────────────────────────────────────────

    def ensure_collection(self, name: str, dim: int) -> None:
        """Create collection ``name`` for ``dim``-d vectors with its IVF_FLAT COSINE index, and load it.

        Idempotent. An existing collection is checked and loaded; Lite index sidecars that fail
        to load (truncated by a kill) are deleted and rebuilt from the stored vectors.

        Raises:
            ValueError: ``dim`` is not positive.
            StoreError: the collection exists with another layout or dimension, or cannot be
                created or loaded.
        """
        if dim <= 0:
            raise ValueError(f"dim must be positive, got {dim}")
        c = self._client
        with self._write_lock:
            self._check_open()
            known = self._collections.get(name)
            if known is not None:
                if known.dim != dim:
                    raise StoreError(_dim_mismatch(name, known.dim, dim))
                return
            if not self._call("check", name, c.has_collection, name):
                schema = c.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("file_id", DataType.INT64)
                schema.add_field("t", DataType.DOUBLE)
                schema.add_field("kind", DataType.INT8)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
                # Session: a read sees this client's own writes (a delete is gone from the next
                # search) without Strong's wait for the server's clock on every search (~0.2 s
                # measured on 2.3.5); servers default to Bounded, which may show deleted rows.
                self._call(
                    "create", name, c.create_collection, name, schema=schema, consistency_level="Session"
                )
            self._attach(name, dim)

    def has_collection(self, name: str) -> bool:
        """Whether collection ``name`` exists (in this process or stored earlier).

        Raises:
            StoreError: the store could not be asked.
        """
        self._check_open()
        return name in self._collections or bool(self._call("check", name, self._client.has_collection, name))

    def collections(self) -> list[str]:
        """Names of the collections stored (made by this library or another client of the server).

        Raises:
            StoreError: the store could not be asked.
        """
        self._check_open()
        return sorted(self._call("list collections", "", self._client.list_collections))

    def drop_collection(self, name: str) -> None:
        """Delete collection ``name`` and all its vectors (nothing happens if it does not exist).

        Raises:
            StoreError: the drop failed.
        """
        with self._write_lock:
            self._check_open()
            self._collections.pop(name, None)
            if self._call("check", name, self._client.has_collection, name):
                self._call("drop", name, self._client.drop_collection, name)

    def _attach(self, name: str, dim: int | None) -> _Collection:
        """Check an existing collection, give it its index if missing, load it, remember it."""
        c = self._client
        desc = self._call("describe", name, c.describe_collection, name)
        fields = {f["name"]: f for f in desc.get("fields", [])}
        if set(fields) != set(_FIELDS):
            raise StoreError(
                f"Vector collection '{name}' was not made by Lookalike (fields: {sorted(fields)})."
            )
        have = int(fields["vector"].get("params", {}).get("dim", 0))
        if dim is not None and have != dim:
            raise StoreError(_dim_mismatch(name, have, dim))
        if self._native is not None:
            return self._attach_native(name, have)
        if "vector" not in self._call("list indexes", name, c.list_indexes, name):
            params = c.prepare_index_params()
            params.add_index(
                field_name="vector", index_type="IVF_FLAT", metric_type="COSINE", params={"nlist": NLIST}
            )
            # sync=False: waiting polls AllocTimestamp, which Lite does not implement; load waits anyway.
            self._call("index", name, c.create_index, name, params, sync=False)
        index = self._call("describe index", name, c.describe_index, name, "vector")
        if str(index.get("index_type", "")).upper() != "IVF_FLAT":
            log.warning("collection %s has a %s index, not IVF_FLAT", name, index.get("index_type"))
        self._load(name)
        info = self._collections[name] = _Collection(dim=have, nlist=int(index.get("nlist", NLIST)))
        return info

    def _attach_native(self, name: str, dim: int) -> _Collection:
        """Native Lite: give the collection the index its size calls for (:func:`native_index`), load it."""
        c = self._client
        if "vector" in self._call("list indexes", name, c.list_indexes, name):
            index = self._call("describe index", name, c.describe_index, name, "vector")
            kind, nlist = str(index.get("index_type", "")).upper(), int(index.get("nlist", 0) or 0)
        else:
            kind, nlist = "", 0
        if not kind:
            kind, nlist = native_index(0)
            self._create_index(name, kind, nlist)
        self._call("load", name, c.load_collection, name, timeout=_LOAD_TIMEOUT_S)
        info = self._collections[name] = _Collection(dim=dim, nlist=nlist or 1, index_type=kind)
        info.rows = self.count(name)
        self._fit_index(name, info)
        return info

    def _create_index(self, name: str, kind: str, nlist: int) -> None:
        params = self._client.prepare_index_params()
        params.add_index(
            field_name="vector",
            index_type=kind,
            metric_type="COSINE",
            params={"nlist": nlist} if kind == "IVF_FLAT" else {},
        )
        self._call("index", name, self._client.create_index, name, params, sync=False)

    def _fit_index(self, name: str, info: _Collection) -> None:
        """Native Lite: swap the index when the collection has grown (or shrunk) past what it suits.

        Exact FLAT while it is the fastest, IVF_FLAT beyond (``native_index``); a swap rebuilds the index
        from the stored vectors (release, drop, create, load), so searches wait for it under the write
        lock; it happens once as a library crosses the size, with hysteresis against flapping."""
        kind, nlist = native_index(info.rows, current=info.index_type)
        if kind == info.index_type and (kind == "FLAT" or nlist == info.nlist):
            return
        log.info("vector collection %s: %d rows, index %s -> %s", name, info.rows, info.index_type, kind)
        c = self._client
        with self._swap_lock:
            self._call("release", name, c.release_collection, name)
            self._call("drop index", name, c.drop_index, name, "vector")
            self._create_index(name, kind, nlist)
            self._call("load", name, c.load_collection, name, timeout=_LOAD_TIMEOUT_S)
            info.index_type, info.nlist = kind, nlist or 1

    def _load(self, name: str) -> None:
        try:
            self._client.load_collection(name, timeout=_LOAD_TIMEOUT_S)
            return
        except (MilvusException, grpc.RpcError) as err:
            sidecars = self._index_sidecars(name)
            if not sidecars:
                raise StoreError(f"Could not load vector collection '{name}': {_reason(err)}") from err
            log.warning(
                "loading %s failed (%s); deleting %d index sidecar(s) to rebuild them",
                name,
                _reason(err),
                len(sidecars),
            )
        # Sidecars are derived from the stored vectors; a truncated one (kill right after a flush)
        # makes every load fail until it is gone.
        for f in sidecars:
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        self._call("load", name, self._client.load_collection, name, timeout=_LOAD_TIMEOUT_S)

    def _index_sidecars(self, name: str) -> list[Path]:
        if not self._is_lite or self._lite_path is None or self._native is not None:
            return []
        root = self._lite_path / "collections" / name / "partitions"
        return sorted(root.glob("*/indexes/*.idx")) + sorted(root.glob("*/indexes/*.sidx"))

    # ── writes (one engine thread) ──────────────────────────────────────────────────────────

    def upsert(
        self,
        name: str,
        ids: Sequence[int] | np.ndarray,
        file_ids: Sequence[int] | np.ndarray,
        ts: Sequence[float] | np.ndarray,
        kinds: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
    ) -> None:
        """Insert or replace rows by ``id`` (idempotent: the same ids never make duplicates).

        Within one call a repeated id keeps its last row. ``kinds`` are small ints (0 photo,
        1 video frame, 2 sound, ...).

        Raises:
            ValueError: lengths differ, ``vectors`` is not (n, dim) of finite, non-zero rows,
                ids are negative, or a kind is outside [0, 127].
            StoreError: the write failed.
        """
        info = self._info(name)
        id_a = np.asarray(ids, dtype=np.int64).reshape(-1)
        fid_a = np.asarray(file_ids, dtype=np.int64).reshape(-1)
        t_a = np.asarray(ts, dtype=np.float64).reshape(-1)
        kind_a = np.asarray(kinds, dtype=np.int64).reshape(-1)
        vec_a = np.asarray(vectors, dtype=np.float32)
        n = len(id_a)
        if vec_a.ndim != 2 or vec_a.shape[1] != info.dim:
            raise ValueError(f"vectors must be (n, {info.dim}), got {vec_a.shape}")
        if not len(fid_a) == len(t_a) == len(kind_a) == vec_a.shape[0] == n:
            raise ValueError("ids, file_ids, ts, kinds and vectors must have the same length")
        if n == 0:
            return
        if (id_a < 0).any() or (fid_a < 0).any():
            raise ValueError("ids and file_ids must be non-negative")
        if (kind_a < 0).any() or (kind_a > 127).any():
            raise ValueError("kinds must be in [0, 127]")
        if not np.isfinite(vec_a).all() or not np.linalg.norm(vec_a, axis=1).all():
            raise ValueError("vectors must be finite and non-zero (cosine is undefined otherwise)")
        # Keep the last row of a repeated id: Milvus would store both inside one request.
        _, last = np.unique(id_a[::-1], return_index=True)
        keep = np.sort(n - 1 - last)
        with self._write_lock:
            self._check_open()
            for start in range(0, len(keep), _WRITE_CHUNK):
                sel = keep[start : start + _WRITE_CHUNK]
                rows = [
                    {
                        "id": int(id_a[j]),
                        "file_id": int(fid_a[j]),
                        "t": float(t_a[j]),
                        "kind": int(kind_a[j]),
                        "vector": vec_a[j],
                    }
                    for j in sel
                ]
                if self._native is not None:
                    # 2.5.1's upsert costs ~0.1 s a call at 100k rows, whatever the batch (it looks every
                    # key up); a delete by key and an insert are ~15 ms and leave the same rows. A kill
                    # between the two loses rows whose file is not yet marked indexed: redone on restart.
                    keys = [r["id"] for r in rows]
                    self._call(
                        "write vectors to", name, self._client.delete, name, ids=keys, timeout=_RPC_TIMEOUT_S
                    )
                    self._call(
                        "write vectors to", name, self._client.insert, name, rows, timeout=_RPC_TIMEOUT_S
                    )
                else:
                    self._call(
                        "write vectors to", name, self._client.upsert, name, rows, timeout=_RPC_TIMEOUT_S
                    )
                self._written(name, len(rows))

    def delete_files(self, name: str, file_ids: Sequence[int]) -> None:
        """Delete every vector of these catalog files (missing ones are ignored).

        Raises:
            StoreError: the delete failed.
        """
        self._info(name)
        fids = sorted({int(f) for f in file_ids})
        with self._write_lock:
            self._check_open()
            for start in range(0, len(fids), _WRITE_CHUNK):
                chunk = fids[start : start + _WRITE_CHUNK]
                res = self._call(
                    "delete from",
                    name,
                    self._client.delete,
                    name,
                    filter=f"file_id in {chunk}",
                    timeout=_RPC_TIMEOUT_S,
                )
                # Lite answers with the deleted ids, a server with a count; tombstones are unflushed rows.
                self._written(name, len(res) if isinstance(res, list) else int(res.get("delete_count", 0)))
                self._collections[name].strong_read = not self._is_lite

    def flush(self) -> None:
        """Persist unflushed Lite rows (call after each indexing batch window). No-op on a server.

        Raises:
            StoreError: the flush failed.
        """
        if not self._is_lite:
            return
        with self._write_lock:
            self._check_open()
            for name, info in self._collections.items():
                if info.unflushed:
                    self._call("flush", name, self._client.flush, name, timeout=_LOAD_TIMEOUT_S)
                    info.unflushed = 0
                    if self._native is not None and self._index_may_change(info):
                        info.rows = self.count(name)  # count(*) reads every row: only near the limit
                        self._fit_index(name, info)

    @staticmethod
    def _index_may_change(info: _Collection) -> bool:
        """Whether ``info.rows`` (an upper bound: upserts counted as new rows) could call for another
        index than the current one."""
        return native_index(info.rows, current=info.index_type)[0] != info.index_type

    def _written(self, name: str, rows: int) -> None:
        info = self._collections[name]
        info.unflushed += rows
        if self._native is not None:
            info.rows += rows  # an upper bound (replaced and deleted rows included) until the next count
        if self._is_lite and self._native is None and info.unflushed > AUTO_FLUSH_ROWS:
            self._call("flush", name, self._client.flush, name, timeout=_LOAD_TIMEOUT_S)
            info.unflushed = 0

    # ── reads ───────────────────────────────────────────────────────────────────────────────

    def search(
        self,
        name: str,
        queries: np.ndarray,
        limit: int,
        *,
        kinds: Sequence[int] | None = None,
        file_ids: Sequence[int] | None = None,
        group_by_file: bool = False,
    ) -> list[list[Hit]]:
        """Nearest vectors to each query, best first; one list per row of ``queries`` (q, dim).

        ``kinds`` / ``file_ids`` restrict the rows searched (an empty list matches nothing).
        ``group_by_file`` returns at most one hit per file: its best-scoring vector (and so its
        best moment ``t``).

        Raises:
            ValueError: ``queries`` is not (q, dim) or ``limit`` is outside [1, 16384].
            StoreError: the search failed.
        """
        info = self._info(name)
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim != 2 or q.shape[1] != info.dim:
            raise ValueError(f"queries must be (q, {info.dim}), got {q.shape}")
        if not 1 <= limit <= MAX_TOPK:
            raise ValueError(f"limit must be in [1, {MAX_TOPK}], got {limit}")
        if len(q) == 0:
            return []
        if (kinds is not None and not len(kinds)) or (file_ids is not None and not len(file_ids)):
            return [[] for _ in range(len(q))]
        expr = _filter_expr(kinds, file_ids)
        if not group_by_file:
            return self._search(name, info, q, limit, expr, filtered=bool(expr))
        if self._native is not None:
            return self._search_grouped_first_plain(name, info, q, limit, expr)
        if self._native_group_by:
            results = self._search(name, info, q, limit, expr, filtered=bool(expr), group=True)
            if any(len({h.file_id for h in hits}) != len(hits) for hits in results):
                # The server took group_by_field and ignored it (Milvus < 2.4): group ourselves.
                log.info("server ignores group_by; grouping vector hits in Python from now on")
                self._native_group_by = False
            else:
                # Fewer groups than asked may mean the server's own over-fetch ran dry; check those.
                short = [i for i, hits in enumerate(results) if len(hits) < limit]
                if short:
                    redo = self._search_grouped(name, info, q[short], limit, expr)
                    for i, hits in zip(short, redo, strict=True):
                        results[i] = hits
                return results
        return self._search_grouped(name, info, q, limit, expr)

    def _search_grouped_first_plain(
        self, name: str, info: _Collection, q: np.ndarray, limit: int, expr: str
    ) -> list[list[Hit]]:
        """Native Lite: one plain search for ``limit * 2`` vectors, grouped here; Milvus' own group_by
        only for the queries where that top list holds fewer than ``limit`` files (a long video's frames).

        Exact: when the top K vectors hold at least ``limit`` files, no file outside them can beat the
        ``limit``-th (its best vector scores at most the K-th). Measured at 100k 256-d rows: a plain
        search 12 ms, group_by 56 ms (2.5.1 groups by iterating its search)."""
        fetch = min(MAX_TOPK, limit * _NATIVE_GROUP_TRY)
        raw = self._search(name, info, q, fetch, expr, filtered=bool(expr))
        results: list[list[Hit]] = [[] for _ in range(len(q))]
        again = []
        for i, hits in enumerate(raw):
            best: dict[int, Hit] = {}
            for h in hits:  # best first, so the first hit of a file is its best
                best.setdefault(h.file_id, h)
            if len(best) >= limit or len(hits) < fetch:  # enough files, or every matching row seen
                results[i] = list(best.values())[:limit]
            else:
                again.append(i)
        if again:
            grouped = self._search(name, info, q[again], limit, expr, filtered=bool(expr), group=True)
            for i, hits in zip(again, grouped, strict=True):
                results[i] = hits
                if len(hits) < limit:  # group_by's own over-fetch may run dry: make sure
                    results[i] = self._search_grouped(name, info, q[i : i + 1], limit, expr)[0]
        return results

    def _search_grouped(
        self, name: str, info: _Collection, q: np.ndarray, limit: int, expr: str
    ) -> list[list[Hit]]:
        """Group by file in Python: fetch more rows until ``limit`` files or no more rows."""
        results: list[list[Hit]] = [[] for _ in range(len(q))]
        todo = list(range(len(q)))
        fetch = min(MAX_TOPK, max(limit * _GROUP_OVERFETCH, 64))
        while todo:
            raw = self._search(name, info, q[todo], fetch, expr, filtered=bool(expr))
            again = []
            for i, hits in zip(todo, raw, strict=True):
                best: dict[int, Hit] = {}
                for h in hits:  # best first, so the first hit of a file is its best
                    best.setdefault(h.file_id, h)
                results[i] = list(best.values())[:limit]
                if len(best) < limit and len(hits) == fetch and fetch < MAX_TOPK:
                    again.append(i)
            todo, fetch = again, min(MAX_TOPK, fetch * 4)
        return results

    def _search(
        self,
        name: str,
        info: _Collection,
        q: np.ndarray,
        limit: int,
        expr: str,
        *,
        filtered: bool,
        group: bool = False,
    ) -> list[list[Hit]]:
        # IVF returns only rows in the probed cells. Probe at least `limit` cells so a small Lite
        # segment (nlist clamped to its row count, ~1 row per cell) still yields `limit` rows; probe
        # all of them under a filter, which may leave the nearest cells with no matching row.
        fetch = limit * 10 if group else limit  # Lite's own group_by over-fetch
        if self._native is not None and info.index_type == "FLAT":
            params: dict[str, Any] = {}
        elif self._native is not None:
            params = {"nprobe": info.nlist if filtered else min(info.nlist, max(NATIVE_NPROBE, fetch))}
        else:
            params = {"nprobe": info.nlist if filtered else min(info.nlist, max(NPROBE_MIN, fetch))}
        extra: dict[str, Any] = {"group_by_field": "file_id"} if group else {}
        with self._swap_lock if self._native is not None else contextlib.nullcontext():
            res = self._read(
                "search",
                name,
                info,
                self._client.search,
                name,
                data=list(q),
                limit=limit,
                filter=expr,
                output_fields=_HIT_FIELDS,
                search_params={"metric_type": "COSINE", "params": params},
                timeout=_RPC_TIMEOUT_S,
                **extra,
            )
        return [
            [
                Hit(int(h["id"]), int(h["entity"]["file_id"]), float(h["entity"]["t"]), float(h["distance"]))
                for h in hits
            ]
            for hits in res
        ]

    def get_vectors(self, name: str, file_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ts, vectors)`` of one file ordered by ``t``: float64 (n,) and float32 (n, dim).

        A file with no vectors gives empty arrays.

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        rows = self._read(
            "read vectors from",
            name,
            info,
            self._client.query,
            name,
            filter=f"file_id == {int(file_id)}",
            output_fields=["id", "t", "vector"],
            timeout=_RPC_TIMEOUT_S,
        )
        rows = sorted(rows, key=lambda r: (r["t"], r["id"]))
        ts = np.array([r["t"] for r in rows], dtype=np.float64)
        vecs = np.array([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), info.dim)
        return ts, vecs

    def get_vectors_many(
        self, name: str, file_ids: Sequence[int], *, kinds: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(file_ids, vectors)`` of every vector of several files in one query (int64 (n,), float32
        (n, dim)), in no particular order; e.g. a sample of the library for a query's score distribution.

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        if not len(file_ids) or (kinds is not None and not len(kinds)):
            return np.zeros(0, dtype=np.int64), np.zeros((0, info.dim), dtype=np.float32)
        rows = self._read(
            "read vectors from",
            name,
            info,
            self._client.query,
            name,
            filter=_filter_expr(kinds, file_ids),
            output_fields=["file_id", "vector"],
            timeout=_RPC_TIMEOUT_S,
        )
        ids = np.array([r["file_id"] for r in rows], dtype=np.int64)
        vecs = np.array([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), info.dim)
        return ids, vecs

    def file_ids(self, name: str) -> set[int]:
        """The catalog file ids that have at least one vector in the collection (reads every row's
        ``file_id``, in pages: use :meth:`count` first and call this only when counts disagree).

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        if self._is_lite:
            _quiet_lite_iterator()
        it = self._read(
            "list the files of",
            name,
            info,
            self._client.query_iterator,
            name,
            batch_size=_ID_PAGE,
            filter="",
            output_fields=["file_id"],
            timeout=_RPC_TIMEOUT_S,
        )
        found: set[int] = set()
        try:
            while True:
                page = self._call("list the files of", name, it.next)
                if not page:
                    return found
                found.update(int(r["file_id"]) for r in page)
        finally:
            with contextlib.suppress(MilvusException, grpc.RpcError):
                it.close()

    def count(self, name: str) -> int:
        """Number of vectors in the collection (deleted and replaced rows not counted).

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        # count(*) rather than collection stats: a server's row_count includes deleted rows.
        rows = self._read(
            "count",
            name,
            info,
            self._client.query,
            name,
            filter="",
            output_fields=["count(*)"],
            timeout=_RPC_TIMEOUT_S,
        )
        return int(rows[0]["count(*)"])

    # ── helpers ─────────────────────────────────────────────────────────────────────────────

    def _info(self, name: str) -> _Collection:
        """The collection's facts; an existing one not yet used by this process is attached (loaded)."""
        self._check_open()
        info = self._collections.get(name)
        if info is not None:
            return info
        with self._write_lock:
            if name in self._collections:
                return self._collections[name]
            if not self._call("check", name, self._client.has_collection, name):
                raise StoreError(f"There is no vector collection '{name}' in this library yet.")
            return self._attach(name, None)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("The vector store is closed.")

    def _read(
        self, action: str, name: str, info: _Collection, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        """A read call, Strong when a delete may not be visible yet (see ``_Collection.strong_read``)."""
        if not info.strong_read:
            return self._call(action, name, fn, *args, **kwargs)
        res = self._call(action, name, fn, *args, consistency_level="Strong", **kwargs)
        info.strong_read = False  # served after the delete: later reads see it too
        return res

    def _call(self, action: str, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one client call, turning Milvus and gRPC failures into a readable StoreError."""
        try:
            return fn(*args, **kwargs)
        except (MilvusException, grpc.RpcError) as err:
            where = f" vector collection '{name}'" if name else " the vector store"
            raise StoreError(f"Could not {action}{where}: {_reason(err)}") from err


class _NoSessionTsWarning(logging.Filter):
    """Drops pymilvus' "failed to get mvccTs" warning: Milvus Lite has no session timestamps, so every
    query iterator over Lite would print it (the client-side timestamp it falls back to is right)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


def _quiet_lite_iterator() -> None:
    logger = logging.getLogger("pymilvus.client.iterator.query_iterator")
    if not any(isinstance(f, _NoSessionTsWarning) for f in logger.filters):
        logger.addFilter(_NoSessionTsWarning())


def native_index(rows: int, *, current: str = "") -> tuple[str, int]:
    """``(index type, nlist)`` for a native Lite collection of ``rows`` rows: FLAT (exact) up to
    :data:`NATIVE_FLAT_MAX_ROWS`, IVF_FLAT beyond. A collection already on IVF stays there down to 80 %
    of the limit, so one that hovers around it is not rebuilt back and forth."""
    limit = NATIVE_FLAT_MAX_ROWS * (0.8 if current == "IVF_FLAT" else 1.0)
    if rows <= limit:
        return "FLAT", 0
    nlist = 1 << max(7, min(14, round(np.log2(4 * np.sqrt(max(rows, 1))))))
    return "IVF_FLAT", nlist


def _dim_mismatch(name: str, have: int, want: int) -> str:
    return (
        f"Vector collection '{name}' holds {have}-d vectors but the model makes {want}-d ones; "
        "the library must be re-indexed for this model."
    )


def _filter_expr(kinds: Sequence[int] | None, file_ids: Sequence[int] | None) -> str:
    parts = []
    if kinds is not None:
        parts.append(f"kind in {sorted({int(k) for k in kinds})}")
    if file_ids is not None:
        parts.append(f"file_id in {sorted({int(f) for f in file_ids})}")
    return " and ".join(parts)


def _reason(err: BaseException) -> str:
    if isinstance(err, MilvusException):
        return str(err.message)
    if isinstance(err, grpc.RpcError):
        return f"{err.code().name}: {err.details()}"
    return str(err)


def _server_groups(client: Any) -> bool:
    """Whether the server honours ``group_by_field`` (Milvus 2.4+)."""
    try:
        version = str(client.get_server_version())
    except MilvusException:
        return True  # unknown: search() still notices duplicate files and switches
    m = re.search(r"(\d+)\.(\d+)", version)
    return m is None or (int(m.group(1)), int(m.group(2))) >= (2, 4)


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


def _stop_lite(server: _LiteServer | None, path: Path | None) -> None:
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
