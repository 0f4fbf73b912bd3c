"""A search result, and the helpers every retriever shares to build one."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.search.score_range import text_image_range

if TYPE_CHECKING:
    from engine.library import Library


@dataclass
class Reason:
    """Why a result matched, as one retriever saw it (engine.search.retrievers).

    ``detail`` says what matched: ``{"name": "receipt", "where": "file"}`` or ``{"folder": "2019 Porto
    trip", "where": "folder"}`` (names), ``{"text": "OPEN 24 HOURS", "box": [[x, y], ...]}`` (words read
    in a picture: the box's corners in the pixels of the picture as shown, EXIF rotation applied, with
    ``"image_size": [w, h]`` of those pixels when the picture is not a photo file the app can measure;
    the app's preview outlines it), ``{"tags": ["Bark", "Dog"]}`` (sounds), ``{"z": 2.1}`` for a vector
    match (how far above the query's usual score; ``"query"``, the words searched for, on "visual"
    reasons). A ``"label"`` key overrides the short form.
    """

    #: The retriever's name: "names", "text", "visual", "sounds", "similar", …
    retriever: str
    #: The retriever's own score (cosine, tag score, text-match strength; each on its own scale).
    score: float
    detail: dict[str, Any] = field(default_factory=dict)
    #: 1-based place of the file in that retriever's list (filled by the ranking step).
    rank: int = 0
    #: The retriever counts it a good match (exact text; a score above the query's cutoff).
    good: bool = False

    def short(self) -> str:
        """A few plain words for a tile or a CLI column: 'file name contains “receipt”', 'folder “2019 Porto
        trip”', 'words in the picture: “OPEN 24 HOURS”', 'looks like “red car”'; a picture match the
        cutoff did not call good says 'closest, but not a good match' (its numbers: :meth:`numbers`)."""
        d = self.detail
        if d.get("label"):
            return str(d["label"])
        if self.retriever == "names":
            if d.get("where") == "folder":
                return f"folder {_quoted(d.get('folder', ''))}"
            return f"file name contains {_quoted(d.get('name', ''))}"
        if self.retriever == "text":
            return f"words in the picture: {_quoted(d.get('text', ''))}"
        if self.retriever == "sounds":
            tags = d.get("tags") or []
            return f"sounds like: {tags[0]}" if tags else "sounds like what you searched"
        if self.retriever in ("visual", "similar"):
            return f"looks like {self._looks_like()}" if self.good else WEAK_REASON
        if d.get("said"):
            said = str(d["said"])
            return f"said: {_quoted(said if len(said) <= 60 else said[:59].rstrip() + '…')}"
        return self.retriever

    def describe(self) -> str:
        """One line of the preview's "Why": :meth:`short`, with how strong a picture or sound match is
        ('looks like “red car” (strong match)', 'sounds like: Rain (0.62)')."""
        if self.detail.get("label"):
            return self.short()
        if self.retriever in ("visual", "similar"):
            if self.good:
                return f"looks like {self._looks_like()} (strong match)"
            return f"looks a little like {self._looks_like()} (weak match)"
        if self.retriever == "sounds" and self.detail.get("tags"):
            return f"{self.short()} ({self.score:.2f})"
        return self.short()

    def numbers(self) -> str:
        """The finder's own numbers, for a tooltip: 'visual finder, #2 of its list: cosine 0.128, 1.5σ
        above this search's usual score, not a good match on its own'."""
        measure = _MEASURES.get(self.retriever, "score")
        place = f", #{self.rank} of its list" if self.rank else ""
        line = f"{self.retriever} finder{place}: {measure} {self.score:.3f}"
        z = self.detail.get("z")
        if z is not None:
            line += f", {z:+.1f}σ {'above' if z >= 0 else 'below'} this search's usual score"
        return line + ("" if self.good else ", not a good match on its own")

    def _looks_like(self) -> str:
        if self.retriever == "similar":
            return "the example"
        query = self.detail.get("query")
        return _quoted(str(query)) if query else "what you searched"


#: What a weak picture match says on its tile and in the CLI: it is only among the closest.
WEAK_REASON = "closest, but not a good match"
#: What each finder's score is, for :meth:`Reason.numbers`.
_MEASURES = {"visual": "cosine", "similar": "cosine", "said-meaning": "cosine", "sounds": "tag score"}


def _quoted(text: str) -> str:
    return f"“{text}”"


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
    #: Why it matched: one reason per retriever that found it, the strongest first.
    reasons: list[Reason] = field(default_factory=list)
    #: True: a good match; False: only among the closest (nothing better was found); None: not judged
    #: (results made outside the ranking step, e.g. by tests or older callers).
    good: bool | None = None
    #: Near-duplicates and burst shots folded under this one (engine.search.stacks), best first.
    stack: list[Result] = field(default_factory=list)
    #: When it was taken or recorded, as the wall clock where it was (ISO, "2023-07-14T18:02:11"), from
    #: the metadata analyzer; None when not known (yet). ``taken_from`` says where that came from:
    #: "exif", "container" (a video's creation time), "tags" (a sound's) or "mtime" (the file's date:
    #: nothing was recorded, so it is no capture date). Filled by :func:`add_capture_times`.
    taken: str | None = None
    taken_from: str | None = None

    @property
    def capture_time(self) -> str | None:
        """``taken`` when it is a real capture or recording time (not the file's modification time)."""
        return self.taken if self.taken and self.taken_from not in (None, "mtime") else None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def reason(self) -> str:
        """The short form of the strongest reason ('file name contains “receipt”'); "" when there is none."""
        return self.reasons[0].short() if self.reasons else ""

    def to_json(self) -> dict:
        d = asdict(self)
        d["moments"] = [{"t": t, "score": s} for t, s in self.moments]
        d["reason"] = self.reason
        d["stack"] = [r.to_json() for r in self.stack]
        return d


def add_capture_times(lib: Library, results: list[Result]) -> list[Result]:
    """Fill ``taken`` / ``taken_from`` of ``results`` (and of the results stacked under them) from the
    metadata table, in one query; files it has not read yet keep None. Returns ``results``."""
    from engine.storage import metadata as sm

    everything = [*results, *(s for r in results for s in r.stack)]
    rows = sm.get_many(lib.catalog, [r.file_id for r in everything if r.taken is None])
    for r in everything:
        row = rows.get(r.file_id)
        if row is not None and row.local:
            r.taken, r.taken_from = row.local, row.time_source
    return results


#: Text→image cosines of UForm-class models: below LOW is no match, above HIGH a sure one. Per model in
#: engine/data/score_ranges.toml (engine.search.score_range), fitted by bench/fit_score_range.py on
#: labelled photos when real weights are present; the ``default`` entry (the guess 0.10–0.35 from the
#: ranges published for CLIP-like models, until a fit replaces it) when no model is named.
TEXT_IMAGE_LOW, TEXT_IMAGE_HIGH = text_image_range().low, text_image_range().high


def match_from_cosine(score: float, model_id: str | None = None) -> float:
    """A text→image cosine mapped to [0, 1], comparable with the sound scores of engine.search.sound_tags,
    by ``model_id``'s fitted range (the default range when it has none or none is named)."""
    r = text_image_range(model_id)
    return min(1.0, max(0.0, (score - r.low) / (r.high - r.low)))


def in_folder(path: str, folder: str | None) -> bool:
    if not folder:
        return True
    prefix = str(Path(folder).expanduser().resolve()).rstrip(os.sep) + os.sep
    return path.startswith(prefix)
