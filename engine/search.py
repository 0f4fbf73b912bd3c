"""Search: text → photos and video moments (and sounds, through their tags), and find-similar by example.

Results come back one per file, best first, with the file's path and kind, the score (cosine
similarity for photos and frames) and, for video, the best moment and the runner-up moments.
The example for find-similar may be any file, inside the library or not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import catalog as cat
from engine.errors import LookalikeError, ModelMissingError
from engine.indexer import KIND_FRAME, KIND_PHOTO, KIND_SOUND, KIND_SOUNDTRACK
from engine.media import Kind, kind_of

if TYPE_CHECKING:
    from engine.library import Library
    from engine.store import Hit

_VECTOR_KINDS = {
    Kind.PHOTO.value: [KIND_PHOTO],
    Kind.VIDEO.value: [KIND_FRAME, KIND_SOUNDTRACK],
    Kind.SOUND.value: [KIND_SOUND],
}


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
    #: (see :func:`match_from_cosine` and engine.sound_tags).
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
    """A text→image cosine mapped to [0, 1], comparable with the sound scores of engine.sound_tags."""
    return min(1.0, max(0.0, (score - TEXT_IMAGE_LOW) / (TEXT_IMAGE_HIGH - TEXT_IMAGE_LOW)))


def _in_folder(path: str, folder: str | None) -> bool:
    if not folder:
        return True
    prefix = str(Path(folder).expanduser().resolve()).rstrip(os.sep) + os.sep
    return path.startswith(prefix)


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
        if row is None or row.state != cat.INDEXED or not _in_folder(row.path, folder):
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
    from engine.media_pipelines import KIND_SOUND_SEGMENT

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
    try:
        from engine import sound_search
    except ImportError:
        return []
    return sound_search.search_sounds_by_text(lib, text, limit=limit, folder=folder)


def encode_example(lib: Library, path: str | Path, *, at: float | None = None) -> tuple[str, np.ndarray]:
    """The query vector for find-similar: (collection, vector).

    An unchanged indexed file reuses its stored vectors (no decode); any other file is decoded and
    encoded now. Raises LookalikeError for an unsupported or unreadable file.
    """
    p = Path(path).expanduser()
    kind = kind_of(p)
    if kind is None:
        raise LookalikeError(f"Not a photo, video or sound file Lookalike knows: {p.name}")
    if not p.is_file():
        raise LookalikeError(f"File not found: {p}")
    if kind == Kind.PHOTO:
        from engine.decode.images import load_photo

        row = lib.catalog.by_path(str(p.resolve()))
        st = p.stat()
        if (
            row is not None
            and row.state == cat.INDEXED
            and (row.size, row.mtime) == (st.st_size, st.st_mtime)
        ):
            store = lib.store
            if store.has_collection(lib.image_collection):
                _, vecs = store.get_vectors(lib.image_collection, row.id)
                if len(vecs):
                    return lib.image_collection, vecs[0]
        enc = lib.image_text_encoder()
        return lib.image_collection, enc.encode_images([load_photo(p, min_side=enc.image_size)])[0]
    try:
        from engine import media_pipelines
    except ImportError:
        raise LookalikeError(
            f"Find-similar for {kind.value} files is not available in this version"
        ) from None
    return media_pipelines.encode_example(lib, p, kind, at=at)


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
