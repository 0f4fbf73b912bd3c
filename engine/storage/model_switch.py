"""What a model switch keeps in the catalog besides its per-file state (engine.indexing.switches).

A new sound model's AudioSet tags cannot go into ``sound_tags`` while the switch runs: that table holds
one model's tags per file, and text→sound search reads the old model's until the switch completes. They
wait in ``switch_tags`` and move into ``sound_tags`` in the transaction that completes the switch. Rows
go with their file (removed or changed), like every side table's.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from engine.storage.catalog import Catalog

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS switch_tags "
    "(file_id INTEGER PRIMARY KEY, model TEXT NOT NULL, scores BLOB NOT NULL)"
)
#: Catalogs whose table and hooks are set up in this process.
_ready: weakref.WeakKeyDictionary[Catalog, bool] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _ensure(catalog: Catalog) -> None:
    if _ready.get(catalog):
        return
    with _lock:
        if _ready.get(catalog):
            return
        catalog.execute(_SCHEMA)
        catalog.on_remove(lambda ids: _forget(catalog, ids))
        catalog.on_reset(lambda ids: _forget(catalog, ids))
        _ready[catalog] = True


def _forget(catalog: Catalog, file_ids: list[int]) -> None:
    for i in range(0, len(file_ids), 500):
        chunk = file_ids[i : i + 500]
        catalog.execute(f"DELETE FROM switch_tags WHERE file_id IN ({','.join('?' * len(chunk))})", chunk)


def stage_tags(catalog: Catalog, file_id: int, model: str, scores: np.ndarray) -> None:
    """Keep a file's tags from the model being switched to (float16, as ``sound_tags`` stores them)."""
    _ensure(catalog)
    blob = np.asarray(scores, dtype=np.float16).tobytes()
    catalog.execute(
        "INSERT OR REPLACE INTO switch_tags(file_id, model, scores) VALUES (?,?,?)", (file_id, model, blob)
    )


def move_tags(catalog: Catalog, model: str) -> int:
    """Move ``model``'s staged tags into ``sound_tags`` (replacing the old model's; a file removed while
    this process had not set up the removal hook is left out); joins the caller's transaction. Returns
    how many moved."""
    _ensure(catalog)
    n = catalog.execute(
        "INSERT OR REPLACE INTO sound_tags(file_id, model, scores) "
        "SELECT file_id, model, scores FROM switch_tags WHERE model=? AND file_id IN (SELECT id FROM files)",
        (model,),
    )
    catalog.execute("DELETE FROM switch_tags WHERE model=?", (model,))
    catalog.tags_version += 1
    return n


def forget_tags(catalog: Catalog, model: str | None = None) -> None:
    """Drop staged tags (of ``model``, or all): a switch abandoned or started over."""
    _ensure(catalog)
    if model is None:
        catalog.execute("DELETE FROM switch_tags")
    else:
        catalog.execute("DELETE FROM switch_tags WHERE model=?", (model,))


def staged_count(catalog: Catalog, model: str) -> int:
    _ensure(catalog)
    return int(catalog.query("SELECT COUNT(*) FROM switch_tags WHERE model=?", (model,))[0][0])
