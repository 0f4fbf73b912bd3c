"""The three embedding analyzers: photos, video moments and sounds into their vector spaces.

They run inside the batched pipeline (:func:`engine.indexing.pipeline.index_pending`: decode pool,
batched encoder, crash-safe write order); these objects give that pipeline their identity, version,
kinds and the models each needs. Their names are stored in the catalog (the v4 upgrade wrote them for
every file indexed before): never rename them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from engine.indexing.analyzers.base import Analyzer, register
from engine.media.kinds import Kind

if TYPE_CHECKING:
    from engine.library import Library


class EmbeddingAnalyzer(Analyzer):
    """An analyzer run by the indexing pipeline, not by ``analyze``."""

    embedding: ClassVar[bool] = True
    priority: ClassVar[int] = 0

    def required_models(self, lib: Library) -> list[str]:
        """Model ids it cannot run without (the pipeline leaves its files pending until installed)."""
        return [lib.settings.image_text_model]

    def ready(self, lib: Library) -> str | None:
        missing = [m for m in self.required_models(lib) if not lib.model_ready(m)]
        if missing:
            return f"model {', '.join(missing)} is not installed: lookalike models download {missing[0]}"
        return None


class PhotoEmbedding(EmbeddingAnalyzer):
    name = "photo_embedding"
    kinds = frozenset({Kind.PHOTO.value})
    needs = "pixels"
    produces = "one vector per photo in the image-text space"
    label = "looking at photos"


class VideoEmbedding(EmbeddingAnalyzer):
    name = "video_embedding"
    kinds = frozenset({Kind.VIDEO.value})
    needs = "frames"
    produces = "a vector per sampled moment in the image-text space, its thumbnail, and the soundtrack's"
    label = "looking at video moments"


class SoundEmbedding(EmbeddingAnalyzer):
    name = "sound_embedding"
    kinds = frozenset({Kind.SOUND.value})
    needs = "audio"
    produces = "clip and segment vectors in the audio space, and AudioSet tag scores"
    label = "listening to sounds"

    def required_models(self, lib: Library) -> list[str]:
        return [lib.settings.audio_model]


PHOTO_EMBEDDING = register(PhotoEmbedding())
VIDEO_EMBEDDING = register(VideoEmbedding())
SOUND_EMBEDDING = register(SoundEmbedding())
EMBEDDINGS: tuple[EmbeddingAnalyzer, ...] = (PHOTO_EMBEDDING, VIDEO_EMBEDDING, SOUND_EMBEDDING)


def embedding_for(kind: str) -> EmbeddingAnalyzer | None:
    """The embedding analyzer of a Kind value, or None for a kind nothing embeds."""
    for a in EMBEDDINGS:
        if kind in a.kinds:
            return a
    return None
