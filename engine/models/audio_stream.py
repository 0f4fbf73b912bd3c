"""A stream of audio segments through a sound encoder, batched: per-segment vectors, the clip vector
(the normalised mean) and the clip's tag scores. Shared by indexing and by find-similar on a sound."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar, cast

import numpy as np

from engine.errors import DecodeError, LookalikeError
from engine.models.base import AudioEncoder, l2_normalize

#: Segments per model call.
ENCODE_SEGMENTS = 8

T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 2 * ENCODE_SEGMENTS) -> Iterator[T]:
    """``items``, pulled on a thread of their own up to ``depth`` ahead of the consumer: a sound's
    decoding (libsndfile, PyAV and the resampler all release the interpreter lock) then overlaps the
    model's work on the segments before, instead of alternating with it on one thread.

    What the reader raises is raised here, at the item where it happened. Closing the generator (the
    consumer failing or stopping early) stops the reader within one item and closes ``items``.
    """
    import queue
    import threading

    done = object()
    q: queue.Queue[object] = queue.Queue(max(1, depth))
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised where it would have been
            failure.append(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None and stop.is_set():
                close()
        put(done)

    reader = threading.Thread(target=run, name="lookalike-read-ahead", daemon=True)
    reader.start()
    try:
        while (item := q.get()) is not done:
            yield cast(T, item)
        if failure:
            raise failure[0]
    finally:
        stop.set()
        reader.join()


def embed_audio_stream(
    enc: AudioEncoder, chunks: Iterable[np.ndarray], cancel: Callable[[], bool] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embed a stream of segments: (segment embeddings, clip embedding, clip tags: max over segments).

    Raises DecodeError when the stream holds no samples, LookalikeError("cancelled") on ``cancel()``.
    """
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
