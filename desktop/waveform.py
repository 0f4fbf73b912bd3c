"""Sound tiles: the sound's own waveform (made at index time by engine.media.waveform, or on first display
by the thumbnail loader for files indexed before), with the matched segment of a long recording
highlighted."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPalette, QPixmap

from desktop.thumbnails import ThumbRequest
from engine.core.vectors import SEGMENT_S
from engine.media.waveform import waveform_key

#: Recordings at least this long have per-segment moments (engine.indexing.media_pipelines.LONG_SOUND_S).
LONG_SOUND_S = 30.0
#: Segments per file at most (engine.indexing.media_pipelines.MAX_SEGMENTS): longer files get longer ones.
MAX_SEGMENTS = 4000


def waveform_request(r: Any) -> ThumbRequest:
    """What to load for a sound's tile: its waveform picture, keyed by path, size and mtime."""
    key = waveform_key(r.path, r.size, r.mtime)
    return ThumbRequest(f"waveform:{key}", "waveform", r.path, moment_key=key)


def matched_span(r: Any) -> tuple[float, float] | None:
    """Where the matched segment of a long recording is, as fractions (start, end) of its length; None
    for short sounds (the whole sound matched) and results without a moment."""
    d = getattr(r, "duration", None) or 0.0
    t = getattr(r, "t", None)
    if getattr(r, "kind", "") != "sound" or t is None or t < 0 or d < LONG_SOUND_S:
        return None
    seg = max(SEGMENT_S, d / MAX_SEGMENTS)
    return min(1.0, t / d), min(1.0, (t + seg) / d)


_SPAN = QColor(255, 170, 0, 90)
_SPAN_EDGE = QColor(255, 170, 0)


def paint_sound_tile(
    p: QPainter, area: QRectF, pm: QPixmap, span: tuple[float, float] | None, pal: QPalette
) -> None:
    """Draw a sound's waveform ``pm`` filling ``area`` on the tile background, with ``span`` (see
    :func:`matched_span`) highlighted behind it."""
    p.save()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
    p.drawRoundedRect(area, 6, 6)
    wave = area.adjusted(4, 8, -4, -8)
    if span is not None:
        x0 = wave.left() + wave.width() * span[0]
        w = max(3.0, wave.width() * (span[1] - span[0]))
        p.setBrush(_SPAN)
        p.drawRect(QRectF(x0, area.top() + 2, w, area.height() - 4))
        p.setBrush(_SPAN_EDGE)
        p.drawRect(QRectF(x0, area.top() + 2, w, 3))
    p.drawPixmap(wave, pm, QRectF(pm.rect()))
    p.restore()
