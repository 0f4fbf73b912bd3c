"""Camera RAW photos (CR2, CR3, NEF, ARW, RAF, ORF, RW2, DNG): decoded through their embedded preview.

Every camera stores a full-size or large JPEG preview inside its RAW file, rendered by the camera with
its own colour science; it is what the camera's screen shows, and decoding it (with libjpeg's reduced
DCT scale) costs a fraction of a demosaic. Only a file without a usable preview (a preview smaller
than asked, or none) is demosaiced, at half size, by LibRaw (through ``rawpy``).

EXIF: TIFF-based RAWs (DNG, CR2, NEF, ARW, and ORF/RW2 under their own magic numbers) carry it in
their IFDs, which Pillow parses without touching the pixels; RAF and CR3 carry it in the preview JPEG.
:func:`raw_exif` reads both.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import DecodeError
from engine.media.kinds import RAW_EXTS

if TYPE_CHECKING:
    from PIL.Image import Exif, Image


#: LibRaw's ``flip`` (how to turn the sensor image upright) as an EXIF orientation.
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}
#: The first bytes of TIFF-like RAWs that use their own magic number, and the standard ones to read
#: them as TIFF (Olympus ORF: IIRO / MMOR / IIRS; Panasonic RW2: IIU).
_TIFF_MAGIC = {b"IIRO": b"II*\0", b"IIRS": b"II*\0", b"MMOR": b"MM\0*", b"IIU\0": b"II*\0"}
_HEADER_BYTES = 4 << 20  # IFDs and their values sit at the start of every TIFF-based RAW seen


def is_raw(path: str | os.PathLike[str]) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in RAW_EXTS


def _rawpy() -> Any:
    try:
        import rawpy
    except ImportError as exc:  # an install without the optional decoder: a per-file reason
        raise DecodeError("RAW photos need the rawpy package (pip install rawpy)") from exc
    return rawpy


def load_raw(path: str | os.PathLike[str], min_side: int, decode: Any) -> Image:
    """A RAW photo as RGB, upright, short side about ``min_side``.

    ``decode(im, min_side)`` finishes an opened Pillow image (``images._decode``: draft, orientation,
    reduction). Raises DecodeError for a file LibRaw cannot read.
    """
    from PIL import Image as PILImage

    rawpy = _rawpy()
    try:
        with rawpy.imread(os.fspath(path)) as raw:
            flip = int(getattr(raw.sizes, "flip", 0) or 0)
            preview = _preview(raw, rawpy)
            if preview is not None:
                img = _from_preview(preview, flip, min_side, decode)
                if img is not None:
                    return img
            # No usable preview: demosaic. half_size takes one pixel per 2x2 Bayer block (4x less work).
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)
    except DecodeError:
        raise
    except rawpy.LibRawFileUnsupportedError as exc:
        raise DecodeError("not a RAW file LibRaw can read (unsupported camera or damaged file)") from exc
    except rawpy.LibRawIOError as exc:
        raise DecodeError(f"cannot read the RAW file: {exc}") from exc
    except rawpy.LibRawError as exc:
        raise DecodeError(f"cannot decode RAW photo: {exc}") from exc
    except (OSError, ValueError, MemoryError) as exc:
        raise DecodeError(f"cannot decode RAW photo: {exc or exc.__class__.__name__}") from exc
    return decode(PILImage.fromarray(rgb, "RGB"), min_side)  # postprocess already turned it upright


def _preview(raw: Any, rawpy: Any) -> Any:
    try:
        return raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        return None


def _from_preview(thumb: Any, flip: int, min_side: int, decode: Any) -> Image | None:
    """The preview decoded, or None when it is smaller than asked (then the RAW is demosaiced)."""
    from PIL import Image as PILImage

    rawpy = _rawpy()
    if thumb.format == rawpy.ThumbFormat.JPEG:
        im = PILImage.open(io.BytesIO(thumb.data))
        if min(im.size) < min_side:
            return None
        if im.getexif().get(0x0112) is None:
            # Most previews carry no orientation of their own: the RAW's applies to them.
            im.info["lookalike_orientation"] = _FLIP_TO_ORIENTATION.get(flip, 1)
        return decode(im, min_side)
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        bitmap = PILImage.fromarray(thumb.data, "RGB")
        if min(bitmap.size) < min_side:
            return None
        bitmap.info["lookalike_orientation"] = _FLIP_TO_ORIENTATION.get(flip, 1)
        return decode(bitmap, min_side)
    return None


def raw_exif(path: str | os.PathLike[str]) -> Exif | None:
    """The EXIF of a RAW photo (IFD0 with Make, Model, Orientation; ``get_ifd(0x8769)`` with the capture
    time; ``get_ifd(0x8825)`` GPS), or None when none can be found. Never raises for a damaged file."""
    from PIL import Image as PILImage

    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(_HEADER_BYTES)
    except OSError:
        return None
    magic = _TIFF_MAGIC.get(head[:4], head[:4])
    if magic in (b"II*\0", b"MM\0*"):
        exif = PILImage.Exif()
        try:
            exif.load(magic + head[4:])
            if len(exif):
                return exif
        except Exception:  # noqa: BLE001 - any parse error means "no EXIF here", as documented
            pass
    # RAF, CR3 (and any RAW whose IFDs did not parse): the preview JPEG's own EXIF block.
    try:
        rawpy = _rawpy()
        with rawpy.imread(os.fspath(p)) as raw:
            thumb = _preview(raw, rawpy)
        if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
            with PILImage.open(io.BytesIO(thumb.data)) as im:
                exif = im.getexif()
                return exif if len(exif) else None
    except Exception:  # noqa: BLE001 - never raises, as documented
        return None
    return None
