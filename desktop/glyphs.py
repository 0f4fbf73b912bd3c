"""Small vector glyphs drawn with QPainter (placeholders, kind icons, the app icon fallback).

Drawn in code so tiles never depend on an icon theme or on files being installed beside the package.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPainterPath, QPen, QPixmap

ACCENT = QColor("#3d7cf2")


#: A code point no font draws (plane 16 private use): what a missing glyph looks like in this font.
_MISSING = "\U0010fffd"


def _render(text: str, font: QFont) -> QImage:
    img = QImage(48, 48, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    p = QPainter(img)
    p.setFont(font)
    p.setPen(QColor("#000000"))
    p.drawText(QRectF(0, 0, 48, 48), Qt.AlignmentFlag.AlignCenter, text)
    p.end()
    return img


def _draws(ch: str, font: QFont) -> bool:
    """True when ``ch`` in ``font`` (or a font Qt falls back to) paints something other than the
    "missing glyph" box. ``QFontMetrics.inFontUcs4`` asks the primary font only, so it says no where a
    fallback font would draw the character and cannot tell whether any would."""
    img = _render(ch, font)
    if img == _render(_MISSING, font):
        return False
    return img != _render("", font)  # an empty glyph (some fonts map unknown code points to nothing)


@lru_cache(maxsize=64)
def drawable(ch: str) -> bool:
    """Whether the application font draws ``ch`` (needs a QGuiApplication; cached per character)."""
    from PySide6.QtGui import QGuiApplication

    return _draws(ch, QGuiApplication.font())


def draw_play(p: QPainter, r: QRectF, color: QColor) -> None:
    """A film-frame with a play triangle, centred in ``r`` (video without a frame thumbnail)."""
    side = min(r.width(), r.height()) * 0.42
    c = r.center()
    frame = QRectF(c.x() - side * 0.7, c.y() - side * 0.5, side * 1.4, side)
    p.setPen(QPen(color, max(1.5, side / 14)))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(frame, side / 8, side / 8)
    tri = QPainterPath()
    tri.moveTo(c.x() - side * 0.18, c.y() - side * 0.25)
    tri.lineTo(c.x() + side * 0.26, c.y())
    tri.lineTo(c.x() - side * 0.18, c.y() + side * 0.25)
    tri.closeSubpath()
    p.fillPath(tri, color)


def draw_wave(p: QPainter, r: QRectF, color: QColor) -> None:
    """Sound bars centred in ``r``: the tile of a sound."""
    heights = [0.25, 0.55, 0.9, 0.6, 1.0, 0.7, 0.4, 0.8, 0.5, 0.3, 0.2]
    side = min(r.width(), r.height()) * 0.55
    bar = side / (len(heights) * 1.6)
    x = r.center().x() - (len(heights) * bar * 1.6) / 2
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    for h in heights:
        bh = side * h
        p.drawRoundedRect(QRectF(x, r.center().y() - bh / 2, bar, bh), bar / 2, bar / 2)
        x += bar * 1.6


def draw_photo(p: QPainter, r: QRectF, color: QColor) -> None:
    """A framed landscape: the placeholder of a photo whose thumbnail is loading."""
    side = min(r.width(), r.height()) * 0.4
    c = r.center()
    frame = QRectF(c.x() - side * 0.65, c.y() - side * 0.5, side * 1.3, side)
    p.setPen(QPen(color, max(1.5, side / 16)))
    p.setBrush(Qt.BrushStyle.NoBrush)
    p.drawRoundedRect(frame, side / 10, side / 10)
    hills = QPainterPath()
    hills.moveTo(frame.left() + side * 0.1, frame.bottom() - side * 0.12)
    hills.lineTo(frame.left() + side * 0.5, frame.top() + side * 0.45)
    hills.lineTo(frame.left() + side * 0.8, frame.bottom() - side * 0.35)
    hills.lineTo(frame.left() + side * 1.0, frame.top() + side * 0.55)
    hills.lineTo(frame.right() - side * 0.1, frame.bottom() - side * 0.12)
    p.drawPath(hills)
    p.drawEllipse(QPointF(frame.right() - side * 0.35, frame.top() + side * 0.28), side * 0.09, side * 0.09)


def draw_app_icon(p: QPainter, r: QRectF) -> None:
    """The Lookalike mark: two overlapping rounded photos and a lens (same design as the SVG)."""
    s = min(r.width(), r.height())
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    back = QRectF(r.left() + s * 0.08, r.top() + s * 0.14, s * 0.58, s * 0.58)
    front = QRectF(r.left() + s * 0.24, r.top() + s * 0.06, s * 0.58, s * 0.58)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#9db8f5"))
    p.drawRoundedRect(back, s * 0.1, s * 0.1)
    p.setBrush(ACCENT)
    p.drawRoundedRect(front, s * 0.1, s * 0.1)
    lens_c = QPointF(r.left() + s * 0.6, r.top() + s * 0.58)
    p.setPen(QPen(QColor("#ffffff"), s * 0.07))
    p.setBrush(QColor("#1f3f8a"))
    p.drawEllipse(lens_c, s * 0.2, s * 0.2)
    p.setPen(QPen(QColor("#1f3f8a"), s * 0.1, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
    p.drawLine(
        QPointF(lens_c.x() + s * 0.15, lens_c.y() + s * 0.15), QPointF(r.left() + s * 0.92, r.top() + s * 0.9)
    )


def glyph_icon(kind: str, size: int = 64, color: QColor | None = None) -> QIcon:
    """An icon for "photo", "video", "sound" or "app"."""
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    rect = QRectF(0, 0, size, size)
    col = color or QColor("#6b7280")
    {"photo": draw_photo, "video": draw_play, "sound": draw_wave}.get(
        kind, lambda p, r, c: draw_app_icon(p, r)
    )(p, rect, col)
    p.end()
    return QIcon(pm)
