"""The preview pane: the selected result large, with its path, date, size, score and why it matched (the
words read in the picture outlined on it), and playback."""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPalette, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop import media_player, relevance
from desktop.format import format_date, format_size
from desktop.glyphs import draw_photo, draw_play, draw_wave
from desktop.playback import PreviewPlayback
from desktop.qt_compat import emit
from desktop.result_model import reasons_numbers, reasons_text, thumb_request
from desktop.thumbnails import ThumbnailLoader, ThumbRequest
from desktop.transcript_text import said_html
from engine.core.durations import format_duration

PREVIEW_SIDE = 1280


class ScaledImage(QWidget):
    """Shows a pixmap scaled to fit, or a kind glyph when there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pixmap: QPixmap | None = None
        self.kind = "photo"
        self.setMinimumSize(200, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        #: Outlines to draw over the picture (words that matched), as corner points in [0, 1] of its
        #: width and height.
        self.boxes: list[list[tuple[float, float]]] = []

    def sizeHint(self) -> QSize:
        return QSize(420, 320)

    def set_pixmap(self, pm: QPixmap | None, kind: str) -> None:
        self.pixmap, self.kind = pm, kind
        self.update()

    def set_boxes(self, boxes: list[list[tuple[float, float]]]) -> None:
        self.boxes = boxes
        self.update()

    def paintEvent(self, _event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        area = QRectF(self.rect()).adjusted(4, 4, -4, -4)
        if self.pixmap is not None and not self.pixmap.isNull():
            size = self.pixmap.deviceIndependentSize()
            scale = min(area.width() / size.width(), area.height() / size.height())
            w, h = size.width() * scale, size.height() * scale
            target = QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)
            p.drawPixmap(target, self.pixmap, QRectF(self.pixmap.rect()))
            if self.boxes:  # the words that matched, outlined where they were read
                p.setPen(QPen(QColor(255, 200, 0), 2.5))
                p.setBrush(QColor(255, 200, 0, 40))
                for box in self.boxes:
                    pts = [QPointF(target.left() + x * w, target.top() + y * h) for x, y in box]
                    p.drawPolygon(QPolygonF(pts))
        else:
            glyph = {"video": draw_play, "sound": draw_wave}.get(self.kind, draw_photo)
            glyph(p, area, self.palette().color(QPalette.ColorRole.PlaceholderText))
        p.end()


def word_boxes(r: Any) -> list[list[tuple[float, float]]]:
    """The boxes of the words that matched in ``r`` (its "text" reasons' ``box``, in the picture's
    pixels), as fractions of the picture's size. The size is the reason's ``image_size`` or, for a
    photo, read from the file's header (as shown: EXIF rotation applied); [] when neither is known."""
    reasons = [x for x in getattr(r, "reasons", None) or [] if x.detail.get("box")]
    if not reasons:
        return []
    out = []
    for reason in reasons:
        size = reason.detail.get("image_size") or (_photo_size(r.path) if r.kind == "photo" else None)
        if not size or not size[0] or not size[1]:
            continue
        # "boxes": each matched word's box when the words are several (OCR reasons), else "box".
        for box in reason.detail.get("boxes") or [reason.detail["box"]]:
            try:
                out.append([(float(x) / size[0], float(y) / size[1]) for x, y in box])
            except (TypeError, ValueError):  # a box in a shape this version does not know: not drawn
                continue
    return out


_TAKEN_VERB = {"exif": "taken", "container": "recorded", "tags": "recorded"}


def date_text(r: Any) -> str:
    """The preview's Date row: when it was taken or recorded (EXIF, a video's creation time, a sound's
    date tag; the wall clock where it was), else the file's date, each labelled so that a file's
    modification time is never read as the day a photo was taken."""
    taken = getattr(r, "capture_time", None)
    if taken:
        day, _, clock = str(taken).partition("T")
        verb = _TAKEN_VERB.get(str(getattr(r, "taken_from", "")), "taken")
        return f"{day} {clock[:5]}".strip() + f" ({verb})"
    return f"{format_date(r.mtime)} (file date; no capture date recorded)"


def _photo_size(path: str) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # reads the header only
            w, h = im.size
            rotated = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return (h, w) if rotated else (w, h)


class _Details(QScrollArea):
    """The preview's name and rows: as tall as they are at the pane's width when the pane has room (the
    picture takes the rest), scrolled when it has not. A plain QScrollArea asks for a fixed small height
    and would leave the rows a few lines under a large picture."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        hint = super().sizeHint()
        inner = self.widget()
        if inner is None:
            return hint
        width = max(1, self.viewport().width())
        height = inner.heightForWidth(width) if inner.hasHeightForWidth() else inner.sizeHint().height()
        return QSize(hint.width(), height + 2 * self.frameWidth())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        width_changed = event.oldSize().width() != event.size().width()
        super().resizeEvent(event)
        if width_changed:  # the rows wrap differently: ask for the height they need now
            self.updateGeometry()


class PreviewPane(QWidget):
    """Shows one result. Photos load at screen size off the GUI thread; videos and sounds play from
    the matched moment inline when QtMultimedia is available, else in the system's player.

    Signals:
        openedExternally(str): a file was handed to the system's default application.
    """

    openedExternally = Signal(str)

    def __init__(self, loader: ThumbnailLoader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = loader
        self.result: Any = None
        self._image_key = ""
        self.image = ScaledImage(self)
        self.title = QLabel(self)
        self.title.setWordWrap(True)
        self.title.setStyleSheet("font-weight: bold; font-size: 12pt;")
        names = ("Path", "Date", "Size", "Score", "Why", "Said", "Moment", "Length")
        self.fields = {name: QLabel(self) for name in names}
        form = QFormLayout()
        for name, label in self.fields.items():
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            form.addRow(name, label)
        self.play_button = QPushButton("Play", self)
        self.play_button.clicked.connect(self.play)
        self.empty = QLabel("Select a result to see it here.", self)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout = QVBoxLayout(self)
        self._layout.addWidget(self.empty)
        self._layout.addWidget(self.image, 1)
        # The name and the rows scroll when they need more room than the pane has (a long "Said" with
        # its context, many reasons, a short window): without this the form squeezed its wrapped labels
        # and the lines of one row were drawn over the next.
        details = QWidget(self)
        inner = QVBoxLayout(details)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.title)
        inner.addLayout(form)
        self.details = _Details(self)
        self.details.setWidget(details)
        self.details.setWidgetResizable(True)
        self.details.setFrameShape(QFrame.Shape.NoFrame)
        self.details.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._layout.addWidget(self.details)
        self._layout.addWidget(self.play_button)
        self._form = form
        # The player (made on first play) and the timeline of matched moments, under the picture.
        self.playback = PreviewPlayback(
            self,
            self._layout,
            2,
            image=self.image,
            play_button=self.play_button,
            open_externally=self.open_externally,
        )
        loader.loaded.connect(self._on_loaded)
        self.show_result(None)

    # -- showing ---------------------------------------------------------------------------------------

    def show_result(self, r: Any, mode: str = relevance.TEXT) -> None:
        """Show ``r`` (an engine Result of a query in ``mode``), or the empty state for None. Stops any
        playback (and plays ``r`` from its moment if something was playing: stepping while listening)."""
        was_playing = self.playback.release()
        self.result = r
        for w in (self.image, self.title, self.details, self.play_button):
            w.setVisible(r is not None)
        self.empty.setVisible(r is None)
        for i in range(self._form.rowCount()):
            self._form.setRowVisible(i, r is not None)
        if r is None:
            return
        self.title.setText(os.path.basename(r.path))
        self.fields["Path"].setText(r.path)
        self.fields["Date"].setText(date_text(r))
        self.fields["Size"].setText(format_size(r.size))
        self.fields["Score"].setText(relevance.score_details(r, mode))
        why = reasons_text(r)
        self.fields["Why"].setText(why)
        self.fields["Why"].setToolTip(reasons_numbers(r))  # the numbers, for whoever wants them
        said = said_html(r)
        self.fields["Said"].setText(said)
        moment = format_duration(r.t) if r.kind == "video" and r.t is not None else ""
        self.fields["Moment"].setText(moment)
        self.fields["Length"].setText(format_duration(r.duration) if r.duration else "")
        rows = list(self.fields)
        self._form.setRowVisible(rows.index("Why"), bool(why))
        self._form.setRowVisible(rows.index("Said"), bool(said))
        self._form.setRowVisible(rows.index("Moment"), bool(moment))
        self._form.setRowVisible(rows.index("Length"), bool(r.duration))
        self.play_button.setVisible(r.kind in ("video", "sound"))
        self.play_button.setText(self._play_label(r))
        self._load_image(r)
        self.image.set_boxes(word_boxes(r))
        self.playback.show(r, autoplay=was_playing)
        self.details.updateGeometry()

    def _play_label(self, r: Any) -> str:
        if media_player.multimedia_available():
            return "Play" if r.kind == "sound" else f"Play from {format_duration(r.t or 0)}"
        where = f" (the match is at {format_duration(r.t)})" if r.kind == "video" and r.t else ""
        return f"Open in player{where}"

    def _load_image(self, r: Any) -> None:
        if r.kind == "photo":
            req: ThumbRequest | None = ThumbRequest(
                f"preview:{r.path}:{r.size}:{r.mtime}", "preview", r.path, max_side=PREVIEW_SIDE
            )
        else:
            req = thumb_request(r)  # the moment's frame for a video; nothing for a sound
        # The tile's thumbnail shows at once while the large image loads.
        small = thumb_request(r)
        self.image.set_pixmap(self.loader.cached(small.key) if small else None, r.kind)
        self._image_key = req.key if req else ""
        if req is not None:
            pm = self.loader.cached(req.key)
            if pm is not None:
                self.image.set_pixmap(pm, r.kind)
            else:
                self.loader.request(req)

    def _on_loaded(self, key: str, pm: QPixmap) -> None:
        if key == self._image_key and self.result is not None:
            self.image.set_pixmap(pm, self.result.kind)

    # -- playback --------------------------------------------------------------------------------------

    def play(self) -> None:
        """Play the shown video or sound from its moment, or pause/resume it (desktop/playback.py); the
        system's player when inline playback is unavailable."""
        self.playback.play_or_toggle()

    def open_externally(self) -> None:
        if self.result is not None and media_player.open_externally(self.result.path):
            emit(self.openedExternally, self.result.path)

    def stop(self) -> None:
        self.playback.stop()
