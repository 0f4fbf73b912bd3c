"""Vector store: one Milvus collection per embedding space, over ``pymilvus.MilvusClient``.

Each vector row is ``(id, file_id, t, kind, vector)``: ``id`` is :func:`vector_id` of the catalog row
and a sequence number, so re-indexing a file upserts the same keys (idempotent, see docs/architecture.md,
"Crash safety"); ``t`` is the time in the file; ``kind`` says photo / video frame / sound.

One class, :class:`VectorStore`, talks to three engines; nothing in its interface belongs to one of them:

* **the native Milvus Lite 2.5** (the default where it has wheels: Linux, macOS), a ``milvus`` process
  of our own on a private Unix socket in the library's folder: ``store_native`` (exact FLAT search up
  to a size, our own cell layout beyond it, the move of a 3.2 library into it);
* **the pure-Python Milvus Lite 3.2** (Windows), served by us on 127.0.0.1 behind a per-process secret:
  ``store_lite32``;
* **a Milvus server** by URI (``store_uri`` in the settings). Servers before 2.4 ignore ``group_by``
  (measured on 2.3.5: duplicates come back), so the store then groups in Python by over-fetching; the
  answer is the same. Server reads are Session-consistent: this client's writes are visible to its next
  read without Strong's wait on every search; the one read after a delete is Strong (2.3.5 gives an
  expression delete no timestamp for Session to wait on).

Threading: one engine thread is expected to own the store and do every write (upsert, delete,
flush, ensure_collection, close). Writes are still serialised by a lock here, because a Lite flush
running beside a writer loses rows, and the native engine's background cell work writes too. Searches
may run from other threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from pymilvus import MilvusClient, MilvusException

from engine.errors import StoreError
from engine.storage import store_lite32, store_native, store_server
from engine.storage.milvus_lite import BUSY_MESSAGE, NativeLite, engine_name
from engine.storage.store_common import (
    CONNECT_TIMEOUT_S,
    FIELDS,
    HIT_FIELDS,
    ID_PAGE,
    LOAD_TIMEOUT_S,
    MAX_TOPK,
    RPC_TIMEOUT_S,
    WRITE_CHUNK,
    CollectionInfo,
    Hit,
    checked_rows,
    dim_mismatch,
    empty_vectors,
    filter_expr,
    hits_from,
    new_schema,
    quiet_lite_iterator,
    reason,
    vector_id,
)
from engine.storage.store_lite32 import AUTO_FLUSH_ROWS, _LiteServer

__all__ = ["AUTO_FLUSH_ROWS", "BUSY_MESSAGE", "MAX_TOPK", "Hit", "VectorStore", "vector_id"]

log = logging.getLogger(__name__)

_GROUP_OVERFETCH = 8  # first fetch per wanted group when grouping in Python


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
        self._collections: dict[str, CollectionInfo] = {}
        self._closed = False
        self._native_group_by = True if is_lite else store_server.server_groups(client)
        #: Native Lite: the background threads making or filling cell layouts, with their stop flags.
        self._cell_threads: list[tuple[threading.Thread, threading.Event]] = []
        #: Native Lite: the pool that searches several cells at once (made on first use).
        self._pool: ThreadPoolExecutor | None = None

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
                raise StoreError(f"Could not connect to the Milvus server at {uri}: {reason(err)}") from err
            return cls(client, is_lite=False, endpoint=uri)
        if lite_path is None:
            raise ValueError("lite_path is required when uri is empty")
        if engine_name() != "lite2":
            return store_lite32.open_lite32(cls, Path(lite_path))
        store = store_native.open_native(cls, Path(lite_path))
        try:
            from engine.storage.milvus_lite import has_lite3_data

            if has_lite3_data(Path(lite_path)):  # a library made with 3.2.x: its vectors are copied in
                from engine.storage.store_migrate import migrate_lite3

                migrate_lite3(store, Path(lite_path))
        except BaseException:
            with contextlib.suppress(StoreError):
                store.close()
            raise
        return store

    def close(self) -> None:
        """Flush (Lite 3.2), close the connection and, for Lite, stop its server and free the LOCK.

        Safe to call twice. A server's collections stay loaded: other clients may be using them. The
        native engine's background cell work stops after its current step (it resumes on the next open).

        Raises:
            StoreError: the final flush failed (the connection is closed anyway; unflushed rows
                are still in Lite's write-ahead log and come back on the next open).
        """
        import atexit

        store_native.stop_layout_threads(self)  # before the lock: they take it for each step
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
                        self._call("flush", name, self._client.flush, name, timeout=LOAD_TIMEOUT_S)
                        self._call("release", name, self._client.release_collection, name)
            finally:
                if self._pool is not None:
                    self._pool.shutdown(wait=True)
                self._client.close()
                if self._native is not None:
                    self._native.stop()
                elif self._is_lite:
                    store_lite32.stop_lite(self._lite_server, self._lite_path)

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

    def index_of(self, name: str) -> str:
        """How collection ``name`` is searched: "FLAT" (exact), "CELLS <n>" (native Lite's cell layout,
        <n> cells) or the server's / Lite 3.2's index type.

        Raises:
            StoreError: there is no such collection, or the store could not be asked.
        """
        info = self._info(name)
        return f"CELLS {info.nlist}" if info.cells is not None else info.index_type

    def wait_for_index(self, timeout: float | None = None) -> bool:
        """Wait for background index work (native Lite: a cell layout being made or filled); True when
        none is left running. Searches are right meanwhile; this is for tests and benchmarks."""
        return store_native.wait_layout(self, timeout)

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
                    raise StoreError(dim_mismatch(name, known.dim, dim))
                return
            if not self._call("check", name, c.has_collection, name):
                # Session: a read sees this client's own writes (a delete is gone from the next
                # search) without Strong's wait for the server's clock on every search (~0.2 s
                # measured on 2.3.5); servers default to Bounded, which may show deleted rows.
                self._call(
                    "create",
                    name,
                    c.create_collection,
                    name,
                    schema=new_schema(c, dim),
                    consistency_level="Session",
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
        names = self._call("list collections", "", self._client.list_collections)
        return sorted(n for n in names if not store_native.is_internal(n))

    def drop_collection(self, name: str) -> None:
        """Delete collection ``name`` and all its vectors (nothing happens if it does not exist).

        Raises:
            StoreError: the drop failed.
        """
        with self._write_lock:
            self._check_open()
            self._collections.pop(name, None)  # a mover of its rows sees it gone and stops
            if self._native is not None:
                store_native.drop_layout(self, name)  # first: a kill then leaves no layout without main
            if self._call("check", name, self._client.has_collection, name):
                self._call("drop", name, self._client.drop_collection, name)

    def _attach(self, name: str, dim: int | None) -> CollectionInfo:
        """Check an existing collection, give it its index if missing, load it, remember it."""
        c = self._client
        desc = self._call("describe", name, c.describe_collection, name)
        fields = {f["name"]: f for f in desc.get("fields", [])}
        if set(fields) != set(FIELDS):
            raise StoreError(
                f"Vector collection '{name}' was not made by Lookalike (fields: {sorted(fields)})."
            )
        have = int(fields["vector"].get("params", {}).get("dim", 0))
        if dim is not None and have != dim:
            raise StoreError(dim_mismatch(name, have, dim))
        if self._native is not None:
            return store_native.attach_native(self, name, have)
        if self._is_lite:
            info = store_lite32.attach_lite32(self, name, have)
        else:
            info = store_server.attach_server(self, name, have)
        self._collections[name] = info
        return info

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
        id_a, fid_a, t_a, kind_a, vec_a, keep = checked_rows(ids, file_ids, ts, kinds, vectors, info.dim)
        if not len(keep):
            return
        with self._write_lock:
            self._check_open()
            for start in range(0, len(keep), WRITE_CHUNK):
                sel = keep[start : start + WRITE_CHUNK]
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
                    store_native.write(self, name, info, rows)
                else:
                    self._call(
                        "write vectors to", name, self._client.upsert, name, rows, timeout=RPC_TIMEOUT_S
                    )
                self._written(name, len(rows))

    def delete_files(self, name: str, file_ids: Sequence[int]) -> None:
        """Delete every vector of these catalog files (missing ones are ignored).

        Raises:
            StoreError: the delete failed.
        """
        info = self._info(name)
        fids = sorted({int(f) for f in file_ids})
        with self._write_lock:
            self._check_open()
            for start in range(0, len(fids), WRITE_CHUNK):
                expr = f"file_id in {fids[start : start + WRITE_CHUNK]}"
                if self._native is not None:
                    gone = store_native.delete_where(self, name, info, expr)
                else:
                    res = self._call(
                        "delete from", name, self._client.delete, name, filter=expr, timeout=RPC_TIMEOUT_S
                    )
                    # Lite answers with the deleted ids, a server with a count; tombstones are unflushed rows.
                    gone = len(res) if isinstance(res, list) else int(res.get("delete_count", 0))
                self._written(name, gone)
                info.strong_read = not self._is_lite

    def flush(self) -> None:
        """Persist unflushed Lite rows (call after each indexing batch window). No-op on a server.

        On the native engine, where every write is stored when its call returns, this is where a
        collection that has grown past its FLAT limit gets its cell layout (made in the background).

        Raises:
            StoreError: the flush failed.
        """
        if not self._is_lite:
            return
        with self._write_lock:
            self._check_open()
            for name, info in self._collections.items():
                if info.unflushed:
                    self._call("flush", name, self._client.flush, name, timeout=LOAD_TIMEOUT_S)
                    info.unflushed = 0
                    if self._native is not None:
                        store_native.fit(self, name, info)

    def _written(self, name: str, rows: int) -> None:
        info = self._collections[name]
        info.unflushed += rows
        if self._native is not None:
            info.rows += rows  # an upper bound (replaced and deleted rows included) until the next count
        if self._is_lite and self._native is None and info.unflushed > AUTO_FLUSH_ROWS:
            self._call("flush", name, self._client.flush, name, timeout=LOAD_TIMEOUT_S)
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
        expr = filter_expr(kinds, file_ids)
        if not group_by_file:
            return self._search(name, info, q, limit, expr, filtered=bool(expr))
        if self._native is not None:
            return store_native.search_grouped(self, info, name, q, limit, expr)
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

    def _search_grouped(
        self, name: str, info: CollectionInfo, q: np.ndarray, limit: int, expr: str
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
        info: CollectionInfo,
        q: np.ndarray,
        limit: int,
        expr: str,
        *,
        filtered: bool,
        group: bool = False,
    ) -> list[list[Hit]]:
        if self._native is not None and not group:
            return store_native.search(self, name, info, q, limit, expr)
        fetch = limit * 10 if group else limit  # Lite's own group_by over-fetch
        params = {} if self._native is not None else store_server.ivf_params(info, fetch, filtered=filtered)
        extra: dict[str, Any] = {"group_by_field": "file_id"} if group else {}
        res = self._read(
            "search",
            name,
            info,
            self._client.search,
            name,
            data=list(q),
            limit=limit,
            filter=expr,
            output_fields=HIT_FIELDS,
            search_params={"metric_type": "COSINE", "params": params},
            timeout=RPC_TIMEOUT_S,
            **extra,
        )
        return hits_from(res)

    def get_vectors(self, name: str, file_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ts, vectors)`` of one file ordered by ``t``: float64 (n,) and float32 (n, dim).

        A file with no vectors gives empty arrays.

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        rows = self._query(name, info, f"file_id == {int(file_id)}", ["id", "t", "vector"])
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
            return empty_vectors(info.dim)
        rows = self._query(name, info, filter_expr(kinds, file_ids), ["file_id", "vector"])
        ids = np.array([r["file_id"] for r in rows], dtype=np.int64)
        vecs = np.array([r["vector"] for r in rows], dtype=np.float32).reshape(len(rows), info.dim)
        return ids, vecs

    def _query(self, name: str, info: CollectionInfo, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        if self._native is not None:
            return store_native.query_all(self, name, info, expr, fields)
        return list(
            self._read(
                "read vectors from",
                name,
                info,
                self._client.query,
                name,
                filter=expr,
                output_fields=fields,
                timeout=RPC_TIMEOUT_S,
            )
        )

    def file_ids(self, name: str) -> set[int]:
        """The catalog file ids that have at least one vector in the collection (reads every row's
        ``file_id``, in pages: use :meth:`count` first and call this only when counts disagree).

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        if self._is_lite:
            quiet_lite_iterator()
        found: set[int] = set()
        targets = store_native.targets(info, name) if self._native is not None else [name]
        for target in targets:
            it = self._read(
                "list the files of",
                name,
                info,
                self._client.query_iterator,
                target,
                batch_size=ID_PAGE,
                filter="",
                output_fields=["file_id"],
                timeout=RPC_TIMEOUT_S,
            )
            try:
                while True:
                    page = self._call("list the files of", name, it.next)
                    if not page:
                        break
                    found.update(int(r["file_id"]) for r in page)
            finally:
                with contextlib.suppress(MilvusException, grpc.RpcError):
                    it.close()
        return found

    def count(self, name: str) -> int:
        """Number of vectors in the collection (deleted and replaced rows not counted).

        Raises:
            StoreError: the query failed.
        """
        info = self._info(name)
        if self._native is not None:
            return store_native.count(self, name, info)
        # count(*) rather than collection stats: a server's row_count includes deleted rows.
        rows = self._read(
            "count",
            name,
            info,
            self._client.query,
            name,
            filter="",
            output_fields=["count(*)"],
            timeout=RPC_TIMEOUT_S,
        )
        return int(rows[0]["count(*)"])

    # ── helpers ─────────────────────────────────────────────────────────────────────────────

    def _info(self, name: str) -> CollectionInfo:
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
        self, action: str, name: str, info: CollectionInfo, fn: Callable[..., Any], *args: Any, **kwargs: Any
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
            raise StoreError(f"Could not {action}{where}: {reason(err)}") from err
