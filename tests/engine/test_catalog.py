"""The catalog: schema upgrades, concurrent opening, name search, moves."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from engine.errors import LookalikeError
from engine.storage.catalog import INDEXED, PENDING, SCHEMA_VERSION, Catalog


def _open_and_add(path: str, name: str) -> None:
    c = Catalog(Path(path))
    c.add(f"/photos/{name}.jpg", 1, 1.0, "photo")
    c.close()


def test_processes_opening_a_new_catalog_at_once_all_succeed(tmp_path: Path) -> None:
    db = str(tmp_path / "catalog.sqlite")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open_and_add, args=(db, f"p{i}")) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    c = Catalog(Path(db))
    assert c.counts() == {("photo", PENDING): 4}


def test_an_old_catalog_is_upgraded_and_keeps_its_rows(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    # A version-1 catalog, as the first release wrote it.
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL,
            mtime REAL NOT NULL, hash TEXT, kind TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
            error TEXT, model TEXT, added_at REAL NOT NULL, indexed_at REAL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        INSERT INTO files(path, size, mtime, kind, state, added_at)
            VALUES ('/a/old.jpg', 5, 2.0, 'photo', 'indexed', 1);
        PRAGMA user_version=1;
        """
    )
    con.close()
    c = Catalog(db)
    row = c.by_path("/a/old.jpg")
    assert row is not None and row.state == INDEXED and row.duration is None
    assert c._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_catalog_is_refused_with_a_reason(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    con = sqlite3.connect(db)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(LookalikeError, match="newer Lookalike"):
        Catalog(db)


def test_not_a_database_is_refused_with_a_reason(tmp_path: Path) -> None:
    db = tmp_path / "catalog.sqlite"
    db.write_bytes(b"this is not sqlite" * 100)
    # Named as damaged, with the way out (engine.indexing.repair).
    with pytest.raises(LookalikeError, match=r"catalog .* is damaged .*`lookalike repair`"):
        Catalog(db)


def test_names_are_searchable_and_follow_renames(tmp_path: Path) -> None:
    c = Catalog(tmp_path / "catalog.sqlite")
    fid = c.add("/photos/Birthday_party 2024.jpg", 1, 1.0, "photo")
    c.add("/photos/beach.jpg", 1, 1.0, "photo")
    assert c.search_names("birthday") == [fid]
    assert c.search_names("birth") == [fid]  # prefix on the last word, as the user types
    c.move(fid, "/photos/cake.jpg", 1, 1.0)
    assert c.search_names("birthday") == []
    assert c.search_names("cake") == [fid]


def test_a_move_onto_an_existing_row_reports_the_dropped_row(tmp_path: Path) -> None:
    c = Catalog(tmp_path / "catalog.sqlite")
    a = c.add("/p/a.jpg", 1, 1.0, "photo")
    b = c.add("/p/b.jpg", 2, 1.0, "photo")
    dropped = c.move_many([(a, "/p/b.jpg", 1, 1.0)])
    assert dropped == [b]
    assert c.get(b) is None and c.by_path("/p/b.jpg").id == a  # type: ignore[union-attr]


def test_paths_with_like_wildcards_stay_inside_their_folder(tmp_path: Path) -> None:
    c = Catalog(tmp_path / "catalog.sqlite")
    inside = c.add("/p/100%_real/x.jpg", 1, 1.0, "photo")
    c.add("/p/100a_real/y.jpg", 1, 1.0, "photo")
    c.add("/p/100%_real2/z.jpg", 1, 1.0, "photo")
    assert [r.id for r in c.under("/p/100%_real")] == [inside]


def test_side_tables_use_the_public_sql_methods_and_hear_removals_and_resets(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    cat.execute("CREATE TABLE IF NOT EXISTS notes (file_id INTEGER PRIMARY KEY, text TEXT)")
    removed: list[list[int]] = []
    reset: list[list[int]] = []

    def drop(ids: list[int]) -> None:
        removed.append(ids)
        marks = ",".join("?" * len(ids))
        cat.execute(f"DELETE FROM notes WHERE file_id IN ({marks})", ids)

    cat.on_remove(drop)
    cat.on_reset(reset.append)
    a, b, c = cat.add_many([(f"/p/{n}.jpg", 1, 1.0, "photo") for n in "abc"])
    with cat.transaction():
        for fid in (a, b, c):
            cat.execute("INSERT INTO notes VALUES (?, ?)", (fid, f"text {fid}"))
    assert reset == []  # new rows are not resets

    cat.add_many([("/p/a.jpg", 1, 1.0, "photo"), ("/p/b.jpg", 2, 1.0, "photo")])  # b's content changed
    assert reset == [[b]]

    assert cat.remove([a, 999]) == [a]
    assert removed == [[a]]
    assert cat.move(b, "/p/c.jpg", 2, 1.0) == [c]  # b replaces c: c's side rows go with it
    assert removed == [[a], [c]]
    assert cat.query("SELECT file_id FROM notes ORDER BY file_id") == [(b,)]


def test_a_failing_remove_hook_rolls_the_removal_back(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    fid = cat.add("/p/a.jpg", 1, 1.0, "photo")

    def boom(ids: list[int]) -> None:
        raise RuntimeError("side table broken")

    cat.on_remove(boom)
    with pytest.raises(RuntimeError):
        cat.remove([fid])
    assert cat.get(fid) is not None
    assert cat.search_names("a") == [fid]
