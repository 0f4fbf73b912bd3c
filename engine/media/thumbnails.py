"""Small JPEG thumbnails in a cache folder, so results show without decoding their originals again.

A thumbnail is named by a stable key: ``moment_key(file_id, t)`` for a video moment or a photo
(``t=0``), or any other string (one that includes the file's size and mtime changes when the file
does). Files live in ``cache_dir/<2 characters>/<name>.jpg``, where the name is the key itself when it
is a short string of letters, digits, ``-`` and ``_`` (a hex digest, say), else the sha1 of the key:
so no key can point outside the cache, and no folder grows to a million entries.

Video moments get their thumbnail in the same pass that samples them (the indexer passes
``Moment.image``, already about 256 px, to ``save_thumbnail``: a resize and a JPEG encode, about a
millisecond), so the app never decodes a video to show a result. Photos go through
``make_photo_thumbnail``, which decodes JPEGs at reduced size (``Image.draft``).

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

from engine.errors import DecodeError

if TYPE_CHECKING:
    from PIL.Image import Image

#: Long side of a thumbnail in pixels; about what a result grid shows at 2x scaling.
LONG_SIDE = 320
QUALITY = 80
#: Refuse photos above this many pixels before decoding them (same guard as photo decoding).
MAX_PIXELS = 250_000_000

_SAFE_KEY = re.compile(r"[0-9A-Za-z_-]{1,128}")
_heif_lock = threading.Lock()
_heif_ready = False


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
    from PIL import Image as PILImage

    img = _rgb(image)
    if max(img.size) > long_side:
        f = long_side / max(img.size)
        size = (max(1, round(img.size[0] * f)), max(1, round(img.size[1] * f)))
        img = img.resize(size, PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    return _write_jpeg(thumbnail_path(cache_dir, key), img, quality)


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

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale by libjpeg (``Image.draft``), about 5x cheaper than a
    full decode of a 12 MP photo; EXIF orientation is applied; the first frame of an animation is
    used; transparency is composited on white. Raises DecodeError for a missing, unreadable, corrupt,
    truncated or oversized photo; ValueError for an empty key; OSError when the cache cannot be
    written.
    """
    from PIL import Image as PILImage
    from PIL import ImageOps, UnidentifiedImageError

    dest = thumbnail_path(cache_dir, key)
    if not refresh and dest.is_file():
        return dest
    _register_heif()
    src = Path(src_path)
    try:
        with PILImage.open(src) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DecodeError(f"image too large to decode safely ({w}x{h})")
            if im.format == "JPEG":
                # draft() keeps the result at least this big; EXIF rotation only swaps the sides.
                f = max(long_side / max(w, h), 1 / 8)
                im.draft("RGB", (max(1, int(w * f)), max(1, int(h * f))))
            im.load()
            img = ImageOps.exif_transpose(im)
            if img is None or img is im:
                img = im.copy()  # the file's image object is closed when the with block ends
            img = _rgb(img)
            if max(img.size) > long_side:
                img.thumbnail((long_side, long_side), PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    except DecodeError:
        raise
    except FileNotFoundError as exc:
        raise DecodeError("file not found (moved or deleted)") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied: cannot read the file") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not a readable image (unknown or corrupt format)") from exc
    except PILImage.DecompressionBombError as exc:
        raise DecodeError(f"image too large to decode safely: {exc}") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        msg = str(exc) or exc.__class__.__name__
        if "truncated" in msg.lower():
            raise DecodeError("truncated image (the file ends early)") from exc
        raise DecodeError(f"cannot decode image: {msg}") from exc
    return _write_jpeg(dest, img, quality)


def _rgb(img: Image) -> Image:
    from PIL import Image as PILImage

    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white: transparent areas would otherwise turn black in a JPEG.
        rgba = img.convert("RGBA")
        bg = PILImage.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("RGB")
    return img.convert("RGB")


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


def _register_heif() -> None:
    global _heif_ready
    with _heif_lock:
        if not _heif_ready:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
            except ImportError:  # HEIC photos then fail with a clear "not a readable image"
                pass
            _heif_ready = True
