"""Good matches and the closest: when nothing is a good match, say so instead of showing a screen of noise.

The engine judges its results itself (``Result.good``, from the query's own score distribution and
exact words; see engine/search/cutoff.py and ranking.py): that verdict is used whenever a result has
one. The floors below judge results that come without it.

Text queries are ranked by the engine's ``Result.match``, a number in [0, 1] that puts photos, video
moments (their text→image cosine, mapped by ``engine.search.api.match_from_cosine``) and sounds (their
AudioSet tag score, ``engine.search.sound_tags``) on one scale. Find-similar results carry a cosine
similarity between the example and the item, whose meaning depends on the kind (image vectors for
photos and video moments, PANNs vectors for sounds).

A result below its floor is "weak": it is kept, but hidden behind a "show closest anyway" button, and
when every result is weak the window says there is no good match. The floors are provisional
(documented in docs/app.md): set from the published ranges of CLIP-like and PANNs models, not yet
fitted on labelled data, because no real UForm or PANNs weights were available where this was
written. With random-weight test models scores mean nothing, and the floor is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TEXT = "text"
EXAMPLE = "example"

#: Text queries: minimum ``match``. 0.25 is a text→image cosine of about 0.16 (unrelated pictures
#: score 0.10–0.18 with CLIP-like models, good captions 0.25–0.35), or a sound PANNs gives a one-in-four
#: chance of containing what the words name.
TEXT_MATCH_FLOOR = 0.25
#: Find-similar: minimum cosine by kind (unrelated photos sit around 0.4–0.5 in CLIP-like spaces).
EXAMPLE_FLOORS: dict[str, float] = {"photo": 0.55, "video": 0.55, "sound": 0.50}


def ranking_value(r: Any, mode: str) -> float:
    """The number results are ranked and judged by: ``match`` for text, the cosine for find-similar."""
    return float(getattr(r, "match", r.score)) if mode == TEXT else float(r.score)


def is_good(r: Any, mode: str) -> bool:
    """The engine's verdict when it gave one (``Result.good``: its adaptive cutoff, exact words in a
    name or a picture), else the floor below."""
    verdict = getattr(r, "good", None)
    if verdict is not None:
        return bool(verdict)
    if mode == TEXT:
        return ranking_value(r, mode) >= TEXT_MATCH_FLOOR
    return r.score >= EXAMPLE_FLOORS.get(r.kind, 0.0)


def split_by_floor(results: Sequence[Any], mode: str, *, enabled: bool = True) -> tuple[list[Any], list[Any]]:
    """(good, weak): results at or above their floor, and the rest, each in the engine's order."""
    if not enabled:
        return list(results), []
    good: list[Any] = []
    weak: list[Any] = []
    for r in results:
        (good if is_good(r, mode) else weak).append(r)
    return good, weak


def score_label(r: Any, mode: str) -> str:
    """What a tile shows: the match as a percentage for text, the similarity for find-similar."""
    if mode == TEXT:
        return f"{round(100 * ranking_value(r, mode))}%"
    return f"{r.score:.2f}"


#: The finders whose reason score is a model's number, and what to call it.
_RAW = {"visual": "cosine", "similar": "cosine", "sounds": "tag score"}


def score_details(r: Any, mode: str) -> str:
    """The preview's longer form, with the raw score beside the ranking value."""
    if mode == TEXT:
        reasons = getattr(r, "reasons", None) or []
        if not reasons:  # a result made outside the ranking: its score is the model's own
            raw = "tag score" if r.kind == "sound" else "cosine"
            return f"{score_label(r, mode)} match ({raw} {r.score:.3f})"
        # A ranked result's score is the fusion's; the raw number is the strongest finder's own, and
        # only where it is a model's (a date, a name or a camera has none worth showing).
        top = reasons[0]
        name = _RAW.get(top.retriever)
        return f"{score_label(r, mode)} match" + (f" ({name} {top.score:.3f})" if name else "")
    return f"similarity {r.score:.3f}"
