"""What a decode job hands to the encoder thread for one file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.core.progress import CancelFn
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library


@dataclass
class Prepared:
    """What a decode job hands to the encoder thread for one file."""

    row: cat.FileRow
    digest: str | None = None
    error: str | None = None
    #: (seq, t, pixels, vector kind) for the image-text encoder: pixels preprocessed by the decode pool
    #: (``ImageTextEncoder.preprocess``), one (3, size, size) array per vector, kept as float16 while it
    #: waits (half the memory of a clip's moments; 1e-3 error, far below the 8-bit source's).
    images: list[tuple[int, float, Any, int]] = field(default_factory=list)
    #: Extra work for the sound/video pipelines (set by their preparers), run on the encoder thread.
    extra: Any = None
    duration: float | None = None


Preparer = Callable[["Library", cat.FileRow, CancelFn], Prepared]
