"""Search: text → photos, video moments, sounds and names in one ranked list, and find-similar.

Results come back one per file, best first, with the file's path and kind, its score, whether it is a
good match or only among the closest, and why it matched (``Result.reasons``); for video, the best
moment and the runner-up moments. Text search runs the retrievers (engine.search.retrievers) and fuses
them (engine.search.ranking). The example for find-similar may be any file, inside the library or not;
its results carry a "similar" reason with the cosine and are judged by the same adaptive cutoff.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.search import ranking
from engine.search.examples import encode_example
from engine.search.results import Result, add_capture_times, in_folder, match_from_cosine
from engine.search.retrievers.base import Candidate
from engine.search.retrievers.visual import vector_candidates
from engine.search.stacks import stack_results

if TYPE_CHECKING:
    from engine.library import Library

__all__ = ["Result", "in_folder", "match_from_cosine", "search_similar", "search_similar_many", "search_text"]


def search_text(
    lib: Library,
    text: str,
    *,
    limit: int = 20,
    kinds: Sequence[str] | None = None,
    folder: str | None = None,
    only: Sequence[str] | None = None,
    closest: int | None = None,
) -> list[Result]:
    """Photos, video moments, sounds and files by name matching ``text``, in one list: good matches
    first, then a few of the closest (``Result.good`` tells which; ``closest`` says how many at most).
    ``only`` keeps to retriever groups ("text", "visual", "names", "sounds").

    Raises ModelMissingError when a needed model is not installed and nothing else matched (a library
    of sounds alone works without the image model; names work without any model).
    """
    if not text.strip():
        return []
    results = ranking.search(lib, text, limit=limit, kinds=kinds, folder=folder, only=only, closest=closest)
    # duplicates engineer: near-duplicates and bursts fold into one result (engine/search/stacks.py).
    return stack_results(lib, results)


def _similar_results(lib: Library, found: list[Candidate]) -> list[Result]:
    rows = lib.catalog.get_many(c.file_id for c in found)
    out = []
    for c in found:
        row = rows.get(c.file_id)
        if row is None:
            continue
        out.append(
            Result(
                row.id,
                row.path,
                row.kind,
                c.score,
                c.t,
                c.moments,
                row.size,
                row.mtime,
                row.duration,
                match_from_cosine(c.score, lib.settings.image_text_model),
                c.reasons,
                c.good,
            )
        )
    return add_capture_times(lib, out)


def search_similar(
    lib: Library,
    path: str | Path,
    *,
    limit: int = 20,
    kinds: Sequence[str] | None = None,
    folder: str | None = None,
    at: float | None = None,
) -> list[Result]:
    """Library items most like the file at ``path`` (the file itself is left out of the results), the
    ``limit`` nearest, each marked good or not by the adaptive cutoff."""
    collection, query = encode_example(lib, path, at=at)
    resolved = str(Path(path).expanduser().resolve())
    found = vector_candidates(
        lib,
        collection,
        query,
        limit=limit,
        kinds=kinds,
        folder=folder,
        retriever="similar",
        exclude_path=resolved,
    )
    # duplicates engineer: near-duplicates and bursts fold into one result (engine/search/stacks.py).
    return stack_results(lib, _similar_results(lib, found))


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
        found = vector_candidates(
            lib, collection, q, limit=limit + len(excluded), kinds=kinds, folder=None, retriever="similar"
        )
        results += [r for r in _similar_results(lib, found) if r.path not in excluded]
    results.sort(key=lambda r: -r.score)
    return results[:limit]
