"""One ranking: every retriever that applies runs, and one fusion step merges their lists.

Fusion is weighted reciprocal-rank fusion (Cormack, Clarke & Büttcher 2009): a file's fused score is

    Σ over the retrievers that found it of  weight_r / (K + rank_r),     K = 60

Why ranks and not scores: the retrievers' scores live on unrelated scales (a UForm cosine of 0.3 is
excellent, a MiniLM one poor; a tag score is a probability; a name match is a share of words), and
calibrating them onto one scale needs labelled queries with real weights, which this project does not
have. RRF needs no calibration, rewards files that several retrievers agree on, and costs a dict update
per candidate (bench/bench_fusion.py: well under a millisecond for 4 × 500 candidates).

Ranks alone would let the best of a vague visual list tie with an exact name match, so fusion is
tiered by the retrievers' own verdicts: **good** matches (an exact word in a name or read in a picture;
a vector score above the query's adaptive cutoff, engine.search.cutoff; a sure sound tag) come first,
ordered by fused score; then, marked not good, at most a few of the **closest** others (all of the
closest when nothing is good, up to :data:`CLOSEST_IF_NONE`). So a photo with the typed word on it or
in its name always beats one that only looks vaguely similar, and a query that matches nothing says
so instead of filling a page.

``-word`` exclusions drop every file a lexical retriever (names, words in pictures) finds the word in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.errors import LookalikeError, ModelMissingError
from engine.search import query as query_mod
from engine.search.query import ParsedQuery, parse_query
from engine.search.results import Reason, Result, add_capture_times, match_from_cosine
from engine.search.retrievers.base import Candidate, Retriever

if TYPE_CHECKING:
    from engine.library import Library

log = logging.getLogger(__name__)

#: RRF's constant: large enough that rank 1 and rank 2 of one list differ by little (the fusion is
#: about agreement), the value the RRF paper and Elasticsearch/Weaviate use.
K = 60
#: Closest results shown when nothing is good ("No good matches for …", then these).
CLOSEST_IF_NONE = 12
#: Closest results kept after the good ones (the app hides them behind "show N weaker").
CLOSEST_AFTER_GOOD = 5


@dataclass
class _Fused:
    file_id: int
    score: float = 0.0
    good: bool = False
    parts: list[tuple[float, Candidate, Reason]] = field(default_factory=list)


def fuse(lists: Sequence[tuple[Retriever, list[Candidate]]]) -> list[_Fused]:
    """Weighted RRF over ``lists`` (retriever, candidates best first), good first; each reason gets
    its rank. Pure: no library needed."""
    fused: dict[int, _Fused] = {}
    for retriever, candidates in lists:
        for rank, c in enumerate(candidates, start=1):
            part = retriever.weight / (K + rank)
            f = fused.setdefault(c.file_id, _Fused(c.file_id))
            f.score += part
            f.good = f.good or c.good
            for reason in c.reasons or [Reason(retriever.name, c.score)]:
                reason.rank = rank
                reason.good = reason.good or c.good
                f.parts.append((part, c, reason))
    for f in fused.values():
        f.parts.sort(key=lambda p: (not p[2].good, -p[0]))
    return sorted(fused.values(), key=lambda f: (not f.good, -f.score, f.file_id))


def cut(fused: list[_Fused], limit: int, closest: int | None = None) -> list[_Fused]:
    """The good ones (up to ``limit``), then a few closest (``closest``, default: see the module
    docstring), never more than ``limit`` in all."""
    good = [f for f in fused if f.good][:limit]
    extra = closest if closest is not None else CLOSEST_AFTER_GOOD if good else CLOSEST_IF_NONE
    rest = [f for f in fused if not f.good][: max(0, min(extra, limit - len(good)))]
    return good + rest


def _match(reason: Reason, candidate: Candidate, model_id: str | None = None) -> float:
    """A result's [0, 1] match for the tiles: what the strongest retriever's score means on that scale
    (a cosine by the image-text model ``model_id``'s fitted range)."""
    if reason.retriever in ("visual", "similar"):
        return match_from_cosine(candidate.score, model_id)
    return max(0.0, min(1.0, candidate.score))


def _allowed(lib: Library, q: ParsedQuery) -> set[int] | None:
    allowed: set[int] | None = None
    for f in list(query_mod.FILTERS):
        try:
            ids = f(lib, q)
        except Exception:  # a filter's bug costs its filtering, never the search
            log.exception("query filter %r failed", f)
            continue
        if ids is not None:
            allowed = set(ids) if allowed is None else allowed & set(ids)
    return allowed


def applicable(
    retrievers: Sequence[Retriever], kinds: Sequence[str] | None, only: Sequence[str] | None
) -> list[Retriever]:
    """The retrievers to run for these kinds and ``--only`` groups."""
    out = []
    for r in retrievers:
        if only and r.group not in only and r.name not in only and not r.aliases & set(only):
            continue
        if kinds and not set(kinds) & r.kinds:
            continue
        out.append(r)
    return out


def search(
    lib: Library,
    text: str | ParsedQuery,
    *,
    limit: int = 20,
    kinds: Sequence[str] | None = None,
    folder: str | None = None,
    only: Sequence[str] | None = None,
    closest: int | None = None,
    retrievers: Sequence[Retriever] | None = None,
) -> list[Result]:
    """The one ranked list for a typed query: good matches first, then at most a few closest, each
    with ``good`` set and its ``reasons`` (one per retriever that found it, strongest first).

    ``only`` restricts to retriever groups ("text", "visual", "names", "sounds"); ``closest`` sets how
    many not-good results may follow the good ones (default: a few). Raises
    ModelMissingError when a retriever's model is missing and nothing else was found.
    """
    if retrievers is None:
        from engine.search.retrievers import RETRIEVERS

        retrievers = RETRIEVERS
    q = text if isinstance(text, ParsedQuery) else parse_query(text, lib)
    if q.empty:
        return []
    q.allowed = _allowed(lib, q)
    wanted = q.filters.get("kinds")
    if wanted:
        kinds = [k for k in wanted if not kinds or k in kinds] or list(kinds or [])
    folder = folder or q.filters.get("folder")
    if only:
        known = {r.group for r in retrievers} | {r.name for r in retrievers}
        known |= {a for r in retrievers for a in r.aliases}
        unknown = sorted(set(only) - known)
        if unknown:
            raise LookalikeError(
                f"No finder called {', '.join(unknown)}; there are: {', '.join(sorted(known))}"
            )
    # Each retriever is asked for ``limit``: deeper lists would only add files ranked below the limit
    # by every retriever, and over 100k vectors (Milvus Lite) each extra hit costs search time.
    depth = limit
    lists: list[tuple[Retriever, list[Candidate]]] = []
    missing: ModelMissingError | None = None
    chosen = applicable(retrievers, kinds, only)
    for r in chosen:
        try:
            lists.append((r, r.retrieve(lib, q, limit=depth, kinds=kinds, folder=folder)))
        except ModelMissingError as exc:
            missing = missing or exc
    fused = fuse(lists)
    if q.excluded and fused:
        ids = [f.file_id for f in fused]
        drop: set[int] = set()
        for r in retrievers:
            if r.lexical:
                drop |= r.having(lib, q.excluded, ids)
        fused = [f for f in fused if f.file_id not in drop]
    if missing is not None and not fused:
        raise missing
    return to_results(lib, cut(fused, limit, closest))


def to_results(lib: Library, fused: list[_Fused]) -> list[Result]:
    """Results for fused candidates (files the catalog no longer has are left out)."""
    rows = lib.catalog.get_many(f.file_id for f in fused)
    out: list[Result] = []
    for f in fused:
        row = rows.get(f.file_id)
        if row is None:
            continue
        timed = next((c for _, c, _ in f.parts if c.t is not None), None)
        out.append(
            Result(
                row.id,
                row.path,
                row.kind,
                round(f.score, 6),
                timed.t if timed else None,
                list(timed.moments) if timed else [],
                row.size,
                row.mtime,
                row.duration,
                max(_match(r, c, lib.settings.image_text_model) for _, c, r in f.parts),
                [r for _, _, r in f.parts],
                f.good,
            )
        )
    return add_capture_times(lib, out)
