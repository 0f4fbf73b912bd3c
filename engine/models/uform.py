"""UForm3 image-text encoders run with ONNX Runtime (the uform package's ONNX format and processors).

The model folder holds ``config.json``, ``tokenizer.json``, ``image_encoder.onnx`` and
``text_encoder.onnx`` exactly as published on the Hugging Face Hub
(unum-cloud/uform3-image-text-english-small).
Preprocessing uses uform's own numpy processors so images and text are prepared as the model was trained.
ONNX Runtime rather than torch: no torchvision is needed, and it measured faster on CPU.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ModelFileError
from engine.models.base import l2_normalize
from engine.models.device import inference_threads, onnx_providers

if TYPE_CHECKING:
    from PIL.Image import Image


def _session(path: Path, device: str) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = inference_threads()
    opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=onnx_providers(device))
    except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
        raise ModelFileError(f"Cannot load {path.name}: {exc}. Reinstall the model.") from exc


class UFormEncoder:
    """Image and text encoders of one UForm model, sharing one 256-d (for UForm3 small) space.

    ``encode_images`` / ``encode_texts`` return L2-normalised float32 arrays. Raises ModelFileError when
    the folder's files are missing or not a UForm model. The text encoder loads on first use, since
    indexing only needs the image side.
    """

    def __init__(self, folder: Path, model_id: str, device: str = "cpu") -> None:
        from uform.numpy_processors import ImageProcessor

        self.folder = Path(folder)
        self.model_id = model_id
        self.device = device
        config_path = self.folder / "config.json"
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            image_cfg = config.get("image_encoder", config)
            self.image_size = int(image_cfg["image_size"])
            self.dim = int(image_cfg["embedding_dim"])
            self._image_processor = ImageProcessor(str(config_path))
        except (OSError, ValueError, KeyError, AssertionError) as exc:
            raise ModelFileError(f"{config_path} is not a UForm config: {exc}") from exc
        self._image = _session(self.folder / "image_encoder.onnx", device)
        self._text: Any = None
        self._text_processor: Any = None

    def _ensure_text(self) -> None:
        if self._text is None:
            from uform.numpy_processors import TextProcessor

            self._text_processor = TextProcessor(
                str(self.folder / "config.json"), str(self.folder / "tokenizer.json")
            )
            self._text = _session(self.folder / "text_encoder.onnx", self.device)

    def preprocess(self, images: Sequence[Image]) -> np.ndarray:
        """Resize, crop and normalise to the (n, 3, size, size) float32 batch the image encoder takes."""
        return np.asarray(self._image_processor(list(images)), dtype=np.float32)

    def encode_pixels(self, batch: np.ndarray) -> np.ndarray:
        _, embeddings = self._image.run(None, {"images": batch})
        return l2_normalize(embeddings)

    def encode_images(self, images: Sequence[Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_pixels(self.preprocess(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self._ensure_text()
        tokens = self._text_processor(list(texts))
        _, embeddings = self._text.run(
            None, {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}
        )
        return l2_normalize(embeddings)
