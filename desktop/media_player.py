"""Playing videos and sounds: inline through QtMultimedia, else the system's player.

QtMultimedia ships in PySide6-Addons (a dependency of the project since inline playback is part of the
app; it brings Qt's own FFmpeg build, so no system codecs are needed). It is imported only when the
preview first plays: importing it costs about 60 ms and loads Qt's FFmpeg libraries, which the first
paint must not wait for. :func:`multimedia_available` looks for the module without importing it.
When the module is missing or cannot load (a broken install, a missing system library), "Play" opens
the file in the default application instead (QDesktopServices.openUrl), which cannot seek: the button
says which moment to look at.

Without an audio device (a headless machine, no PulseAudio/PipeWire server) Qt still plays: the clock
runs on the system timer, the position advances and the video shows, silently.

Every call that can tear down Qt's playback threads (play, pause, stop, a new source, a seek) is made
with Python's GIL released (:meth:`InlinePlayer._call`): the FFmpeg backend destroys its audio sink on
its own thread, and that destruction calls back into the Python wrapper of our QAudioOutput
(``disconnectNotify``), which needs the GIL; a main thread blocked in ``QMediaPlayer.stop()`` while
holding it waited for that thread forever (about one run in ten of the playback tests, before).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import shiboken6
from PySide6.QtCore import QEventLoop, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QVBoxLayout, QWidget

from desktop.qt_compat import emit

#: Position reports after a seek that may still be from before it (the backend's threads report
#: asynchronously): one far from the target among these is not shown.
SETTLE_REPORTS = 8

#: Why QtMultimedia could not be loaded, once an import was tried and failed ("" before, or when it loaded).
_load_error: str | None = None


def multimedia_available() -> bool:
    """True when QtMultimedia is installed and has not failed to load. Does not import it (cheap: the
    preview asks for every result it shows)."""
    if _load_error:
        return False
    try:
        return (
            importlib.util.find_spec("PySide6.QtMultimedia") is not None
            and importlib.util.find_spec("PySide6.QtMultimediaWidgets") is not None
        )
    except (ImportError, ValueError):
        return False


def load_multimedia() -> str:
    """Import QtMultimedia now. Returns "" when it loaded, else why not (also remembered, so that
    :func:`multimedia_available` says False from then on)."""
    global _load_error
    if _load_error is not None:
        return _load_error
    try:
        from PySide6 import QtMultimedia, QtMultimediaWidgets  # noqa: F401
    except ImportError as e:  # not installed, or a library it links to is missing
        _load_error = f"QtMultimedia cannot be loaded: {e}"
    else:
        _load_error = ""
    return _load_error


def open_externally(path: str) -> bool:
    """Open a file in the system's default application. Returns False when nothing could open it."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


class InlinePlayer(QWidget):
    """A QMediaPlayer with a video surface (hidden for sounds), play/pause and a position slider.

    Construct it only after :func:`load_multimedia` returned "". Space toggles play/pause while the
    player (or a child) has focus; its controls take no focus themselves, so the arrow keys stay with
    the results grid.

    Signals:
        failed(str): the file could not be played (the preview offers the system player instead).
        positionChanged(float): the playhead moved, in seconds.
        durationChanged(float): the length of the file is known, in seconds.
        playingChanged(bool): playback started (True) or paused/stopped (False).
    """

    failed = Signal(str)
    positionChanged = Signal(float)
    durationChanged = Signal(float)
    playingChanged = Signal(bool)
    # Queued to QMediaPlayer's slots: delivered by the event loop straight to C++, without the GIL.
    _do_play = Signal()
    _do_pause = Signal()
    _do_stop = Signal()
    _do_source = Signal(QUrl)
    _do_seek = Signal("qint64")  # type: ignore[arg-type]  # QMediaPlayer.setPosition(qint64)
    _done = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        self._player = QMediaPlayer(self)
        self._audio = QAudioOutput(self)
        self._player.setAudioOutput(self._audio)
        self.video = QVideoWidget(self)
        self.video.setMinimumHeight(200)
        self.video.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._player.setVideoOutput(self.video)
        #: Where to seek once the media has loaded (ms); -1: nothing pending.
        self._start_ms = -1
        self.path = ""
        self.play_button = QPushButton("Pause", self)
        self.play_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.sliderMoved.connect(self._player.setPosition)  # C++ to C++: no GIL held
        queued = Qt.ConnectionType.QueuedConnection
        self._do_play.connect(self._player.play, queued)
        self._do_pause.connect(self._player.pause, queued)
        self._do_stop.connect(self._player.stop, queued)
        self._do_source.connect(self._player.setSource, queued)
        self._do_seek.connect(self._player.setPosition, queued)
        self._calling = False
        self._seek_ms, self._settling = 0, 0
        self._player.durationChanged.connect(self._on_duration)
        self._player.positionChanged.connect(self._on_position)
        self._player.playbackStateChanged.connect(self._on_state)
        self._player.errorOccurred.connect(lambda _e, msg: emit(self.failed, msg or "cannot play this file"))
        space = QShortcut(QKeySequence(Qt.Key.Key_Space), self)
        space.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        space.activated.connect(self.toggle)
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.video, 1)
        layout.addLayout(row)

    # -- control ---------------------------------------------------------------------------------------

    def play(self, path: str, *, start: float = 0.0, video: bool = True) -> None:
        """Play ``path`` from ``start`` seconds (the matched moment)."""
        self.video.setVisible(video)
        # Seek on the first position report: a seek made while the media loads is lost when playback
        # begins, and the status signals of the previous file still arrive after setSource.
        self._start_ms = max(0, int(start * 1000)) if start > 0 else -1
        self.path = path
        self._call(self._do_stop, (self._do_source, QUrl.fromLocalFile(path)), self._do_play)
        self.play_button.setText("Pause")

    def seek(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` (kept for later when the file is still loading), and play."""
        ms = max(0, int(seconds * 1000))
        if self._start_ms >= 0 or not self._player.isSeekable():
            self._start_ms = ms
        else:
            self._seek_now(ms)
        if not self.is_playing():
            self.toggle()

    def toggle(self) -> None:
        """Pause when playing, play when paused or stopped (from where it was)."""
        if self.is_playing():
            self._call(self._do_pause)
        elif self.path:
            self._call(self._do_play)

    def is_playing(self) -> bool:
        from PySide6.QtMultimedia import QMediaPlayer

        return bool(self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState)

    def position(self) -> float:
        """The playhead, in seconds."""
        return self._player.position() / 1000.0

    def stop(self) -> None:
        self._start_ms = -1
        self.path = ""
        self._call(self._do_stop, (self._do_source, QUrl()))

    def _seek_now(self, ms: int) -> None:
        self._seek_ms, self._settling = ms, SETTLE_REPORTS
        self._call((self._do_seek, ms))

    def _call(self, *calls: Any) -> None:
        """Make QMediaPlayer calls (a signal, or a (signal, argument) pair each) in order, with the GIL
        released: queued, then run by a short nested event loop (QEventLoop.exec releases the GIL; user
        input waits). A call made while one runs (from a slot it triggered) is queued behind it."""
        for c in calls:
            signal, *args = c if isinstance(c, tuple) else (c,)
            emit(signal, *args)
        if self._calling:
            return
        self._calling = True
        loop = QEventLoop()
        self._done.connect(loop.quit, Qt.ConnectionType.QueuedConnection)
        try:
            emit(self._done)
            loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        finally:
            # The loop may have run a deleteLater posted before it (a window closing): then we are gone.
            if shiboken6.isValid(self):
                self._done.disconnect(loop.quit)
                self._calling = False

    # -- reports ---------------------------------------------------------------------------------------

    def _on_position(self, ms: int) -> None:
        if self._start_ms >= 0 and self._player.isSeekable():
            start, self._start_ms = self._start_ms, -1
            self._seek_now(start)
            return
        if self._settling:  # reports from before the seek may still arrive: not shown
            self._settling -= 1
            if abs(ms - self._seek_ms) > 1000:
                return
            self._settling = 0
        if not self.slider.isSliderDown():
            self.slider.setValue(int(ms))
        emit(self.positionChanged, ms / 1000.0)

    def _on_duration(self, ms: Any) -> None:
        self.slider.setRange(0, int(ms))
        if ms:
            emit(self.durationChanged, int(ms) / 1000.0)

    def _on_state(self, _state: Any) -> None:
        playing = self.is_playing()
        self.play_button.setText("Pause" if playing else "Play")
        emit(self.playingChanged, playing)
