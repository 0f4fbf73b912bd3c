"""Stacks of near-duplicates in the results grid: a click on the count badge shows the copies right after
their tile, another folds them; the tile's menu does the same ("Show all N copies")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt

from desktop.result_model import ResultModel
from desktop.result_view import ResultView, TileDelegate, stack_badge_rect, stack_label, thumb_rect
from desktop.thumbnails import ThumbnailLoader


def _results() -> list[Any]:
    from engine.search.api import Result

    copies = [Result(2, "/photos/a_small.jpg", "photo", 0.4), Result(3, "/photos/a_mirror.jpg", "photo", 0.3)]
    return [
        Result(1, "/photos/a.jpg", "photo", 0.5, stack=copies),
        Result(4, "/photos/b.jpg", "photo", 0.45, stack=[Result(5, "/photos/b_crop.jpg", "photo", 0.2)]),
        Result(6, "/photos/c.jpg", "photo", 0.35),
    ]


@pytest.fixture
def grid(qtbot: Any, tmp_path: Path) -> tuple[ResultView, ResultModel]:
    loader = ThumbnailLoader(tmp_path)
    loader.request = lambda req: None  # type: ignore[method-assign]
    model = ResultModel(loader)
    view = ResultView()
    view.setModel(model)
    view.resize(900, 500)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    model.set_results(_results())
    return view, model


def _names(model: ResultModel) -> list[str]:
    return [model.index(i, 0).data(Qt.ItemDataRole.DisplayRole) for i in range(model.rowCount())]


def _badge_centre(view: ResultView, row: int) -> QPoint:
    idx = view.model().index(row, 0)
    st = idx.data(ResultModel.StackRole)
    delegate = view.itemDelegate()
    assert isinstance(delegate, TileDelegate)
    font = delegate._small_font(view.viewport().font())
    from PySide6.QtGui import QFontMetrics

    rect = stack_badge_rect(thumb_rect(view.visualRect(idx)), QFontMetrics(font), stack_label(st))
    return rect.center().toPoint()


def test_clicking_the_badge_expands_the_stack_in_place_and_again_collapses_it(qtbot: Any, grid: Any) -> None:
    view, model = grid
    assert _names(model) == ["a.jpg", "b.jpg", "c.jpg"]
    assert model.index(0, 0).data(ResultModel.StackRole).state == "closed"
    before = view.grab().toImage()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_badge_centre(view, 0))
    # The two copies now follow their tile; the other stack stays folded.
    assert _names(model) == ["a.jpg", "a_small.jpg", "a_mirror.jpg", "b.jpg", "c.jpg"]
    states = [model.index(i, 0).data(ResultModel.StackRole) for i in range(5)]
    assert [s.state for s in states] == ["open", "copy", "copy", "closed", ""]
    assert states[0].size == 3 and states[1].head == 0 and states[2].head == 0
    assert view.currentIndex().row() == 0  # the stack's tile stays the current one
    after = view.grab().toImage()
    assert before != after  # the open stack and its copies are painted (backdrop, "copy" badges)
    # The second stack opens too, after its own tile, and the first one's copies keep their place.
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_badge_centre(view, 3))
    assert _names(model) == ["a.jpg", "a_small.jpg", "a_mirror.jpg", "b.jpg", "b_crop.jpg", "c.jpg"]
    assert model.index(4, 0).data(ResultModel.StackRole).head == 3
    # A click on a copy's badge folds its stack; the other stays open, its copy's tile row updated.
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_badge_centre(view, 2))
    assert _names(model) == ["a.jpg", "b.jpg", "b_crop.jpg", "c.jpg"]
    assert model.index(2, 0).data(ResultModel.StackRole).head == 1
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=_badge_centre(view, 1))
    assert _names(model) == ["a.jpg", "b.jpg", "c.jpg"]
    # A click elsewhere on the tile only selects it.
    centre = view.visualRect(model.index(0, 0)).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert _names(model) == ["a.jpg", "b.jpg", "c.jpg"]
    assert [r.path for r in view.selected_results()] == ["/photos/a.jpg"]


def test_the_menu_shows_all_copies_and_hides_them(grid: Any) -> None:
    view, model = grid
    view.setCurrentIndex(model.index(0, 0))
    menu = view.context_menu()
    texts = [a.text() for a in menu.actions()]
    assert "Show all 3 copies" in texts
    view.stack_action.trigger()
    assert _names(model)[:3] == ["a.jpg", "a_small.jpg", "a_mirror.jpg"]
    # The copies are results like the others: previewing or opening one acts on that copy.
    view.setCurrentIndex(model.index(1, 0))
    assert [r.path for r in view.selected_results()] == ["/photos/a_small.jpg"]
    assert "Hide the 2 copies" in [a.text() for a in view.context_menu().actions()]
    view.stack_action.trigger()
    assert _names(model) == ["a.jpg", "b.jpg", "c.jpg"]
    # A tile without a stack has no such entry.
    view.setCurrentIndex(model.index(2, 0))
    assert not any("copies" in a.text() for a in view.context_menu().actions())


def test_a_new_search_starts_with_every_stack_folded(grid: Any) -> None:
    view, model = grid
    model.expand(0)
    assert model.rowCount() == 5
    model.set_results(_results())
    assert _names(model) == ["a.jpg", "b.jpg", "c.jpg"]
    assert model.index(0, 0).data(ResultModel.StackRole).state == "closed"
