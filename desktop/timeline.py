"""The timeline of matched moments under the preview's player: where in a video or a long recording
the query matched, and a click to go there.

Marks come from the result (:func:`marks_of`): the best moment (``Result.t``), the runner-up moments
(``Result.moments``), and the finders' reasons that say where: words heard (a speech reason's
``detail["start"]``) and words read in a video frame (a text reason's ``detail["t"]``). Qt-only and
light: the window imports it before its first paint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop.qt_compat import emit
from engine.core.durations import format_duration

#: Marks closer than this to the pointer (pixels) are what a click goes to.
SNAP_PX = 8

BEST, MOMENT, SPEECH, TEXT = "best", "moment", "speech", "text"
#: One colour per kind of mark, readable on light and dark palettes.
COLOURS = {
    BEST: QColor(255, 170, 0),
    MOMENT: QColor(80, 150, 255),
    SPEECH: QColor(60, 190, 110),
    TEXT: QColor(230, 90, 160),
}


@dataclass(frozen=True)
class Mark:
    """One matched moment: ``t`` seconds into the file, what kind of match, and a label for its tooltip."""

    t: float
    kind: str
    label: str


def marks_of(r: Any) -> list[Mark]:
    """The matched moments of a result (an engine Result), in time order; [] for photos and results
    without moments. Reasons of a shape this version does not know are skipped."""
    if r is None or getattr(r, "kind", "") == "photo":
        return []
    out: list[Mark] = []
    if r.t is not None and r.t >= 0:
        out.append(Mark(float(r.t), BEST, f"best match at {format_duration(r.t)}"))
    for m in getattr(r, "moments", None) or []:
        try:
            t, score = float(m[0]), float(m[1])
        except (TypeError, ValueError, IndexError):
            continue
        if t >= 0:
            out.append(Mark(t, MOMENT, f"match at {format_duration(t)} (score {score:.2f})"))
    for reason in getattr(r, "reasons", None) or []:
        d = reason.detail
        where, kind = (d.get("start"), SPEECH) if "start" in d else (d.get("t"), TEXT)
        try:
            t = float(where)
        except (TypeError, ValueError):
            continue
        if t >= 0:
            out.append(Mark(t, kind, f"{reason.short()} at {format_duration(t)}"))
    out.sort(key=lambda m: (m.t, m.kind != BEST))
    return out


class MomentTimeline(QWidget):
    """A strip as wide as the player: the file's length, a tick per matched moment (the best one taller),
    the playhead, the start and end times. A click goes to the nearest mark within a few pixels, else
    to the time under the pointer. Takes no focus (the arrow keys stay with the results grid).

    Signals:
        seekRequested(float): the user clicked: go to this many seconds into the file.
    """

    seekRequested = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.duration = 0.0
        self.marks: list[Mark] = []
        self.position: float | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def sizeHint(self) -> QSize:
        return QSize(300, self._track_h() + self.fontMetrics().height() + 6)

    def minimumSizeHint(self) -> QSize:
        return QSize(80, self.sizeHint().height())

    def set_moments(self, duration: float | None, marks: list[Mark]) -> None:
        """Show ``marks`` on a file ``duration`` seconds long (unknown: as long as its last mark)."""
        self.marks = list(marks)
        self.duration = float(duration or 0.0)
        self.position = None
        self.setToolTip(f"{len(marks)} matched moment{'s' if len(marks) != 1 else ''}: click to jump")
        self.update()

    def set_duration(self, duration: float) -> None:
        if duration > 0 and abs(duration - self.duration) > 1e-3:
            self.duration = duration
            self.update()

    def set_position(self, seconds: float | None) -> None:
        self.position = seconds
        self.update()

    # -- geometry --------------------------------------------------------------------------------------

    def _track_h(self) -> int:
        return 18

    def _length(self) -> float:
        last = max((m.t for m in self.marks), default=0.0)
        return max(self.duration, last * 1.05, 1e-6)

    def _track(self) -> QRectF:
        return QRectF(6, 2, max(1.0, self.width() - 12), self._track_h())

    def x_of(self, t: float) -> float:
        """Where on the widget ``t`` seconds is drawn."""
        track = self._track()
        return track.left() + track.width() * min(1.0, max(0.0, t / self._length()))

    def t_at(self, x: float) -> float:
        track = self._track()
        return min(1.0, max(0.0, (x - track.left()) / track.width())) * self._length()

    def mark_near(self, x: float) -> Mark | None:
        """The mark closest to ``x`` within :data:`SNAP_PX` pixels (the best mark wins a tie)."""
        near = [(abs(self.x_of(m.t) - x), m.kind != BEST, i) for i, m in enumerate(self.marks)]
        near = [n for n in near if n[0] <= SNAP_PX]
        return self.marks[min(near)[2]] if near else None

    # -- events ----------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        x = event.position().x()
        mark = self.mark_near(x)
        emit(self.seekRequested, mark.t if mark is not None else self.t_at(x))
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        x = event.position().x()
        mark = self.mark_near(x)
        text = mark.label if mark is not None else format_duration(self.t_at(x))
        QToolTip.showText(event.globalPosition().toPoint(), text, self)

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        track = self._track()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
        p.drawRoundedRect(track, 4, 4)
        # The best moment last, so it is drawn over the others.
        for m in sorted(self.marks, key=lambda m: m.kind == BEST):
            x = self.x_of(m.t)
            inset = 1.0 if m.kind == BEST else 4.0
            w = 4.0 if m.kind == BEST else 3.0
            p.setBrush(COLOURS.get(m.kind, COLOURS[MOMENT]))
            p.drawRoundedRect(QRectF(x - w / 2, track.top() + inset, w, track.height() - 2 * inset), 1, 1)
        if self.position is not None:
            x = self.x_of(self.position)
            p.setPen(QPen(pal.color(QPalette.ColorRole.Text), 2))
            p.drawLine(QPointF(x, track.top() - 1), QPointF(x, track.bottom() + 1))
        p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
        text = QRectF(track.left(), track.bottom() + 2, track.width(), self.height() - track.bottom() - 2)
        p.drawText(text, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, "0:00")
        if self.duration > 0:
            end = format_duration(self.duration)
            p.drawText(text, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, end)
        if self.marks:
            n = len(self.marks)
            label = f"{n} match{'es' if n != 1 else ''}"
            p.drawText(text, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, label)
        p.end()
