"""Search: text → photos and video moments (and sounds, through their tags), and find-similar by example.

Results come back one per file, best first, with the file's path and kind, the score (cosine
similarity for photos and frames) and, for video, the best moment and the runner-up moments.
The example for find-similar may be any file, inside the library or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.core.vectors import KIND_FRAME, KIND_PHOTO, KIND_SOUND, KIND_SOUND_SEGMENT, KIND_SOUNDTRACK
from engine.errors import ModelMissingError
from engine.media.kinds import Kind
from engine.search.examples import encode_example
from engine.search.results import Result, in_folder, match_from_cosine
from engine.search.sounds import search_sounds_by_text
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library
    from engine.storage.store import Hit

_VECTOR_KINDS = {
    Kind.PHOTO.value: [KIND_PHOTO],
    Kind.VIDEO.value: [KIND_FRAME, KIND_SOUNDTRACK],
    Kind.SOUND.value: [KIND_SOUND],
}


def _results_from_hits(
    lib: Library,
    hits: Sequence[Hit],
    *,
    limit: int,
    folder: str | None,
    exclude_path: str | None = None,
) -> list[Result]:
    rows = lib.catalog.get_many(h.file_id for h in hits)
    out: dict[int, Result] = {}
    for h in hits:
        row = rows.get(h.file_id)
        # Rows mid-reindex or removed are skipped: the catalog, not the store, says what exists.
        if row is None or row.state != cat.INDEXED or not in_folder(row.path, folder):
            continue
        if exclude_path is not None and row.path == exclude_path:
            continue
        res = out.get(row.id)
        # Photos have no moments; whole-file vectors (t < 0) stand for no moment either.
        t = h.t if row.kind != Kind.PHOTO.value and h.t >= 0 else None
        if res is None:
            if len(out) >= limit:
                continue
            out[row.id] = Result(
                row.id,
                row.path,
                row.kind,
                float(h.score),
                t,
                [],
                row.size,
                row.mtime,
                row.duration,
                match_from_cosine(float(h.score)),
            )
        elif t is not None and len(res.moments) < 5:
            res.moments.append((t, float(h.score)))
    return sorted(out.values(), key=lambda r: -r.score)


def _search_space(
    lib: Library,
    collection: str,
    query: np.ndarray,
    *,
    limit: int,
    kinds: Sequence[str] | None,
    folder: str | None,
    exclude_path: str | None = None,
) -> list[Result]:
    store = lib.store
    if not store.has_collection(collection):
        return []
    vector_kinds = None
    if kinds:
        vector_kinds = [k for kind in kinds for k in _VECTOR_KINDS.get(kind, [])]
        if not vector_kinds:
            return []
    # Over-fetch: the folder filter and the excluded example are applied after the store answers.
    fetch = limit + (1 if exclude_path else 0)
    for factor in (1, 4, 16):
        n = fetch * factor if folder else fetch
        best = store.search(collection, query[None, :], n, kinds=vector_kinds, group_by_file=True)[0]
        results = _results_from_hits(lib, best, limit=limit, folder=folder, exclude_path=exclude_path)
        if len(results) >= limit or len(best) < n or not folder:
            break
    _add_moments(lib, collection, query, results)
    return results


def _add_moments(lib: Library, collection: str, query: np.ndarray, results: list[Result]) -> None:
    """Fill in the best and runner-up moments of video and long-sound results (one extra search over
    their moment vectors only). A file matched by its whole-file vector gets its best moment as ``t``."""

    timed = [r for r in results if r.kind != Kind.PHOTO.value]
    if not timed:
        return
    hits = lib.store.search(
        collection,
        query[None, :],
        min(len(timed) * 8, 16_384),
        file_ids=[r.file_id for r in timed],
        kinds=[KIND_FRAME, KIND_SOUND_SEGMENT],
    )[0]
    by_file: dict[int, list[tuple[float, float]]] = {}
    for h in hits:
        by_file.setdefault(h.file_id, []).append((h.t, float(h.score)))
    for r in timed:
        found = by_file.get(r.file_id, [])
        if r.t is None and found:
            r.t = found[0][0]
        r.moments = [(t, s) for t, s in found if abs(t - (r.t or 0.0)) > 1e-3][:5]


def search_text(
    lib: Library,
    text: str,
    *,
    limit: int = 20,
    kinds: Sequence[str] | None = None,
    folder: str | None = None,
) -> list[Result]:
    """Photos, video moments and sounds (by their tags, and videos by their soundtrack) matching ``text``,
    in one list ranked by ``match``.

    Raises ModelMissingError when the image-text model is not installed and no sound matched either
    (a library of sounds alone works without it).
    """
    text = text.strip()
    if not text:
        return []
    results: list[Result] = []
    missing: ModelMissingError | None = None
    if not kinds or set(kinds) & {Kind.PHOTO.value, Kind.VIDEO.value}:
        try:
            query = lib.image_text_encoder().encode_texts([text])[0]
        except ModelMissingError as exc:
            missing = exc
        else:
            visual_kinds = [k for k in (kinds or []) if k != Kind.SOUND.value] or None
            results += _search_space(
                lib, lib.image_collection, query, limit=limit, kinds=visual_kinds, folder=folder
            )
    if not kinds or set(kinds) & {Kind.SOUND.value, Kind.VIDEO.value}:
        sounds = _search_sounds_by_text(lib, text, limit=limit, folder=folder)
        seen = {r.file_id for r in results}
        # A video can match by its pictures and by its soundtrack: keep one entry, the better match.
        for s in sounds:
            if s.file_id in seen:
                mine = next(r for r in results if r.file_id == s.file_id)
                mine.match = max(mine.match, s.match)
            elif not kinds or s.kind in kinds:
                results.append(s)
    if missing is not None and not results:
        raise missing
    # Each kind's score is on its own scale; ``match`` puts them on one (see match_from_cosine).
    results.sort(key=lambda r: (-r.match, -r.score))
    return results[:limit]


def _search_sounds_by_text(lib: Library, text: str, *, limit: int, folder: str | None) -> list[Result]:
    return search_sounds_by_text(lib, text, limit=limit, folder=folder)


def search_similar(
    lib: Library,
    path: str | Path,
    *,
    limit: int = 20,
    kinds: Sequence[str] | None = None,
    folder: str | None = None,
    at: float | None = None,
) -> list[Result]:
    """Library items most like the file at ``path`` (the file itself is left out of the results)."""
    collection, query = encode_example(lib, path, at=at)
    resolved = str(Path(path).expanduser().resolve())
    return _search_space(
        lib, collection, query, limit=limit, kinds=kinds, folder=folder, exclude_path=resolved
    )


def search_similar_many(
    lib: Library, paths: Sequence[str | Path], *, limit: int = 20, kinds: Sequence[str] | None = None
) -> list[Result]:
    """Items similar to all of several files together: the mean of their vectors, per space."""
    if len(paths) == 1:
        return search_similar(lib, paths[0], limit=limit, kinds=kinds)
    spaces: dict[str, list[np.ndarray]] = {}
    for p in paths:
        collection, vec = encode_example(lib, p)
        spaces.setdefault(collection, []).append(vec)
    excluded = {str(Path(p).expanduser().resolve()) for p in paths}
    results: list[Result] = []
    for collection, vecs in spaces.items():
        q = np.mean(vecs, axis=0)
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        found = _search_space(lib, collection, q, limit=limit + len(excluded), kinds=kinds, folder=None)
        results += [r for r in found if r.path not in excluded]
    results.sort(key=lambda r: -r.score)
    return results[:limit]
