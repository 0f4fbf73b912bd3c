"""Small JPEG thumbnails in a cache folder, so results show without decoding their originals again.

A thumbnail is named by a stable key: ``moment_key(file_id, t)`` for a video moment or a photo
(``t=0``), or any other string (one that includes the file's size and mtime changes when the file
does). Files live in ``cache_dir/<2 characters>/<name>.jpg``, where the name is the key itself when it
is a short string of letters, digits, ``-`` and ``_`` (a hex digest, say), else the sha1 of the key:
so no key can point outside the cache, and no folder grows to a million entries.

Video moments get their thumbnail in the same pass that samples them (the indexer passes
``Moment.image``, already about 256 px, to ``save_thumbnail``: a resize and a JPEG encode, about a
millisecond), so the app never decodes a video to show a result. Photos go through
``make_photo_thumbnail``, which decodes them as indexing does (:func:`engine.media.images.load_photo`).

Writes are atomic (a temporary file in the same folder, then ``os.replace``): a reader sees the old
thumbnail or the new one, never half a file. They are not fsynced: a cache entry lost or torn by a
power cut is simply made again (``thumbnail_path(...).exists()`` and a failed open both mean "redo").
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

#: Long side of a thumbnail in pixels; about what a result grid shows at 2x scaling.
LONG_SIDE = 320
QUALITY = 80

_SAFE_KEY = re.compile(r"[0-9A-Za-z_-]{1,128}")


def moment_key(file_id: int | str, t: float = 0.0) -> str:
    """The key of a file's thumbnail at ``t`` seconds (0 for photos): sha1 of ``"{file_id}:{t:.3f}"``.

    Stable across runs as long as the catalog id is; ``t`` is rounded to the millisecond so the
    float a sampler produced and the one read back from the store name the same file.
    """
    return hashlib.sha1(f"{file_id}:{t:.3f}".encode()).hexdigest()


def thumbnail_path(cache_dir: str | os.PathLike[str], key: str) -> Path:
    """Where the thumbnail for ``key`` is (or would be) stored. Does not touch the disk.

    Raises ValueError for an empty key.
    """
    if not key:
        raise ValueError("empty thumbnail key")
    name = key if _SAFE_KEY.fullmatch(key) else hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
    return Path(cache_dir) / name[:2] / f"{name}.jpg"


def save_thumbnail(
    cache_dir: str | os.PathLike[str],
    key: str,
    image: Image,
    *,
    long_side: int = LONG_SIDE,
    quality: int = QUALITY,
) -> Path:
    """Store ``image`` (any mode; a video ``Moment.image`` typically) as the thumbnail for ``key``.

    Scaled so its long side is at most ``long_side``; replaces an existing thumbnail atomically.
    Returns its path. Raises ValueError for an empty key and OSError when the cache cannot be
    written (disk full, permissions).
    """
    from engine.media.images import to_rgb

    return _write_jpeg(thumbnail_path(cache_dir, key), _fit(to_rgb(image), long_side), quality)


def make_photo_thumbnail(
    cache_dir: str | os.PathLike[str],
    key: str,
    src_path: str | os.PathLike[str],
    *,
    long_side: int = LONG_SIDE,
    quality: int = QUALITY,
    refresh: bool = False,
) -> Path:
    """The thumbnail for ``key`` of the photo at ``src_path``: made now, small and upright, unless
    the cache already holds it (``refresh=True`` makes it again).

    Decoded by :func:`engine.media.images.load_photo`, as for indexing: JPEGs at 1/2, 1/4 or 1/8 scale
    by libjpeg (about 5x cheaper than a full decode of a 12 MP photo), big PNGs in strips, EXIF
    orientation applied, the first frame of an animation, transparency composited on white. Raises
    DecodeError (with load_photo's reasons) for a missing, unreadable, corrupt, truncated or oversized
    photo; ValueError for an empty key; OSError when the cache cannot be written.
    """
    from engine.media.images import load_photo

    dest = thumbnail_path(cache_dir, key)
    if not refresh and dest.is_file():
        return dest
    img = load_photo(src_path, max_side=long_side)
    return _write_jpeg(dest, _fit(img, long_side), quality)


def _fit(img: Image, long_side: int) -> Image:
    """``img`` scaled down so that its long side is at most ``long_side`` (never enlarged)."""
    from PIL import Image as PILImage

    if max(img.size) <= long_side:
        return img
    f = long_side / max(img.size)
    size = (max(1, round(img.size[0] * f)), max(1, round(img.size[1] * f)))
    return img.resize(size, PILImage.Resampling.BILINEAR, reducing_gap=2.0)


def _write_jpeg(path: Path, img: Image, quality: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread: two workers writing the same key must not share a temp file.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        img.save(tmp, "JPEG", quality=quality)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
