"""Which files Lookalike indexes, and as what kind."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from enum import Enum
from pathlib import Path


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
