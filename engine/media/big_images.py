"""Decoding very large images without holding them whole: PNG in strips, everything reduced early.

A 12000x12000 PNG of one flat colour compresses to a few hundred KB but decodes to 576 MB (Pillow keeps
RGB as 4 bytes a pixel), and the old path then made full-size copies for orientation and colour
conversion: 1.1-2.1 GB peak for one file. The encoder needs ~256 px. Here:

- a non-interlaced 8-bit (or lower) PNG is inflated as a stream, one strip of rows at a time; each strip
  goes through Pillow's own PNG row decoder (filters, bit depths, palettes) and is box-reduced at once,
  so only one strip (about :data:`STRIP_BYTES`) is ever full size;
- any other image that had to be decoded whole is reduced strip by strip straight after decoding, so no
  full-size copy is made on top of the decoded one.

The trick that lets Pillow's decoder start mid-image: PNG rows are filtered against the row above, so
each strip is preceded by the previous strip's last row, re-packed raw with filter type 0 ("None"), and
the lot is re-wrapped as an uncompressed zlib stream (a memory copy, no compression work).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

#: Size of one full-resolution strip (at Pillow's 4 bytes a pixel).
STRIP_BYTES = 16 * 1024 * 1024

#: PNG raw modes whose rows Pillow can pack back to the exact bytes it unpacked (8 bits a sample or
#: fewer). 16-bit PNGs decode to 8-bit modes, so their last row cannot be re-packed: decoded whole.
_PNG_BITS = {
    "1": 1, "L;2": 2, "L;4": 4, "L": 8, "LA": 16, "RGB": 24, "RGBA": 32,
    "P;1": 1, "P;2": 2, "P;4": 4, "P": 8,
}  # fmt: skip
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


_blocks_set = False


def free_big_images_promptly() -> None:
    """Make Pillow allocate big images in 64 MiB blocks, which glibc maps and unmaps on their own.

    With Pillow's 16 MiB blocks, glibc raises its mmap threshold after the first free and serves later
    blocks from per-thread heaps that keep the memory: four 81 MP TIFFs decoded one after another on four
    threads peaked at 1.2 GB instead of 0.55 GB. Blocks above glibc's 32 MiB ceiling are always mapped.
    Small images are unaffected (an image smaller than a block gets exactly its size).
    """
    global _blocks_set
    if not _blocks_set:
        from PIL import Image as PILImage

        if PILImage.core.get_block_size() < 64 << 20:
            PILImage.core.set_block_size(64 << 20)
        _blocks_set = True


def reduce_factor(width: int, height: int, min_side: int) -> int:
    """The box-reduction factor that keeps the short side at least twice ``min_side`` (the final
    resize then has room to filter well); 1 for images that are not much bigger than that."""
    return max(1, min(width, height) // (2 * max(1, min_side)))


def strip_rows(width: int, factor: int) -> int:
    """Rows per strip: about :data:`STRIP_BYTES` of pixels, a multiple of ``factor`` so that no
    reduction box straddles two strips."""
    rows = max(1, STRIP_BYTES // (4 * max(1, width)))
    return max(factor, rows // factor * factor)


class _Reducer:
    """Collects full-resolution strips, top to bottom, as one image reduced by ``factor``."""

    def __init__(self, width: int, height: int, factor: int, to_rgb: Callable[[Image], Image]) -> None:
        from PIL import Image as PILImage

        self.factor = factor
        self.to_rgb = to_rgb
        self.out = PILImage.new("RGB", (-(-width // factor), -(-height // factor)))
        self.y = 0

    def add(self, strip: Image) -> None:
        rgb = self.to_rgb(strip) if strip.mode != "RGB" else strip
        small = rgb.reduce(self.factor) if self.factor > 1 else rgb
        self.out.paste(small, (0, self.y // self.factor))
        self.y += strip.size[1]


def reduce_loaded(img: Image, factor: int, to_rgb: Callable[[Image], Image]) -> Image:
    """A decoded image as RGB reduced by ``factor``, converted strip by strip (a palette, 1-bit or
    16-bit image is never converted whole)."""
    w, h = img.size
    rows = strip_rows(w, factor)
    acc = _Reducer(w, h, factor, to_rgb)
    for y in range(0, h, rows):
        strip = img.crop((0, y, w, min(h, y + rows)))
        strip.info = img.info  # transparency of palette and key-colour images
        acc.add(strip)
    return acc.out


def _idat_chunks(path: Path) -> Iterator[bytes]:
    """The contents of a PNG's IDAT chunks, in order, in pieces of at most 1 MiB.

    Raises OSError("truncated") when the file ends inside the image data.
    """
    with open(path, "rb") as f:
        if f.read(8) != _PNG_SIGNATURE:
            raise OSError("not a PNG file")
        seen_idat = False
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise OSError("image file is truncated (no IEND)")
            length, ctype = struct.unpack(">I4s", head)
            if ctype == b"IDAT":
                seen_idat = True
                left = length
                while left:
                    piece = f.read(min(left, 1 << 20))
                    if not piece:
                        raise OSError("image file is truncated")
                    left -= len(piece)
                    yield piece
                f.seek(4, 1)  # CRC
            elif seen_idat or ctype == b"IEND":
                return  # the image data is one run of consecutive IDAT chunks
            else:
                f.seek(length + 4, 1)


class _Inflater:
    """The inflated bytes of a PNG's image data, read in exact amounts (never more than asked for in
    memory: a bomb's 166 KB can hold 432 MB of rows)."""

    def __init__(self, path: Path) -> None:
        self._pieces = _idat_chunks(path)
        self._z = zlib.decompressobj()
        self._pending = b""

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes; fewer only where the stream ends."""
        out: list[bytes] = []
        while n > 0:
            if not self._pending:
                if self._z.eof:
                    break
                self._pending = next(self._pieces, b"")
                if not self._pending:
                    tail = self._z.flush()[:n]
                    out.append(tail)
                    n -= len(tail)
                    break
            # 1 MiB steps: zlib grows a bigger output buffer by copying, which cost 30 % here.
            chunk = self._z.decompress(self._pending, min(n, 1 << 20))
            self._pending = self._z.unconsumed_tail
            out.append(chunk)
            n -= len(chunk)
        return b"".join(out)


def _stored_zlib(data: bytes) -> bytes:
    """``data`` as a zlib stream of stored (uncompressed) blocks: a copy and a checksum, twice as fast
    as ``zlib.compress(data, 0)``."""
    view = memoryview(data)
    n = len(data)
    parts: list[bytes | memoryview] = [b"\x78\x01"]
    for i in range(0, n, 0xFFFF):
        block = view[i : i + 0xFFFF]
        parts.append(struct.pack("<BHH", i + 0xFFFF >= n, len(block), len(block) ^ 0xFFFF))
        parts.append(block)
    parts.append(struct.pack(">I", zlib.adler32(data)))
    return b"".join(parts)


def png_in_strips(im: Image, path: Path, factor: int, to_rgb: Callable[[Image], Image]) -> Image | None:
    """A PNG decoded strip by strip and reduced by ``factor`` to RGB, or None when this PNG cannot be
    (interlaced, animated, 16-bit, or a layout Pillow reports differently): the caller decodes it whole.

    Raises OSError for a truncated or corrupt stream (Pillow's own messages).
    """
    from PIL import Image as PILImage

    if im.format != "PNG" or im.info.get("interlace") or getattr(im, "is_animated", False):
        return None
    tiles = getattr(im, "tile", [])  # an opened file's decoding plan (Pillow's ImageFile)
    if len(tiles) != 1 or tiles[0][0] != "zip":
        return None
    rawmode = tiles[0][3]
    if not isinstance(rawmode, str) or rawmode not in _PNG_BITS:
        return None
    w, h = im.size
    row_bytes = (w * _PNG_BITS[rawmode] + 7) // 8
    rows_per_strip = strip_rows(w, factor)
    acc = _Reducer(w, h, factor, to_rgb)
    palette = im.palette
    stream = _Inflater(path)
    prev: bytes | None = None  # the last row of the previous strip, unfiltered, packed raw
    y = 0
    while y < h:
        n = min(rows_per_strip, h - y)
        data = stream.read(n * (row_bytes + 1))
        if len(data) < n * (row_bytes + 1):
            raise OSError("image file is truncated")
        lead = 0 if prev is None else 1
        if prev is not None:
            data = b"\x00" + prev + data
        strip = PILImage.new(im.mode, (w, n + lead))
        decoder = PILImage._getdecoder(im.mode, "zip", rawmode)
        try:
            decoder.setimage(strip.im, (0, 0, w, n + lead))
            packed = _stored_zlib(data)
            del data
            consumed, err = decoder.decode(packed)
            del packed
        finally:
            decoder.cleanup()
        if consumed >= 0 or err < 0:
            raise OSError(f"broken PNG data (decoder error {err})")
        prev = strip.crop((0, n + lead - 1, w, n + lead)).tobytes("raw", rawmode)
        if lead:
            strip = strip.crop((0, 1, w, n + 1))
        if palette is not None and strip.mode == "P":
            strip.putpalette(palette.palette, palette.rawmode or palette.mode)
        strip.info = {k: v for k, v in im.info.items() if k == "transparency"}
        acc.add(strip)
        y += n
    return acc.out
