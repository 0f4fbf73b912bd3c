"""Nothing is lost silently (issue 12 rows 5-7): vectors that vanished are noticed and redone, a damaged
catalog or vector database is named with the way out, and ``lookalike repair`` rebuilds it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.errors import LibraryDamagedError
from engine.storage import catalog as cat
from engine.storage.milvus_lite import engine_name
from tests.media import make_library, save_photo

IMAGE_COLLECTION = "image_text__uform3_image_text_english_small"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def index(capsys: pytest.CaptureFixture[str], *folders: Path) -> dict:
    code, out, err = run(capsys, "index", "--json", "--fast", *map(str, folders))
    assert code == 0, err
    return json.loads(out)


def status(capsys: pytest.CaptureFixture[str]) -> dict:
    code, out, err = run(capsys, "status", "--json")
    assert code == 0, err
    return json.loads(out)


def search_paths(capsys: pytest.CaptureFixture[str], n: int = 50) -> set[str]:
    code, out, err = run(capsys, "search", "a photo", "--json", "-n", str(n), "--kind", "photo")
    assert code == 0, err
    return {r["path"] for r in json.loads(out)}


def states(home: Path) -> dict[str, str]:
    c = cat.Catalog(home / "catalog.sqlite")
    try:
        return {r.path: r.state for r in c.iter_all()}
    finally:
        c.close()


@pytest.fixture
def library(home: Path, tmp_path: Path, capsys) -> list[Path]:
    """Twelve photos indexed in two runs (so the Lite collection has two data files and a manifest
    whose previous version holds only the first run's eight)."""
    make_library(tmp_path / "pics", 8)
    assert index(capsys, tmp_path / "pics")["indexed"] == 8
    for i in range(4):
        save_photo(tmp_path / "pics" / f"later_{i}.jpg", 50 + i, quality=90)
    assert index(capsys)["indexed"] == 4
    return sorted((tmp_path / "pics").iterdir())


# -- row 5: vectors lost, noticed -------------------------------------------------------------------


def test_deleted_vector_database_is_noticed_and_redone(home: Path, library: list[Path], capsys) -> None:
    shutil.rmtree(home / "vectors.db")
    info = status(capsys)
    assert info["notices"] == ["12 files had lost their vectors and are being indexed again."]
    assert set(states(home).values()) == {cat.PENDING}
    code, out, err = run(capsys, "status")
    assert "lost their vectors" not in out  # said once, when it was found
    summary = index(capsys)
    assert summary["indexed"] == 12
    assert search_paths(capsys) == {str(p.resolve()) for p in library}


def test_one_dropped_collection_is_noticed(home: Path, library: list[Path], capsys) -> None:
    from engine.library import Library

    with Library.open() as lib:
        lib.store.drop_collection(IMAGE_COLLECTION)
    # The next command that opens the store finds it (here the CLI's index, in the same run).
    code, out, err = run(capsys, "index", "-q", "--fast")
    assert code == 0, err
    assert "12 files had lost their vectors and are being indexed again." in err
    assert "Indexed 12 files" in out
    assert search_paths(capsys) == {str(p.resolve()) for p in library}


@pytest.mark.skipif(
    engine_name() != "lite3",
    reason="Milvus Lite 3.2 keeps a manifest per collection; the native 2.5 keeps one SQLite file",
)
def test_garbage_manifest_rolls_a_collection_back_and_the_lost_files_are_redone(
    home: Path, library: list[Path], capsys
) -> None:
    manifest = home / "vectors.db" / "collections" / IMAGE_COLLECTION / "manifest.json"
    manifest.write_text("{ garbage")
    # Milvus Lite falls back to manifest.json.prev: the second run's four vectors are silently gone.
    info = status(capsys)
    assert info["notices"] == ["4 files had lost their vectors and are being indexed again."]
    pending = {p for p, s in states(home).items() if s == cat.PENDING}
    assert pending == {str(p.resolve()) for p in library if p.name.startswith("later_")}
    assert index(capsys)["indexed"] == 4
    assert search_paths(capsys) == {str(p.resolve()) for p in library}


def test_a_healthy_library_reads_no_file_ids(home: Path, library: list[Path], monkeypatch) -> None:
    from engine.library import Library
    from engine.storage.store import VectorStore

    calls: list[str] = []
    real = VectorStore.file_ids
    monkeypatch.setattr(VectorStore, "file_ids", lambda self, name: calls.append(name) or real(self, name))
    with Library.open() as lib:
        _ = lib.store
        assert lib.notices == []
    assert calls == []  # the counts agreed, and matched the count at the last close


def test_partial_loss_inside_a_collection_is_found(home: Path, library: list[Path]) -> None:
    """Two files' vectors gone behind the catalog's back (and the close that would have recorded the
    new count skipped, as by a kill): the ids are compared and exactly those two are queued."""
    from engine.library import Library

    with Library.open() as lib:
        gone = [
            lib.catalog.by_path(str(library[0].resolve())).id,
            lib.catalog.by_path(str(library[5].resolve())).id,
        ]
        lib.store.delete_files(IMAGE_COLLECTION, gone)
        lib._store.close()  # as if killed: the close does not record the new count
        lib._store = None
    with Library.open() as lib:
        _ = lib.store
        assert lib.notices == ["2 files had lost their vectors and are being indexed again."]
        assert {r.id for r in lib.catalog.in_state(cat.PENDING)} == set(gone)


# -- row 6: damaged catalog ---------------------------------------------------------------------------


def _big_catalog(home: Path, tmp_path: Path, capsys, n_extra: int = 3000) -> list[Path]:
    """A library of real indexed photos, plus many rows of files that do not exist (so the catalog is
    large enough for 40 KB in its middle to hit rows and not only the photos')."""
    photos = make_library(tmp_path / "pics", 10)
    index(capsys, tmp_path / "pics")
    c = cat.Catalog(home / "catalog.sqlite")
    try:
        ids = c.add_many(
            [
                (f"/nowhere/archive/folder{i // 100}/old_{i:05d}.jpg", 1000 + i, 1.6e9 + i, "photo")
                for i in range(n_extra)
            ]
        )
        c.set_state(ids, cat.FAILED)
        with c._lock:
            c._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        c.close()
    return photos


def _damage_middle(path: Path, nbytes: int = 40 * 1024) -> None:
    size = path.stat().st_size
    assert size > 3 * nbytes
    rng = __import__("random").Random(7)
    with open(path, "r+b") as f:
        f.seek(size // 2 - nbytes // 2)
        f.write(bytes(rng.getrandbits(8) for _ in range(nbytes)))


def test_damaged_catalog_gives_one_clear_line_on_every_command(home: Path, tmp_path: Path, capsys) -> None:
    _big_catalog(home, tmp_path, capsys)
    _damage_middle(home / "catalog.sqlite")
    for argv in (["status"], ["index"], ["search", "a dog"], ["retry"]):
        code, out, err = run(capsys, *argv)
        assert code == 1, argv
        assert err.startswith("lookalike: The catalog ") and "is damaged" in err, err
        assert "lookalike repair" in err and "Traceback" not in err


def test_damage_found_while_running_is_named_too(home: Path, tmp_path: Path, capsys) -> None:
    """A page damaged after the open check (the guard on every statement, not just quick_check)."""
    from engine.library import Library

    _big_catalog(home, tmp_path, capsys)
    _damage_middle(home / "catalog.sqlite")
    lib = Library.open(check=False)  # as if the damage came after the open check
    try:
        with pytest.raises(LibraryDamagedError, match="lookalike repair"):
            list(lib.catalog.iter_all())
    finally:
        lib.close()


def test_repair_rebuilds_the_catalog_keeping_salvaged_ids_and_vectors(
    home: Path, tmp_path: Path, capsys
) -> None:
    from engine.library import Library

    photos = _big_catalog(home, tmp_path, capsys)
    c = cat.Catalog(home / "catalog.sqlite")
    before = {r.path: (r.id, r.hash) for r in c.iter_all()}
    c.close()
    _damage_middle(home / "catalog.sqlite")
    damaged_bytes = (home / "catalog.sqlite").read_bytes()

    code, out, err = run(capsys, "repair", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["catalog_damage"]
    copy = Path(rep["catalog_copy"])
    assert copy.name.startswith("catalog.sqlite.damaged-") and copy.parent == home
    assert copy.read_bytes() == damaged_bytes  # kept as it was found
    assert 0 < rep["salvaged"] < len(before)  # most rows back, the damaged stretch not
    assert rep["kept"] == 10  # the real photos' rows were not in the damaged stretch

    c = cat.Catalog(home / "catalog.sqlite")
    after = {r.path: (r.id, r.hash, r.state) for r in c.iter_all()}
    c.close()
    # The real photos: same ids and hashes, still indexed, so their vectors were kept.
    for p in photos:
        key = str(p.resolve())
        assert after[key][:2] == before[key] and after[key][2] == cat.INDEXED
    # Salvaged rows keep their ids; none is invented.
    for path, (fid, _h, _s) in after.items():
        if path in before:
            assert before[path][0] == fid
    # The rows of files that do not exist were removed by the fresh scan? They are outside the
    # library folders, so the scan leaves them: the salvaged ones are still there, unchanged.
    assert sum(1 for p in after if p.startswith("/nowhere/")) == rep["salvaged"] - 10

    # Everything works again, without re-embedding the photos.
    code, out, err = run(capsys, "status")
    assert code == 0, err
    assert index(capsys)["indexed"] == 0
    assert search_paths(capsys) == {str(p.resolve()) for p in photos}
    with Library.open() as lib:
        assert lib.store.count(IMAGE_COLLECTION) == 10


def test_repair_rescans_rows_that_could_not_be_salvaged(
    home: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows lost with the damage come back from the scan as new files and are embedded again; the
    vectors stored under the lost ids are deleted, so a new row taking such an id never inherits them."""
    from engine.indexing import repair as repair_mod
    from engine.library import Library
    from engine.storage import integrity

    photos = _big_catalog(home, tmp_path, capsys, n_extra=0)
    db = sqlite3.connect(home / "catalog.sqlite")
    lost = {r[0] for r in db.execute("SELECT id FROM files ORDER BY id DESC LIMIT 2")}
    db.close()

    # Damage that quick_check finds (once: the rebuilt catalog is sound) and that takes exactly these
    # two rows with it.
    checks: list[object] = []

    def damaged(db: object, path: object) -> None:
        checks.append(path)
        if len(checks) == 1:
            raise integrity.catalog_damaged(path, "2 rows unreadable")

    real = repair_mod._read_ranges

    def lose(db: sqlite3.Connection, sql: str, top: int, lost_ids: list[int]) -> list[tuple]:
        rows = real(db, sql, top, lost_ids)
        if " FROM files " in sql:
            lost_ids.extend(lost)
            rows = [r for r in rows if r[0] not in lost]
        return rows

    with monkeypatch.context() as m:
        m.setattr(integrity, "quick_check", damaged)
        m.setattr(repair_mod, "_read_ranges", lose)
        code, out, err = run(capsys, "repair")
    assert code == 0, err
    assert "The catalog was damaged (2 rows unreadable)." in out, out
    assert "8 file rows were read back (8 keep their vectors); about 2 could not be read" in out
    assert "Vectors of 2 files whose rows were lost were removed." in out
    assert "Scanned 10 files: 2 new" in out
    assert "2 files wait to be indexed" in out
    with Library.open() as lib:
        assert lib.store.count(IMAGE_COLLECTION) == 8
    assert index(capsys)["indexed"] == 2
    assert search_paths(capsys) == {str(p.resolve()) for p in photos}


def test_repair_requeues_a_salvaged_row_whose_content_changed(home: Path, tmp_path: Path, capsys) -> None:
    photos = _big_catalog(home, tmp_path, capsys, n_extra=0)
    # Same size and mtime, other content: only the hash tells.
    st = photos[3].stat()
    data = bytearray(photos[3].read_bytes())
    data[len(data) // 2] ^= 0xFF
    photos[3].write_bytes(bytes(data))
    os.utime(photos[3], ns=(st.st_atime_ns, st.st_mtime_ns))
    (home / "catalog.sqlite").write_bytes(b"not a database at all" * 100)
    code, out, err = run(capsys, "status")
    assert code == 1 and "is damaged" in err
    code, out, err = run(capsys, "repair", "--json")
    assert code == 0, err
    rep = json.loads(out)
    # Nothing could be salvaged from a file that is not a database: all rows come from the scan, and
    # the old ids' vectors are removed.
    assert rep["salvaged"] == 0 and rep["orphans"] == 10
    assert index(capsys)["indexed"] == 10
    assert search_paths(capsys) == {str(p.resolve()) for p in photos}


def test_repair_with_nothing_wrong_changes_nothing(home: Path, library: list[Path], capsys) -> None:
    code, out, err = run(capsys, "repair")
    assert code == 0, err
    assert "The catalog and the vector database are fine." in out
    assert not list(home.glob("*.damaged-*"))
    assert set(states(home).values()) == {cat.INDEXED}


def test_repair_refuses_while_the_library_is_open(home: Path, library: list[Path], capsys) -> None:
    from engine.library import Library

    with Library.open():
        code, out, err = run(capsys, "repair")
    assert code == 1 and "open in another Lookalike process" in err


# -- row 7: damaged vector files ----------------------------------------------------------------------


def _damage_parquet(home: Path) -> Path:
    """Damage the newest vector data file: a Parquet file of Milvus Lite 3.2, or the native 2.5's SQLite
    file (which would otherwise open and count 0 rows: the store checks it first)."""
    from engine.storage.milvus_lite import DB_NAME

    if engine_name() == "lite2":
        victim = home / "vectors.db" / DB_NAME
        size = victim.stat().st_size
        with open(victim, "r+b") as f:
            f.seek(size // 3)
            f.write(os.urandom(size // 3))
        return victim
    data = sorted((home / "vectors.db" / "collections" / IMAGE_COLLECTION).rglob("*.parquet"))
    assert data
    victim = data[-1]
    size = victim.stat().st_size
    with open(victim, "r+b") as f:
        f.seek(size // 3)
        f.write(os.urandom(size // 3))
    return victim


def test_damaged_vector_file_is_named_then_repaired(home: Path, library: list[Path], capsys) -> None:
    _damage_parquet(home)
    for argv in (["status"], ["search", "a dog"], ["index"]):
        code, out, err = run(capsys, *argv)
        assert code == 1, (argv, out, err)
        last = err.strip().splitlines()[-1]
        assert last.startswith("lookalike: The vector database ") and "is damaged" in last
        assert "lookalike repair" in last

    code, out, err = run(capsys, "repair", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["store_damage"] and rep["catalog_damage"] is None
    copy = Path(rep["store_copy"])
    assert copy.name.startswith("vectors.db.damaged-") and copy.is_dir()
    assert rep["pending"] == 12
    assert index(capsys)["indexed"] == 12
    assert search_paths(capsys) == {str(p.resolve()) for p in library}


def test_app_session_offers_repair_for_a_damaged_library(home: Path, library: list[Path]) -> None:
    from desktop.session import open_session, repair_library

    _damage_parquet(home)
    with pytest.raises(LibraryDamagedError) as err:
        open_session(home)
    assert err.value.part == "store"
    lines = repair_library(home)
    assert any("vector database was damaged" in line for line in lines)
    session = open_session(home)
    try:
        assert session.notices == []
    finally:
        session.close()


def test_app_session_says_when_vectors_were_lost(home: Path, library: list[Path]) -> None:
    from desktop.session import open_session

    shutil.rmtree(home / "vectors.db")
    session = open_session(home)
    try:
        assert session.notices == ["12 files had lost their vectors and are being indexed again."]
    finally:
        session.close()
