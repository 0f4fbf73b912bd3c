"""The app on the real engine service and tiny random-weight models: index, search, close mid-indexing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from engine.service.core import Service
from tests.media import make_library, recompressed_copy

pytestmark = pytest.mark.slow


def real_service(lib: Any) -> Service:
    # Polling off (native watch), short quiet period: the test adds its files before the folder.
    return Service(lib, quiet_period=0.2, batch_size=8)


def progress(w: Any) -> Any:
    return w.bridge.last_progress


def indexed(w: Any, n: int) -> None:
    """For qtbot.waitUntil: the service is idle with ``n`` files indexed (says where it is if not)."""
    p = progress(w)
    assert p is not None and p.state == "idle" and p.indexed_total == n, p


def test_add_folder_index_type_and_find_similar(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path
) -> None:
    photos = make_library(tmp_path / "Pictures", 6)
    copy = recompressed_copy(photos[0], tmp_path / "Pictures" / "copy_of_0.jpg")
    w = make_window(home, real_service)
    w.menus.add_folder(str(photos[0].parent))
    qtbot.waitUntil(lambda: w.search_bar.folder_box.count() == 2, timeout=30_000)
    qtbot.waitUntil(lambda: indexed(w, 7), timeout=120_000)
    assert "7 files indexed" in w.status.label.text()
    # Copies are found behind the embedding, by the duplicates stage: wait for it to be done.
    qtbot.waitUntil(
        lambda: (progress(w).analyses or {}).get("duplicates", {}).get("done", 0) == 7, timeout=120_000
    )
    qtbot.keyClicks(w.search_bar.field, "a photo")
    # Seven files, six tiles: the recompressed copy is stacked under its original (duplicates issue).
    qtbot.waitUntil(lambda: w.model.rowCount() == 6, timeout=30_000)
    stacked = {r.path: [x.path for x in (r.stack or [])] for r in w.model.results()}
    assert stacked[str(photos[0])] == [str(copy)]
    # Thumbnails are made off the GUI thread into <home>/thumbnails and reach every visible tile.
    qtbot.waitUntil(lambda: all(w.model.index(i, 0).data(1) is not None for i in range(6)), timeout=30_000)
    assert any((home / "thumbnails").rglob("*.jpg"))
    # Find similar from a result: the recompressed copy is the nearest item (random weights keep that).
    w.view.setCurrentIndex(w.model.index(w.model.row_of_path(str(photos[0])), 0))
    w.view.similar_action.trigger()
    qtbot.waitUntil(lambda: w.answer is not None and w.answer.query.paths == [str(photos[0])], timeout=30_000)
    assert w.model.result(0).path == str(copy)
    assert str(photos[0]) not in [r.path for r in w.model.results()]


def test_closing_during_indexing_loses_nothing(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.indexing import pipeline as indexer
    from engine.library import Library
    from engine.storage import catalog as cat

    # Decoding takes a little while per photo, as with real photos, so the close lands mid-indexing.
    prepare = indexer.prepare_photo

    def slow_prepare(*args: Any) -> Any:
        time.sleep(0.05)
        return prepare(*args)

    monkeypatch.setattr(indexer, "prepare_photo", slow_prepare)
    n = 60
    photos = make_library(tmp_path / "Many", n)
    w = make_window(home, real_service)
    w.menus.add_folder(str(photos[0].parent))
    qtbot.waitUntil(
        lambda: progress(w) is not None and progress(w).state == "indexing" and progress(w).done >= 1,
        timeout=120_000,
    )
    w.close()  # keep_running_in_tray is off: closing quits, after the service has written its batch
    qtbot.waitUntil(lambda: w.is_finished, timeout=60_000)
    with Library.open(home) as lib:
        rows = {r.path: r for r in lib.catalog.under(str(photos[0].parent))}
        assert set(rows) == {str(p) for p in photos}  # every file is known
        assert {r.state for r in rows.values()} <= {cat.INDEXED, cat.PENDING}
        done = [r.id for r in rows.values() if r.state == cat.INDEXED]
        assert 0 < len(done) < n, "closed mid-indexing: the batches written are kept, the rest waits"
        # Every row marked indexed has its vector: nothing half-written.
        for fid in done:
            _, vecs = lib.store.get_vectors(lib.image_collection, fid)
            assert len(vecs) == 1
        report = indexer.index_pending(lib)  # the next start picks up exactly the rest
        assert report.indexed == n - len(done) and report.failed == 0
