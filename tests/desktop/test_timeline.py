"""Seeing moments and sounds: the preview's timeline of matched moments, sound tiles drawn from their own
waveform (with the matched segment lit), and hovering a video tile to scrub through its moments."""

from __future__ import annotations

import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage

from desktop.result_model import ResultModel
from desktop.result_view import ResultView
from desktop.thumbnails import ThumbnailLoader
from desktop.timeline import BEST, MOMENT, SPEECH, TEXT, Mark, MomentTimeline, marks_of
from engine.media.thumbnails import moment_key, save_thumbnail
from engine.search.results import Reason, Result


def test_marks_come_from_the_moments_and_the_reasons_that_say_where() -> None:
    r = Result(
        1,
        "/clips/talk.mp4",
        "video",
        0.3,
        t=42.0,
        moments=[(10.0, 0.25), (90.0, 0.2)],
        duration=120.0,
        reasons=[
            Reason("speech", 3.0, {"text": "the harbour", "start": 61.5, "label": "said: the harbour"}),
            Reason("text", 2.0, {"text": "EXIT", "t": 12.0, "box": [[0, 0], [1, 0], [1, 1]]}),
            Reason("visual", 0.3, {"z": 2.0}),  # no place in time: no mark
            Reason("speech", 1.0, {"start": "soon"}),  # a shape this version does not know: skipped
        ],
    )
    marks = marks_of(r)
    assert [(m.t, m.kind) for m in marks] == [
        (10.0, MOMENT),
        (12.0, TEXT),
        (42.0, BEST),
        (61.5, SPEECH),
        (90.0, MOMENT),
    ]
    assert marks[2].label == "best match at 0:42"
    assert marks[3].label == "said: the harbour at 1:01"
    assert marks_of(Result(2, "/p.jpg", "photo", 0.3, t=0.0)) == []
    assert marks_of(Result(3, "/s.wav", "sound", 0.5)) == []  # a short sound: the whole sound matched


def test_a_click_goes_to_the_nearest_mark_or_the_time_under_the_pointer(qtbot: Any) -> None:
    tl = MomentTimeline()
    qtbot.addWidget(tl)
    tl.resize(412, tl.sizeHint().height())
    tl.set_moments(100.0, [Mark(25.0, BEST, "best"), Mark(80.0, MOMENT, "other")])
    tl.show()
    seeks: list[float] = []
    tl.seekRequested.connect(seeks.append)
    y = 8
    qtbot.mouseClick(tl, Qt.MouseButton.LeftButton, pos=QPoint(int(tl.x_of(25.0)) + 5, y))  # snaps
    qtbot.mouseClick(tl, Qt.MouseButton.LeftButton, pos=QPoint(int(tl.x_of(50.0)), y))  # no mark near
    assert seeks[0] == 25.0
    assert seeks[1] == pytest.approx(50.0, abs=0.5)
    # The marks are drawn where their time is: the best one in the strip's colour for it.
    img = tl.grab().toImage()
    c = img.pixelColor(int(tl.x_of(25.0)), 10)
    assert (c.red(), c.green()) == (255, 170), c.name()


def tone(path: Path, seconds: float) -> Path:
    t = np.linspace(0, seconds, int(8000 * seconds), endpoint=False)
    loud = (t % 4.0) < 1.0  # bursts, so the waveform has a shape
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((0.5 * np.sin(2 * np.pi * 440 * t) * loud * 32767).astype(np.int16).tobytes())
    return path


def test_the_preview_shows_a_timeline_for_videos_and_long_recordings(qtbot: Any, tmp_path: Path) -> None:
    from desktop.preview import PreviewPane

    loader = ThumbnailLoader(tmp_path / "thumbs")
    pane = PreviewPane(loader)
    qtbot.addWidget(pane)
    pane.show()
    timeline = pane.playback.timeline
    pane.show_result(Result(1, "/c.mp4", "video", 0.3, t=5.0, moments=[(9.0, 0.2)], duration=20.0))
    assert timeline.isVisible() and [m.t for m in timeline.marks] == [5.0, 9.0] and timeline.duration == 20
    pane.show_result(Result(2, "/long.wav", "sound", 0.5, t=40.0, duration=300.0))
    assert timeline.isVisible() and [m.t for m in timeline.marks] == [40.0]
    pane.show_result(Result(3, "/short.wav", "sound", 0.5, duration=5.0))
    assert not timeline.isVisible()
    pane.show_result(Result(4, "/p.jpg", "photo", 0.3))
    assert not timeline.isVisible()
    pane.show_result(None)
    assert not timeline.isVisible()
    loader.wait()


def _grid(qtbot: Any, loader: ThumbnailLoader, results: list[Result]) -> ResultView:
    model = ResultModel(loader)
    view = ResultView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(420, 240)
    model.set_results(results)
    view.show()
    return view


def _tile_pixels(view: ResultView, row: int) -> np.ndarray:
    img = view.viewport().grab(view.visualRect(view.model().index(row, 0))).toImage()
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    buf = np.frombuffer(img.constBits(), np.uint8, img.sizeInBytes())
    rows = buf.reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3]
    return rows.reshape(img.height(), -1, 3).copy()  # a copy: the QImage's memory goes with it


def test_sound_tiles_show_their_own_waveform_made_off_the_gui_thread(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import desktop.thumbnails as thumbnails

    made_on: list[str] = []
    real = thumbnails.waveform_file

    def spy(cache_dir: Path, key: str, src: str) -> Path:
        if Path(src).parent == tmp_path:  # not a late job of another test's loader
            made_on.append(threading.current_thread().name)
        return real(cache_dir, key, src)

    monkeypatch.setattr(thumbnails, "waveform_file", spy)
    loader = ThumbnailLoader(tmp_path / "thumbs")
    short = tone(tmp_path / "bark.wav", 6.0)
    long = tone(tmp_path / "field.wav", 120.0)
    results = [
        Result(1, str(short), "sound", 0.5, duration=6.0, size=short.stat().st_size),
        Result(2, str(long), "sound", 0.4, t=60.0, duration=120.0, size=long.stat().st_size),
    ]
    view = _grid(qtbot, loader, results)
    model = view.model()
    assert isinstance(model, ResultModel)
    qtbot.waitUntil(lambda: all(model.tile(i).pixmap is not None for i in range(2)), timeout=20_000)
    # Files indexed before waveforms existed: made by the loader's threads, never the GUI thread.
    assert len(made_on) == 2 and threading.main_thread().name not in made_on
    view.viewport().repaint()
    blue = np.array([61, 124, 242])
    for row in range(2):
        px = _tile_pixels(view, row).astype(int)
        accent = (np.abs(px - blue).sum(axis=2) < 40).sum()
        assert accent > 300, f"tile {row}: {accent} waveform pixels"
    # The long recording's matched segment (60..70 s of 120 s) is lit in orange, at its place.
    px = _tile_pixels(view, 1).astype(int)
    orange = np.abs(px - np.array([255, 170, 0])).sum(axis=2) < 60
    cols = np.flatnonzero(orange.any(axis=0))
    width = px.shape[1]
    assert cols.size and 0.4 < cols.min() / width < 0.6 and cols.max() / width < 0.65
    assert not (np.abs(_tile_pixels(view, 0).astype(int) - [255, 170, 0]).sum(axis=2) < 60).any()


def test_hovering_a_video_tile_scrubs_through_its_moments(qtbot: Any, tmp_path: Path) -> None:
    cache = tmp_path / "thumbs"
    colours = {2.0: (220, 30, 30), 6.0: (30, 200, 40), 11.0: (30, 40, 220)}
    for t, c in colours.items():
        save_thumbnail(cache, moment_key(9, t), Image.new("RGB", (160, 96), c))
    loader = ThumbnailLoader(cache)
    r = Result(9, "/clips/walk.mp4", "video", 0.3, t=6.0, moments=[(11.0, 0.2), (2.0, 0.1)], duration=12.0)
    view = _grid(qtbot, loader, [r])
    model = view.model()
    assert isinstance(model, ResultModel)
    qtbot.waitUntil(lambda: model.tile(0).pixmap is not None, timeout=10_000)
    rect = view.visualRect(model.index(0, 0))
    scrubber = view.scrubber

    def hover_at(frac: float) -> None:
        scrubber.hover(QPointF(rect.left() + rect.width() * frac, rect.center().y()).toPoint())

    for frac, t in ((0.1, 2.0), (0.5, 6.0), (0.9, 11.0)):
        hover_at(frac)
        qtbot.waitUntil(lambda t=t: getattr(scrubber.frame(0), "t", None) == t, timeout=10_000)
        view.viewport().repaint()
        px = _tile_pixels(view, 0)
        centre = px[px.shape[0] // 3, px.shape[1] // 2].astype(int)
        assert np.abs(centre - colours[t]).sum() < 60, (t, centre)
    scrubber.clear()  # the pointer left: the best moment again
    assert scrubber.frame(0) is None
    view.viewport().repaint()
    centre = _tile_pixels(view, 0)[rect.height() // 3, rect.width() // 2].astype(int)
    assert np.abs(centre - colours[6.0]).sum() < 60
