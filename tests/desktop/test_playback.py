"""Playback in the preview: from the matched moment, Space pauses and resumes, stepping while playing
plays the next result, QtMultimedia is imported on the first play only, and the system's player when it
cannot load.

The tests that play need QtMultimedia (PySide6-Addons) and a media backend; they skip with the reason
where either is missing. No audio device is needed: Qt's FFmpeg backend plays silently without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop import media_player
from engine.search.results import Result

REPO = Path(__file__).resolve().parents[2]


def _backend_missing() -> str:
    """Why a QMediaPlayer cannot play here ("" when it can)."""
    if not media_player.multimedia_available():
        return "QtMultimedia is not installed (PySide6-Addons)"
    why = media_player.load_multimedia()
    if why:
        return why
    from PySide6.QtMultimedia import QMediaPlayer

    player = QMediaPlayer()
    try:
        return "" if player.isAvailable() else "QtMultimedia has no media backend here"
    finally:
        player.deleteLater()


@pytest.fixture
def can_play(qapp: Any) -> None:
    why = _backend_missing()
    if why:
        pytest.skip(why)


def tone(path: Path, seconds: float, hz: float = 440.0) -> Path:
    t = np.linspace(0, seconds, int(16000 * seconds), endpoint=False)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16).tobytes())
    return path


def sound(path: Path, *, t: float | None = None, duration: float = 0.0, file_id: int = 1) -> Result:
    return Result(file_id, str(path), "sound", 0.5, t=t, duration=duration, size=path.stat().st_size)


@pytest.fixture
def pane(qtbot: Any, tmp_path: Path) -> Any:
    from desktop.preview import PreviewPane
    from desktop.thumbnails import ThumbnailLoader

    loader = ThumbnailLoader(tmp_path / "thumbs")
    pane = PreviewPane(loader)
    pane.resize(420, 640)
    pane.show()
    yield pane
    # Stopped before it is deleted (not through qtbot.addWidget, whose deleteLater at teardown would run
    # inside the player's own short event loop, under it).
    pane.stop()
    pane.close()
    pane.deleteLater()
    loader.wait()


def positions_of(pane: Any) -> list[float]:
    seen: list[float] = []
    pane.playback.player.positionChanged.connect(seen.append)
    return seen


def test_plays_a_long_recording_from_its_matched_moment(
    can_play: None, pane: Any, qtbot: Any, tmp_path: Path
):
    r = sound(tone(tmp_path / "long.wav", 40.0), t=20.0, duration=40.0)
    pane.show_result(r)
    assert pane.playback.timeline.isVisible()  # a long recording has a timeline
    pane.play()
    player = pane.playback.player
    assert player is not None and player.isVisible() and not pane.play_button.isVisible()
    seen = positions_of(pane)
    qtbot.waitUntil(lambda: any(p >= 20.3 for p in seen), timeout=15_000)
    # It jumped to the moment rather than playing up to it; the timeline's playhead follows.
    assert not [p for p in seen if 0.5 < p < 19.5], seen
    assert pane.playback.timeline.position is not None and pane.playback.timeline.position >= 20.0
    assert pane.playback.timeline.duration == pytest.approx(40.0, abs=0.1)


def test_space_pauses_and_resumes(can_play: None, pane: Any, qtbot: Any, tmp_path: Path) -> None:
    pane.show_result(sound(tone(tmp_path / "a.wav", 5.0), duration=5.0))
    pane.play()
    player = pane.playback.player
    qtbot.waitUntil(player.is_playing, timeout=10_000)
    qtbot.waitUntil(lambda: player.position() > 0.2, timeout=10_000)
    pane.play()  # Space again: pause, where it was
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5_000)
    paused_at = player.position()
    assert paused_at > 0.1
    pane.play()  # and on from there, not from the start
    qtbot.waitUntil(player.is_playing, timeout=5_000)
    qtbot.waitUntil(lambda: player.position() > paused_at + 0.2, timeout=10_000)


def test_stepping_while_playing_plays_the_next_result(can_play: None, pane: Any, qtbot: Any, tmp_path: Path):
    first = sound(tone(tmp_path / "first.wav", 5.0), duration=5.0, file_id=1)
    second = sound(tone(tmp_path / "second.wav", 40.0, 880), t=30.0, duration=40.0, file_id=2)
    pane.show_result(first)
    pane.play()
    player = pane.playback.player
    qtbot.waitUntil(player.is_playing, timeout=10_000)
    pane.show_result(second)  # what an arrow key does: the selection moves, the preview follows
    assert player.path == str(second.path)
    qtbot.waitUntil(lambda: player.is_playing() and player.position() >= 30.0, timeout=15_000)
    # Not playing: stepping shows the next result and plays nothing.
    pane.play()
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5_000)
    pane.show_result(first)
    assert not player.isVisible() and pane.play_button.isVisible()


def test_plays_a_video_from_its_moment(can_play: None, pane: Any, qtbot: Any, tmp_path: Path) -> None:
    from tests.engine.videogen import BLUE, GREEN, RED, Scene, has_encoder, make_clip

    if not has_encoder("libx264"):
        pytest.skip("this FFmpeg build cannot encode H.264")
    clip = make_clip(tmp_path / "clip.mp4", [Scene(2.0, RED), Scene(2.0, GREEN), Scene(2.0, BLUE)])
    r = Result(7, str(clip.path), "video", 0.3, t=3.0, moments=[(5.0, 0.2)], duration=6.0)
    pane.show_result(r)
    marks = pane.playback.timeline.marks
    assert [m.t for m in marks] == [3.0, 5.0]
    pane.play()
    player = pane.playback.player
    assert player.video.isVisible() and not pane.image.isVisible()  # the video takes the picture's place
    seen = positions_of(pane)
    qtbot.waitUntil(lambda: any(p >= 3.2 for p in seen), timeout=15_000)
    assert not [p for p in seen if 0.5 < p < 2.5], seen
    # A click on the timeline's later mark goes there.
    timeline = pane.playback.timeline
    timeline.seekRequested.emit(5.0)
    qtbot.waitUntil(lambda: player.position() >= 5.0, timeout=10_000)


def test_without_qtmultimedia_play_opens_the_system_player(
    pane: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr(media_player, "multimedia_available", lambda: False)
    monkeypatch.setattr(media_player, "open_externally", lambda p: opened.append(p) or True)
    r = Result(3, str(tmp_path / "clip.mp4"), "video", 0.3, t=83.0, duration=120.0)
    pane.show_result(r)
    assert pane.play_button.text() == "Open in player (the match is at 1:23)"
    pane.play()
    assert opened == [r.path]
    assert pane.playback.player is None


STARTUP = """
import sys, wave
from pathlib import Path
from PySide6.QtWidgets import QApplication
from desktop.app import build
from engine.search.results import Result
app = QApplication([])
window = build(Path(sys.argv[1]), opener=lambda: None)
window.show()
app.processEvents()
at_paint = "PySide6.QtMultimedia" in sys.modules
path = Path(sys.argv[1]) / "tone.wav"
with wave.open(str(path), "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(bytes(16000))
window.preview.show_result(Result(1, str(path), "sound", 0.5, duration=1.0))
app.processEvents()
at_show = "PySide6.QtMultimedia" in sys.modules
window.preview.play()
app.processEvents()
at_play = "PySide6.QtMultimedia" in sys.modules
window.preview.stop()
print(at_paint, at_show, at_play)
window.ipc_server.close()
"""


def test_qtmultimedia_is_imported_on_the_first_play_only(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO), LOOKALIKE_HOME=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-c", STARTUP, str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    at_paint, at_show, at_play = proc.stdout.split()[-3:]
    assert (at_paint, at_show) == ("False", "False"), proc.stdout
    if media_player.multimedia_available():
        assert at_play == "True", proc.stdout


def test_in_the_window_space_plays_and_the_arrows_step_while_playing(
    can_play: None, window: Any, qtbot: Any, tmp_path: Path
) -> None:
    from PySide6.QtCore import Qt

    sounds = [
        sound(tone(tmp_path / f"s{i}.wav", 40.0, 300 + 100 * i), t=10.0 * i, duration=40.0, file_id=i + 1)
        for i in range(3)
    ]
    window.bridge.service.answers["steps"] = sounds
    window.search_text("steps")
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=10_000)
    view = window.view
    view.setCurrentIndex(window.model.index(0, 0))

    def active() -> bool:
        # Keyboard shortcuts reach only the active window; another test's window may still hold that.
        window.raise_()
        window.activateWindow()
        view.setFocus()
        return window.isActiveWindow() and view.hasFocus()

    qtbot.waitUntil(active, timeout=5_000)
    qtbot.keyClick(view, Qt.Key.Key_Space)
    # The player is made on the first play; under load that can land after the key event returns.
    qtbot.waitUntil(lambda: window.preview.playback.player is not None, timeout=10_000)
    player = window.preview.playback.player
    assert player is not None
    qtbot.waitUntil(lambda: player.is_playing() and player.path == sounds[0].path, timeout=10_000)
    qtbot.keyClick(view, Qt.Key.Key_Right)  # the next result plays, from its own moment
    qtbot.waitUntil(lambda: player.path == sounds[1].path and player.position() >= 10.0, timeout=15_000)
    from PySide6.QtWidgets import QApplication

    assert player.is_playing() and view.hasFocus(), QApplication.focusWidget()
    qtbot.keyClick(view, Qt.Key.Key_Space)  # pause
    qtbot.waitUntil(lambda: not player.is_playing(), timeout=5_000)
    qtbot.keyClick(view, Qt.Key.Key_Right)  # paused: stepping only shows the next one
    assert window.preview.result is sounds[2] and not player.isVisible()
    window.preview.stop()
