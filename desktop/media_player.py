"""Playing videos and sounds: inline through QtMultimedia when it is there, else the system's player.

QtMultimedia ships in PySide6-Addons (not in PySide6-Essentials) and needs the platform's audio
libraries (libpulse on Linux). When it cannot be imported, "Play" opens the file in the default
application instead (QDesktopServices.openUrl), which cannot seek: the button says which moment to
look at.
"""

from __future__ import annotations

import functools

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QVBoxLayout, QWidget

from desktop.qt_compat import emit


@functools.cache
def multimedia_available() -> bool:
    """True when QtMultimedia (and its widgets) can be imported here."""
    try:
        from PySide6 import QtMultimedia, QtMultimediaWidgets  # noqa: F401
    except ImportError:
        return False
    return True


def open_externally(path: str) -> bool:
    """Open a file in the system's default application. Returns False when nothing could open it."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


class InlinePlayer(QWidget):
    """A QMediaPlayer with a video surface (hidden for sounds), play/pause and a position slider.

    Only construct it when :func:`multimedia_available` is True.

    Signals:
        failed(str): the file could not be played (the preview offers the system player instead).
    """

    failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        self._player = QMediaPlayer(self)
        self._audio = QAudioOutput(self)
        self._player.setAudioOutput(self._audio)
        self.video = QVideoWidget(self)
        self.video.setMinimumHeight(200)
        self._player.setVideoOutput(self.video)
        self._start_ms = 0
        self.play_button = QPushButton("Pause", self)
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.sliderMoved.connect(self._player.setPosition)
        self._player.durationChanged.connect(lambda d: self.slider.setRange(0, int(d)))
        self._player.positionChanged.connect(self._on_position)
        self._player.errorOccurred.connect(lambda _e, msg: emit(self.failed, msg or "cannot play this file"))
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.video, 1)
        layout.addLayout(row)

    def play(self, path: str, *, start: float = 0.0, video: bool = True) -> None:
        """Play ``path`` from ``start`` seconds (the matched moment)."""
        self.video.setVisible(video)
        self._player.stop()
        # Seek on the first position report: a seek made while the media loads is lost when playback
        # begins, and the status signals of the previous file still arrive after setSource.
        self._start_ms = int(start * 1000)
        self._player.setSource(QUrl.fromLocalFile(path))
        self._player.play()
        self.play_button.setText("Pause")

    def _on_position(self, ms: int) -> None:
        if self._start_ms and self._player.isSeekable():
            start, self._start_ms = self._start_ms, 0
            self._player.setPosition(start)
            return
        if not self.slider.isSliderDown():
            self.slider.setValue(int(ms))

    def toggle(self) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self._player.pause()
            self.play_button.setText("Play")
        else:
            self._player.play()
            self.play_button.setText("Pause")

    def stop(self) -> None:
        self._start_ms = 0
        self._player.stop()
        self._player.setSource(QUrl())
