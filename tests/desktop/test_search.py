"""Searching from the window: typing, dropping, pasting, filters, the score floor, stale answers."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication

from tests.desktop.fake_service import result_for


def rows(window: Any) -> list[str]:
    m = window.model
    return [Path(m.result(i).path).name for i in range(m.rowCount())]


def test_typing_shows_results(qtbot: Any, window: Any, photos: list[Path]) -> None:
    svc = window.bridge.service
    svc.answers["red car"] = [result_for(p, 0.40 - i * 0.01, i) for i, p in enumerate(photos)]
    qtbot.keyClicks(window.search_bar.field, "red car")
    qtbot.waitUntil(lambda: window.model.rowCount() == len(photos), timeout=10_000)
    assert rows(window) == [p.name for p in photos]
    assert window.stack.currentWidget() is window.view
    # Debounced: one search for the whole phrase, not one per key.
    assert [c[1][0] for c in svc.calls if c[0] == "search_text"] == ["red car"]
    assert "8 matches" in window.header.text()


def test_no_good_match_is_said_plainly(qtbot: Any, window: Any, photos: list[Path]) -> None:
    svc = window.bridge.service
    svc.answers["zebra"] = [result_for(p, 0.05, i) for i, p in enumerate(photos)]
    assert not window.searches.floor_enabled  # the home fixture's tiny models: scores mean nothing
    window.searches.floor_enabled = True  # as with real models
    window.search_text("zebra")
    qtbot.waitUntil(lambda: "No good match" in window.message.label.text(), timeout=10_000)
    assert window.stack.currentWidget() is window.message
    assert window.model.rowCount() == 0
    window.message.button.click()  # "Show the closest 8 anyway"
    assert window.model.rowCount() == len(photos)


def drop(widget: Any, md: QMimeData) -> bool:
    """Drag ``md`` onto ``widget`` and drop it, as a file manager would; True if the drop was taken."""
    with warnings.catch_warnings():  # PySide6 flags the QPoint constructor, Qt 6's only one
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            QPoint(5, 5),
            Qt.DropAction.CopyAction,
            md,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, md, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def test_dropping_a_file_finds_similar(qtbot: Any, window: Any, photos: list[Path], tmp_path: Path) -> None:
    svc = window.bridge.service
    svc.answers[("similar", str(photos[0]))] = [result_for(photos[1], 0.9, 2)]
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not media")
    md = QMimeData()
    md.setUrls([QUrl.fromLocalFile(str(text_file))])
    assert not drop(window.search_bar.drop_zone, md)  # only photos, clips and sounds are taken
    md.setUrls([QUrl.fromLocalFile(str(photos[0]))])
    assert drop(window.search_bar.drop_zone, md)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    assert ("search_similar", ([str(photos[0])],), {"limit": 500}) in svc.calls
    assert rows(window) == [photos[1].name]
    # Dropping anywhere on the window works the same.
    svc.answers[("similar", str(photos[2]))] = [result_for(photos[3], 0.9, 4)]
    md.setUrls([QUrl.fromLocalFile(str(photos[2]))])
    assert drop(window, md)
    qtbot.waitUntil(lambda: rows(window) == [photos[3].name], timeout=10_000)


def test_pasting_an_image_saves_it_and_finds_similar(qtbot: Any, window: Any) -> None:
    svc = window.bridge.service
    img = QImage(64, 48, QImage.Format.Format_RGB32)
    img.fill(Qt.GlobalColor.darkCyan)
    md = QMimeData()
    md.setImageData(img)
    assert window.search_bar.field.paste_mime(md)
    qtbot.waitUntil(lambda: "search_similar" in svc.names(), timeout=10_000)
    pasted = next(c for c in svc.calls if c[0] == "search_similar")[1][0][0]
    saved = QImage(pasted)
    assert (saved.width(), saved.height()) == (64, 48)
    assert Path(pasted).parent == window.paste_dir


def test_kind_filter_goes_to_the_engine(qtbot: Any, window: Any, photos: list[Path]) -> None:
    svc = window.bridge.service
    window.search_bar.kind_buttons["photo"].setChecked(False)
    window.search_text("dog")
    qtbot.waitUntil(lambda: "search_text" in svc.names(), timeout=10_000)
    call = next(c for c in svc.calls if c[0] == "search_text")
    assert call[2]["kinds"] == ["video", "sound"]


def test_a_stale_answer_never_reaches_the_view(qtbot: Any, window: Any, photos: list[Path]) -> None:
    svc = window.bridge.service
    svc.answers["old"] = [result_for(photos[0], 0.5, 1)]
    svc.answers["new"] = [result_for(photos[1], 0.5, 2)]
    svc.hold = threading.Event()
    window.search_text("old")
    window.search_text("new")
    svc.hold.set()
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    qtbot.wait(200)  # give a wrongly delivered "old" answer the chance to arrive
    assert rows(window) == [photos[1].name]


def test_a_query_typed_before_the_library_opens_runs_when_it_does(
    qtbot: Any, make_window: Any, home: Path, photos: list[Path]
) -> None:
    w = make_window(home, open_library=False)
    w.search_text("early")
    assert w.header.text() == "Searching…"
    with qtbot.waitSignal(w.bridge.opened, timeout=30_000):
        w.bridge.open()
    qtbot.waitUntil(lambda: "search_text" in w.bridge.service.names(), timeout=10_000)


def test_a_busy_library_is_explained_and_can_be_retried(
    qtbot: Any, make_window: Any, home: Path, photos: list[Path]
) -> None:
    from desktop import ipc
    from engine.library import Library

    holder = Library.open(home)  # `lookalike index` running in another process, say
    w = make_window(home, open_library=False)
    w.search_text("early")
    with qtbot.waitSignal(w.bridge.openFailed, timeout=30_000):
        w.bridge.open()
    assert "open in another Lookalike process" in w.message.label.text()
    # The waiting query is answered with the reason, and requests go to the command line instead.
    assert w.stack.currentWidget() is w.message and not w.ipc_server.is_listening
    assert ipc.forward_to_running_app([], home=home) is False
    holder.close()
    with qtbot.waitSignal(w.bridge.opened, timeout=30_000):
        w.message.button.click()  # "Try again"
    assert w.ipc_server.is_listening


def test_the_query_runs_again_only_when_indexing_added_files(
    qtbot: Any, window: Any, photos: list[Path]
) -> None:
    svc = window.bridge.service
    svc.answers["dog"] = [result_for(photos[0], 0.3)]
    window.search_text("dog")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)

    def searches() -> int:
        return sum(1 for c in svc.calls if c[0] == "search_text")

    # A scan that finds nothing new (every start, a rescan): the answer on screen stays.
    svc.set_progress(state="scanning")
    qtbot.waitUntil(lambda: window.status.busy, timeout=10_000)
    svc.set_progress(state="idle")
    qtbot.waitUntil(lambda: not window.status.busy, timeout=10_000)
    qtbot.wait(3 * window.bridge.POLL_MS)
    assert searches() == 1
    # Indexing that added files: the query runs again, to show them.
    svc.set_progress(state="indexing", done=5)
    qtbot.waitUntil(lambda: window.status.busy, timeout=10_000)
    svc.set_progress(state="idle", done=5, indexed_total=5)
    qtbot.waitUntil(lambda: searches() == 2, timeout=10_000)


def test_a_missing_model_is_told_by_its_exception_not_its_words(qtbot: Any, window: Any) -> None:
    """The search's exception reaches the window as raised: ModelMissingError offers the models dialog;
    any other failure says it failed, whatever its text (the window used to match "not installed")."""
    from engine.errors import ModelMissingError

    svc = window.bridge.service
    svc.fail_with = ModelMissingError("Model m (M) is not installed. Run `lookalike models download m`")
    window.search_text("a dog")
    qtbot.waitUntil(lambda: "A model is missing" in window.message.label.text(), timeout=10_000)
    assert window.message.button.text() == "Get the models…" and window.message.button.isVisibleTo(window)
    svc.fail_with = RuntimeError("the plug-in is not installed")
    window.search_text("a cat")
    qtbot.waitUntil(lambda: "The search failed" in window.message.label.text(), timeout=10_000)
    assert "the plug-in is not installed" in window.message.label.text()
    assert not window.message.button.isVisibleTo(window)


def _judged(path: Path, fid: int, good: bool, reason: Any) -> Any:
    return result_for(path, 0.9, fid, good=good, reasons=[reason])  # a high score: the floor would pass it


def test_the_engines_verdict_splits_good_from_closest_and_tiles_say_why(
    qtbot: Any, window: Any, photos: list[Path]
) -> None:
    from engine.search.results import Reason

    svc = window.bridge.service
    name = Reason("names", 1.05, {"name": "receipt", "where": "file"}, rank=1, good=True)
    looks = [Reason("visual", 0.12, {"z": 0.4}, rank=i) for i in (1, 2, 3)]
    svc.answers["receipt"] = [_judged(photos[0], 1, True, name)] + [
        _judged(p, i + 2, False, looks[i]) for i, p in enumerate(photos[1:4])
    ]
    window.searches.floor_enabled = True  # as with real models
    window.search_text("receipt")
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    assert "1 match for" in window.header.text() and "show 3 weaker" in window.header.text()
    tile = window.model.tile(0)
    assert tile.reason == "file name contains “receipt”"
    tip = window.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "file name contains “receipt” — names finder, #1 of its list: score 1.050" in tip
    window.preview.show_result(window.model.result(0))
    assert window.preview.fields["Why"].text() == "file name contains “receipt”"  # plain words
    assert "names finder, #1 of its list: score 1.050" in window.preview.fields["Why"].toolTip()
    window.show_weak()  # the closest, after the good one
    assert window.model.rowCount() == 4 and window.model.tile(3).reason == "closest, but not a good match"
    window.preview.show_result(window.model.result(3))
    assert window.preview.fields["Why"].text() == "looks a little like what you searched (weak match)"
    why = window.preview.fields["Why"]
    assert "σ" not in why.text() and "visual finder, #3 of its list: cosine 0.120, +0.4σ" in why.toolTip()
    window.view.grab()  # paints the tiles with their reasons without complaint


def test_no_good_match_when_the_engine_says_so_whatever_the_scores(
    qtbot: Any, window: Any, photos: list[Path]
) -> None:
    from engine.search.results import Reason

    svc = window.bridge.service
    svc.answers["qwzx"] = [_judged(p, i, False, Reason("visual", 0.9)) for i, p in enumerate(photos)]
    window.searches.floor_enabled = True
    window.search_text("qwzx")
    qtbot.waitUntil(lambda: "No good match" in window.message.label.text(), timeout=10_000)
    assert window.model.rowCount() == 0
    window.message.button.click()  # "Show the closest 8 anyway"
    assert window.model.rowCount() == len(photos)


def test_with_test_models_every_closest_result_is_asked_for_and_shown(
    qtbot: Any, window: Any, photos: list[Path]
) -> None:
    svc = window.bridge.service
    svc.answers["sea"] = [result_for(p, 0.2, i, good=False) for i, p in enumerate(photos)]
    assert not window.searches.floor_enabled
    window.search_text("sea")
    qtbot.waitUntil(lambda: window.model.rowCount() == len(photos), timeout=10_000)
    call = next(c for c in svc.calls if c[0] == "search_text")
    assert call[2]["closest"] == call[2]["limit"]  # not the engine's few closest


def test_the_preview_outlines_the_words_that_matched(qtbot: Any, window: Any, photos: list[Path]) -> None:
    from engine.search.results import Reason

    box = [[64, 48], [320, 48], [320, 96], [64, 96]]
    words = Reason("text", 0.9, {"text": "OPEN", "box": box}, good=True)
    r = result_for(photos[0], 0.9, 1, good=True, reasons=[words])  # the photos are 640 x 480
    window.preview.show_result(r)
    assert window.preview.image.boxes == [[(0.1, 0.1), (0.5, 0.1), (0.5, 0.2), (0.1, 0.2)]]
    window.preview.image.grab()
    window.preview.show_result(result_for(photos[1], 0.9, 2))
    assert window.preview.image.boxes == []
