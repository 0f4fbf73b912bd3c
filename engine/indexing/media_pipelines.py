"""How sounds and video clips are indexed, and how they are turned into find-similar queries.

Sounds: streamed from disk in 10 s segments (flat memory for a 10-hour recording), each segment
embedded with PANNs; the clip vector (the normalised mean of the segments) is stored with ``seq`` 0, and
for files longer than 30 s every segment too (``seq`` 1…, ``t`` = its start) so a query can land inside
a long recording. The clip's 527 AudioSet tag scores (maximum over segments) go to the catalog, for
text→sound search.

Videos: moments sampled by :mod:`engine.media.video` (about one every 2 s plus scene changes, capped per
clip), one UForm vector per moment in the same space as photos, a small JPEG thumbnail per moment
written in the same pass, and the soundtrack through the sound pipeline.

Decoding runs on the loader pool. A sound's first segment is decoded there too (the whole of a short
sound) while the model works on the files before it; the rest streams on a reader thread
(:func:`engine.models.audio_stream.read_ahead`) into the model, so decoding and the model overlap within a
long recording and across short ones (a long file cannot be held in memory). Every failure is a per-file
error (DecodeError), never a crash.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.core.progress import CancelFn
from engine.core.vectors import (
    KIND_FRAME,
    KIND_SOUND,
    KIND_SOUND_SEGMENT,
    KIND_SOUNDTRACK,
    SEGMENT_S,
    VIDEO_INTERVAL_S,
    WHOLE_FILE_T,
)
from engine.errors import DecodeError
from engine.indexing.work import Prepared
from engine.media.kinds import Kind
from engine.models.audio_stream import embed_audio_stream, read_ahead
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library

log = logging.getLogger(__name__)

LONG_SOUND_S = 30.0
MAX_SEGMENTS = 4000
VIDEO_MAX_MOMENTS = 600
#: Videos decoded at once: their moments are held in memory until encoded.
_video_slots = threading.BoundedSemaphore(2)


# -- sounds --------------------------------------------------------------------------------------------


def _segment_seconds(duration: float | None) -> float:
    if duration and duration > SEGMENT_S * MAX_SEGMENTS:
        return duration / MAX_SEGMENTS  # a very long recording: fewer, longer segments
    return SEGMENT_S


@dataclass
class AudioVectors:
    """One file's audio in the audio space: the rows to store (seq = position), its tags, its length."""

    vectors: np.ndarray
    ts: list[float]
    kinds: list[int]
    tags: np.ndarray
    seconds: float


class OpenedAudio:
    """A sound opened on the decode pool: its first segment decoded (all of a sound up to one segment
    long, the common case) and the stream of the rest, which a reader thread continues when the file's
    turn comes. Holds one segment (1.3 MB at 32 kHz) while it waits. Raises DecodeError like
    :func:`engine.media.audio.iter_audio_chunks`."""

    def __init__(self, path: str, duration: float | None) -> None:
        import itertools

        from engine.media.audio import SAMPLE_RATE, iter_audio_chunks

        self.segment_s = _segment_seconds(duration)
        self._rest = iter_audio_chunks(path, chunk_s=self.segment_s)
        self._head = list(itertools.islice(self._rest, 1))
        # Only a full first segment can have more behind it (every chunk but the last is full).
        self._more = bool(self._head) and self._head[0].size >= round(self.segment_s * SAMPLE_RATE)

    def chunks(self) -> Iterator[np.ndarray]:
        """Every segment, in order: the one decoded ahead, then the rest read ahead of the consumer."""
        head, self._head = self._head, []
        yield from head
        if self._more:
            yield from read_ahead(self._rest)


def embed_audio_file(
    encoder: Any,
    path: str,
    clip_kind: int,
    duration: float | None,
    *,
    envelope: Any = None,
    opened: OpenedAudio | None = None,
) -> AudioVectors:
    """Stream and embed one file's audio (a sound, or a clip's soundtrack with ``KIND_SOUNDTRACK``): the
    clip vector first, then for long sounds and soundtracks every segment. ``envelope`` (a waveform
    Envelope) sees the chunks as they stream past; ``opened``: the file as the decode pool opened it
    (else it is opened here). Decoding runs on a reader thread ahead of the model. Raises DecodeError."""
    from engine.media.audio import iter_audio_chunks

    if opened is not None:
        seg_s = opened.segment_s
        chunks = opened.chunks()
    else:
        seg_s = _segment_seconds(duration)
        chunks = read_ahead(iter_audio_chunks(path, chunk_s=seg_s))
    if envelope is not None:
        chunks = envelope.tap(chunks)
    seg, clip, tags = embed_audio_stream(encoder, chunks)
    total = len(seg) * seg_s
    vecs = [clip]
    ts = [WHOLE_FILE_T]  # the clip vector stands for no moment in particular
    kinds = [clip_kind]
    if total > LONG_SOUND_S or clip_kind == KIND_SOUNDTRACK:
        vecs += list(seg)
        ts += [i * seg_s for i in range(len(seg))]
        kinds += [KIND_SOUND_SEGMENT] * len(seg)
    return AudioVectors(np.stack(vecs).astype(np.float32), ts, kinds, tags, total)


def _index_audio(lib: Library, p: Prepared, clip_kind: int, opened: OpenedAudio | None = None) -> None:
    """Runs on the writer thread: stream, embed and store one file's audio (sound or soundtrack)."""
    from engine.media.audio import SAMPLE_RATE
    from engine.media.waveform import Envelope
    from engine.storage.store import vector_id

    # A sound's tile shows its waveform: its envelope is taken from the chunks as they stream past.
    envelope = Envelope(SAMPLE_RATE) if clip_kind == KIND_SOUND else None
    audio = embed_audio_file(
        lib.audio_encoder(), p.row.path, clip_kind, p.duration, envelope=envelope, opened=opened
    )
    n = len(audio.ts)
    name = lib.audio_collection
    lib.store.ensure_collection(name, audio.vectors.shape[1])
    lib.store.upsert(
        name,
        ids=[vector_id(p.row.id, i) for i in range(n)],
        file_ids=[p.row.id] * n,
        ts=audio.ts,
        kinds=audio.kinds,
        vectors=audio.vectors,
    )
    lib.catalog.set_tags(p.row.id, lib.settings.audio_model, audio.tags)
    if p.duration is None:
        p.duration = audio.seconds
    if envelope is not None:
        _save_waveform(lib, p.row, envelope)


def _save_waveform(lib: Library, row: cat.FileRow, envelope: Any) -> None:
    """Store the sound's waveform beside the thumbnails; a cache that cannot be written costs the tile
    its picture (the app makes it again on first display), never the file its index."""
    from engine.media.waveform import render_waveform, save_waveform, waveform_key

    try:
        key = waveform_key(row.path, row.size, row.mtime)
        save_waveform(lib.settings.thumbnails_dir, key, render_waveform(envelope.shape()))
    except (OSError, ValueError) as e:
        log.warning("no waveform for %s: %s", row.path, e)


def prepare_sound(lib: Library, row: cat.FileRow, cancel: CancelFn) -> Prepared:
    from engine.media.audio import audio_duration

    duration = audio_duration(row.path)  # DecodeError for a file that is not audio at all
    opened = OpenedAudio(row.path, duration)  # its first segment decoded here, on the pool
    return Prepared(row, duration=duration, extra=lambda lib, p: _index_audio(lib, p, KIND_SOUND, opened))


# -- videos --------------------------------------------------------------------------------------------


def _index_soundtrack(lib: Library, p: Prepared) -> None:
    # A broken soundtrack must not cost the clip its pictures.
    with contextlib.suppress(DecodeError):
        _index_audio(lib, p, KIND_SOUNDTRACK)


def prepare_video(lib: Library, row: cat.FileRow, cancel: CancelFn) -> Prepared:
    from engine.media.thumbnails import moment_key, save_thumbnail
    from engine.media.video import probe_video, sample_moments

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
