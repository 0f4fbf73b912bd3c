"""Synthetic photos for tests: the makers live in :mod:`testkit.media`, shared with the benchmarks.

Tests import them from here (as they always have); benchmarks import :mod:`testkit.media` directly,
since they must not import from tests/.
"""

from testkit.media import make_library, make_photo, recompressed_copy, save_photo

__all__ = ["make_library", "make_photo", "recompressed_copy", "save_photo"]
