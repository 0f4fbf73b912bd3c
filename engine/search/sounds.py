"""Text → sound: rank indexed sounds (and video soundtracks) by their AudioSet tag scores on the classes
the query names (see engine.search.sound_tags for how the weights and the [0, 1] score are made)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from engine.search.results import Result, in_folder

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.sound_tags import TagMatcher

_cache_lock = threading.Lock()


def _tags(lib: Library) -> tuple[np.ndarray, np.ndarray]:
    """The tag matrix of the library, kept in memory until a tag is written (catalog.tags_version)."""
    key = (lib.settings.audio_model, lib.catalog.tags_version)
    with _cache_lock:
        cached = lib.memo.get("sound_tags")
        if cached is None or cached[0] != key:
            cached = (key, lib.catalog.tags_matrix(lib.settings.audio_model))
            lib.memo["sound_tags"] = cached
        ids, mat = cached[1]
        return ids, mat


def _matcher(lib: Library) -> TagMatcher:
    from engine.search.sound_tags import TagMatcher

    with _cache_lock:
        m = lib.memo.get("tag_matcher")
        if m is None or m.encoder is not lib.text_encoder():
            m = TagMatcher(lib.text_encoder(), cache_dir=lib.home / "cache")
            lib.memo["tag_matcher"] = m
        return m


def search_sounds_by_text(lib: Library, text: str, *, limit: int, folder: str | None) -> list[Result]:
    """Sounds matching ``text``, best first; [] when the sound or text model is not installed, or when
    the words name no sound (the weights are then all zero)."""
    return sound_matches(lib, text, limit=limit, folder=folder)[0]


def sound_matches(
    lib: Library, text: str, *, limit: int, folder: str | None
) -> tuple[list[Result], list[str]]:
    """(the sounds matching ``text`` as :func:`search_sounds_by_text` gives them, the AudioSet class
    names the words were matched to, strongest first)."""
    from engine.search.sound_tags import class_names, score_sounds
    from engine.storage import catalog as cat

    if not (lib.model_ready(lib.settings.text_model) and lib.model_ready(lib.settings.audio_model)):
        return [], []
    ids, mat = _tags(lib)
    if len(ids) == 0:
        return [], []
    weights = _matcher(lib).query_weights(text)
    if not weights.any():
        return [], []
    names = class_names()
    tags = [names[i] for i in np.argsort(-weights)[:3] if weights[i] > 0 and i < len(names)]
    scores = score_sounds(mat, weights)
    order = np.argsort(-scores, kind="stable")
    out: list[Result] = []
    for start in range(0, len(order), max(limit * 4, 64)):
        chunk = order[start : start + max(limit * 4, 64)]
        rows = lib.catalog.get_many(int(ids[i]) for i in chunk)
        for i in chunk:
            row = rows.get(int(ids[i]))
            if row is None or row.state != cat.INDEXED or not in_folder(row.path, folder):
                continue
            s = float(scores[i])
            if s <= 0.0:
                return out, tags
            out.append(Result(row.id, row.path, row.kind, s, None, [], row.size, row.mtime, row.duration, s))
            if len(out) >= limit:
                return out, tags
    return out, tags
