"""Hovering a video tile scrubs through its matched moments: the pointer's place across the tile picks
one of the moments the search found in the clip (``Result.t`` and ``Result.moments``, in time order),
and the tile shows the frame the indexer saved for it, with its time and a bar of where it is.

The frames are the indexer's moment thumbnails (engine.media.thumbnails.moment_key), loaded by the
grid's ThumbnailLoader off the GUI thread like any tile; until one arrives the tile keeps the frame it
showed. Nothing is decoded from the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView

from desktop.thumbnails import ThumbnailLoader, ThumbRequest
from engine.core.durations import format_duration
from engine.media.thumbnails import moment_key


@dataclass(frozen=True)
class Scrub:
    """What a hovered video tile shows: the moment's frame, its time, and which of how many it is."""

    pixmap: QPixmap
    t: float
    index: int
    count: int

    @property
    def label(self) -> str:
        return f"▶ {format_duration(self.t)}"


def moment_times(r: Any) -> list[float]:
    """The times of a video result's saved moments (its best moment and the runner-ups), in order."""
    if getattr(r, "kind", "") != "video":
        return []
    ts = {round(float(r.t), 3)} if r.t is not None and r.t >= 0 else set()
    for m in getattr(r, "moments", None) or []:
        try:
            if float(m[0]) >= 0:
                ts.add(round(float(m[0]), 3))
        except (TypeError, ValueError, IndexError):
            continue
    return sorted(ts)


def moment_request(r: Any, t: float) -> ThumbRequest:
    mk = moment_key(r.file_id, t)
    return ThumbRequest(f"moment:{mk}", "moment", r.path, moment_key=mk)


class TileScrubber(QObject):
    """Watches the pointer over a results view's tiles; the delegate asks :meth:`frame` per tile."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self.view = view
        self.row = -1
        self._shown: Scrub | None = None
        self._wanted = ""  # the key of the frame under the pointer, while it loads
        self._pending: tuple[float, int, int] = (0.0, 0, 0)  # its time, place and the count
        self._loader: ThumbnailLoader | None = None
        view.setMouseTracking(True)
        view.viewport().installEventFilter(self)

    def frame(self, row: int) -> Scrub | None:
        """The moment to show on tile ``row`` instead of its best one; None when it is not scrubbed."""
        return self._shown if row == self.row else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseMove and isinstance(event, QMouseEvent):
            self.hover(event.position().toPoint())
        elif event.type() == QEvent.Type.Leave:
            self.clear()
        return False

    def hover(self, pos: QPoint) -> None:
        """The pointer is at ``pos`` in the viewport: show the moment under it (if on a video tile)."""
        idx = self.view.indexAt(pos)
        model = self.view.model()
        loader = getattr(model, "loader", None)
        role = getattr(model, "ResultRole", Qt.ItemDataRole.UserRole + 1)
        r = model.data(idx, role) if idx.isValid() else None
        times = moment_times(r)
        if r is None or len(times) < 2 or not isinstance(loader, ThumbnailLoader):
            self.clear()
            return
        if loader is not self._loader:
            if self._loader is not None:
                self._loader.loaded.disconnect(self._on_loaded)
            loader.loaded.connect(self._on_loaded)
            self._loader = loader
        rect = self.view.visualRect(idx)
        frac = min(0.999, max(0.0, (pos.x() - rect.left()) / max(1, rect.width())))
        i = int(frac * len(times))
        if idx.row() != self.row:
            self._shown = None
            self.row = idx.row()
        req = moment_request(r, times[i])
        pm = loader.cached(req.key)
        if pm is not None:
            self._show(Scrub(pm, times[i], i, len(times)))
            self._wanted = ""
        else:
            self._wanted = req.key
            self._pending = (times[i], i, len(times))
            loader.request(req)

    def clear(self) -> None:
        if self.row >= 0:
            row, self.row, self._shown, self._wanted = self.row, -1, None, ""
            self._update_row(row)

    def _on_loaded(self, key: str, pm: QPixmap) -> None:
        if key == self._wanted and self.row >= 0:
            t, i, n = self._pending
            self._wanted = ""
            self._show(Scrub(pm, t, i, n))

    def _show(self, scrub: Scrub) -> None:
        if scrub != self._shown:
            self._shown = scrub
            self._update_row(self.row)

    def _update_row(self, row: int) -> None:
        model = self.view.model()
        if model is not None and 0 <= row < model.rowCount():
            self.view.viewport().update(self.view.visualRect(model.index(row, 0)))


def scrubbed_frame(view: Any, row: int) -> Scrub | None:
    """The hovered moment of tile ``row`` of ``view`` (a view with a ``scrubber``); None otherwise."""
    scrubber = getattr(view, "scrubber", None)
    return scrubber.frame(row) if isinstance(scrubber, TileScrubber) else None


_BAR_BACK = QColor(255, 255, 255, 90)
_BAR_FORE = QColor(255, 170, 0)


def draw_scrub_bar(p: QPainter, area: QRectF, scrub: Scrub) -> None:
    """A thin bar along the bottom of the thumbnail: the clip's moments, the shown one lit."""
    p.save()
    p.setPen(Qt.PenStyle.NoPen)
    bar = QRectF(area.left() + 4, area.bottom() - 4, area.width() - 8, 3)
    p.setBrush(_BAR_BACK)
    p.drawRect(bar)
    w = bar.width() / scrub.count
    p.setBrush(_BAR_FORE)
    p.drawRect(QRectF(bar.left() + w * scrub.index, bar.top(), max(2.0, w), bar.height()))
    p.restore()
