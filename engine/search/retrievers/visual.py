"""Vector retrievers: words → photos and video moments (the image-text space), and the shared vector
search that find-similar uses too. Good matches are the ones the adaptive cutoff keeps
(engine.search.cutoff)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.core.vectors import KIND_FRAME, KIND_PHOTO, KIND_SOUND, KIND_SOUND_SEGMENT, KIND_SOUNDTRACK
from engine.media.kinds import Kind
from engine.search import cutoff
from engine.search.results import in_folder
from engine.search.retrievers.base import Candidate, Reason, Retriever
from engine.search.score_range import text_image_range
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery

_VECTOR_KINDS = {
    Kind.PHOTO.value: [KIND_PHOTO],
    Kind.VIDEO.value: [KIND_FRAME, KIND_SOUNDTRACK],
    Kind.SOUND.value: [KIND_SOUND],
}
#: Above this many allowed files the filter is applied after the store answers (a huge ``file_id in``
#: expression costs more than over-fetching).
_MAX_ID_FILTER = 20_000


def file_kinds_of(lib: Library, collection: str) -> tuple[str, ...]:
    """The catalog kinds whose vectors live in ``collection``."""
    if collection == lib.audio_collection:
        return (Kind.SOUND.value, Kind.VIDEO.value)
    return (Kind.PHOTO.value, Kind.VIDEO.value)


def vector_candidates(
    lib: Library,
    collection: str,
    query: np.ndarray,
    *,
    limit: int,
    kinds: Sequence[str] | None,
    folder: str | None,
    retriever: str,
    allowed: Collection[int] | None = None,
    exclude_path: str | None = None,
) -> list[Candidate]:
    """The ``limit`` files nearest to ``query`` in ``collection`` (best vector per file, and for videos
    and long sounds their best moments), judged by the adaptive cutoff. Raises StoreError."""
    store = lib.store
    if not store.has_collection(collection):
        return []
    vector_kinds = None
    if kinds:
        vector_kinds = [k for kind in kinds for k in _VECTOR_KINDS.get(kind, [])]
        if not vector_kinds:
            return []
    ids_filter = sorted(allowed) if allowed is not None and len(allowed) <= _MAX_ID_FILTER else None
    if ids_filter is not None and not ids_filter:
        return []
    post_filter = folder is not None or (allowed is not None and ids_filter is None)
    # Over-fetch: the folder filter and the excluded example are applied after the store answers.
    fetch = limit + (1 if exclude_path else 0)
    out: list[Candidate] = []
    for factor in (1, 4, 16):
        n = min(fetch * factor if post_filter else fetch, 16_384)
        best = store.search(
            collection, query[None, :], n, kinds=vector_kinds, file_ids=ids_filter, group_by_file=True
        )[0]
        rows = lib.catalog.get_many(h.file_id for h in best)
        out = []
        for h in best:
            row = rows.get(h.file_id)
            # Rows mid-reindex or removed are skipped: the catalog, not the store, says what exists.
            if row is None or row.state != cat.INDEXED or not in_folder(row.path, folder):
                continue
            if (exclude_path is not None and row.path == exclude_path) or (
                allowed is not None and row.id not in allowed
            ):
                continue
            # Photos have no moments; whole-file vectors (t < 0) stand for no moment either.
            t = h.t if row.kind != Kind.PHOTO.value and h.t >= 0 else None
            score = float(h.score)
            out.append(Candidate(row.id, score, t, [], [Reason(retriever, score)]))
            if len(out) >= limit:
                break
        if len(out) >= limit or len(best) < n or not post_filter or n >= 16_384:
            break
    kinds_of = {r.id: r.kind for r in rows.values()}
    _add_moments(lib, collection, query, out, kinds_of)
    judge(lib, collection, query, out, kinds)
    return out


def _add_moments(
    lib: Library, collection: str, query: np.ndarray, found: list[Candidate], kinds_of: dict[int, str]
) -> None:
    """Fill in the best and runner-up moments of video and long-sound candidates (one extra search
    over their moment vectors only). A file matched by its whole-file vector gets its best moment."""
    timed = [c for c in found if kinds_of.get(c.file_id) != Kind.PHOTO.value]
    if not timed:
        return
    hits = lib.store.search(
        collection,
        query[None, :],
        min(len(timed) * 8, 16_384),
        file_ids=[c.file_id for c in timed],
        kinds=[KIND_FRAME, KIND_SOUND_SEGMENT],
    )[0]
    by_file: dict[int, list[tuple[float, float]]] = {}
    for h in hits:
        by_file.setdefault(h.file_id, []).append((h.t, float(h.score)))
    for c in timed:
        moments = by_file.get(c.file_id, [])
        if c.t is None and moments:
            c.t = moments[0][0]
        c.moments = [(t, s) for t, s in moments if abs(t - (c.t or 0.0)) > 1e-3][:5]


def judge(
    lib: Library, collection: str, query: np.ndarray, found: list[Candidate], kinds: Sequence[str] | None
) -> None:
    """Mark the good candidates (engine.search.cutoff) and note each one's z against the query's bulk."""
    if not found:
        return
    file_kinds = file_kinds_of(lib, collection)
    sample = cutoff.library_sample(lib, collection, file_kinds)
    wanted = [k for k in (kinds or file_kinds) if k in file_kinds] or list(file_kinds)
    scores = sample.best_per_file(query, wanted)
    sampled = len(np.unique(sample.file_ids)) or 1
    share = len(scores) / sampled
    null = cutoff.fit_null(scores, round(sample.n_files * share))
    n_good = cutoff.good_count([c.score for c in found], null)
    for i, c in enumerate(found):
        c.good = i < n_good
        for r in c.reasons:
            r.good = c.good
            if null is not None:
                r.detail["z"] = round(null.z(c.score), 2)


class VisualRetriever(Retriever):
    """Words → photos and video moments through the image-text model (UForm)."""

    name = "visual"
    group = "visual"
    kinds = frozenset({Kind.PHOTO.value, Kind.VIDEO.value})

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        if not query.text:
            return []
        vec = lib.image_text_encoder().encode_texts([query.text])[0]  # ModelMissingError goes up
        visual_kinds = [k for k in (kinds or []) if k in self.kinds] or None
        found = vector_candidates(
            lib,
            lib.image_collection,
            vec,
            limit=limit,
            kinds=visual_kinds,
            folder=folder,
            retriever=self.name,
            allowed=query.allowed,
        )
        # A fitted floor (engine/data/score_ranges.toml, from labelled photos) overrules the per-query
        # cutoff below it: no text→image hit that weak is good, however the library's scores are spread.
        floor = text_image_range(lib.settings.image_text_model).floor
        for c in found:
            if floor is not None and c.good and c.score < floor:
                c.good = False
                for r in c.reasons:
                    r.good = False
            for r in c.reasons:
                r.detail["query"] = query.text  # so the reason can say 'looks like “red car”'
        return found
