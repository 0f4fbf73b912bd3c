"""The folders dialog, the error list with Retry, and indexing status with pause/resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.library_dialog import ErrorsDialog, FoldersDialog
from desktop.status import describe


def table_rows(table: Any) -> list[list[str]]:
    return [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_folders_dialog_adds_and_removes_with_counts(
    qtbot: Any, window: Any, photos: list[Path], tmp_path: Path
) -> None:
    svc = window.bridge.service
    folder = photos[0].parent
    window.menus.show_folders()  # Library ▸ Folders…
    dialog = window.menus.folders_dialog
    assert isinstance(dialog, FoldersDialog) and dialog.isVisible()
    with qtbot.waitSignal(dialog.folderAdded, timeout=10_000) as sig:
        dialog.add_folder(str(folder))
    assert sig.args[0] == str(folder)
    assert window.session.folders == [str(folder)]
    assert ("add_folder", (str(folder),), {}) in svc.calls
    assert window.search_bar.folder_box.findData(str(folder)) > 0  # the folder filter offers it
    # Files the indexer knows about show up per state.
    lib = svc.lib
    ids = lib.catalog.add_many([(str(p), p.stat().st_size, p.stat().st_mtime, "photo") for p in photos])
    lib.catalog.mark_indexed(ids[0], digest=None, model="m")
    lib.catalog.mark_failed(ids[1], "truncated image (the file ends early)")
    svc.set_progress(indexed_total=1, failed_total=1)  # indexing moved on: the dialog asks again
    qtbot.waitUntil(
        lambda: dialog.table.rowCount() == 1 and dialog.table.item(0, 1).text() == "8", timeout=10_000
    )
    assert table_rows(dialog.table) == [[str(folder), "8", "1", "1", "6 waiting"]]
    with qtbot.waitSignal(dialog.folderRemoved, timeout=10_000):
        dialog.remove_folder(str(folder))
    assert window.session.folders == []
    assert window.search_bar.folder_box.count() == 1  # "All folders" only
    assert ("remove_folder", (str(folder),), {}) in svc.calls
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=10_000)


def test_folder_offline_state(qtbot: Any, window: Any, tmp_path: Path) -> None:
    from desktop.library_dialog import folder_state
    from desktop.library_queries import FolderInfo

    assert folder_state(FolderInfo("/media/usb", False, {"indexed": 3}), None) == "offline (files kept)"
    assert folder_state(FolderInfo("/p", True, {"indexed": 3}), None) == "up to date"
    assert folder_state(FolderInfo("/p", True, {"failed": 2}), None) == "2 errors"


def test_error_list_shows_reasons_and_retry_requeues(qtbot: Any, window: Any, photos: list[Path]) -> None:
    svc = window.bridge.service
    lib = svc.lib
    ids = lib.catalog.add_many([(str(p), 1, 1.0, "photo") for p in photos[:3]])
    lib.catalog.mark_failed(ids[0], "not a readable image (unknown or corrupt format)")
    lib.catalog.mark_failed(ids[2], "permission denied: cannot read the file")
    dialog = ErrorsDialog(window.bridge, window)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 2, timeout=10_000)
    assert table_rows(dialog.table) == [
        [str(photos[0]), "not a readable image (unknown or corrupt format)"],
        [str(photos[2]), "permission denied: cannot read the file"],
    ]
    with qtbot.waitSignal(dialog.retried, timeout=10_000) as sig:
        dialog.retry_button.click()
    assert sig.args == [2]
    assert "retry_failed" in svc.names()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0, timeout=10_000)
    assert "No errors" in dialog.summary.text()


def test_status_bar_follows_progress_and_pauses(qtbot: Any, window: Any) -> None:
    svc = window.bridge.service
    svc.set_progress(state="indexing", done=40, failed=2, queued=58, rate=12.5, eta=4.6, failed_total=2)
    qtbot.waitUntil(lambda: window.status.label.text().startswith("Indexing 42 of 100"), timeout=10_000)
    assert "12.5 files/s" in window.status.label.text()
    assert window.status.errors_button.isVisible() and window.status.errors_button.text() == "2 errors"
    window.status.pause_button.click()
    assert svc.names()[-1] == "pause"
    qtbot.waitUntil(lambda: window.status.pause_button.text() == "Resume", timeout=10_000)
    window.status.pause_button.click()
    assert svc.names()[-1] == "resume"
    svc.set_progress(state="idle", queued=0, indexed_total=1234, offline_folders=("/media/usb",))
    qtbot.waitUntil(lambda: "Up to date" in window.status.label.text(), timeout=10_000)
    assert window.status.label.text() == "Up to date · 1,234 files indexed · 1 folder offline"
    assert not window.status.pause_button.isVisible()


def test_describe_wording() -> None:
    from engine.service.core import ServiceProgress

    assert describe(ServiceProgress(state="scanning")) == "Looking for new and changed files…"
    assert describe(ServiceProgress(state="paused", queued=7)) == "Paused · 7 files waiting"
    assert describe(ServiceProgress(state="idle", waiting=3)) == "Up to date · 3 files wait for models"
    eta = describe(ServiceProgress(state="indexing", done=1, queued=999, rate=2.0, eta=499.5))
    assert eta == "Indexing 1 of 1,000 · 2.0 files/s · about 8 min left"
