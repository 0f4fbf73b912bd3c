"""The Duplicates window: groups listed with their files' details, keep one and trash the others (into a
temporary XDG trash), "not duplicates" remembered; opened from the Library menu."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from desktop.duplicates_view import DuplicatesView
from testkit.dupe_edits import use_temp_trash
from tests.media import recompressed_copy, save_photo


def _hash_all(lib: Any, paths: list[Path]) -> None:
    from engine.indexing.analyzers.hashes import analyze_file

    ids = lib.catalog.add_many([(str(p), p.stat().st_size, p.stat().st_mtime, "photo") for p in paths])
    for fid in ids:
        analyze_file(lib, lib.catalog.get(fid))


@pytest.fixture
def library_with_copies(window: Any, tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "Pictures"
    folder.mkdir()
    files = {
        "a": save_photo(folder / "a.jpg", 1),
        "b": save_photo(folder / "b.jpg", 2),
    }
    files["a_small"] = recompressed_copy(files["a"], folder / "a_small.jpg")
    files["b_small"] = recompressed_copy(files["b"], folder / "b_small.jpg")
    _hash_all(window.bridge.service.lib, [p.resolve() for p in files.values()])
    return files


def _open_view(qtbot: Any, window: Any) -> DuplicatesView:
    view = DuplicatesView(window.bridge, window)
    qtbot.addWidget(view)
    view.confirm = False
    view.show()
    qtbot.waitUntil(lambda: view.list.count() == 2, timeout=15_000)
    return view


def test_groups_show_side_by_side_with_the_keeper_selected(
    qtbot: Any, window: Any, library_with_copies
) -> None:
    view = _open_view(qtbot, window)
    assert "2 groups" in view.summary.text()
    view.list.setCurrentRow(0)
    names = sorted(Path(c.file.path).name for c in view.cards)
    assert names in (["a.jpg", "a_small.jpg"], ["b.jpg", "b_small.jpg"])
    kept = [c for c in view.cards if c.keep.isChecked()]
    assert len(kept) == 1 and "small" not in Path(kept[0].file.path).name  # the larger resolution
    assert all("640\u00d7480" in c.details.text() or "320\u00d7240" in c.details.text() for c in view.cards)


def test_trash_the_others_and_not_duplicates_are_remembered(
    qtbot: Any, window: Any, library_with_copies, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_trash(monkeypatch, tmp_path / "xdg")
    view = _open_view(qtbot, window)
    view.list.setCurrentRow(0)
    first = {Path(c.file.path).name for c in view.cards}
    with qtbot.waitSignal(view.trashed, timeout=15_000) as sig:
        view.trash_button.click()
    (gone,) = sig.args[0]
    assert Path(gone).name.endswith("_small.jpg") and Path(gone).name in first
    assert not Path(gone).exists()
    assert (tmp_path / "xdg" / "Trash" / "files" / Path(gone).name).exists()
    qtbot.waitUntil(lambda: view.list.count() == 1, timeout=15_000)
    with qtbot.waitSignal(view.changed, timeout=15_000):
        view.not_button.click()
    qtbot.waitUntil(lambda: view.list.count() == 0, timeout=15_000)
    assert "No duplicates" in view.summary.text()
    # A new window on the same library (a restart of the view) remembers both choices.
    again = DuplicatesView(window.bridge, window)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: "No duplicates" in again.summary.text(), timeout=15_000)


def test_library_menu_opens_the_view(qtbot: Any, window: Any) -> None:
    actions = [a for a in window.menuBar().actions() if a.text() == "&Library"]
    menu = actions[0].menu()
    (entry,) = [a for a in menu.actions() if a.text() == "Duplicates\u2026"]
    entry.trigger()
    view = window.menus.duplicates_view
    qtbot.waitUntil(lambda: "No duplicates" in view.summary.text(), timeout=15_000)
    view.close()


def test_a_stacked_result_paints_its_count_badge(qtbot: Any, tmp_path: Path) -> None:
    from PySide6.QtGui import QColor

    from desktop.result_model import ResultModel
    from desktop.result_view import ResultView
    from desktop.thumbnails import ThumbnailLoader
    from engine.search.api import Result

    loader = ThumbnailLoader(tmp_path)
    loader.request = lambda req: None  # type: ignore[method-assign]
    model = ResultModel(loader)
    view = ResultView()
    view.setModel(model)
    view.resize(400, 300)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    plain = Result(1, "/photos/a.jpg", "photo", 0.5)
    model.set_results([plain])
    before = view.grab().toImage()
    stacked = Result(1, "/photos/a.jpg", "photo", 0.5, stack=[Result(2, "/photos/a_copy.jpg", "photo", 0.4)])
    model.set_results([stacked])
    after = view.grab().toImage()
    rect = view.visualRect(model.index(0))
    # The badge darkens the bottom right of the thumbnail, where the plain tile has its placeholder.
    changed = sum(
        before.pixelColor(x, y) != after.pixelColor(x, y)
        for x in range(rect.center().x(), rect.right())
        for y in range(rect.top(), rect.bottom())
    )
    assert changed > 20
    assert isinstance(after.pixelColor(0, 0), QColor)
