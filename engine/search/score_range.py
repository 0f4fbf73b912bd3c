"""Per-model text→image score ranges: what a cosine between a text query and a photo means.

``engine/data/score_ranges.toml`` holds, per image-text model, the range that maps a cosine to a [0, 1]
match (``low``: almost surely no match, ``high``: almost surely a match; used to merge photos with sounds
and for the tiles' percentages, engine.search.results.match_from_cosine) and a ``floor`` below which a
text→image hit is never called good, whatever the per-query cutoff says (engine.search.cutoff judges
each query against its own scores; the floor guards it where a library's scores are heavy-tailed).

``bench/fit_score_range.py`` fits them from labelled photos (the captioned scikit-image photos and the
COCO-128 class queries) when real weights are present: a logistic fit of P(match | cosine), with
``low``/``high`` where it crosses 0.05 / 0.95 and ``floor`` where it crosses 0.5. Until a model has a
fitted entry the ``default`` one applies: the guess of 0.10–0.35 from the ranges published for
CLIP-like models, and no floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tomllib

RANGES_FILE = Path(__file__).resolve().parents[1] / "data" / "score_ranges.toml"
#: What applies when the file is missing or has no entry (the guess the engine always had).
GUESS_LOW, GUESS_HIGH = 0.10, 0.35


@dataclass(frozen=True)
class ScoreRange:
    low: float
    high: float
    #: Text→image hits below this cosine are never good (None: no floor).
    floor: float | None = None
    #: "fitted <date> on <data>" or "guess …": where the numbers come from.
    source: str = "guess"


@lru_cache(maxsize=1)
def _table() -> dict[str, ScoreRange]:
    try:
        raw = tomllib.loads(RANGES_FILE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    out = {}
    for model_id, row in (raw.get("text_image") or {}).items():
        try:
            low, high = float(row["low"]), float(row["high"])
        except (KeyError, TypeError, ValueError):
            continue
        if not high > low:
            continue  # a broken entry must not divide by zero in the mapping
        floor = row.get("floor")
        out[model_id] = ScoreRange(
            low, high, float(floor) if floor is not None else None, str(row.get("source", ""))
        )
    return out


def text_image_range(model_id: str | None = None) -> ScoreRange:
    """The fitted range of ``model_id``, else the file's ``default`` entry, else the built-in guess."""
    table = _table()
    if model_id and model_id in table:
        return table[model_id]
    return table.get("default") or ScoreRange(GUESS_LOW, GUESS_HIGH, None, "guess (built in)")


def reload() -> None:
    """Forget the cached table (after bench/fit_score_range.py rewrote it, or in tests)."""
    _table.cache_clear()
