"""A minimal DNG writer for the tests: a 16-bit RGGB mosaic, optionally with an embedded JPEG preview.

Laid out as cameras and Adobe's converter write them: IFD0 is the preview (NewSubFileType 1, baseline
JPEG), its SubIFDs tag points at the raw IFD (NewSubFileType 0, CFA), and IFD0 carries Make, Model,
Orientation and an EXIF IFD with DateTimeOriginal. Without a preview, IFD0 is the raw image itself.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np

SHORT, LONG, ASCII, RATIONAL, SRATIONAL, BYTE = 3, 4, 2, 5, 10, 1


class _Tiff:
    def __init__(self) -> None:
        self.blobs: list[tuple[int, bytes]] = []  # (placeholder id, data)
        self.buf = io.BytesIO()

    @staticmethod
    def _pack(kind: int, values: list) -> bytes:
        if kind == ASCII:
            return values[0].encode() + b"\0"
        fmt = {SHORT: "H", LONG: "I", BYTE: "B"}.get(kind)
        if fmt:
            return struct.pack("<" + fmt * len(values), *values)
        sign = "i" if kind == SRATIONAL else "I"
        return b"".join(struct.pack("<" + sign * 2, n, d) for n, d in values)


def _ifd(
    entries: dict[int, tuple[int, list]], at: int, data_at: int, next_ifd: int = 0
) -> tuple[bytes, bytes]:
    """IFD bytes placed at ``at`` with its out-of-line values placed from ``data_at``."""
    head = struct.pack("<H", len(entries))
    extra = b""
    for tag in sorted(entries):
        kind, values = entries[tag]
        raw = _Tiff._pack(kind, values)
        count = len(values) if kind != ASCII else len(raw)
        if len(raw) <= 4:
            head += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\0")
        else:
            head += struct.pack("<HHII", tag, kind, count, data_at + len(extra))
            extra += raw + (b"\0" if len(raw) % 2 else b"")
    head += struct.pack("<I", next_ifd)
    assert at + len(head) <= data_at
    return head, extra


def write_dng(
    path: Path,
    mosaic: np.ndarray,
    preview_jpeg: bytes | None = None,
    preview_size: tuple[int, int] = (0, 0),
    *,
    orientation: int = 1,
    make: str = "Lookalike",
    model: str = "Test Camera",
    taken: str = "2021:06:05 14:03:07",
) -> None:
    """Write ``mosaic`` (uint16, RGGB, even sides) as a DNG, with ``preview_jpeg`` (of ``preview_size``)."""
    h, w = mosaic.shape
    raw_bytes = mosaic.astype("<u2").tobytes()
    common = {
        0x010F: (ASCII, [make]),
        0x0110: (ASCII, [model]),
        0x0112: (SHORT, [orientation]),
        0xC612: (BYTE, [1, 4, 0, 0]),  # DNGVersion
        0xC614: (ASCII, [f"{make} {model}"]),  # UniqueCameraModel
        0xC621: (SRATIONAL, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1), (0, 1), (1, 1)]),
        0xC628: (RATIONAL, [(1, 1), (1, 1), (1, 1)]),  # AsShotNeutral
        0xC65A: (SHORT, [21]),  # CalibrationIlluminant1: D65
    }
    raw_tags = {
        0x00FE: (LONG, [0]),
        0x0100: (LONG, [w]),
        0x0101: (LONG, [h]),
        0x0102: (SHORT, [16]),
        0x0103: (SHORT, [1]),
        0x0106: (SHORT, [32803]),  # CFA
        0x0115: (SHORT, [1]),
        0x0116: (LONG, [h]),
        0x011C: (SHORT, [1]),
        0x828D: (SHORT, [2, 2]),  # CFARepeatPatternDim
        0x828E: (BYTE, [0, 1, 1, 2]),  # CFAPattern RGGB
        0xC61D: (LONG, [65535]),  # WhiteLevel
    }
    exif_tags = {0x9003: (ASCII, [taken]), 0x9004: (ASCII, [taken])}
    # Layout: header | IFD0 @ 8 | data area | raw IFD | exif IFD | pixel blobs
    out = bytearray(b"II*\0" + struct.pack("<I", 8))
    base = 4096  # room for the IFDs and their values, fixed offsets keep this simple
    raw_ifd_at, exif_ifd_at = 1024, 2048
    preview_at = base
    raw_at = base + (len(preview_jpeg) if preview_jpeg else 0)
    raw_at += raw_at % 2
    if preview_jpeg is not None:
        pw, ph = preview_size
        ifd0 = dict(common)
        ifd0.update({
            0x00FE: (LONG, [1]),
            0x0100: (LONG, [pw]), 0x0101: (LONG, [ph]),
            0x0102: (SHORT, [8, 8, 8]), 0x0103: (SHORT, [7]), 0x0106: (SHORT, [6]),
            0x0111: (LONG, [preview_at]), 0x0115: (SHORT, [3]), 0x0116: (LONG, [ph]),
            0x0117: (LONG, [len(preview_jpeg)]),
            0x014A: (LONG, [raw_ifd_at]),  # SubIFDs
            0x8769: (LONG, [exif_ifd_at]),
        })  # fmt: skip
        raw = dict(raw_tags)
        raw.update({0x0111: (LONG, [raw_at]), 0x0117: (LONG, [len(raw_bytes)])})
    else:
        ifd0 = dict(common)
        ifd0.update(raw_tags)
        ifd0.update({
            0x0111: (LONG, [raw_at]), 0x0117: (LONG, [len(raw_bytes)]), 0x8769: (LONG, [exif_ifd_at]),
        })  # fmt: skip
        raw = None
    head, extra = _ifd(ifd0, 8, 512)
    out += head
    out += b"\0" * (512 - len(out)) + extra
    if raw is not None:
        head, extra = _ifd(raw, raw_ifd_at, raw_ifd_at + 256)
        out += b"\0" * (raw_ifd_at - len(out)) + head
        out += b"\0" * (raw_ifd_at + 256 - len(out)) + extra
    head, extra = _ifd(exif_tags, exif_ifd_at, exif_ifd_at + 256)
    out += b"\0" * (exif_ifd_at - len(out)) + head
    out += b"\0" * (exif_ifd_at + 256 - len(out)) + extra
    assert len(out) <= base
    out += b"\0" * (base - len(out))
    if preview_jpeg is not None:
        out += preview_jpeg
    out += b"\0" * (raw_at - len(out)) + raw_bytes
    path.write_bytes(bytes(out))


def mosaic_of(rgb: np.ndarray) -> np.ndarray:
    """An RGGB mosaic (uint16) sampling an RGB picture (uint8, even sides)."""
    h, w, _ = rgb.shape
    m = np.zeros((h, w), np.uint16)
    v = rgb.astype(np.uint16) * 257
    m[0::2, 0::2] = v[0::2, 0::2, 0]
    m[0::2, 1::2] = v[0::2, 1::2, 1]
    m[1::2, 0::2] = v[1::2, 0::2, 1]
    m[1::2, 1::2] = v[1::2, 1::2, 2]
    return m
