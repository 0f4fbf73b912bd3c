"""How sounds and video clips are indexed, and how they are turned into find-similar queries.

Sounds: streamed from disk in 10 s segments (flat memory for a 10-hour recording), each segment
embedded with PANNs; the clip vector (the normalised mean of the segments) is stored with ``seq`` 0, and
for files longer than 30 s every segment too (``seq`` 1…, ``t`` = its start) so a query can land inside
a long recording. The clip's 527 AudioSet tag scores (maximum over segments) go to the catalog, for
text→sound search.

Videos: moments sampled by :mod:`engine.decode.video` (about one every 2 s plus scene changes, capped per
clip), one UForm vector per moment in the same space as photos, a small JPEG thumbnail per moment
written in the same pass, and the soundtrack through the sound pipeline.

Decoding runs on the loader pool; streaming sound decode+encode runs on the encoder thread (it cannot be
held in memory for long files). Every failure is a per-file error (DecodeError), never a crash.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import catalog as cat
from engine.errors import DecodeError, LookalikeError
from engine.indexer import (
    KIND_FRAME,
    KIND_SOUND,
    KIND_SOUNDTRACK,
    CancelFn,
    Prepared,
)
from engine.media import Kind
from engine.models.base import l2_normalize

if TYPE_CHECKING:
    from engine.library import Library

#: Vector kind of the per-segment vectors of long sounds and soundtracks.
KIND_SOUND_SEGMENT = 4
SEGMENT_S = 10.0
LONG_SOUND_S = 30.0
MAX_SEGMENTS = 4000
ENCODE_SEGMENTS = 8
#: ``t`` of whole-file vectors (a sound's clip vector), so a result never claims a moment it lacks.
WHOLE_FILE_T = -1.0
VIDEO_INTERVAL_S = 2.0
VIDEO_MAX_MOMENTS = 600
#: Videos decoded at once: their moments are held in memory until encoded.
_video_slots = threading.BoundedSemaphore(2)


# -- sounds --------------------------------------------------------------------------------------------


def _segment_seconds(duration: float | None) -> float:
    if duration and duration > SEGMENT_S * MAX_SEGMENTS:
        return duration / MAX_SEGMENTS  # a very long recording: fewer, longer segments
    return SEGMENT_S


def _embed_stream(lib: Library, chunks: Iterator[np.ndarray], seg_s: float, cancel: CancelFn | None = None):
    """Embed a stream of segments; returns (segment embeddings, clip embedding, clip tags)."""
    enc = lib.audio_encoder()
    embs: list[np.ndarray] = []
    tag_max: np.ndarray | None = None
    batch: list[np.ndarray] = []

    def run() -> None:
        nonlocal tag_max
        out = enc.encode(batch)
        embs.append(out.embeddings)
        m = out.tags.max(axis=0)
        tag_max = m if tag_max is None else np.maximum(tag_max, m)
        batch.clear()

    for chunk in chunks:
        if cancel and cancel():
            raise LookalikeError("cancelled")
        batch.append(chunk)
        if len(batch) >= ENCODE_SEGMENTS:
            run()
    if batch:
        run()
    if not embs:
        raise DecodeError("The file contains no audio samples")
    seg = np.concatenate(embs)
    clip = l2_normalize(seg.mean(axis=0, keepdims=True))[0]
    assert tag_max is not None
    return seg, clip, tag_max


def _index_audio(lib: Library, p: Prepared, clip_kind: int) -> None:
    """Runs on the encoder thread: stream, embed and store one file's audio (sound or soundtrack)."""
    from engine.decode.audio import iter_audio_chunks
    from engine.store import vector_id

    seg_s = _segment_seconds(p.duration)
    seg, clip, tags = _embed_stream(lib, iter_audio_chunks(p.row.path, chunk_s=seg_s), seg_s)
    total = len(seg) * seg_s
    vecs = [clip]
    ts = [WHOLE_FILE_T]  # the clip vector stands for no moment in particular
    kinds = [clip_kind]
    if total > LONG_SOUND_S or clip_kind == KIND_SOUNDTRACK:
        vecs += list(seg)
        ts += [i * seg_s for i in range(len(seg))]
        kinds += [KIND_SOUND_SEGMENT] * len(seg)
    name = lib.audio_collection
    lib.store.ensure_collection(name, len(clip))
    lib.store.upsert(
        name,
        ids=[vector_id(p.row.id, i) for i in range(len(vecs))],
        file_ids=[p.row.id] * len(vecs),
        ts=ts,
        kinds=kinds,
        vectors=np.stack(vecs).astype(np.float32),
    )
    lib.catalog.set_tags(p.row.id, lib.settings.audio_model, tags)
    if p.duration is None:
        p.duration = total


def prepare_sound(lib: Library, row: cat.FileRow, cancel: CancelFn) -> Prepared:
    from engine.decode.audio import audio_duration

    duration = audio_duration(row.path)  # DecodeError for a file that is not audio at all
    return Prepared(row, duration=duration, extra=lambda lib, p: _index_audio(lib, p, KIND_SOUND))


# -- videos --------------------------------------------------------------------------------------------


def _index_soundtrack(lib: Library, p: Prepared) -> None:
    # A broken soundtrack must not cost the clip its pictures.
    with contextlib.suppress(DecodeError):
        _index_audio(lib, p, KIND_SOUNDTRACK)


def prepare_video(lib: Library, row: cat.FileRow, cancel: CancelFn) -> Prepared:
    from engine.decode.video import probe_video, sample_moments
    from engine.thumbnails import moment_key, save_thumbnail

    enc = lib.image_text_encoder()
    info = probe_video(row.path)
    with _video_slots:
        moments = list(
            sample_moments(
                row.path,
                interval=VIDEO_INTERVAL_S,
                max_moments=VIDEO_MAX_MOMENTS,
                size=max(enc.image_size, 224),
                cancel=cancel,
            )
        )
    if not moments:
        raise DecodeError("no video frame could be decoded")
    thumbs = lib.settings.thumbnails_dir
    for m in moments:
        save_thumbnail(thumbs, moment_key(row.id, m.t), m.image)
    # On the decode pool, not the encoder thread; float16 halves what waits in memory.
    pixels = enc.preprocess([m.image for m in moments]).astype(np.float16)
    images = [(i, float(m.t), pixels[i], KIND_FRAME) for i, m in enumerate(moments)]
    extra = None
    if info.has_audio and lib.model_ready(lib.settings.audio_model):
        extra = _index_soundtrack

    return Prepared(row, images=images, extra=extra, duration=info.duration)


PREPARERS: dict[str, Any] = {Kind.SOUND.value: prepare_sound, Kind.VIDEO.value: prepare_video}


# -- find-similar examples -----------------------------------------------------------------------------


def _stored(lib: Library, collection: str, path: Path, kinds: set[int] | None = None):
    row = lib.catalog.by_path(str(path.resolve()))
    if row is None or row.state != cat.INDEXED:
        return None
    st = path.stat()
    if (row.size, row.mtime) != (st.st_size, st.st_mtime) or not lib.store.has_collection(collection):
        return None
    ts, vecs = lib.store.get_vectors(collection, row.id)
    return (ts, vecs) if len(vecs) else None


def encode_example(
    lib: Library, path: Path, kind: Kind, *, at: float | None = None
) -> tuple[str, np.ndarray]:
    """The query vector for find-similar on a video or sound file: (collection, vector).

    Videos: the mean of the clip's moment vectors (or the moment nearest ``at``); sounds: the clip vector
    (or the 10 s from ``at``). Reuses stored vectors for unchanged indexed videos. Raises LookalikeError.
    """
    if kind == Kind.VIDEO:
        from engine.decode.video import sample_moments

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
        from engine.decode.audio import load_audio

        if at is not None:
            wave = load_audio(path, start=at, end=at + SEGMENT_S)
        else:
            wave = load_audio(path, max_seconds=600)
        n = int(SEGMENT_S * 32000)
        chunks = iter([wave[i : i + n] for i in range(0, len(wave), n)])
        _, clip, _ = _embed_stream(lib, chunks, SEGMENT_S)
        return lib.audio_collection, clip
    raise LookalikeError(f"Find-similar does not handle {kind.value} files here")
