"""Thumbnails and preview images, made off the GUI thread and cached on disk.

Photos get a small JPEG in ``<home>/thumbnails/`` (made once by ``engine.media.thumbnails``, reused across
runs); video moments use the frame the indexer saved there while sampling the clip; previews are
decoded at screen size straight from the file. All decoding runs in a QThreadPool; the GUI thread
only turns finished QImages into pixmaps. Newer requests run first (priority grows with each
request), so the rows on screen now are served before the ones scrolled past.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QImageReader, QPixmap

from desktop.qt_compat import emit

THUMB_SIDE = 256
#: Screen-sized preview images kept in memory (the tiles' thumbnails have their own, larger budget).
PREVIEWS_KEPT = 6


@dataclass(frozen=True)
class ThumbRequest:
    """What to load: ``kind`` is "photo" (disk-cached thumbnail), "moment" (the indexer's frame for
    ``moment_key``), "waveform" (a sound's waveform picture, cached under ``moment_key``; made from the
    file when the indexer did not) or "preview" (the file itself, scaled to ``max_side``)."""

    key: str
    kind: str
    path: str
    max_side: int = THUMB_SIDE
    moment_key: str = ""


def photo_key(path: str, size: int, mtime: float) -> str:
    """Changes whenever the file does, so an edited photo never shows its old thumbnail."""
    return f"photo:{path}:{size}:{mtime:.3f}"


def photo_thumbnail_file(cache_dir: Path, key: str, src: str) -> Path:
    """The cached thumbnail file of a photo, made now if missing. Raises DecodeError for a bad photo."""
    from engine.media.thumbnails import make_photo_thumbnail

    return make_photo_thumbnail(cache_dir, key, src)


def moment_thumbnail_file(cache_dir: Path, moment_key: str) -> Path | None:
    """The frame the indexer saved for a video moment, or None when there is none."""
    from engine.media.thumbnails import thumbnail_path

    p = thumbnail_path(cache_dir, moment_key)
    return p if p.is_file() else None


def waveform_file(cache_dir: Path, key: str, src: str) -> Path:
    """The waveform picture of a sound, made now (decoding the whole file) if the indexer did not.
    Raises DecodeError for a file with no decodable audio."""
    from engine.media.waveform import make_waveform_file

    return make_waveform_file(cache_dir, key, src)


def read_image(path: str | Path, max_side: int) -> QImage:
    """Decode an image file scaled to fit ``max_side`` (EXIF orientation applied). Qt's readers first
    (JPEG decodes at reduced size), Pillow for what Qt cannot read (HEIC, AVIF). Null QImage on failure."""
    reader = QImageReader(str(path))
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side:
        reader.setScaledSize(size.scaled(QSize(max_side, max_side), _keep_aspect()))
    img = reader.read()
    if not img.isNull():
        return img
    try:
        from PIL import Image, ImageOps

        try:
            import pillow_heif

            pillow_heif.register_heif_opener()
        except ImportError:
            pass
        with Image.open(path) as im:
            im.draft("RGB", (max_side, max_side))
            im = ImageOps.exif_transpose(im).convert("RGB")
            im.thumbnail((max_side, max_side))
            data = im.tobytes()
            return QImage(data, im.width, im.height, 3 * im.width, QImage.Format.Format_RGB888).copy()
    except Exception:  # any undecodable file: the caller shows an icon instead
        return QImage()


def _keep_aspect():  # noqa: ANN202
    from PySide6.QtCore import Qt

    return Qt.AspectRatioMode.KeepAspectRatio


class _Job(QRunnable):
    def __init__(self, loader: ThumbnailLoader, req: ThumbRequest) -> None:
        super().__init__()
        self.loader = loader
        self.req = req

    def run(self) -> None:
        img = QImage()
        try:
            req = self.req
            if req.kind == "photo":
                img = read_image(photo_thumbnail_file(self.loader.cache_dir, req.key, req.path), req.max_side)
            elif req.kind == "waveform":
                img = read_image(waveform_file(self.loader.cache_dir, req.moment_key, req.path), req.max_side)
            elif req.kind == "moment":
                f = moment_thumbnail_file(self.loader.cache_dir, req.moment_key)
                img = read_image(f, req.max_side) if f is not None else QImage()
            else:
                img = read_image(req.path, req.max_side)
        except Exception:  # unreadable photo, full disk: the tile keeps its icon
            img = QImage()
        with contextlib.suppress(RuntimeError):  # the loader is gone (app closing)
            emit(self.loader._produced, self.req.key, img)


def _user_id() -> str:
    getuid = getattr(os, "getuid", None)  # not on Windows, where the temp folder is per user anyway
    return str(getuid()) if getuid is not None else "user"


class ThumbnailLoader(QObject):
    """Loads thumbnails and previews on a thread pool and keeps the recent ones in memory.

    Signals:
        loaded(str, QPixmap): the image for a key is ready (also in :meth:`cached` from now on).
        failed(str): the image for a key cannot be made (the view keeps its icon).
    """

    loaded = Signal(str, QPixmap)
    failed = Signal(str)
    _produced = Signal(str, QImage)

    def __init__(
        self,
        cache_dir: Path | None = None,
        parent: QObject | None = None,
        *,
        threads: int = 2,
        memory_items: int = 800,
    ) -> None:
        super().__init__(parent)
        # Until the library opens (its thumbnails folder), a private temporary folder: never the working
        # directory, where sound waveforms made for results shown early would otherwise land.
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / f"lookalike-thumbnails-{_user_id()}"
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self._memory: OrderedDict[str, QPixmap] = OrderedDict()
        self._previews: OrderedDict[str, QPixmap] = OrderedDict()
        self._memory_items = memory_items
        self._pending: set[str] = set()
        self._failed: set[str] = set()
        self._priority = itertools.count()
        self._produced.connect(self._on_produced)

    def cached(self, key: str) -> QPixmap | None:
        cache = self._previews if key.startswith("preview:") else self._memory
        pm = cache.get(key)
        if pm is not None:
            cache.move_to_end(key)
        return pm

    def has_failed(self, key: str) -> bool:
        return key in self._failed

    def request(self, req: ThumbRequest) -> None:
        """Load ``req`` unless it is cached, failed before, or already on its way."""
        if self.cached(req.key) is not None or req.key in self._pending or req.key in self._failed:
            return
        self._pending.add(req.key)
        # Priority only grows: the latest request (a row now on screen) starts first.
        self.pool.start(_Job(self, req), min(next(self._priority), 2**31 - 1))

    def cancel_pending(self) -> None:
        """Drop queued requests that have not started (new results replace the old ones)."""
        self.pool.clear()
        self._pending.clear()

    def wait(self, msecs: int = 5000) -> bool:
        return self.pool.waitForDone(msecs)

    @Slot(str, QImage)
    def _on_produced(self, key: str, img: QImage) -> None:
        self._pending.discard(key)
        if img.isNull():
            self._failed.add(key)
            emit(self.failed, key)
            return
        pm = QPixmap.fromImage(img)
        # Previews are screen-sized (megabytes each): only the last few stay, apart from the tiles.
        cache, limit = (
            (self._previews, PREVIEWS_KEPT)
            if key.startswith("preview:")
            else (self._memory, self._memory_items)
        )
        cache[key] = pm
        while len(cache) > limit:
            cache.popitem(last=False)
        emit(self.loaded, key, pm)
