"""A huge PNG written a row at a time: the decompression bomb the hostile test round used (a
12000x12000 image of one colour in about 0.4 MB), without holding its pixels anywhere."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def write_flat_png(path: Path, w: int, h: int, rgb: tuple[int, int, int], *, rows: int | None = None) -> None:
    """A ``w`` x ``h`` 8-bit RGB PNG of one colour; ``rows`` < ``h`` writes a truncated file (its image
    data ends early, the chunks around it stay well formed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(9)
    line = b"\x00" + bytes(rgb) * w
    idat = b"".join(z.compress(line) for _ in range(h if rows is None else rows)) + z.flush()
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", idat)
        + chunk(b"IEND", b"")
    )
