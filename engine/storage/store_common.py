"""What the vector store's engines share: the row layout, :class:`Hit`, :func:`vector_id`, the per-collection
facts and the small helpers that turn Milvus answers into our errors.

The store itself is :class:`engine.storage.store.VectorStore`; the code that hosts each engine lives in
``store_lite32`` (the pure-Python Milvus Lite 3.2), ``store_native`` (the native Milvus Lite 2.5) and
``store_server``. This module imports none of them, so all can import it; the engines see the store only
through :class:`StoreHost`, so they never import ``store`` back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import numpy as np
from pymilvus import MilvusException

#: Milvus' largest accepted top-k.
MAX_TOPK = 16_384
CONNECT_TIMEOUT_S = 15.0  # how long open() waits for a server (or our Lite server) to answer
RPC_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 900.0  # a load may rebuild every segment's index
WRITE_CHUNK = 1_000  # rows per upsert / ids per delete expression: bounded gRPC messages
ID_PAGE = 10_000  # rows per page when listing a collection's file ids

SEQ_BITS = 16
MAX_FILE_ID = (1 << (63 - SEQ_BITS)) - 1
FIELDS = ("id", "file_id", "t", "kind", "vector")
HIT_FIELDS = ["file_id", "t"]


@dataclass(frozen=True)
class Hit:
    """One search result."""

    id: int  # vector primary key
    file_id: int  # catalog row id
    t: float  # seconds into the file; 0.0 for photos and whole-clip vectors
    score: float  # cosine similarity, higher = more similar


class StoreHost(Protocol):
    """What the engine modules use of the :class:`~engine.storage.store.VectorStore` they serve."""

    _client: Any
    _lite_path: Path | None
    _write_lock: threading.RLock
    _collections: dict[str, CollectionInfo]
    _closed: bool
    _cell_threads: list[tuple[threading.Thread, threading.Event]]
    _pool: ThreadPoolExecutor | None

    def close(self) -> None: ...

    def _call(self, action: str, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any: ...

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
    ) -> list[list[Hit]]: ...

    def _search_grouped(
        self, name: str, info: CollectionInfo, q: np.ndarray, limit: int, expr: str
    ) -> list[list[Hit]]: ...


def vector_id(file_id: int, seq: int) -> int:
    """Primary key of the ``seq``-th vector of a catalog file: ``file_id << 16 | seq``.

    Raises:
        ValueError: ``seq`` outside [0, 65535] or ``file_id`` negative or too large for int64.
    """
    if not 0 <= seq < (1 << SEQ_BITS):
        raise ValueError(f"seq must be in [0, 65535], got {seq}")
    if not 0 <= file_id <= MAX_FILE_ID:
        raise ValueError(f"file_id must be in [0, {MAX_FILE_ID}], got {file_id}")
    return (file_id << SEQ_BITS) | seq


@dataclass
class CollectionInfo:
    """What the store knows of one collection in this process."""

    dim: int
    nlist: int
    unflushed: int = 0
    # A server (2.3.5 measured) gives an expression delete no timestamp, so a Session read may not
    # see it yet: the next read after a delete waits for the server's clock (Strong) instead.
    strong_read: bool = False
    index_type: str = "IVF_FLAT"
    rows: int = 0  # native Lite: rows at the last index check (an upper bound in between)
    #: Native Lite past its FLAT limit: the cell layout (store_native.Cells), else None.
    cells: Any = None
    building: bool = False  # native Lite: the layout is being made in the background


def new_schema(client: Any, dim: int) -> Any:
    """The collection schema: ``(id, file_id, t, kind, vector)``, ``id`` the primary key."""
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("file_id", DataType.INT64)
    schema.add_field("t", DataType.DOUBLE)
    schema.add_field("kind", DataType.INT8)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema


def checked_rows(
    ids: Sequence[int] | np.ndarray,
    file_ids: Sequence[int] | np.ndarray,
    ts: Sequence[float] | np.ndarray,
    kinds: Sequence[int] | np.ndarray,
    vectors: np.ndarray,
    dim: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The columns of an upsert as arrays, and the positions to write (the last row of a repeated id).

    Raises:
        ValueError: lengths differ, ``vectors`` is not (n, dim) of finite, non-zero rows, ids are
            negative, or a kind is outside [0, 127].
    """
    id_a = np.asarray(ids, dtype=np.int64).reshape(-1)
    fid_a = np.asarray(file_ids, dtype=np.int64).reshape(-1)
    t_a = np.asarray(ts, dtype=np.float64).reshape(-1)
    kind_a = np.asarray(kinds, dtype=np.int64).reshape(-1)
    vec_a = np.asarray(vectors, dtype=np.float32)
    n = len(id_a)
    if vec_a.ndim != 2 or vec_a.shape[1] != dim:
        raise ValueError(f"vectors must be (n, {dim}), got {vec_a.shape}")
    if not len(fid_a) == len(t_a) == len(kind_a) == vec_a.shape[0] == n:
        raise ValueError("ids, file_ids, ts, kinds and vectors must have the same length")
    if n == 0:
        return id_a, fid_a, t_a, kind_a, vec_a, np.zeros(0, dtype=np.int64)
    if (id_a < 0).any() or (fid_a < 0).any():
        raise ValueError("ids and file_ids must be non-negative")
    if (kind_a < 0).any() or (kind_a > 127).any():
        raise ValueError("kinds must be in [0, 127]")
    if not np.isfinite(vec_a).all() or not np.linalg.norm(vec_a, axis=1).all():
        raise ValueError("vectors must be finite and non-zero (cosine is undefined otherwise)")
    # Keep the last row of a repeated id: Milvus would store both inside one request.
    _, last = np.unique(id_a[::-1], return_index=True)
    keep = np.sort(n - 1 - last)
    return id_a, fid_a, t_a, kind_a, vec_a, keep


def dim_mismatch(name: str, have: int, want: int) -> str:
    return (
        f"Vector collection '{name}' holds {have}-d vectors but the model makes {want}-d ones; "
        "the library must be re-indexed for this model."
    )


def filter_expr(kinds: Sequence[int] | None, file_ids: Sequence[int] | None) -> str:
    parts = []
    if kinds is not None:
        parts.append(f"kind in {sorted({int(k) for k in kinds})}")
    if file_ids is not None:
        parts.append(f"file_id in {sorted({int(f) for f in file_ids})}")
    return " and ".join(parts)


def reason(err: BaseException) -> str:
    """A readable reason from a Milvus or gRPC error."""
    if isinstance(err, MilvusException):
        return str(err.message)
    if isinstance(err, grpc.RpcError):
        return f"{err.code().name}: {err.details()}"
    return str(err)


def hits_from(res: Any) -> list[list[Hit]]:
    """pymilvus search results as lists of :class:`Hit`."""
    return [
        [
            Hit(int(h["id"]), int(h["entity"]["file_id"]), float(h["entity"]["t"]), float(h["distance"]))
            for h in hits
        ]
        for hits in res
    ]


def empty_vectors(dim: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros((0, dim), dtype=np.float32)


class _NoSessionTsWarning(logging.Filter):
    """Drops pymilvus' "failed to get mvccTs" warning: Milvus Lite has no session timestamps, so every
    query iterator over Lite would print it (the client-side timestamp it falls back to is right)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


def quiet_lite_iterator() -> None:
    logger = logging.getLogger("pymilvus.client.iterator.query_iterator")
    if not any(isinstance(f, _NoSessionTsWarning) for f in logger.filters):
        logger.addFilter(_NoSessionTsWarning())
