"""The score floor: when nothing is a good match, say so instead of showing a screen of noise.

Scores are cosine similarities for photos, video moments and sound-to-sound, and AudioSet tag weights
in [0, 1] for text-to-sound. Below its floor a result is "weak": it is kept, but hidden behind a
"show closest anyway" button. The floors are per query mode and kind, because a text-to-image cosine
of 0.25 is a good CLIP-style match while an image-to-image cosine of 0.25 is unrelated.

The values are provisional (documented in docs/app.md): set from the usual ranges of CLIP-family
models until the photo and sound benchmarks with real weights calibrate them. With random-weight
test models scores mean nothing, and the floor is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEXT = "text"
EXAMPLE = "example"

#: Minimum score of a "good" match, by query mode and result kind.
FLOORS: dict[str, dict[str, float]] = {
    TEXT: {"photo": 0.20, "video": 0.20, "sound": 0.15},
    EXAMPLE: {"photo": 0.55, "video": 0.55, "sound": 0.50},
}


def floor_for(mode: str, kind: str) -> float:
    return FLOORS.get(mode, {}).get(kind, 0.0)


def split_by_floor(results: Sequence[Any], mode: str, *, enabled: bool = True) -> tuple[list[Any], list[Any]]:
    """(good, weak): results at or above their floor, and the rest, each in the given order."""
    if not enabled:
        return list(results), []
    good: list[Any] = []
    weak: list[Any] = []
    for r in results:
        (good if r.score >= floor_for(mode, r.kind) else weak).append(r)
    return good, weak
