"""``lookalike repair``: find a damaged catalog or vector database, keep a copy aside, rebuild.

**A damaged catalog** (SQLite reports it corrupt, or ``quick_check`` fails) is moved aside, with its
``-wal`` and ``-shm``, to ``catalog.sqlite.damaged-<time>``. A new catalog is made at the current
schema and filled with what can still be read from a private temporary copy of the damaged one: table
by table, in rowid ranges that are split in half around every unreadable spot down to single rows, so
one bad page costs only its own rows. File ids and content hashes carry over, so the vectors stored
under those ids stay valid; a salvaged ``indexed`` row is kept indexed only when the file on disk still
has its size, mtime and content hash, otherwise it is queued again. Vectors (and video moment
thumbnails) of file ids that were not salvaged are deleted, so a new row taking such an id never
inherits them. The caller then scans the library folders (see ``engine/cli/main.py``): files whose rows
were lost come back as new rows and are embedded again.

**A damaged Milvus Lite database** (it cannot be opened, or a collection cannot be loaded or counted)
is moved aside to ``vectors.db.damaged-<time>`` and every indexed file is queued again, so the next
``lookalike index`` (or the app) embeds the library into a fresh store. A Milvus server is never moved
or dropped: its errors are about the connection, and files it lacks are re-queued by the check every
open does (``Library.check_vectors``).

Nothing here runs while another process has the library open: :func:`repair` takes the library lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import LibraryBusyError, LibraryDamagedError, LookalikeError, StoreError
from engine.storage import catalog as cat
from engine.storage.privacy import PRIVATE_FILE, create_private_file, make_private_dir
from engine.storage.settings import LOCK_FILE, Settings

log = logging.getLogger(__name__)

#: Ids read per query when salvaging (a failing range is split in halves down to single rows).
SALVAGE_CHUNK = 1024
_KINDS = ("photo", "video", "sound")
_STATES = (cat.PENDING, cat.INDEXED, cat.FAILED, cat.OFFLINE)
_FILE_COLUMNS = cat._COLUMNS.split(", ")
#: Catalog meta keys never carried over: they describe the old file (the vector counts at close).
_STALE_META_PREFIXES = ("vectors_at_close:",)

ProgressFn = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class RepairReport:
    """What :func:`repair` found and did; :meth:`lines` says it for a person."""

    catalog_damage: str | None = None
    catalog_copy: Path | None = None
    #: File rows read back from the damaged catalog, and how many of those kept their vectors.
    salvaged: int = 0
    kept: int = 0
    #: Rows of the damaged catalog that could not be read (an estimate from the ids that failed).
    unreadable: int = 0
    #: Vectors' files that were deleted because their catalog row was lost.
    orphans: int = 0
    store_damage: str | None = None
    store_copy: Path | None = None
    #: Files queued to be embedded again.
    requeued: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def repaired(self) -> bool:
        return bool(self.catalog_damage or self.store_damage)

    def lines(self) -> list[str]:
        out: list[str] = []
        if self.catalog_damage:
            out.append(f"The catalog was damaged ({self.catalog_damage}).")
            out.append(f"  The damaged file is kept at {self.catalog_copy}.")
            out.append(
                f"  {self.salvaged} file rows were read back ({self.kept} keep their vectors); "
                f"about {self.unreadable} could not be read and come back from the scan."
            )
            if self.orphans:
                out.append(f"  Vectors of {self.orphans} files whose rows were lost were removed.")
        if self.store_damage:
            out.append(f"The vector database was damaged ({self.store_damage}).")
            out.append(f"  The damaged copy is kept at {self.store_copy}; a new one was started.")
        if self.requeued:
            out.append(f"{self.requeued} files are queued to be indexed again.")
        out.extend(self.notes)
        if not out:
            out.append("The catalog and the vector database are fine.")
        return out


def repair(settings: Settings, *, progress: ProgressFn | None = None) -> RepairReport:
    """Check the catalog and the vector database of ``settings.home`` and rebuild what is damaged.

    Holds the library lock throughout. Returns what it did; the caller scans the folders afterwards
    (the rows that could not be salvaged come back from the disk) and indexes what is pending.

    Raises:
        LibraryBusyError: another process has the library open.
        LookalikeError: the catalog is from a newer Lookalike, or a file could not be moved aside.
        StoreError: a Milvus server cannot be reached (a server is never rebuilt).
    """
    from filelock import FileLock, Timeout

    make_private_dir(settings.home)
    lock = FileLock(str(settings.home / LOCK_FILE), mode=PRIVATE_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise LibraryBusyError(
            f"This library ({settings.home}) is open in another Lookalike process (the app or another "
            "lookalike command). Close it, then run `lookalike repair` again."
        ) from None
    try:
        return _repair_locked(settings, progress or (lambda phase, done, total: None))
    finally:
        lock.release()


def _repair_locked(settings: Settings, progress: ProgressFn) -> RepairReport:
    report = RepairReport()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    catalog = _open_checked(settings.catalog_path, report)
    if catalog is None:
        catalog = _rebuild_catalog(settings, stamp, report, progress)
    try:
        store = None
        if not settings.store_uri:
            store = _open_store_checked(settings, report)
            if store is None:
                report.store_copy = _move_aside(settings.vectors_path, stamp)
                report.requeued += _requeue_indexed(catalog)
        if report.catalog_damage and not report.store_damage:
            from engine.storage.store import VectorStore

            if store is None:  # a server
                store = VectorStore.open(settings.store_uri, token=settings.store_token)
            report.orphans = _forget_orphans(settings, catalog, store)
        if store is not None:
            store.close()
    finally:
        catalog.close()
    return report


# -- the catalog --------------------------------------------------------------------------------------


def _open_checked(path: Path, report: RepairReport) -> cat.Catalog | None:
    """The catalog if it opens and passes ``quick_check``; None (damage noted in ``report``) if not."""
    from engine.storage.integrity import is_damage, quick_check

    if not path.exists():
        create_private_file(path)
        return cat.Catalog(path)
    catalog = None
    try:
        catalog = cat.Catalog(path)
        quick_check(catalog._db, path)
        return catalog
    except LibraryDamagedError as exc:
        report.catalog_damage = _problem(str(exc))
    except LookalikeError as exc:  # a newer schema, or "Cannot open the catalog": is it damage?
        cause = exc.__cause__
        if cause is None or not is_damage(cause):
            if catalog is not None:
                catalog.close()
            raise
        report.catalog_damage = str(cause)
    if catalog is not None:
        with contextlib.suppress(Exception):
            catalog.close()
    return None


def _problem(message: str) -> str:
    """The parenthesised problem of a LibraryDamagedError message, e.g. "database disk image is malformed"."""
    if " is damaged (" not in message:
        return message
    return message.split(" is damaged (", 1)[1].rsplit("). Run", 1)[0]


def _move_aside(path: Path, stamp: str) -> Path:
    """Rename ``path`` (and a SQLite file's -wal and -shm) to ``<name>.damaged-<stamp>``; returns it."""
    dest = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    try:
        os.replace(path, dest)
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.replace(side, dest.with_name(dest.name + suffix))
    except OSError as exc:
        raise LookalikeError(f"Could not move the damaged {path} aside: {exc.strerror or exc}") from exc
    log.warning("moved the damaged %s aside to %s", path, dest)
    return dest


def _rebuild_catalog(
    settings: Settings, stamp: str, report: RepairReport, progress: ProgressFn
) -> cat.Catalog:
    path = settings.catalog_path
    report.catalog_copy = _move_aside(path, stamp)
    create_private_file(path)
    fresh = cat.Catalog(path)
    try:
        # Read from a private temporary copy: SQLite may write to a database it opens (a WAL replay),
        # and the copy kept aside must stay as it was found.
        with tempfile.TemporaryDirectory(prefix="salvage-", dir=settings.home) as tmp:
            work = Path(tmp) / "damaged.sqlite"
            shutil.copyfile(report.catalog_copy, work)
            wal = report.catalog_copy.with_name(report.catalog_copy.name + "-wal")
            if wal.exists():
                shutil.copyfile(wal, work.with_name(work.name + "-wal"))
            _salvage(work, fresh, report, progress)
        _verify(fresh, report, progress)
    except BaseException:
        fresh.close()
        raise
    return fresh


def _salvage(damaged: Path, fresh: cat.Catalog, report: RepairReport, progress: ProgressFn) -> None:
    try:
        db = sqlite3.connect(str(damaged), isolation_level=None)
    except sqlite3.Error as exc:
        report.notes.append(f"Nothing could be read from the damaged catalog ({exc}).")
        return
    try:
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            report.notes.append(f"Nothing could be read from the damaged catalog ({exc}).")
            return
        if "files" not in tables:
            report.notes.append("The damaged catalog's list of files could not be read.")
            return
        progress("salvaging", 0, 1)
        file_ids = _salvage_files(db, fresh, report)
        for table in _side_tables(fresh):
            if table in tables:
                _salvage_table(db, fresh, table, file_ids)
        fresh.execute(
            "DELETE FROM meta WHERE " + " OR ".join("key LIKE ?" for _ in _STALE_META_PREFIXES),
            [p + "%" for p in _STALE_META_PREFIXES],
        )
        progress("salvaging", 1, 1)
    finally:
        db.close()


def _side_tables(fresh: cat.Catalog) -> list[str]:
    """Ordinary tables of the new catalog besides ``files``: not SQLite's own, not full-text indexes
    (rebuilt from the file rows) or their shadow tables."""
    rows = fresh.query("SELECT name, sql FROM sqlite_master WHERE type='table'")
    virtual = [n for n, sql in rows if sql and sql.upper().startswith("CREATE VIRTUAL")]
    return [
        n
        for n, _sql in rows
        if n != "files"
        and not n.startswith("sqlite_")
        and not any(n == v or n.startswith(v + "_") for v in virtual)
    ]


def _read_ranges(db: sqlite3.Connection, sql: str, top: int, lost: list[int]) -> list[tuple]:
    """Rows of ``sql`` (``... WHERE rowid BETWEEN ? AND ?``) for rowids 0..top, skipping unreadable
    spots: a failing range is split in two until the single unreadable rowids are found (``lost``)."""
    out: list[tuple] = []

    def read(lo: int, hi: int) -> None:
        try:
            out.extend(db.execute(sql, (lo, hi)).fetchall())
        except sqlite3.DatabaseError:
            if lo == hi:
                lost.append(lo)
                return
            mid = (lo + hi) // 2
            read(lo, mid)
            read(mid + 1, hi)

    for lo in range(0, top + 1, SALVAGE_CHUNK):
        read(lo, min(top, lo + SALVAGE_CHUNK - 1))
    return out


def _top_rowid(db: sqlite3.Connection, table: str) -> int:
    """The largest rowid of ``table``, or a bound on it when the b-tree's right edge is unreadable."""
    try:
        top = db.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0]
        return int(top or 0)
    except sqlite3.DatabaseError:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * max(1, int(size) // 32)  # no page holds more rows than that


def _salvage_files(db: sqlite3.Connection, fresh: cat.Catalog, report: RepairReport) -> set[int]:
    have = {r[1] for r in db.execute('PRAGMA table_info("files")')}
    cols = [c for c in _FILE_COLUMNS if c in have]
    lost: list[int] = []
    rows = _read_ranges(
        db, f"SELECT {', '.join(cols)} FROM files WHERE rowid BETWEEN ? AND ?", _top_rowid(db, "files"), lost
    )
    saved: set[int] = set()
    with fresh.transaction():
        for values in rows:
            row = dict(zip(cols, values, strict=True))
            if not _plausible(row):
                continue
            marks = ",".join("?" * len(cols))
            n = fresh.execute(f"INSERT OR IGNORE INTO files({', '.join(cols)}) VALUES ({marks})", values)
            if n:
                fresh._index_name(int(row["id"]), cat.py_path(row["path"]))
                saved.add(int(row["id"]))
    report.salvaged = len(saved)
    # Rowids that failed alone (a gap in the ids inside a damaged page counts too: "about"), and rows
    # that read back as nonsense or clashed.
    report.unreadable = len(lost) + (len(rows) - len(saved))
    return saved


def _plausible(row: dict[str, Any]) -> bool:
    """A salvaged file row whose values have the types and values Lookalike writes (a damaged cell can
    still parse as a record of nonsense)."""
    return (
        isinstance(row.get("id"), int)
        and isinstance(row.get("path"), (str, bytes))
        and bool(row["path"])
        and isinstance(row.get("size"), int)
        and isinstance(row.get("mtime"), (int, float))
        and row.get("kind") in _KINDS
        and row.get("state") in _STATES
        and isinstance(row.get("added_at"), (int, float))
    )


def _salvage_table(db: sqlite3.Connection, fresh: cat.Catalog, table: str, file_ids: set[int]) -> None:
    """Copy the readable rows of a side table whose file (``file_id``) was salvaged."""
    new_cols = [r[1] for r in fresh.query(f'PRAGMA table_info("{table}")')]
    try:
        old_cols = {r[1] for r in db.execute(f'PRAGMA table_info("{table}")')}
    except sqlite3.DatabaseError:
        return
    cols = [c for c in new_cols if c in old_cols]
    if not cols:
        return
    select = f'SELECT {", ".join(cols)} FROM "{table}"'
    try:
        db.execute(f'SELECT rowid FROM "{table}" LIMIT 1').fetchall()
        rows = _read_ranges(db, select + " WHERE rowid BETWEEN ? AND ?", _top_rowid(db, table), [])
    except sqlite3.OperationalError:  # WITHOUT ROWID: all or nothing
        try:
            rows = db.execute(select).fetchall()
        except sqlite3.DatabaseError:
            log.warning("repair: the table %s could not be read; its rows are worked out again", table)
            return
    except sqlite3.DatabaseError:
        return
    fid = cols.index("file_id") if "file_id" in cols else None
    marks = ",".join("?" * len(cols))
    with fresh.transaction():
        for values in rows:
            if fid is not None and values[fid] not in file_ids:
                continue
            with contextlib.suppress(sqlite3.DatabaseError):  # a nonsense value a constraint refuses
                fresh.execute(f'INSERT OR IGNORE INTO "{table}"({", ".join(cols)}) VALUES ({marks})', values)


def _verify(fresh: cat.Catalog, report: RepairReport, progress: ProgressFn) -> None:
    """Keep a salvaged indexed row indexed only if the file still has its size, mtime and content hash;
    queue the others again (their vectors are replaced when they are embedded)."""
    from engine.media.images import quick_hash

    rows = fresh.query("SELECT id, path, size, mtime, hash FROM files WHERE state=?", (cat.INDEXED,))
    again: list[int] = []
    for n, (file_id, raw, size, mtime, digest) in enumerate(rows):
        if n % 200 == 0:
            progress("checking files", n, len(rows))
        path = cat.py_path(raw)
        try:
            st = os.stat(path)
        except OSError:
            continue  # gone (or its folder offline): the scan decides
        if st.st_size != size or st.st_mtime != mtime:
            continue  # changed: the scan queues it again
        try:
            same = digest is not None and quick_hash(path) == digest
        except OSError:
            same = False
        if not same:
            again.append(file_id)
    progress("checking files", len(rows), len(rows))
    if again:
        fresh.set_state(again, cat.PENDING)
        report.requeued += len(again)
    report.kept = len(rows) - len(again)


def _requeue_indexed(catalog: cat.Catalog) -> int:
    """Queue every indexed file again (a new store holds no vectors) and forget the old store's counts."""
    ids = [r[0] for r in catalog.query("SELECT id FROM files WHERE state=?", (cat.INDEXED,))]
    catalog.set_state(ids, cat.PENDING)
    for prefix in _STALE_META_PREFIXES:
        catalog.execute("DELETE FROM meta WHERE key LIKE ?", (prefix + "%",))
    return len(ids)


# -- the vector store ---------------------------------------------------------------------------------


def _open_store_checked(settings: Settings, report: RepairReport) -> Any:
    """The Lite store if it opens and every collection loads and counts; None (noted) if damaged."""
    from engine.storage.store import VectorStore

    path = settings.vectors_path
    if not path.exists():
        return VectorStore.open("", lite_path=path)
    try:
        store = VectorStore.open("", lite_path=path)
    except LibraryBusyError:
        raise
    except StoreError as exc:
        report.store_damage = str(exc)
        return None
    try:
        for name in store.collections():
            store.count(name)
    except StoreError as exc:
        report.store_damage = str(exc)
        with contextlib.suppress(Exception):
            store.close()
        return None
    return store


def _forget_orphans(settings: Settings, catalog: cat.Catalog, store: Any) -> int:
    """Delete the vectors, and video moment thumbnails, of file ids the rebuilt catalog lacks."""
    from engine.media.thumbnails import moment_key, thumbnail_path

    known = {r[0] for r in catalog.query("SELECT id FROM files")}
    orphans: set[int] = set()
    for name in store.collections():
        ids = store.file_ids(name) - known
        if not ids:
            continue
        for fid in sorted(ids):
            ts, _ = store.get_vectors(name, fid)
            for t in {0.0, *(float(t) for t in ts if t >= 0)}:
                with contextlib.suppress(OSError, ValueError):
                    thumbnail_path(settings.thumbnails_dir, moment_key(fid, t)).unlink(missing_ok=True)
        store.delete_files(name, sorted(ids))
        orphans |= ids
    store.flush()
    return len(orphans)
