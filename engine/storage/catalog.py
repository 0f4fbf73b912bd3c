"""The catalog: one SQLite row per media file (WAL mode), the source of truth for what is indexed.

It drives reconciliation (size and mtime, then content hash), move/rename detection (same hash, new
path), the list of failures with their reasons, and keyword search over names.

Write order with the vector store (docs/architecture.md, "Crash safety"): vectors are upserted by key
first, then the row is marked ``indexed``. A row in any other state is redone on the next run, and
upserts by key make redoing idempotent, so a crash at any moment is harmless.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import LookalikeError
from engine.storage.integrity import GuardedConnection

SCHEMA_VERSION = 4

PENDING = "pending"
INDEXED = "indexed"
FAILED = "failed"
OFFLINE = "offline"


@dataclass
class FileRow:
    id: int
    path: str
    size: int
    mtime: float
    hash: str | None
    kind: str
    state: str
    error: str | None
    model: str | None
    duration: float | None
    added_at: float
    indexed_at: float | None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


_COLUMNS = "id, path, size, mtime, hash, kind, state, error, model, duration, added_at, indexed_at"
#: The columns of a FileRow with a table alias, for queries that join ``files AS f`` to a side table.
FILE_COLUMNS_F = ", ".join(f"f.{c}" for c in _COLUMNS.split(", "))

#: Rows inside a folder: a range over text paths, and one over paths stored as bytes (see sql_path).
_UNDER = "((path >= ? AND path < ?) OR (path >= ? AND path < ?))"


def _under_args(folder: str) -> tuple[str, str, bytes, bytes]:
    prefix = folder.rstrip(os.sep) + os.sep
    raw = os.fsencode(prefix)
    # The text range is only meaningful for a folder whose own name is valid Unicode; an odd folder's
    # rows are all bytes (an empty text range then).
    text = prefix if isinstance(sql_path(prefix), str) else ""
    return text, (text[:-1] + chr(ord(os.sep) + 1)) if text else "", raw, raw[:-1] + bytes([raw[-1] + 1])

# The upgrade ladder: _MIGRATIONS[n] takes a database from version n to n + 1.
_MIGRATIONS: dict[int, str] = {
    0: """
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        hash TEXT,
        kind TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        error TEXT,
        model TEXT,
        added_at REAL NOT NULL,
        indexed_at REAL
    );
    CREATE INDEX files_state ON files(state);
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
    """,
    1: """
    ALTER TABLE files ADD COLUMN duration REAL;
    CREATE VIRTUAL TABLE IF NOT EXISTS names USING fts5(name, content='', tokenize='unicode61');
    """,
    2: """
    CREATE TABLE sound_tags (file_id INTEGER PRIMARY KEY, model TEXT NOT NULL, scores BLOB NOT NULL);
    """,
    # Per (file, analyzer) state (engine.storage.analyses). A file with no row for an analyzer that
    # takes it is pending for it, so a new analyzer needs no backfill and a new file no extra write.
    # Files embedded before this version get their embedding analyzer's row (version 1, the code that
    # made them): done, or failed with the reason; the slower analyzers are pending for all of them.
    # Offline rows count as what they were (the rule of scan._restore_offline).
    3: """
    CREATE TABLE analyses (
        file_id INTEGER NOT NULL,
        analyzer TEXT NOT NULL,
        version INTEGER NOT NULL,
        state TEXT NOT NULL,
        error TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (file_id, analyzer)
    ) WITHOUT ROWID;
    CREATE INDEX analyses_version ON analyses(analyzer, version, state);
    INSERT INTO analyses(file_id, analyzer, version, state, error, updated_at)
    SELECT id,
           CASE kind WHEN 'photo' THEN 'photo_embedding' WHEN 'video' THEN 'video_embedding'
                ELSE 'sound_embedding' END,
           1,
           CASE WHEN state = 'failed' OR (state = 'offline' AND error IS NOT NULL) THEN 'failed'
                ELSE 'done' END,
           CASE WHEN state = 'indexed' THEN NULL ELSE error END,
           COALESCE(indexed_at, added_at)
    FROM files
    WHERE kind IN ('photo', 'video', 'sound')
      AND (state IN ('indexed', 'failed')
           OR (state = 'offline' AND (error IS NOT NULL
               OR (hash IS NOT NULL AND model IS NOT NULL AND indexed_at IS NOT NULL))))
    """,
}


def file_row(values: Sequence) -> FileRow:
    """A FileRow from one result row of ``SELECT`` :data:`FILE_COLUMNS_F` (paths stored as bytes decoded)."""
    return FileRow(values[0], py_path(values[1]), *values[2:])


def sql_path(path: str) -> str | bytes:
    """A path as the catalog stores it: text when it is valid Unicode (nearly always), else its bytes.

    Names from old drives and archives (Latin-1, Shift-JIS) arrive from the OS as str with surrogate
    escapes, which SQLite's text cannot hold. Their bytes are stored faithfully instead (``os.fsencode``
    gives back exactly what the file system has), so the file can still be opened by its stored path.
    """
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def py_path(value: str | bytes) -> str:
    """The inverse of :func:`sql_path`: a stored path back as the str the OS functions take."""
    return os.fsdecode(value) if isinstance(value, bytes) else value


def sql_text(text: str) -> str:
    """Any text (an error message quoting an odd file name) made storable: surrogates become ``\\udcff``."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Catalog:
    """SQLite catalog of the library's files. Thread-safe: one connection guarded by a lock.

    Raises LookalikeError when the database file is not a Lookalike catalog or is newer than this version.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        #: Bumped on every tag write, so in-memory tag matrices know when to reload.
        self.tags_version = 0
        # Side tables (OCR text, metadata, hashes) register here to drop or reset their rows in the
        # same transaction as the file row, so they never hold rows for a file that is gone or changed.
        self._remove_hooks: list[Callable[[list[int]], None]] = []
        self._reset_hooks: list[Callable[[list[int]], None]] = []
        # What was learnt about a file goes with its row, and with its old content.
        self.on_remove(self._forget_analyses)
        self.on_reset(self._forget_analyses)
        try:
            # Guarded: a damaged file raises LibraryDamagedError (with `lookalike repair`) from any statement.
            self._db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, factory=GuardedConnection
            )
            self._db.path = str(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._upgrade()
        except sqlite3.DatabaseError as exc:
            raise LookalikeError(f"Cannot open the catalog {self.path}: {exc}") from exc

    # -- schema ------------------------------------------------------------------------------------

    def _upgrade(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise LookalikeError(
                f"The catalog {self.path} was written by a newer Lookalike (schema {version}); "
                f"this version reads up to {SCHEMA_VERSION}. Update Lookalike."
            )
        while version < SCHEMA_VERSION:
            # One transaction per step, version bump included, so a crash mid-upgrade redoes the whole
            # step. The version is read again under the write lock: another process (the indexer this
            # one is watching, say) may have upgraded the file meanwhile.
            with self._tx():
                version = self._db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                for statement in _MIGRATIONS[version].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version={version + 1}")
            version += 1

    def _tx(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # -- public access for side tables ---------------------------------------------------------------

    def transaction(self) -> _Transaction:
        """``with catalog.transaction():`` groups :meth:`execute` calls into one commit under the catalog
        lock (``BEGIN IMMEDIATE``; nested uses join the outer one). Any exception rolls it all back."""
        return self._tx()

    def execute(self, sql: str, args: Sequence = ()) -> int:
        """Run one write statement under the catalog lock, in its own transaction unless inside
        :meth:`transaction`. Returns the number of rows it changed. Raises sqlite3 errors as they are."""
        with self._tx():
            return self._db.execute(sql, args).rowcount

    def query(self, sql: str, args: Sequence = ()) -> list[tuple]:
        """Run one read statement under the catalog lock and return all its rows."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def on_remove(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback(file_ids)`` inside the transaction that deletes those rows (remove, or a row
        dropped by a move onto its path). It runs under the lock, so it may use :meth:`execute`; raising
        rolls the deletion back."""
        if callback not in self._remove_hooks:
            self._remove_hooks.append(callback)

    def on_reset(self, callback: Callable[[list[int]], None]) -> None:
        """Call ``callback(file_ids)`` inside the transaction that resets those rows to pending because
        their content changed (size or mtime differ at a scan): whatever was learnt from the old content
        is stale."""
        if callback not in self._reset_hooks:
            self._reset_hooks.append(callback)

    def _forget_analyses(self, file_ids: list[int]) -> None:
        for i in range(0, len(file_ids), 500):
            chunk = file_ids[i : i + 500]
            self._db.execute(f"DELETE FROM analyses WHERE file_id IN ({','.join('?' * len(chunk))})", chunk)

    def _fire(self, hooks: list[Callable[[list[int]], None]], file_ids: list[int]) -> None:
        if file_ids:
            for hook in list(hooks):
                hook(file_ids)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- reads -------------------------------------------------------------------------------------

    def _rows(self, sql: str, args: Sequence = ()) -> list[FileRow]:
        with self._lock:
            return [FileRow(r[0], py_path(r[1]), *r[2:]) for r in self._db.execute(sql, args).fetchall()]

    def get(self, file_id: int) -> FileRow | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM files WHERE id=?", (file_id,))
        return rows[0] if rows else None

    def get_many(self, file_ids: Iterable[int]) -> dict[int, FileRow]:
        ids = list(dict.fromkeys(file_ids))
        out: dict[int, FileRow] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._rows(f"SELECT {_COLUMNS} FROM files WHERE id IN ({marks})", chunk):
                out[r.id] = r
        return out

    def by_path(self, path: str) -> FileRow | None:
        rows = self._rows(f"SELECT {_COLUMNS} FROM files WHERE path=?", (sql_path(path),))
        return rows[0] if rows else None

    def by_hash(self, digest: str) -> list[FileRow]:
        return self._rows(f"SELECT {_COLUMNS} FROM files WHERE hash=?", (digest,))

    def under(self, folder: str) -> list[FileRow]:
        """All rows whose path is inside ``folder`` (recursively)."""
        # Range scans instead of LIKE: paths may contain % and _, and they use the UNIQUE index. Paths
        # stored as bytes (see sql_path) sort after all text, so they get a second range of their own.
        return self._rows(
            f"SELECT {_COLUMNS} FROM files WHERE {_UNDER} ORDER BY path", _under_args(folder)
        )

    def ids_under(self, folder: str) -> set[int]:
        with self._lock:
            cur = self._db.execute(f"SELECT id FROM files WHERE {_UNDER}", _under_args(folder))
            return {r[0] for r in cur.fetchall()}

    def in_state(self, state: str, limit: int | None = None) -> list[FileRow]:
        sql = f"SELECT {_COLUMNS} FROM files WHERE state=? ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, (state,))

    def iter_all(self) -> Iterator[FileRow]:
        yield from self._rows(f"SELECT {_COLUMNS} FROM files ORDER BY path")

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of rows per (kind, state)."""
        with self._lock:
            cur = self._db.execute("SELECT kind, state, COUNT(*) FROM files GROUP BY kind, state")
            return {(k, s): n for k, s, n in cur.fetchall()}

    def search_names(self, query: str, limit: int = 50) -> list[int]:
        """File ids whose file name matches all words of ``query`` (FTS5, prefix match on the last word)."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return []
        expr = " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"*'
        with self._lock:
            try:
                cur = self._db.execute(
                    "SELECT rowid FROM names WHERE names MATCH ? ORDER BY rank LIMIT ?", (expr.strip(), limit)
                )
                return [r[0] for r in cur.fetchall()]
            except sqlite3.OperationalError:
                return []

    # -- writes ------------------------------------------------------------------------------------

    def add(self, path: str, size: int, mtime: float, kind: str) -> int:
        """Insert a new pending row, or reset an existing row to pending if its size/mtime changed.

        Returns the row id. The id of an existing path is kept, so its vector keys stay stable.
        """
        return self.add_many([(path, size, mtime, kind)])[0]

    def add_many(self, items: Sequence[tuple[str, int, float, str]]) -> list[int]:
        """:meth:`add` for many (path, size, mtime, kind) in one transaction (a 100k-file scan is one
        commit instead of 100k)."""
        reset: list[int] = []
        with self._tx():
            ids = [self._add_one(*item, reset=reset) for item in items]
            self._fire(self._reset_hooks, reset)
            return ids

    def _add_one(self, path: str, size: int, mtime: float, kind: str, *, reset: list[int]) -> int:
        now = time.time()
        key = sql_path(path)
        row = self._db.execute("SELECT id, size, mtime FROM files WHERE path=?", (key,)).fetchone()
        if row is None:
            cur = self._db.execute(
                "INSERT INTO files(path, size, mtime, kind, state, added_at) VALUES (?,?,?,?,?,?)",
                (key, size, mtime, kind, PENDING, now),
            )
            file_id = int(cur.lastrowid or 0)
            self._index_name(file_id, path)
            return file_id
        file_id, old_size, old_mtime = row
        if old_size != size or old_mtime != mtime:
            self._db.execute(
                "UPDATE files SET size=?, mtime=?, kind=?, hash=NULL, state=?, error=NULL WHERE id=?",
                (size, mtime, kind, PENDING, file_id),
            )
            reset.append(int(file_id))
        return int(file_id)

    def _index_name(self, file_id: int, path: str) -> None:
        stem = os.path.splitext(os.path.basename(path))[0]
        words = "".join(c if c.isalnum() else " " for c in stem)
        self._db.execute("INSERT INTO names(rowid, name) VALUES (?, ?)", (file_id, words))

    def _unindex_name(self, file_id: int, path: str) -> None:
        stem = os.path.splitext(os.path.basename(path))[0]
        words = "".join(c if c.isalnum() else " " for c in stem)
        # A contentless FTS5 table deletes by giving back the same values it was given.
        self._db.execute("INSERT INTO names(names, rowid, name) VALUES ('delete', ?, ?)", (file_id, words))

    def mark_indexed(
        self, file_id: int, *, digest: str | None, model: str, duration: float | None = None
    ) -> None:
        with self._tx():
            self._db.execute(
                "UPDATE files SET state=?, error=NULL, hash=COALESCE(?, hash), model=?, duration=?, "
                "indexed_at=? WHERE id=?",
                (INDEXED, digest, model, duration, time.time(), file_id),
            )

    def mark_failed(self, file_id: int, error: str, *, digest: str | None = None) -> None:
        with self._tx():
            self._db.execute(
                "UPDATE files SET state=?, error=?, hash=COALESCE(?, hash), indexed_at=? WHERE id=?",
                (FAILED, sql_text(error[:2000]), digest, time.time(), file_id),
            )

    def set_state(self, file_ids: Iterable[int], state: str) -> int:
        ids = list(file_ids)
        with self._tx():
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                self._db.execute(f"UPDATE files SET state=? WHERE id IN ({marks})", [state, *chunk])
        return len(ids)

    def retry_failed(self) -> int:
        """Put every failed row back to pending, and every failed analysis of a file (OCR, metadata...)
        back to pending; returns how many files that touched."""
        with self._tx():
            again = self._db.execute(
                "SELECT COUNT(DISTINCT a.file_id) FROM analyses a JOIN files f ON f.id = a.file_id "
                "WHERE a.state=? AND f.state<>?",
                (FAILED, FAILED),
            ).fetchone()[0]
            self._db.execute("DELETE FROM analyses WHERE state=?", (FAILED,))
            cur = self._db.execute("UPDATE files SET state=?, error=NULL WHERE state=?", (PENDING, FAILED))
            return cur.rowcount + int(again)

    def move(self, file_id: int, new_path: str, size: int, mtime: float) -> list[int]:
        """Re-point a row at a new path (a move or rename with the same content): vectors stay valid.

        Returns the ids of rows that sat at the destination and were dropped (a file replaced by the
        move): the caller deletes their vectors.
        """
        return self.move_many([(file_id, new_path, size, mtime)])

    def move_many(self, moves: Sequence[tuple[int, str, int, float]]) -> list[int]:
        """:meth:`move` for many (file_id, new_path, size, mtime) in one transaction (a folder rename)."""
        dropped: list[int] = []
        with self._tx():
            for file_id, new_path, size, mtime in moves:
                old = self._db.execute("SELECT path FROM files WHERE id=?", (file_id,)).fetchone()
                if old is None:
                    continue
                clash = self._db.execute(
                    "SELECT id, path FROM files WHERE path=?", (sql_path(new_path),)
                ).fetchone()
                if clash is not None and clash[0] != file_id:
                    self._unindex_name(clash[0], py_path(clash[1]))
                    self._db.execute("DELETE FROM files WHERE id=?", (clash[0],))
                    self._db.execute("DELETE FROM sound_tags WHERE file_id=?", (clash[0],))
                    dropped.append(clash[0])
                self._unindex_name(file_id, py_path(old[0]))
                self._db.execute(
                    "UPDATE files SET path=?, size=?, mtime=? WHERE id=?",
                    (sql_path(new_path), size, mtime, file_id),
                )
                self._index_name(file_id, new_path)
            self._fire(self._remove_hooks, dropped)
        return dropped

    def remove(self, file_ids: Iterable[int]) -> list[int]:
        """Delete rows; returns the ids that existed. The caller deletes their vectors first."""
        removed = []
        with self._tx():
            for fid in file_ids:
                row = self._db.execute("SELECT path FROM files WHERE id=?", (fid,)).fetchone()
                if row is None:
                    continue
                self._unindex_name(fid, py_path(row[0]))
                self._db.execute("DELETE FROM files WHERE id=?", (fid,))
                self._db.execute("DELETE FROM sound_tags WHERE file_id=?", (fid,))
                removed.append(fid)
            self._fire(self._remove_hooks, removed)
        return removed

    def set_tags(self, file_id: int, model: str, scores: np.ndarray) -> None:
        """Store a sound's AudioSet tag scores (float16: 1 KB per sound)."""
        blob = np.asarray(scores, dtype=np.float16).tobytes()
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO sound_tags(file_id, model, scores) VALUES (?,?,?)",
                (file_id, model, blob),
            )
        self.tags_version += 1

    def tags_matrix(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """(file ids, (n, classes) float32 scores) of the indexed files with tags from ``model``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT t.file_id, t.scores FROM sound_tags t JOIN files f ON f.id = t.file_id "
                "WHERE t.model=? AND f.state=?",
                (model, INDEXED),
            ).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        mat = np.stack([np.frombuffer(r[1], dtype=np.float16) for r in rows]).astype(np.float32)
        return ids, mat

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
            return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx():
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` under the catalog lock; rolls back on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock
        self._depth_owner = False

    def __enter__(self) -> _Transaction:
        self._lock.acquire()
        if not self._db.in_transaction:
            self._db.execute("BEGIN IMMEDIATE")
            self._depth_owner = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._depth_owner:
                if exc_type is None:
                    self._db.execute("COMMIT")
                else:
                    self._db.execute("ROLLBACK")
        finally:
            self._lock.release()
