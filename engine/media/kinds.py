"""Which files Lookalike indexes, and as what kind."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from enum import Enum
from pathlib import Path
from typing import BinaryIO


class Kind(str, Enum):
    PHOTO = "photo"
    VIDEO = "video"
    SOUND = "sound"


PHOTO_EXTS = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".webp",
    ".gif",
    ".tif",
    ".tiff",
    ".bmp",
    ".heic",
    ".heif",
    ".avif",
}
#: Camera RAW formats, indexed as photos through their embedded preview (engine.media.raw).
RAW_EXTS = frozenset({".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".dng"})
PHOTO_EXTS |= RAW_EXTS
VIDEO_EXTS = {
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".mpg",
    ".mpeg",
    ".ts",
    ".mts",
    ".m2ts",
    ".3gp",
    ".wmv",
    ".flv",
    ".ogv",
}
SOUND_EXTS = {
    ".wav",
    ".flac",
    ".ogg",
    ".oga",
    ".mp3",
    ".m4a",
    ".aac",
    ".opus",
    ".wma",
    ".aif",
    ".aiff",
}


#: Photo formats that may hold an animation: those with more than one frame are indexed as clips.
ANIMATED_EXTS = frozenset({".gif", ".webp"})
#: The largest canvas decoded frame by frame. Pillow holds each frame whole (RGBA after the first), so a
#: 215 KB two-frame 12000x12000 GIF took 1.9 GB; a bigger "animation" is indexed by its first frame, as
#: a photo, within the photo decoder's memory budget (engine.media.images).
ANIMATED_MAX_PIXELS = 16_000_000


def kind_of_file(path: str | Path) -> Kind | None:
    """The kind an existing file is indexed as: :func:`kind_of`, except that a GIF or WebP with more
    than one frame is a video (its moments are indexed, as for any clip; see engine.media.video).

    Reads the file's block structure (no pixels) for GIF and WebP only; an unreadable file keeps the
    kind its extension gives (its decode then fails with the reason). Call it for new and changed
    files, not on every scan of unchanged ones.
    """
    kind = kind_of(path)
    if kind is Kind.PHOTO and os.path.splitext(os.fspath(path))[1].lower() in ANIMATED_EXTS:
        try:
            if is_animated(path):
                return Kind.VIDEO
        except OSError:
            pass
    return kind


def is_animated(path: str | Path) -> bool:
    """True for a GIF with two image frames or more, or an animated WebP with two ANMF frames or more,
    whose canvas is at most :data:`ANIMATED_MAX_PIXELS`.

    Raises OSError when the file cannot be read.
    """
    with open(path, "rb", buffering=1 << 16) as f:
        head = f.read(30)
        if head[:3] == b"GIF" and len(head) >= 10:
            w, h = int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
            if w * h > ANIMATED_MAX_PIXELS:
                return False
            f.seek(0)
            return _gif_has_two_frames(f)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            if head[12:16] == b"VP8X" and len(head) >= 30:  # canvas size: 24-bit width-1, height-1
                w, h = int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
                if w * h > ANIMATED_MAX_PIXELS:
                    return False
            f.seek(12)
            return _webp_has_two_frames(f)
    return False


def _skip_sub_blocks(f: BinaryIO) -> bool:
    """Skip GIF data sub-blocks up to their terminator; False at a truncated end."""
    while True:
        n = f.read(1)
        if not n:
            return False
        if n[0] == 0:
            return True
        f.seek(n[0], 1)


def _gif_has_two_frames(f: BinaryIO) -> bool:
    head = f.read(13)  # signature, version, logical screen descriptor
    if len(head) < 13:
        return False
    if head[10] & 0x80:  # global colour table
        f.seek(3 << ((head[10] & 7) + 1), 1)
    frames = 0
    while True:
        block = f.read(1)
        if block == b",":  # image descriptor
            frames += 1
            if frames >= 2:
                return True
            desc = f.read(9)
            if len(desc) < 9:
                return False
            if desc[8] & 0x80:  # local colour table
                f.seek(3 << ((desc[8] & 7) + 1), 1)
            f.seek(1, 1)  # LZW minimum code size
            if not _skip_sub_blocks(f):
                return False
        elif block == b"!":  # extension: label, then sub-blocks
            f.seek(1, 1)
            if not _skip_sub_blocks(f):
                return False
        else:  # trailer, end of file or garbage
            return False


def _webp_has_two_frames(f: BinaryIO) -> bool:
    frames = 0
    while True:
        chunk = f.read(8)
        if len(chunk) < 8:
            return False
        size = int.from_bytes(chunk[4:8], "little")
        if chunk[:4] == b"ANMF":
            frames += 1
            if frames >= 2:
                return True
        elif chunk[:4] in (b"VP8 ", b"VP8L"):  # a still image's bitstream: no animation
            return False
        f.seek(size + (size & 1), 1)


def kind_of(path: str | Path) -> Kind | None:
    """The kind a file is indexed as, from its extension; None for files Lookalike ignores."""
    # os.path, not Path: this runs once per directory entry of every scan.
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext in PHOTO_EXTS:
        return Kind.PHOTO
    if ext in VIDEO_EXTS:
        return Kind.VIDEO
    if ext in SOUND_EXTS:
        return Kind.SOUND
    return None


@functools.lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or "(?!)")


def is_excluded(name: str, patterns: list[str]) -> bool:
    """True if a file or folder name matches one of the exclusion glob patterns (case-sensitive)."""
    # One compiled regex for all patterns: this runs once per directory entry of every scan.
    return _compiled(tuple(patterns)).match(name) is not None
