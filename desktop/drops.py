"""What a drop or a paste means: media files to find similar items to, or a pasted image saved first."""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QImage

from engine.media.kinds import kind_of

_counter = itertools.count(1)


def media_paths(md: QMimeData) -> list[str]:
    """Local photo, clip and sound files in ``md`` (other files and remote URLs are ignored)."""
    if not md.hasUrls():
        return []
    out = []
    for url in md.urls():
        if url.isLocalFile():
            p = url.toLocalFile()
            if kind_of(p) is not None and Path(p).is_file():
                out.append(p)
    return out


def accepts(md: QMimeData) -> bool:
    return bool(media_paths(md)) or md.hasImage()


def pasted_image(md: QMimeData) -> QImage | None:
    """The image data in ``md`` (a screenshot, a copied picture), or None."""
    if not md.hasImage():
        return None
    img = md.imageData()
    if isinstance(img, QImage) and not img.isNull():
        return img
    return None


def save_pasted_image(img: QImage, folder: Path) -> str:
    """Write a pasted image to ``folder`` as PNG and return its path (an example for find-similar).

    Raises OSError when it cannot be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pasted-{next(_counter)}.png"
    # PNG from the suffix; quality 100 is no compression, so a big screenshot saves fast.
    if not img.save(str(path), quality=100):
        raise OSError(f"could not write {path}")
    return str(path)


def query_paths(md: QMimeData, paste_dir: Path) -> list[str]:
    """Files to search similar for, from a drop or a paste: the media files, else the saved image."""
    paths = media_paths(md)
    if paths:
        return paths
    img = pasted_image(md)
    return [save_pasted_image(img, paste_dir)] if img is not None else []
