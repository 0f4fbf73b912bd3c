"""The metadata analyzer on the analyzers interface: a header read per file, backfilled for files that
were indexed before it existed, without embedding them again; unreadable headers fail with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.indexing.analyzers import get_analyzer, register, unregister
from engine.indexing.analyzers.metadata import METADATA, analyze_rows
from engine.storage import metadata as sm
from tests.metagen import PORTO, VIENNA, save_exif_photo


def test_registered_just_after_the_embeddings() -> None:
    a = get_analyzer("metadata")
    assert a is METADATA and a.needs == "file" and not a.embedding
    assert 0 < a.priority < 50 and a.kinds == {"photo", "video", "sound"}


def test_backfill_without_embedding_again(home: Path, tmp_path: Path) -> None:
    from engine.indexing.analysis import run_pending_analyses
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library

    pics = tmp_path / "pics"
    save_exif_photo(pics / "a.jpg", 1, taken="2023:07:14 18:02:11", offset="+01:00", gps=PORTO)
    save_exif_photo(pics / "b.jpg", 2, taken="2020:08:01 10:00:00", gps=VIENNA)
    unregister("metadata")  # a library indexed by a version that had no metadata analyzer
    try:
        with Library.open() as lib:
            lib.add_folder(pics)
            scan(lib)
            assert index_pending(lib).indexed == 2
            assert sm.get_many(lib.catalog, [r.id for r in lib.catalog.iter_all()]) == {}
            before = {r.id: (r.indexed_at, r.hash) for r in lib.catalog.iter_all()}
    finally:
        register(METADATA)
    with Library.open() as lib:
        report = run_pending_analyses(lib, only="metadata")
        assert report.by_analyzer["metadata"] == (2, 0)
        rows = list(lib.catalog.iter_all())
        assert {r.id: (r.indexed_at, r.hash) for r in rows} == before  # not embedded again
        metas = sm.get_many(lib.catalog, [r.id for r in rows])
        assert sorted(m.city for m in metas.values()) == ["Porto", "Vienna"]
        assert run_pending_analyses(lib, only="metadata").done == 0  # nothing left to do


def test_unreadable_header_keeps_the_mtime_and_fails_with_a_reason(home: Path, tmp_path: Path) -> None:
    from engine.errors import DecodeError
    from engine.library import Library

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with Library.open() as lib:
        fid = lib.catalog.add(str(bad), bad.stat().st_size, bad.stat().st_mtime, "photo")
        row = lib.catalog.get(fid)
        assert row is not None
        failures = analyze_rows(lib, [row])
        assert "cannot read" in failures[fid]
        lib.catalog.set_state([fid], "indexed")
        stored = sm.get(lib.catalog, fid)
        assert stored is not None and stored.time_source == "mtime"
        with pytest.raises(DecodeError):
            METADATA.analyze(lib, row, None)  # type: ignore[arg-type]


def test_a_changed_or_removed_file_loses_its_row(tmp_path: Path) -> None:
    from engine.media.metadata import MediaMeta
    from engine.storage.catalog import Catalog

    c = Catalog(tmp_path / "catalog.sqlite")
    a = c.add("/p/a.jpg", 1, 1.0, "photo")
    b = c.add("/p/b.jpg", 1, 1.0, "photo")
    sm.put_many(
        c, [(a, MediaMeta(local="2020-01-01T00:00:00"), None), (b, MediaMeta(local="2020-01-01"), None)]
    )
    c.add("/p/a.jpg", 2, 2.0, "photo")  # changed content: reset to pending
    c.remove([b])
    assert sm.get_many(c, [a, b]) == {}
    c.close()
