"""A stream of audio segments through a sound encoder, batched: per-segment vectors, the clip vector
(the normalised mean) and the clip's tag scores. Shared by indexing and by find-similar on a sound."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from engine.errors import DecodeError, LookalikeError
from engine.models.base import AudioEncoder, l2_normalize

#: Segments per model call.
ENCODE_SEGMENTS = 8


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
