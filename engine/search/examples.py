"""Find-similar examples: the query vector for a video or sound file, in the library or not."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.core.vectors import SEGMENT_S, VIDEO_INTERVAL_S
from engine.errors import DecodeError, LookalikeError
from engine.media.kinds import Kind, kind_of
from engine.models.audio_stream import embed_audio_stream
from engine.models.base import l2_normalize
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library


def _stored(lib: Library, collection: str, path: Path, kinds: set[int] | None = None):
    row = lib.catalog.by_path(str(path.resolve()))
    if row is None or row.state != cat.INDEXED:
        return None
    st = path.stat()
    if (row.size, row.mtime) != (st.st_size, st.st_mtime) or not lib.store.has_collection(collection):
        return None
    ts, vecs = lib.store.get_vectors(collection, row.id)
    return (ts, vecs) if len(vecs) else None


def _encode_media_example(
    lib: Library, path: Path, kind: Kind, *, at: float | None = None
) -> tuple[str, np.ndarray]:
    """The query vector for find-similar on a video or sound file: (collection, vector).

    Videos: the mean of the clip's moment vectors (or the moment nearest ``at``); sounds: the clip vector
    (or the 10 s from ``at``). Reuses stored vectors for unchanged indexed videos. Raises LookalikeError.
    """
    if kind == Kind.VIDEO:
        from engine.media.video import sample_moments

        collection = lib.image_collection
        stored = _stored(lib, collection, path)
        if stored is not None:
            ts, vecs = stored
        else:
            enc = lib.image_text_encoder()
            moments = list(sample_moments(path, interval=VIDEO_INTERVAL_S, max_moments=120, size=224))
            if not moments:
                raise DecodeError(f"No video frame could be decoded from {path.name}")
            ts = np.array([m.t for m in moments])
            vecs = enc.encode_images([m.image for m in moments])
        if at is not None:
            return collection, vecs[int(np.argmin(np.abs(np.asarray(ts) - at)))]
        return collection, l2_normalize(np.asarray(vecs).mean(axis=0, keepdims=True))[0]
    if kind == Kind.SOUND:
        from engine.media.audio import load_audio

        if at is not None:
            wave = load_audio(path, start=at, end=at + SEGMENT_S)
        else:
            wave = load_audio(path, max_seconds=600)
        n = int(SEGMENT_S * 32000)
        chunks = iter([wave[i : i + n] for i in range(0, len(wave), n)])
        _, clip, _ = embed_audio_stream(lib.audio_encoder(), chunks)
        return lib.audio_collection, clip
    raise LookalikeError(f"Find-similar does not handle {kind.value} files here")


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
        from engine.media.images import load_photo

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
    return _encode_media_example(lib, p, kind, at=at)
