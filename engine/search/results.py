"""A search result, and the helpers every retriever shares to build one."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Result:
    file_id: int
    path: str
    kind: str
    score: float
    #: Seconds into the file of the best moment (video frames, sound segments); None for photos.
    t: float | None = None
    #: Other good moments of the same file as (t, score), best first.
    moments: list[tuple[float, float]] = field(default_factory=list)
    size: int = 0
    mtime: float = 0.0
    duration: float | None = None
    #: ``score`` mapped to [0, 1] so that photos, video moments and sounds can share one ranked list
    #: (see :func:`match_from_cosine` and engine.search.sound_tags).
    match: float = 0.0

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def to_json(self) -> dict:
        d = asdict(self)
        d["moments"] = [{"t": t, "score": s} for t, s in self.moments]
        return d


#: Text→image cosines of UForm-class models: below LOW is no match, above HIGH a sure one. Set from the
#: ranges published for CLIP-like models (good caption matches 0.25–0.35), not fitted on our data: no
#: real UForm weights exist where this was written. Refit with labelled data when they do.
TEXT_IMAGE_LOW, TEXT_IMAGE_HIGH = 0.10, 0.35


def match_from_cosine(score: float) -> float:
    """A text→image cosine mapped to [0, 1], comparable with the sound scores of engine.search.sound_tags."""
    return min(1.0, max(0.0, (score - TEXT_IMAGE_LOW) / (TEXT_IMAGE_HIGH - TEXT_IMAGE_LOW)))


def in_folder(path: str, folder: str | None) -> bool:
    if not folder:
        return True
    prefix = str(Path(folder).expanduser().resolve()).rstrip(os.sep) + os.sep
    return path.startswith(prefix)
