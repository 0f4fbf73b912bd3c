"""Per (file, analyzer) state in the catalog: table ``analyses`` (created by the v4 upgrade).

A row says what one analyzer made of one file, at which version: ``done``, or ``failed`` with the
reason. No row (or a row of another version, or ``pending``) means pending: a new analyzer, a new
version and a new file need no write to be picked up. Rows go with their file (the catalog's remove
and reset hooks), so a changed file is analyzed again by everything.

Embedding analyzers take files in any state but offline (their pipeline is what makes a file indexed);
the others take only indexed files, so they fill in behind the embedding.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from engine.storage import catalog as cat

DONE = "done"
FAILED = "failed"
PENDING = "pending"
STATES = (DONE, PENDING, FAILED)


def record(
    catalog: cat.Catalog, file_id: int, analyzer: str, version: int, state: str, error: str | None = None
) -> None:
    """Set one (file, analyzer) state. Joins the caller's transaction if there is one (the pipeline
    writes its embedding's 'done' in the same commit as the row's 'indexed')."""
    catalog.execute(
        "INSERT OR REPLACE INTO analyses(file_id, analyzer, version, state, error, updated_at) "
        "VALUES (?,?,?,?,?,?)",
        (file_id, analyzer, version, state, cat.sql_text(error[:2000]) if error else None, time.time()),
    )


def record_result(
    catalog: cat.Catalog, row: cat.FileRow, analyzer: str, version: int, state: str, error: str | None = None
) -> bool:
    """Set a slow analyzer's outcome for ``row``, only if the file is still the one it analyzed (same
    size and mtime, still indexed): a file changed or removed meanwhile stays pending (or gone) instead
    of being marked done with stale results. Returns whether it was recorded."""
    n = catalog.execute(
        "INSERT OR REPLACE INTO analyses(file_id, analyzer, version, state, error, updated_at) "
        "SELECT id, ?, ?, ?, ?, ? FROM files WHERE id=? AND size=? AND mtime=? AND state=?",
        (
            analyzer,
            version,
            state,
            cat.sql_text(error[:2000]) if error else None,
            time.time(),
            row.id,
            row.size,
            row.mtime,
            cat.INDEXED,
        ),
    )
    return n > 0


def _kinds_sql(kinds: Collection[str]) -> tuple[str, list[str]]:
    ks = sorted(kinds)
    return ",".join("?" * len(ks)), ks


def pending_rows(
    catalog: cat.Catalog,
    analyzer: str,
    version: int,
    kinds: Collection[str],
    *,
    limit: int | None = None,
    after_id: int = 0,
) -> list[cat.FileRow]:
    """Indexed files of ``kinds`` that ``analyzer`` at ``version`` has not done or failed, by id,
    starting after ``after_id``. A failure at an older version is pending again (the new one may
    succeed); a failure at this version waits for ``retry``."""
    if not kinds:
        return []
    marks, ks = _kinds_sql(kinds)
    sql = (
        f"SELECT {cat.FILE_COLUMNS_F} FROM files f "
        "LEFT JOIN analyses a ON a.file_id = f.id AND a.analyzer = ? "
        f"WHERE f.state = ? AND f.kind IN ({marks}) AND f.id > ? "
        "AND (a.file_id IS NULL OR a.state = ? OR a.version <> ?) ORDER BY f.id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    rows = catalog.query(sql, (analyzer, cat.INDEXED, *ks, after_id, PENDING, version))
    return [cat.file_row(r) for r in rows]


def requeue_outdated(catalog: cat.Catalog, analyzer: str, version: int, kinds: Collection[str]) -> int:
    """An embedding analyzer at a new version: its files indexed (or failed) by another version go back
    to pending for the pipeline, and nothing else of theirs is redone. Returns how many. Cheap when
    none differ (a range scan of the version index)."""
    if not kinds:
        return 0
    # The usual answer is "none": two range probes of the version index (0.01 ms at 100k files) instead
    # of an UPDATE walking the indexed files (4.5 ms), since this runs before every indexing batch.
    # (Written as a UNION: with "version < ? OR version > ?" SQLite scans the analyzer's rows, 14 ms.)
    if not catalog.query(
        "SELECT 1 FROM analyses WHERE analyzer = ? AND version < ? "
        "UNION ALL SELECT 1 FROM analyses WHERE analyzer = ? AND version > ? LIMIT 1",
        (analyzer, version, analyzer, version),
    ):
        return 0
    marks, ks = _kinds_sql(kinds)
    return catalog.execute(
        f"UPDATE files SET state = ? WHERE state IN (?, ?) AND kind IN ({marks}) AND id IN "
        "(SELECT file_id FROM analyses WHERE analyzer = ? AND (version < ? OR version > ?))",
        (cat.PENDING, cat.INDEXED, cat.FAILED, *ks, analyzer, version, version),
    )


def counts(
    catalog: cat.Catalog, analyzer: str, version: int, kinds: Collection[str], *, embedding: bool = False
) -> dict[str, int]:
    """{done, pending, failed} over the files ``analyzer`` takes: for an embedding, every file of its
    kinds that is not offline; for the others, the indexed ones."""
    out = dict.fromkeys(STATES, 0)
    if not kinds:
        return out
    marks, ks = _kinds_sql(kinds)
    if embedding:
        return _embedding_counts(catalog, analyzer, version, marks, ks)
    total = catalog.query(
        f"SELECT COUNT(*) FROM files WHERE state = ? AND kind IN ({marks})", (cat.INDEXED, *ks)
    )
    for state, n in catalog.query(
        "SELECT a.state, COUNT(*) FROM analyses a JOIN files f ON f.id = a.file_id "
        f"WHERE a.analyzer = ? AND a.version = ? AND f.state = ? AND f.kind IN ({marks}) GROUP BY a.state",
        (analyzer, version, cat.INDEXED, *ks),
    ):
        if state in (DONE, FAILED):
            out[state] = n
    # Two reads, not one snapshot: a file finished between them is counted once, never negative.
    out[PENDING] = max(0, total[0][0] - out[DONE] - out[FAILED])
    return out


def _embedding_counts(
    catalog: cat.Catalog, analyzer: str, version: int, marks: str, ks: list[str]
) -> dict[str, int]:
    # The file's own state is the truth for an embedding (the pipeline sets both in one commit, and
    # repair or a lost store re-queue rows without touching analyses); a row at another version means
    # re-embedding is due (requeue_outdated), so that file counts as pending.
    by_state = dict(
        catalog.query(f"SELECT state, COUNT(*) FROM files WHERE kind IN ({marks}) GROUP BY state", ks)
    )
    outdated = catalog.query(
        "SELECT COUNT(*) FROM analyses a JOIN files f ON f.id = a.file_id "
        f"WHERE a.analyzer = ? AND (a.version < ? OR a.version > ?) AND f.state = ? AND f.kind IN ({marks})",
        (analyzer, version, version, cat.INDEXED, *ks),
    )[0][0]
    indexed = by_state.get(cat.INDEXED, 0)
    return {
        DONE: indexed - outdated,
        PENDING: by_state.get(cat.PENDING, 0) + outdated,
        FAILED: by_state.get(cat.FAILED, 0),
    }


def failures(catalog: cat.Catalog, analyzer: str, limit: int = 50) -> list[tuple[str, str]]:
    """(path, reason) of files ``analyzer`` failed on, newest first."""
    rows = catalog.query(
        "SELECT f.path, a.error FROM analyses a JOIN files f ON f.id = a.file_id "
        "WHERE a.analyzer = ? AND a.state = ? ORDER BY a.updated_at DESC LIMIT ?",
        (analyzer, FAILED, int(limit)),
    )
    return [(cat.py_path(p), e or "unknown error") for p, e in rows]
