"""What the indexer and search expect of an encoder. All outputs are float32 and L2-normalised."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from PIL.Image import Image


class ImageTextEncoder(Protocol):
    model_id: str
    dim: int
    #: Side of the square the image encoder sees; decoders reduce images to about this size.
    image_size: int

    def encode_images(self, images: Sequence[Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    #: Resize/crop/normalise to the model's input: thread-safe, so decode workers can do it.
    def preprocess(self, images: Sequence[Image]) -> np.ndarray: ...

    def encode_pixels(self, batch: np.ndarray) -> np.ndarray: ...


class TextEncoder(Protocol):
    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class AudioEmbedding:
    #: (n, dim) L2-normalised clip embeddings.
    embeddings: np.ndarray
    #: (n, 527) AudioSet class scores in [0, 1] (sigmoid outputs), in class_labels_indices.csv order.
    tags: np.ndarray


class AudioEncoder(Protocol):
    model_id: str
    dim: int
    sample_rate: int

    def encode(self, waveforms: Sequence[np.ndarray]) -> AudioEmbedding: ...


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
