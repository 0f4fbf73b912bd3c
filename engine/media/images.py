"""Photo decoding for the encoder: fast reduced decode, EXIF orientation, HEIC/AVIF, bomb guard.

JPEGs use Pillow's draft mode, which lets libjpeg decode at 1/2, 1/4 or 1/8 scale: about 5x cheaper
than a full decode of a 12 MP photo, and the encoder only needs ~224 px anyway.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DecodeError
from engine.media.raw import is_raw, load_raw

if TYPE_CHECKING:
    from PIL.Image import Image

#: Refuse images above this many pixels before decoding them (a 16-bit 200 MP PNG would need GBs).
MAX_PIXELS = 250_000_000
#: Above this many pixels an image is big: decoded in strips where the format allows (PNG), else decoded
#: whole one at a time across the decode threads (:data:`_big_decode`) and reduced at once.
BIG_PIXELS = 24_000_000
#: The most memory an image decoded whole may take (Pillow keeps 4 bytes a pixel for colour, 1 for
#: palette and grey: a 100 MP photo or a 400 MP palette GIF); bigger images that cannot be decoded
#: reduced (JPEG draft, PNG strips) are refused with a reason instead of exhausting memory.
FULL_DECODE_BYTES = 400_000_000

#: One whole-image decode of a big image at a time: four 100 MP TIFFs on four decode threads would
#: need 1.6 GB at once; serialised, 400 MB.
_big_decode = threading.Semaphore(1)

_ORIENTATION_TRANSPOSE = {2: 0, 3: 3, 4: 1, 5: 5, 6: 4, 7: 6, 8: 2}  # EXIF orientation -> Image.Transpose

_heif_lock = threading.Lock()
_heif_ready = False


def _register_heif() -> None:
    global _heif_ready
    with _heif_lock:
        if not _heif_ready:
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
            except ImportError:  # HEIC files then fail with a clear "unsupported format" error
                pass
            _heif_ready = True


def load_photo(path: str | os.PathLike[str], min_side: int = 256, *, max_side: int | None = None) -> Image:
    """Decode a photo to RGB, upright, with its short side reduced to about ``min_side`` (never upscaled);
    with ``max_side``, its long side to about that instead (a thumbnail; up to 1.25x either way).

    The one place photos are opened: indexing, thumbnails and the analyzers share its decoding and its
    reasons for a file that cannot be read.

    Big images never sit in memory at full size more than once: JPEGs decode at a reduced DCT scale,
    PNGs in strips, other formats whole (one at a time) and are reduced before any copy is made.
    Raises DecodeError with a one-line reason for an unreadable, empty, truncated, unsupported or
    oversized file.
    """
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    _register_heif()
    p = Path(path)
    try:
        if p.stat().st_size == 0:
            raise DecodeError("empty file (0 bytes)")

        def finish(im: Image, min_side: int = min_side) -> Image:
            if max_side is not None:
                w, h = im.size
                min_side = max(1, -(-max_side * min(w, h) // max(w, h, 1)))  # ceil: never under max_side
            return _decode(im, p, min_side)

        if is_raw(p):  # camera RAW: its embedded preview (or a demosaic), through the same finish
            return load_raw(p, min_side, finish)
        with PILImage.open(p) as im:
            return finish(im)
    except DecodeError:
        raise
    except PermissionError as exc:
        raise DecodeError("permission denied: cannot read the file") from exc
    except FileNotFoundError as exc:
        raise DecodeError("file not found (moved or deleted)") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not a readable image (unknown or corrupt format)") from exc
    except PILImage.DecompressionBombError as exc:
        raise DecodeError(f"image too large to decode safely: {exc}") from exc
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise DecodeError("permission denied: cannot read the file") from exc
        msg = str(exc) or exc.__class__.__name__
        if "truncated" in msg.lower():
            raise DecodeError("truncated image (the file ends early)") from exc
        raise DecodeError(f"cannot decode image: {msg}") from exc
    except (ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise DecodeError(f"corrupt image: {exc or exc.__class__.__name__}") from exc


def _decode(im: Image, path: Path, min_side: int) -> Image:
    """The body of :func:`load_photo` for an opened image (its exceptions are mapped by the caller)."""
    from engine.media import big_images

    w, h = im.size
    if w * h > MAX_PIXELS:
        raise DecodeError(f"image too large to decode safely ({w}x{h}, {w * h / 1e6:.0f} MP)")
    factor = big_images.reduce_factor(w, h, min_side)
    img: Image | None = None
    if im.format == "JPEG":
        # draft() picks the largest DCT scaling that keeps the image at least this big.
        scale = max(min_side / min(w, h), 1 / 8)
        im.draft("RGB", (max(1, int(w * scale)), max(1, int(h * scale))))
    elif w * h > BIG_PIXELS:
        orientation = _orientation_from_info(im)
        img = big_images.png_in_strips(im, path, factor, to_rgb)
        if img is not None:
            return _finish(img, min_side, orientation)
        need = w * h * _bytes_per_pixel(im.mode)
        if need > FULL_DECODE_BYTES:
            raise DecodeError(
                f"image too large to decode within the memory budget ({w}x{h} {im.format or 'image'} needs "
                f"{need / 1e6:.0f} MB; at most {FULL_DECODE_BYTES / 1e6:.0f} MB unless JPEG or 8-bit PNG)"
            )
        big_images.free_big_images_promptly()
        with _big_decode:
            im.load()
            orientation = _orientation(im)
            img = big_images.reduce_loaded(im, big_images.reduce_factor(*im.size, min_side), to_rgb)
            im.close()  # free the full-size pixels before the next big decode starts
        return _finish(img, min_side, orientation)
    im.load()
    orientation = _orientation(im)
    img = im
    if min(img.size) > 4 * min_side and img.mode in ("RGB", "L", "RGBA", "LA", "RGBX", "CMYK"):
        # Reduce (a box filter, cheap) before converting: the conversion then works on a small image.
        img = img.reduce(big_images.reduce_factor(*img.size, min_side))
    if img.mode != "RGB":
        img = to_rgb(img)
    return _finish(img, min_side, orientation, copy=img is im)


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow allocates per pixel for an image of ``mode``."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def _orientation(im: Image) -> int:
    if "lookalike_orientation" in im.info:  # a RAW's preview: the RAW file's orientation (engine.media.raw)
        return int(im.info["lookalike_orientation"])
    try:
        return int(im.getexif().get(0x0112, 1))
    except (ValueError, TypeError, SyntaxError, OSError):  # a damaged EXIF block: leave it as it is
        return 1


def _orientation_from_info(im: Image) -> int:
    """The EXIF orientation without decoding the pixels (getexif() on a PNG may load the whole image)."""
    if "lookalike_orientation" in im.info:
        return int(im.info["lookalike_orientation"])
    raw = im.info.get("exif")
    if not raw:
        return 1
    from PIL import Image as PILImage

    exif = PILImage.Exif()
    try:
        exif.load(raw)
        return int(exif.get(0x0112, 1))
    except (ValueError, TypeError, SyntaxError, OSError, struct.error):
        return 1


def _finish(img: Image, min_side: int, orientation: int, copy: bool = False) -> Image:
    """Upright and resized to ``min_side`` (``copy``: ``img`` belongs to an open file, return a copy)."""
    from PIL import Image as PILImage

    method = _ORIENTATION_TRANSPOSE.get(orientation)
    if method is not None:
        img = img.transpose(PILImage.Transpose(method))
        copy = False
    short = min(img.size)
    if short > min_side * 1.25:
        f = min_side / short
        size = (max(1, round(img.size[0] * f)), max(1, round(img.size[1] * f)))
        return img.resize(size, PILImage.Resampling.BILINEAR, reducing_gap=2.0)
    return img.copy() if copy else img


def to_rgb(img: Image) -> Image:
    """``img`` as RGB: transparency composited on white, 16-bit scaled to 8; an RGB image as it is."""
    from PIL import Image as PILImage

    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite transparency onto white rather than the black Pillow would give.
        rgba = img.convert("RGBA")
        bg = PILImage.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return img.point(lambda v: v / 256).convert("RGB")
    return img.convert("RGB")


def quick_hash(path: str | os.PathLike[str], block: int = 1 << 16) -> str:
    """A content fingerprint for move/rename detection: blake2b of the size and three 64 KiB samples.

    Reading whole videos to hash them would cost more than indexing them; size plus head, middle and
    tail tell a moved file from a different one in practice. Raises OSError if unreadable.
    """
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h.update(size.to_bytes(8, "little"))
        if size <= 3 * block:
            h.update(f.read())
        else:
            for off in (0, size // 2 - block // 2, size - block):
                f.seek(off)
                h.update(f.read(block))
    return h.hexdigest()
