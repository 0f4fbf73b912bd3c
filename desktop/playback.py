"""Playback in the preview pane: the inline player (made when the preview first plays), the timeline of
matched moments under it, and the keys.

- Space (the grid's Preview action, or Space in the player) plays from the matched moment, and then
  pauses and resumes the same file.
- While something plays, stepping to another result with the arrow keys plays that one from its own
  moment (listening through twenty "dog barking" results is twenty key presses).
- The timeline shows for videos and for sounds long enough to have moments; a click plays from there.

QtMultimedia is imported on the first play only (:func:`desktop.media_player.load_multimedia`); when it
cannot load, playing opens the file in the system's player.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QBoxLayout, QWidget

from desktop import media_player
from desktop.timeline import MomentTimeline, marks_of

#: Sounds at least this long get a timeline (shorter ones are one moment: the whole sound). The sound
#: pipeline stores per-segment moments from 30 s on (engine.indexing.media_pipelines.LONG_SOUND_S).
LONG_SOUND_S = 30.0


def wants_timeline(r: Any) -> bool:
    """Videos, and sounds long enough to have moments of their own."""
    if r is None:
        return False
    if r.kind == "video":
        return True
    return r.kind == "sound" and (bool(r.duration and r.duration >= LONG_SOUND_S) or bool(marks_of(r)))


class PreviewPlayback(QObject):
    """Owns the preview's player and timeline; the pane calls :meth:`show` for each result it shows.

    ``layout`` is the pane's layout and ``index`` where the player goes in it (the timeline right below);
    ``image`` is hidden while a video plays (the video takes its place), ``play_button`` while the
    inline player shows (it has its own); ``open_externally`` hands the shown file to the system.
    """

    def __init__(
        self,
        host: QWidget,
        layout: QBoxLayout,
        index: int,
        *,
        image: QWidget,
        play_button: QWidget,
        open_externally: Callable[[], None],
    ) -> None:
        super().__init__(host)
        self.host, self.layout, self.index = host, layout, index
        self.image, self.play_button, self._open_externally = image, play_button, open_externally
        self.player: media_player.InlinePlayer | None = None
        self.result: Any = None
        self.timeline = MomentTimeline(host)
        self.timeline.seekRequested.connect(self.play_from)
        self.timeline.setVisible(False)
        layout.insertWidget(index, self.timeline)

    # -- the shown result ------------------------------------------------------------------------------

    def show(self, r: Any, *, autoplay: bool = False) -> None:
        """``r`` is now the preview's result (None: nothing). With ``autoplay`` (something was playing
        when the user stepped to it) a video or sound plays from its moment at once."""
        self.result = r
        self.timeline.setVisible(wants_timeline(r))
        if r is not None:
            self.timeline.set_moments(r.duration, marks_of(r))
        if autoplay and r is not None and r.kind in ("video", "sound"):
            self.play_from(None)

    def release(self) -> bool:
        """Stop and hide everything (a new result is about to be shown). Returns whether it was playing."""
        playing = self.is_playing()
        self.stop()
        self.timeline.setVisible(False)
        self.result = None
        return playing

    # -- control ---------------------------------------------------------------------------------------

    def is_playing(self) -> bool:
        return self.player is not None and self.player.isVisible() and self.player.is_playing()

    def play_or_toggle(self) -> None:
        """Space and the Play button: pause or resume the file in the player, else play it from its moment."""
        r = self.result
        if r is None:
            return
        if self.player is not None and self.player.isVisible() and self.player.path == r.path:
            self.player.toggle()
        else:
            self.play_from(None)

    def play_from(self, t: float | None) -> None:
        """Play the shown result from ``t`` seconds (None: its matched moment); the system's player
        when inline playback is not available."""
        r = self.result
        if r is None:
            return
        if r.kind not in ("video", "sound") or not self._ensure_player():
            self._open_externally()
            return
        player = self.player
        assert player is not None
        if player.isVisible() and player.path == r.path and t is not None:
            player.seek(t)
            return
        self.image.setVisible(r.kind == "sound")
        self.play_button.setVisible(False)
        # A video takes the picture's room; a sound's player is a row of controls under its waveform.
        self.layout.setStretchFactor(player, 1 if r.kind == "video" else 0)
        # Qt's video surface takes the keyboard focus when it appears: give it back (the grid keeps the
        # arrow keys and Space).
        focus = QApplication.focusWidget()
        player.setVisible(True)
        player.play(r.path, start=(r.t or 0.0) if t is None else t, video=r.kind == "video")
        if focus is not None and QApplication.focusWidget() is not focus and shiboken6.isValid(focus):
            focus.setFocus(Qt.FocusReason.OtherFocusReason)

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player.setVisible(False)
        if self.result is not None:
            self.image.setVisible(True)
            self.play_button.setVisible(self.result.kind in ("video", "sound"))
        self.timeline.set_position(None)

    # -- the player ------------------------------------------------------------------------------------

    def _ensure_player(self) -> bool:
        if self.player is not None:
            return True
        if not media_player.multimedia_available() or media_player.load_multimedia():
            return False
        player = media_player.InlinePlayer(self.host)
        player.failed.connect(self._on_failed)
        player.positionChanged.connect(self.timeline.set_position)
        player.durationChanged.connect(self.timeline.set_duration)
        self.layout.insertWidget(self.index, player, 1)
        self.player = player
        return True

    def _on_failed(self, _message: str) -> None:
        self.stop()
        self._open_externally()
