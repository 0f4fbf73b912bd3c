"""The vector store on the native Milvus Lite 2.5 (``milvus-lite`` 2.5.x): opening it, the index per
collection size, and the cell layout that makes big collections fast.

**Why our own cells.** Measured with 2.5.1 (docs/architecture.md, "Index per size"): its local mode
accepts IVF_FLAT and AUTOINDEX but never builds them (``describe_index`` says ``indexed_rows: 0``; an
``nprobe`` of 100,000 is accepted where a built IVF refuses anything over 65,536). Every search of such a
collection goes through segcore's interim index instead, with its own fixed nprobe: recall@10 0.922 at
100k real-shaped rows for every nprobe we pass, IVF_FLAT and AUTOINDEX alike. Only FLAT is what it says:
exact, at numpy brute-force speed, and linear in the rows (27 ms at 500k on a quiet machine, 55 ms under
load). So a collection stays FLAT up to :data:`CELLS_MIN_ROWS` rows, and beyond that its rows are
spread over :data:`CELLS` FLAT collections by the nearest of ``CELLS`` k-means centroids (an inverted
file, as IVF_FLAT is, but with every cell an exact FLAT search we control): a search scores the query
against the centroids here and searches the :data:`NPROBE` nearest cells, in parallel, and the
collection's own "main" rows, and merges.

**The layout and its crash safety.** Beside collection ``name``: ``name__lkivf_centroids`` (one row per
cell: id = cell, vector = centroid) and ``name__lkivf_000`` … (the cells; same schema). The layout is
*ready* when the centroids collection holds exactly one row per cell collection; it is written last (one
insert), after the cells exist and before any row moves, so a kill before it leaves empty cells, which
the next open drops. Once ready, every write goes to the row's cell, and a background thread moves the
main collection's rows into their cells, a chunk at a time: mark the chunk's keys in a file, insert
into the cells, delete from main, remove the mark (an open after a kill takes a marked chunk's copies
out of the cells again). A row is thus always in main or in
its cell or, for a moment, in both (searches and reads keep one copy per key; counts take the write lock,
which a chunk holds). A kill mid-move leaves a store that opens and answers; the next open resumes the
move. A layout is never taken back down: a collection that shrinks stays in cells (its searches stay
right, a little slower than FLAT).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pymilvus import MilvusClient

from engine.errors import StoreError
from engine.storage.milvus_lite import NativeLite
from engine.storage.store_common import (
    CONNECT_TIMEOUT_S,
    FIELDS,
    HIT_FIELDS,
    LOAD_TIMEOUT_S,
    MAX_TOPK,
    RPC_TIMEOUT_S,
    WRITE_CHUNK,
    CollectionInfo,
    Hit,
    StoreHost,
    hits_from,
    new_schema,
    reason,
)

log = logging.getLogger(__name__)

S = TypeVar("S", bound=StoreHost)

#: Exact FLAT up to this many rows in a collection, cells beyond. Where FLAT stops being the fastest
#: (bench/bench_lite_index.py, real-shaped 256-d rows, 2 shared cores): at 100k FLAT 11-15 ms against
#: cells' ~6-10 ms (mostly the per-call cost of 11 searches, ~0.8 ms each); at 500k FLAT 27 ms quiet /
#: 44-55 ms under load against cells' 12 ms. Below 200k the gain is a few ms and the layout's cost (a
#: build, fan-out writes) is not worth it.
CELLS_MIN_ROWS = 200_000
#: Cells per layout. 64 at 500k rows is ~8k rows a cell (the measured sizes run 1k-24k: real libraries
#: cluster). Measured at 500k (recall@10 against exact, mean over 100 real-shaped queries): 32 cells
#: nprobe 5: 0.989, 8: 0.999; 64 cells nprobe 8: 0.995, 10: 0.996; 128 cells nprobe 12: 0.992.
CELLS = 64
#: Cells searched per query (besides main): recall@10 >= 0.99 with a margin on the measurements above.
NPROBE = 10
#: k-means sample: rows per cell.
_SAMPLE_PER_CELL = 100
_KMEANS_ITERS = 15
#: Rows moved from main into the cells per step (the write lock is held for one step, ~1 s).
MOVE_CHUNK = 5_000
#: Vectors fetched per wanted file by a grouped search before Milvus' own (slow) group_by.
GROUP_TRY = 2
_TAG = "__lkivf_"
_WORKERS = 8


def centroids_name(name: str) -> str:
    return f"{name}{_TAG}centroids"


def cell_name(name: str, k: int) -> str:
    return f"{name}{_TAG}{k:03d}"


def is_internal(name: str) -> bool:
    """Whether ``name`` is one of the cell layout's own collections (not listed to callers)."""
    return _TAG in name


def native_index(rows: int) -> tuple[str, int]:
    """``(layout, cells)`` for a native Lite collection of ``rows`` rows: ``("FLAT", 0)`` up to
    :data:`CELLS_MIN_ROWS`, ``("CELLS", CELLS)`` beyond."""
    return ("FLAT", 0) if rows <= CELLS_MIN_ROWS else ("CELLS", CELLS)


# ── opening, moving a 3.2 library in ────────────────────────────────────────────────────────


def open_native(cls: Callable[..., S], path: Path) -> S:
    """Milvus Lite 2.5.x: our own ``milvus`` process on a private Unix socket (storage.milvus_lite).
    The store's ``open`` then copies in a 3.2.x database found in ``path`` (``store_migrate``).

    Raises:
        LibraryBusyError: another process (or this one) has the database open.
        StoreError: the server cannot start.
    """
    native = NativeLite.start(path)
    try:
        client = MilvusClient(uri=native.uri, timeout=CONNECT_TIMEOUT_S)
        store = cls(client, is_lite=True, endpoint=native.uri, lite_path=path, native=native)
    except Exception as err:  # MilvusException, grpc.RpcError, ...: never leave the server running
        native.stop()
        raise StoreError(f"Could not connect to Milvus Lite in {path}: {reason(err)}") from err
    atexit.register(store.close)
    return store


# ── collections and their layout ────────────────────────────────────────────────────────────


@dataclass
class Cells:
    """A ready cell layout of one collection: its centroids (unit rows) and cell collection names."""

    centroids: np.ndarray
    names: list[str]

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        """The cell of each (not necessarily unit) row: its nearest centroid by cosine."""
        return np.argmax(vectors @ self.centroids.T, axis=1)

    def all_names(self, name: str) -> list[str]:
        return [name, *self.names]


def attach_native(store: StoreHost, name: str, dim: int) -> CollectionInfo:
    """Give the collection its FLAT index if it has none (or the fake IVF of older versions), load it,
    and find its cell layout: a ready one is used (and an interrupted move resumed), a partial one
    (a kill while it was made) dropped, and one is started in the background when the rows call for it."""
    ensure_flat(store, name)
    info = CollectionInfo(dim=dim, nlist=1, index_type="FLAT")
    cells = _read_layout(store, name, dim)
    if cells is not None:
        info.cells, info.index_type, info.nlist = cells, "CELLS", len(cells.names)
        _settle(store, name, cells)
        main_rows = _count_one(store, name)
        info.rows = main_rows + sum(_count_one(store, n) for n in cells.names)
        if main_rows:
            log.info("vector collection %s: %d rows still to move into its cells", name, main_rows)
            _start(store, name, _resume, info)
    else:
        info.rows = _count_one(store, name)
    store._collections[name] = info
    fit(store, name, info)
    return info


def ensure_flat(store: StoreHost, name: str) -> None:
    """Give ``name`` a FLAT index (creating it, or replacing another kind), and load it."""
    c = store._client
    kind = ""
    if "vector" in store._call("list indexes", name, c.list_indexes, name):
        kind = str(
            store._call("describe index", name, c.describe_index, name, "vector").get("index_type", "")
        )
    if kind.upper() not in ("", "FLAT"):
        log.info("vector collection %s: index %s -> FLAT (2.5.1 never builds it)", name, kind)
        store._call("release", name, c.release_collection, name)
        store._call("drop index", name, c.drop_index, name, "vector")
        kind = ""
    if not kind:
        params = c.prepare_index_params()
        params.add_index(field_name="vector", index_type="FLAT", metric_type="COSINE", params={})
        store._call("index", name, c.create_index, name, params, sync=False)
    store._call("load", name, c.load_collection, name, timeout=LOAD_TIMEOUT_S)


def _create_plain(store: StoreHost, name: str, dim: int) -> None:
    c = store._client
    if not store._call("check", name, c.has_collection, name):
        schema = new_schema(c, dim)
        store._call("create", name, c.create_collection, name, schema=schema, consistency_level="Session")
    ensure_flat(store, name)


def _layout_names(store: StoreHost, name: str) -> tuple[bool, list[str]]:
    """(whether the centroids collection exists, the cell collections that exist, in cell order)."""
    every = set(store._call("list collections", "", store._client.list_collections))
    cells = sorted(n for n in every if n.startswith(f"{name}{_TAG}") and n[len(name) + len(_TAG) :].isdigit())
    return centroids_name(name) in every, cells


def _read_layout(store: StoreHost, name: str, dim: int) -> Cells | None:
    """The ready layout of ``name``, or None; a partial one is dropped (its cells hold no rows yet)."""
    has_centroids, cells = _layout_names(store, name)
    if not has_centroids and not cells:
        return None
    if has_centroids:
        cname = centroids_name(name)
        store._call("load", cname, store._client.load_collection, cname, timeout=LOAD_TIMEOUT_S)
        rows = store._call(
            "read the cells of",
            name,
            store._client.query,
            cname,
            filter="",
            output_fields=["id", "vector"],
            limit=16_384,
            timeout=RPC_TIMEOUT_S,
        )
        ids = sorted(int(r["id"]) for r in rows)
        if cells and ids == list(range(len(cells))) and cells == [cell_name(name, k) for k in ids]:
            for n in cells:
                ensure_flat(store, n)
            cent = np.zeros((len(ids), dim), dtype=np.float32)
            for r in rows:
                cent[int(r["id"])] = np.asarray(r["vector"], dtype=np.float32)
            return Cells(centroids=cent, names=cells)
    log.warning("vector collection %s: dropping a cell layout left unfinished by a kill", name)
    drop_layout(store, name)
    return None


def drop_layout(store: StoreHost, name: str) -> None:
    """Drop the cell layout of ``name`` (centroids first: the layout is then no longer ready)."""
    has_centroids, cells = _layout_names(store, name)
    c = store._client
    if has_centroids:
        store._call("drop", name, c.drop_collection, centroids_name(name))
    for n in cells:
        store._call("drop", n, c.drop_collection, n)
    with contextlib.suppress(OSError):
        _marker(store, name).unlink()


def fit(store: StoreHost, name: str, info: CollectionInfo) -> None:
    """Start the cell layout in the background once a FLAT collection has more rows than
    :data:`CELLS_MIN_ROWS` (``info.rows`` is an upper bound: counted first)."""
    if info.cells is not None or native_index(info.rows)[0] == "FLAT":
        return
    info.rows = _count_one(store, name)
    if native_index(info.rows)[0] == "FLAT" or info.building:
        return
    log.info("vector collection %s: %d rows, making its cell layout in the background", name, info.rows)
    info.building = True
    _start(store, name, _build, info)


def _start(store: StoreHost, name: str, work: Callable[..., None], info: CollectionInfo) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=work, args=(store, name, info, stop), name=f"cells-{name}", daemon=True)
    store._cell_threads.append((thread, stop))
    thread.start()


def _build(store: StoreHost, name: str, info: CollectionInfo, stop: threading.Event) -> None:
    """The layout of a FLAT collection: k-means on a sample, the cells, the centroids; then the move."""
    try:
        sample = _sample(store, name, info.rows)
        if stop.is_set():
            return
        k = min(CELLS, max(1, len(sample) // 4))
        cent = kmeans(sample, k)
        with store._write_lock:
            if stop.is_set() or store._closed or store._collections.get(name) is not info:
                return
            for j in range(k):
                _create_plain(store, cell_name(name, j), info.dim)
            # The centroids last, in one insert: from here the layout is ready and writes go to the cells.
            _create_plain(store, centroids_name(name), info.dim)
            rows = [{"id": j, "file_id": j, "t": 0.0, "kind": 0, "vector": cent[j]} for j in range(k)]
            store._call("write the cells of", name, store._client.insert, centroids_name(name), rows)
            info.cells = Cells(centroids=cent, names=[cell_name(name, j) for j in range(k)])
            info.index_type, info.nlist = "CELLS", k
        log.info("vector collection %s: %d cells ready; moving its rows into them", name, k)
        _move(store, name, info, stop)
    except Exception as err:  # StoreError and the like: the store stays usable as it is; next open retries
        log.warning("vector collection %s: making its cell layout stopped: %s", name, err)
    finally:
        info.building = False


def _resume(store: StoreHost, name: str, info: CollectionInfo, stop: threading.Event) -> None:
    try:
        _move(store, name, info, stop)
    except Exception as err:  # as in _build
        log.warning("vector collection %s: moving rows into its cells stopped: %s", name, err)


def _move(store: StoreHost, name: str, info: CollectionInfo, stop: threading.Event) -> None:
    """Move main's rows into their cells, a chunk per write-lock hold, until main is empty.

    Each chunk's keys are written to a marker file first (renamed into place), then the rows go into
    their cells, then they leave main, then the marker goes: a kill anywhere in between leaves the
    marker, and :func:`_settle` takes the chunk's copies out of the cells again on the next open."""
    moved = 0
    marker = _marker(store, name)
    while not stop.is_set():
        with store._write_lock:
            if store._closed or store._collections.get(name) is not info or info.cells is None:
                return
            rows = store._call(
                "move rows of",
                name,
                store._client.query,
                name,
                filter="",
                output_fields=list(FIELDS),
                limit=MOVE_CHUNK,
                timeout=RPC_TIMEOUT_S,
            )
            if not rows:
                log.info("vector collection %s: %d rows moved into its cells", name, moved)
                return
            keys = [int(r["id"]) for r in rows]
            _write_marker(marker, keys)
            _insert_into_cells(store, info.cells, rows)
            store._call("move rows of", name, store._client.delete, name, ids=keys, timeout=RPC_TIMEOUT_S)
            marker.unlink()
            moved += len(rows)


def _marker(store: StoreHost, name: str) -> Path:
    folder = store._lite_path if store._lite_path is not None else Path(".")
    return folder / f".cells-{name}.moving"


def _write_marker(marker: Path, keys: list[int]) -> None:
    tmp = marker.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(keys, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, marker)


def _settle(store: StoreHost, name: str, cells: Cells) -> None:
    """After a kill mid-chunk: the marked keys still in main are taken out of the cells (they move again),
    so no key is counted twice; keys already gone from main stay in their cells."""
    marker = _marker(store, name)
    if not marker.exists():
        return
    try:
        keys = [int(k) for k in json.loads(marker.read_text())]
    except (OSError, ValueError):
        keys = []
    for start in range(0, len(keys), WRITE_CHUNK):
        chunk = keys[start : start + WRITE_CHUNK]
        rows = store._call(
            "check the cells of",
            name,
            store._client.query,
            name,
            filter=f"id in {chunk}",
            output_fields=["id"],
            timeout=RPC_TIMEOUT_S,
        )
        still = [int(r["id"]) for r in rows]
        if still:
            fan_out(
                store,
                [
                    partial(store._call, "check the cells of", n, store._client.delete, n, ids=still)
                    for n in cells.names
                ],
            )
    log.info("vector collection %s: a move cut short by a kill was settled (%d keys)", name, len(keys))
    marker.unlink()


def _sample(store: StoreHost, name: str, rows: int) -> np.ndarray:
    """About ``CELLS * _SAMPLE_PER_CELL`` unit vectors of the collection, spread over its files."""
    want = CELLS * _SAMPLE_PER_CELL
    step = max(1, rows // want)
    got = store._call(
        "sample",
        name,
        store._client.query,
        name,
        filter=f"file_id % {step} == 0" if step > 1 else "",
        output_fields=["vector"],
        limit=min(16_384, 2 * want),
        timeout=RPC_TIMEOUT_S,
    )
    if len(got) < want // 4:  # few files with many vectors each (long videos): take any rows
        got = store._call(
            "sample",
            name,
            store._client.query,
            name,
            filter="",
            output_fields=["vector"],
            limit=want,
            timeout=RPC_TIMEOUT_S,
        )
    v = np.asarray([r["vector"] for r in got], dtype=np.float32).reshape(len(got), -1)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def kmeans(sample: np.ndarray, k: int, *, iters: int = _KMEANS_ITERS, seed: int = 0) -> np.ndarray:
    """Spherical k-means: ``k`` unit centroids of unit rows ``sample`` (an empty cell is re-seeded)."""
    rng = np.random.default_rng(seed)
    cent = sample[rng.choice(len(sample), size=k, replace=False)].copy()
    for _ in range(iters):
        assign = np.argmax(sample @ cent.T, axis=1)
        sums = np.zeros_like(cent)
        np.add.at(sums, assign, sample)
        counts = np.bincount(assign, minlength=k)
        empty = counts == 0
        sums[empty] = sample[rng.choice(len(sample), size=int(empty.sum()))]
        cent = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return cent.astype(np.float32)


def search_grouped(
    store: StoreHost, info: CollectionInfo, name: str, q: np.ndarray, limit: int, expr: str
) -> list[list[Hit]]:
    """Native Lite: one plain search for ``limit * 2`` vectors, grouped here; Milvus' own group_by
    only for the queries where that top list holds fewer than ``limit`` files (a long video's frames).

    Exact: when the top K vectors hold at least ``limit`` files, no file outside them can beat the
    ``limit``-th (its best vector scores at most the K-th). Measured at 100k 256-d rows: a plain
    search 12 ms, group_by 56 ms (2.5.1 groups by iterating its search)."""
    fetch = min(MAX_TOPK, limit * GROUP_TRY)
    raw = store._search(name, info, q, fetch, expr, filtered=bool(expr))
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
    if again and info.cells is not None:  # Milvus' group_by within each cell would not merge
        for i, hits in zip(again, store._search_grouped(name, info, q[again], limit, expr), strict=True):
            results[i] = hits
    elif again:
        grouped = store._search(name, info, q[again], limit, expr, filtered=bool(expr), group=True)
        for i, hits in zip(again, grouped, strict=True):
            results[i] = hits
            if len(hits) < limit:  # group_by's own over-fetch may run dry: make sure
                results[i] = store._search_grouped(name, info, q[i : i + 1], limit, expr)[0]
    return results


# ── writes and reads over a layout ──────────────────────────────────────────────────────────


def _pool(store: StoreHost) -> ThreadPoolExecutor:
    if store._pool is None:
        store._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="lite-cells")
    return store._pool


def fan_out(store: StoreHost, calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run the calls on the store's pool (searches of several cells overlap); their results in order."""
    if len(calls) == 1:
        return [calls[0]()]
    return list(_pool(store).map(lambda f: f(), calls))


def _insert_into_cells(store: StoreHost, cells: Cells, rows: list[dict[str, Any]]) -> None:
    vecs = np.asarray([r["vector"] for r in rows], dtype=np.float32)
    where = cells.assign(vecs)
    c = store._client
    calls: list[Callable[[], Any]] = []
    for k in np.unique(where).tolist():
        part = [rows[j] for j in np.flatnonzero(where == k)]
        target = cells.names[k]

        calls.append(
            partial(store._call, "write vectors to", target, c.insert, target, part, timeout=RPC_TIMEOUT_S)
        )
    fan_out(store, calls)


def write(store: StoreHost, name: str, info: CollectionInfo, rows: list[dict[str, Any]]) -> None:
    """Insert or replace ``rows`` by key (under the write lock). 2.5.1's upsert costs ~0.1 s a call at
    100k rows, whatever the batch (it looks every key up); a delete by key and an insert are ~15 ms and
    leave the same rows. A kill between the two loses rows whose file is not yet marked indexed: redone
    on restart. With cells, the keys are deleted everywhere (a row's cell follows its vector) and each
    row goes to its cell."""
    c = store._client
    keys = [r["id"] for r in rows]
    targets = [name] if info.cells is None else info.cells.all_names(name)
    fan_out(
        store,
        [
            partial(store._call, "write vectors to", name, c.delete, n, ids=keys, timeout=RPC_TIMEOUT_S)
            for n in targets
        ],
    )
    if info.cells is None:
        store._call("write vectors to", name, c.insert, name, rows, timeout=RPC_TIMEOUT_S)
    else:
        _insert_into_cells(store, info.cells, rows)


def delete_where(store: StoreHost, name: str, info: CollectionInfo, expr: str) -> int:
    """Delete the rows matching ``expr`` from the collection and its cells; how many went."""
    c = store._client
    targets = [name] if info.cells is None else info.cells.all_names(name)
    res = fan_out(
        store,
        [
            partial(store._call, "delete from", name, c.delete, n, filter=expr, timeout=RPC_TIMEOUT_S)
            for n in targets
        ],
    )
    return sum(len(r) if isinstance(r, list) else int(r.get("delete_count", 0)) for r in res)


def search(
    store: StoreHost, name: str, info: CollectionInfo, q: np.ndarray, limit: int, expr: str
) -> list[list[Hit]]:
    """Plain search of a collection: FLAT, or the nearest :data:`NPROBE` cells and main (every cell under
    a filter, which may leave the nearest cells with no matching row), merged best first."""
    c = store._client

    def one(target: str, rows: np.ndarray) -> list[list[Hit]]:
        res = store._call(
            "search",
            name,
            c.search,
            target,
            data=list(rows),
            limit=limit,
            filter=expr,
            output_fields=HIT_FIELDS,
            search_params={"metric_type": "COSINE", "params": {}},
            timeout=RPC_TIMEOUT_S,
        )
        return hits_from(res)

    cells = info.cells
    if cells is None:
        return one(name, q)
    k = len(cells.names)
    every = bool(expr) or k <= NPROBE
    if every:
        probe = np.tile(np.arange(k), (len(q), 1))
    else:
        probe = np.argpartition(-(q @ cells.centroids.T), NPROBE - 1, axis=1)[:, :NPROBE]
    tasks: list[tuple[str, np.ndarray]] = [(name, np.arange(len(q)))]
    for j in range(k):
        who = np.flatnonzero((probe == j).any(axis=1))
        if len(who):
            tasks.append((cells.names[j], who))
    parts = fan_out(store, [partial(one, t, q[w]) for t, w in tasks])
    merged: list[dict[int, Hit]] = [{} for _ in range(len(q))]
    for (_, who), hits in zip(tasks, parts, strict=True):
        for i, hs in zip(who.tolist(), hits, strict=True):
            best = merged[i]
            for h in hs:  # a row being moved may be in main and its cell for a moment: keep one
                if h.id not in best or best[h.id].score < h.score:
                    best[h.id] = h
    out = [sorted(m.values(), key=lambda h: -h.score)[:limit] for m in merged]
    short = [i for i, hits in enumerate(out) if len(hits) < limit]
    if short and not every:
        # Fewer rows than asked in the probed cells: ask every cell, so that a short answer still means
        # "no more rows" (the grouped search relies on it).
        for i, hits in zip(short, search_every(store, name, info, q[short], limit, expr), strict=True):
            out[i] = hits
    return out


def search_every(
    store: StoreHost, name: str, info: CollectionInfo, q: np.ndarray, limit: int, expr: str
) -> list[list[Hit]]:
    """Every cell searched (exact): :func:`search` with a filter that admits every row."""
    return search(store, name, info, q, limit, expr or "id >= 0")


def query_all(
    store: StoreHost, name: str, info: CollectionInfo, expr: str, fields: list[str]
) -> list[dict[str, Any]]:
    """Rows matching ``expr`` from the collection and its cells (one per key), with ``fields``."""
    c = store._client
    targets = [name] if info.cells is None else info.cells.all_names(name)
    want = fields if "id" in fields else ["id", *fields]
    res = fan_out(
        store,
        [
            partial(
                store._call,
                "read vectors from",
                name,
                c.query,
                n,
                filter=expr,
                output_fields=want,
                timeout=RPC_TIMEOUT_S,
            )
            for n in targets
        ],
    )
    if len(res) == 1:
        return list(res[0])
    seen: dict[int, dict[str, Any]] = {}
    for rows in res:
        for r in rows:
            seen.setdefault(int(r["id"]), r)
    return list(seen.values())


def _count_one(store: StoreHost, target: str) -> int:
    rows = store._call(
        "count",
        target,
        store._client.query,
        target,
        filter="",
        output_fields=["count(*)"],
        timeout=RPC_TIMEOUT_S,
    )
    return int(rows[0]["count(*)"])


def count(store: StoreHost, name: str, info: CollectionInfo) -> int:
    """Rows of the collection and its cells (under the write lock: no row is in two places then)."""
    if info.cells is None:
        return _count_one(store, name)
    with store._write_lock:
        names = info.cells.all_names(name)
        return sum(fan_out(store, [partial(_count_one, store, n) for n in names]))


def targets(info: CollectionInfo, name: str) -> list[str]:
    """The collections that hold ``name``'s rows."""
    return [name] if info.cells is None else info.cells.all_names(name)


def wait_layout(store: StoreHost, timeout: float | None = None) -> bool:
    """Wait for the background layout threads; True when none is left running."""
    for thread, _ in list(store._cell_threads):
        thread.join(timeout)
    return not any(t.is_alive() for t, _ in store._cell_threads)


def stop_layout_threads(store: StoreHost) -> None:
    """Ask the background layout threads to stop after their current step and wait for them."""
    for thread, stop in list(store._cell_threads):
        stop.set()
        if thread is not threading.current_thread():
            thread.join()
    store._cell_threads.clear()
