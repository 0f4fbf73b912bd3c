"""What a user reads in the window, checked where it went wrong once: model sizes that were "not
published", cost lines cut off with "…", a stack badge drawn as an empty box where no font has ⧉, "Up to
date" on a library with no folders, "1 files could not be indexed".

``LOOKALIKE_UPDATE_SCREENSHOTS=1`` also writes docs/screenshots/preferences.png (the page drawn
offscreen with illustrative figures: a library of 12,000 photos, 40 videos and 340 sounds, switching to
the multilingual model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


class _ClosedBridge:
    """The dialogs only read through an open bridge; closed, they show what they are given."""

    is_open = False


def illustrative_choices() -> Any:
    """The Preferences rows for a library of 12,000 photos, 40 videos (2 h) and 340 sounds (10 h) on the
    default models, a switch to the multilingual model a third done; costs from the engine's rates."""
    from desktop.model_choices import ROLES, Choices, ModelChoice, SwitchInfo, _known_bytes, estimate_sizes
    from engine.indexing import switches
    from engine.models import registry

    in_use = {"uform3-image-text-english-small", "panns-mobilenetv1", "whisper-base"}
    target = "uform3-image-text-multilingual-base"
    rows = []
    for role, _heading in ROLES:
        for m in registry.for_role(role):
            use = "in use" if m.id in in_use else "switching to" if m.id == target else ""
            cost = source = ""
            if not use and role == "image-text":
                rate, source = switches.estimated_rate(m.id)
                amount = 12_000 + 40 * 8
                cost = switches.SwitchCost(
                    m.id, amount, "photos/s", rate, amount / rate, source, 12_000, 40
                ).short()
            elif not use and role == "audio":
                rate, source = switches.estimated_rate(m.id)
                cost = switches.SwitchCost(
                    m.id, 12.0, "audio h/h", rate, 12.0 / rate * 3600, source, 0, 40, 340
                ).short()
            elif not use:
                cost = "no re-embedding: files transcribed already keep their transcripts"
            rows.append(
                ModelChoice(
                    model_id=m.id,
                    role=role,
                    title=m.title,
                    installed=bool(use),
                    test_model=False,
                    size=_known_bytes(m),
                    params_m=m.params_m,
                    languages=list(m.languages),
                    use=use,
                    cost=cost,
                    cost_source=source,
                    default=m.default,
                )
            )
    estimate_sizes(rows)
    switch = SwitchInfo(
        "image-text",
        "uform3-image-text-english-small",
        target,
        4_200,
        12_000,
        None,
        "image-text model: uform3-image-text-english-small → uform3-image-text-multilingual-base, "
        "4,200 / 12,000 files re-embedded (search uses uform3-image-text-english-small until then)",
    )
    return Choices(rows, [switch], "/home/you/.local/share/lookalike/models")


def test_preferences_says_a_size_for_every_model_and_wraps_long_costs(qtbot: Any) -> None:
    from desktop.preferences import PreferencesDialog

    dialog = PreferencesDialog(_ClosedBridge())  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog.resize(1100, 760)
    dialog.show()
    dialog.show_choices(illustrative_choices())
    table = dialog.tables["image-text"]
    rows = {table.item(i, 0).text().split(" ")[0]: i for i in range(table.rowCount())}
    size = {mid: table.item(i, 1).text() for mid, i in rows.items()}
    # UForm3 small publishes 60.6 MB for 79 M parameters; the larger ones are scaled from it.
    assert size["uform3-image-text-english-small"] == "about 60.6 MB"
    assert size["uform3-image-text-english-base"] == "about 110 MB (estimated from 143 M parameters)"
    assert size["uform3-image-text-english-large"] == "about 280 MB (estimated from 365 M parameters)"
    assert "bytes per parameter" in table.item(rows["uform3-image-text-english-base"], 1).toolTip()
    for mid in size:
        assert "not published" not in size[mid]
    # Every speech and sound model has a size too.
    for role in ("audio", "speech"):
        t = dialog.tables[role]
        for i in range(t.rowCount()):
            assert t.item(i, 1).text().startswith("about "), t.item(i, 1).text()

    # Base and large cost what their speeds say: large takes several times longer.
    cost = {mid: table.item(i, 4).text() for mid, i in rows.items()}
    assert cost["uform3-image-text-english-base"] != cost["uform3-image-text-english-large"], cost
    # ... said as a person says it ("about 48 min"), not as a clock ("about 48:40").
    for text in cost.values():
        assert ":" not in text, text
    # A single-line row is still tall enough for its button.
    small = rows["uform3-image-text-english-small"]
    assert (
        table.rowHeight(small)
        >= table.cellWidget(rows["uform3-image-text-english-base"], 5).sizeHint().height()
    )

    # A cost line too long for its column wraps onto a second line rather than ending in "…".
    dialog.resize(760, 760)
    qtbot.wait(50)
    dialog.show_choices(illustrative_choices())
    base = rows["uform3-image-text-english-base"]
    col = table.columnWidth(4)
    fm = table.fontMetrics()
    text = table.item(base, 4).text()
    assert fm.horizontalAdvance(text) > col, (text, col)  # the case being tested
    assert table.rowHeight(base) >= 2 * fm.height(), (table.rowHeight(base), fm.height())

    if os.environ.get("LOOKALIKE_UPDATE_SCREENSHOTS"):
        dialog.resize(1100, 760)
        qtbot.wait(50)
        dialog.show_choices(illustrative_choices())
        qtbot.wait(50)
        assert dialog.grab().save(str(REPO / "docs" / "screenshots" / "preferences.png"))


def test_rough_durations_read_as_minutes_and_hours() -> None:
    from engine.core.durations import rough_duration

    assert rough_duration(2900) == "48 min"
    assert rough_duration(14_560) == "4 h"
    assert rough_duration(7_800) == "2 h 10 min"
    assert rough_duration(200_000) == "56 h"
    assert rough_duration(5) == "1 min"


def test_size_estimates_need_a_published_model_of_the_role() -> None:
    from desktop.model_choices import ModelChoice, estimate_sizes
    from desktop.preferences import rough_size, size_text

    def choice(mid: str, role: str, size: int | None, params: float | None) -> ModelChoice:
        return ModelChoice(mid, role, mid, False, False, size, params)

    rows = [choice("a", "x", 50_000_000, 100), choice("b", "x", None, 300), choice("c", "y", None, 40)]
    estimate_sizes(rows)
    assert rows[1].size_estimate == 150_000_000 and "as a" in rows[1].size_basis
    assert rows[2].size_estimate is None  # nothing in its role to scale from
    assert size_text(rows[1]) == "about 150 MB (estimated from 300 M parameters)"
    assert size_text(rows[2]) == "size not published (40 M parameters)"
    assert rough_size(2_810_000_000) == "2.8 GB"


@pytest.mark.parametrize("found", [True, False])
def test_stack_badge_falls_back_where_no_font_draws_the_stack_mark(
    qapp: Any, monkeypatch: pytest.MonkeyPatch, found: bool
) -> None:
    from desktop import glyphs
    from desktop.result_model import StackState
    from desktop.result_view import stack_label

    glyphs.drawable.cache_clear()
    monkeypatch.setattr(glyphs, "_draws", lambda ch, font: found)
    try:
        closed = stack_label(StackState("closed", 3, 0))
        opened = stack_label(StackState("open", 3, 0))
    finally:
        glyphs.drawable.cache_clear()
    if found:
        assert closed == "\u29c9 3 \u25b8" and opened == "\u29c9 3 \u25be"
    else:
        assert closed == "3 copies \u25b8" and opened == "3 copies \u25be"


def test_drawable_tells_a_missing_glyph_from_a_real_one(qapp: Any) -> None:
    from desktop import glyphs

    glyphs.drawable.cache_clear()
    assert glyphs.drawable("A")
    assert not glyphs.drawable("\U0010fffd")  # private use, plane 16: no font has it


def test_status_says_nothing_is_indexed_rather_than_up_to_date() -> None:
    from desktop.status import describe
    from engine.service.core import ServiceProgress

    assert describe(ServiceProgress(state="idle")) == "No files indexed yet"
    assert describe(ServiceProgress(state="idle", indexed_total=5)) == "Up to date · 5 files indexed"
    assert describe(ServiceProgress(state="idle", indexed_total=1)) == "Up to date · 1 file indexed"


def test_errors_summary_counts_one_file_in_the_singular(qtbot: Any) -> None:
    from desktop.library_dialog import ErrorsDialog

    dialog = ErrorsDialog(_ClosedBridge())  # type: ignore[arg-type]
    qtbot.addWidget(dialog)
    dialog._fill([("/p/broken.jpg", "truncated image (the file ends early)")])
    assert dialog.summary.text() == "1 file could not be indexed."
    dialog._fill([("/p/a.jpg", "x"), ("/p/b.jpg", "y")])
    assert dialog.summary.text() == "2 files could not be indexed."


def test_duplicate_cards_keep_their_lines_under_the_picture(qtbot: Any, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from PySide6.QtWidgets import QLabel

    from desktop.duplicates_view import DuplicatesView
    from tests.media import save_photo

    photo = save_photo(tmp_path / "a.jpg", 1, size=(320, 240))
    f = SimpleNamespace(
        path=str(photo),
        kind="photo",
        size=35_400,
        width=320,
        height=240,
        taken=1.7e9,
        edited=False,
        keep=True,
    )
    g = SimpleNamespace(kind="photo", files=[f, SimpleNamespace(**{**vars(f), "keep": False})])
    view = DuplicatesView(_ClosedBridge())  # type: ignore[arg-type]
    qtbot.addWidget(view)
    view.resize(1000, 900)  # much taller than a card needs
    view.show()
    view._on_groups([g])
    qtbot.waitUntil(lambda: len(view.cards) == 2 and view.cards[0].isVisible())
    qtbot.wait(20)
    card = view.cards[0]
    pic = card.findChildren(QLabel)[0]
    gap = card.keep.geometry().top() - pic.geometry().bottom()
    assert gap < 100, f"Keep sits {gap} px under the picture"
    assert card.details.text().startswith("35.4 KB"), card.details.text()  # decimal KB, as the preview says
    assert view.summary.text() == "1 group; 1 copy could go."


def test_one_match_is_counted_in_the_singular(window: Any, photos: list[Path]) -> None:
    from desktop.search_controller import Answer, Query
    from tests.desktop.fake_service import result_for

    one = [result_for(photos[0], 0.9)]
    window._on_answer(Answer(Query(text="porto 2023"), one, one, []))
    assert window.header.text() == "1 match for “porto 2023”"
    two = [result_for(photos[0], 0.9), result_for(photos[1], 0.8, file_id=2)]
    window._on_answer(Answer(Query(text="beach"), two, two, []))
    assert window.header.text() == "2 matches for “beach”"


def test_date_boxes_keep_their_placeholder_and_filters_stay_their_size(window: Any, qtbot: Any) -> None:
    bar = window.search_bar
    window.resize(1240, 760)
    qtbot.wait(50)
    # No chips: the filters keep their own width on the right rather than stretching across the row.
    assert bar.sort_box.width() <= bar.sort_box.sizeHint().width() + 4, bar.sort_box.width()
    assert bar.place_box.width() <= bar.place_box.sizeHint().width() + 4, bar.place_box.width()
    # With chips: the date boxes still show their example ("from (2020, 2020-07)"), not "from (2020, 2020…".
    bar.field.setText("porto 2023 beach")
    bar.chips.setVisible(True)
    qtbot.wait(50)
    for box in (bar.after_box, bar.before_box):
        need = box.fontMetrics().horizontalAdvance(box.placeholderText())
        assert box.width() >= need + 8, (box.placeholderText(), box.width(), need)


def test_preview_rows_are_never_squeezed_under_a_long_transcript(qtbot: Any) -> None:
    from desktop.preview import PreviewPane
    from desktop.thumbnails import ThumbnailLoader
    from engine.search.results import Reason, Result

    said = "and then we walked down to the harbour where the boats were coming in with the catch " * 2
    r = Result(
        1,
        "/nowhere/harbour.mp4",
        "video",
        0.6,
        t=2.0,
        duration=40.0,
        size=1000,
        reasons=[
            Reason(
                "said",
                0.9,
                {"said": said, "before": said, "after": said, "matched": ["harbour"], "start": 31.0},
            ),
            Reason("visual", 0.2, {"z": 1.5}, 2),
            Reason("text", 0.5, {"text": "HARBOUR CAFE OPEN 24 HOURS"}, 1, True),
        ],
    )
    pane = PreviewPane(ThumbnailLoader())
    qtbot.addWidget(pane)
    for height in (800, 560):
        pane.resize(330, height)
        pane.show()
        pane.show_result(r)
        qtbot.wait(30)
        for name, label in pane.fields.items():
            if label.isVisible():
                need = label.heightForWidth(label.width())
                assert label.height() >= need, f"{name} row cut at {height} px: {label.height()} < {need}"
        assert pane.image.height() >= 140
    # With room, every row shows without scrolling.
    pane.resize(330, 900)
    qtbot.wait(30)
    assert pane.details.verticalScrollBar().maximum() == 0


def test_a_search_over_the_empty_page_says_it_is_searching(window: Any) -> None:
    from desktop.search_controller import Query

    window.stack.setCurrentWidget(window.message)
    window.message.show_message("Type what you are looking for")
    window._on_search_started(Query(text="dog on a beach"))
    assert window.message.label.text() == "Searching for “dog on a beach”…"
    assert window.header.text() == "Searching…"


def test_a_long_status_line_ends_in_an_ellipsis_and_keeps_the_buttons(qtbot: Any) -> None:
    from PySide6.QtWidgets import QMainWindow

    from desktop.status import IndexStatus
    from engine.service.core import ServiceProgress

    w = QMainWindow()
    qtbot.addWidget(w)
    st = IndexStatus(w)
    w.statusBar().addWidget(st, 1)
    w.resize(800, 400)
    w.show()
    long = (
        "could not read /home/someone/Pictures/2019 holiday in Portugal/Porto/Ribeira/IMG_20190714_1802.jpg"
    )
    st.set_progress(ServiceProgress(state="indexing", queued=100, done=5, warnings=(long,), failed_total=3))
    qtbot.wait(30)
    assert st.label.text().endswith(long)  # the whole line is still the label's text (and in the tooltip)
    assert st.label.elided().endswith("…") and len(st.label.elided()) < len(st.label.text())
    assert st.pause_button.geometry().right() <= st.width() and st.errors_button.isVisible()
    assert w.width() <= 800 and w.minimumSizeHint().width() < 800
