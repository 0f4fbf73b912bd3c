"""Moving a library written by the pure-Python Milvus Lite 3.2 into the native Milvus Lite 2.5, without
embedding anything again (the 3.2 files are read with pyarrow: engine.storage.milvus_lite)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from engine.errors import StoreError
from engine.storage.store_common import Hit

log = logging.getLogger(__name__)


class Target(Protocol):
    """The store the vectors are copied into (the public calls of engine.storage.store's store)."""

    def drop_collection(self, name: str) -> None: ...

    def ensure_collection(self, name: str, dim: int) -> None: ...

    def upsert(
        self,
        name: str,
        ids: Sequence[int] | np.ndarray,
        file_ids: Sequence[int] | np.ndarray,
        ts: Sequence[float] | np.ndarray,
        kinds: Sequence[int] | np.ndarray,
        vectors: np.ndarray,
    ) -> None: ...

    def flush(self) -> None: ...

    def count(self, name: str) -> int: ...

    def get_vectors_many(
        self, name: str, file_ids: Sequence[int], *, kinds: Sequence[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def search(
        self,
        name: str,
        queries: np.ndarray,
        limit: int,
        *,
        kinds: Sequence[int] | None = None,
        file_ids: Sequence[int] | None = None,
        group_by_file: bool = False,
    ) -> list[list[Hit]]: ...


def migrate_lite3(store: Target, path: Path, *, sample: int = 256) -> None:
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
        store.drop_collection(name)  # a copy cut short by a kill, if any
        store.ensure_collection(name, old.dim)
        keep = np.linalg.norm(old.vectors, axis=1) > 0
        if not keep.all():  # never accepted by upsert(); 3.2 had no such check for other writers
            log.warning("%s: leaving out %d zero vectors", name, int((~keep).sum()))
        for start in range(0, len(old.ids), 20_000):
            sl = slice(start, start + 20_000)
            k = keep[sl]
            store.upsert(
                name,
                old.ids[sl][k],
                old.file_ids[sl][k],
                old.ts[sl][k],
                old.kinds[sl][k],
                old.vectors[sl][k],
            )
        store.flush()
        want = int(keep.sum())
        got = store.count(name)
        if got != want:
            raise StoreError(
                f"Copying vector collection '{name}' from Milvus Lite 3.2 gave {got} rows instead of "
                f"{want}; the old files are kept in {path}."
            )
        live = np.flatnonzero(keep)
        pick = rng.choice(live, size=min(sample, len(live)), replace=False) if len(live) else live
        _check_copy(store, name, old.file_ids[pick], old.vectors[pick], path)
        log.info("copied %d vectors of %s from Milvus Lite 3.2", got, name)
    try:
        aside = set_lite3_aside(path)
    except OSError as err:
        raise StoreError(f"Could not move the old Milvus Lite 3.2 files in {path} aside: {err}") from err
    log.info("the Milvus Lite 3.2 files are kept in %s (safe to delete)", aside)


def _check_copy(store: Target, name: str, file_ids: np.ndarray, vectors: np.ndarray, path: Path) -> None:
    """Each sampled old vector is stored unchanged (cosine 1) and is its own best search hit."""
    if not len(file_ids):
        return
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    got_ids, got_vecs = store.get_vectors_many(name, sorted({int(f) for f in file_ids}))
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
    hits = store.search(name, unit, 1)
    found = all(h and h[0].score > 0.999 for h in hits)
    if worst < 0.9999 or not found:
        raise StoreError(
            f"Copying vector collection '{name}' from Milvus Lite 3.2 changed its vectors (lowest "
            f"cosine {worst:.5f}, all found: {found}); the old files are kept in {path}."
        )
