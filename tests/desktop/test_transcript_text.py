"""The preview's "Said" row: the words around a spoken match, the matched ones in bold (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from desktop.thumbnails import ThumbnailLoader
from desktop.transcript_text import said_html
from engine.search.results import Reason, Result


def spoken(**detail: Any) -> Result:
    base = {"said": "book the flight to Tokyo on Friday", "start": 761.0, "end": 765.0, "seq": 3}
    return Result(
        1, "/rec/interview.m4a", "sound", 1.0, t=761.0, reasons=[Reason("said", 2.0, {**base, **detail})]
    )


def test_said_text_shows_the_moment_the_context_and_the_matched_words() -> None:
    html = said_html(spoken(before="Next week", after="and the hotel too", matched=["tokyo", "flight"]))
    assert html.startswith("@ 12:41 ")
    assert "<b>flight</b>" in html and "<b>Tokyo</b>" in html
    assert "Next week" in html and "and the hotel too" in html
    assert html.index("Next week") < html.index("book") < html.index("hotel")


def test_said_text_escapes_markup_and_is_empty_for_other_matches() -> None:
    assert "&lt;b&gt;" in said_html(spoken(said="<b>not bold</b>", matched=[]))
    photo = Result(2, "/p.jpg", "photo", 0.3, reasons=[Reason("names", 1.0, {"name": "receipt"})])
    assert said_html(photo) == ""


def test_the_preview_shows_the_said_row_only_for_spoken_matches(qtbot: Any, tmp_path: Path) -> None:
    from desktop.preview import PreviewPane

    pane = PreviewPane(ThumbnailLoader(tmp_path / "thumbs"))
    qtbot.addWidget(pane)
    pane.show()
    pane.show_result(spoken(matched=["Tokyo"]))
    assert pane.fields["Said"].isVisible() and "<b>Tokyo</b>" in pane.fields["Said"].text()
    pane.show_result(Result(2, "/p.jpg", "photo", 0.3))
    assert not pane.fields["Said"].isVisible()
