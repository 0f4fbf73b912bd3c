"""UForm3 image-text encoders run with ONNX Runtime (the uform package's ONNX format and processors).

The model folder holds ``config.json``, ``tokenizer.json``, ``image_encoder.onnx`` and
``text_encoder.onnx`` exactly as published on the Hugging Face Hub
(unum-cloud/uform3-image-text-english-small).
Preprocessing uses uform's own numpy processors so images and text are prepared as the model was trained.
ONNX Runtime rather than torch: no torchvision is needed, and it measured faster on CPU.

On the CPU the image encoder runs as an int8 copy (ONNX Runtime dynamic quantization of its weights,
about 2.3x faster here), made once next to the published file (``image_encoder.int8.onnx``, under a
second) and accepted only if its embeddings of a set of test pictures stay within cosine
:data:`MIN_INT8_COSINE` of the full-precision ones; otherwise, or when it cannot be written, the
published fp32 file is used. ``precision="fp32"`` (setting ``image_precision``) turns it off.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ModelFileError
from engine.models.base import l2_normalize
from engine.models.device import inference_threads, onnx_providers

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

IMAGE_FILE = "image_encoder.onnx"
INT8_FILE = "image_encoder.int8.onnx"
INT8_CHECK = "image_encoder.int8.json"
#: The int8 image encoder is used only if its embeddings stay this close to fp32 on the test pictures.
MIN_INT8_COSINE = 0.99


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
    the folder's files are missing or not a UForm model. Each side loads on first use: indexing needs
    only the image encoder, a text search only the text encoder.
    """

    def __init__(self, folder: Path, model_id: str, device: str = "cpu", precision: str = "int8") -> None:
        from engine.models.preprocess import ClipPreprocess

        self.folder = Path(folder)
        self.model_id = model_id
        self.device = device
        config_path = self.folder / "config.json"
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            image_cfg = config.get("image_encoder", config)
            self.image_size = int(image_cfg["image_size"])
            self.dim = int(image_cfg["embedding_dim"])
            # Our own, not uform's numpy ImageProcessor, which distorts portrait photos (see preprocess.py).
            self._image_processor = ClipPreprocess(
                self.image_size, image_cfg["normalization_means"], image_cfg["normalization_deviations"]
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelFileError(f"{config_path} is not a UForm config: {exc}") from exc
        self.precision = "int8" if precision == "int8" and device == "cpu" else "fp32"
        self._image: Any = None
        self._text: Any = None
        self._text_processor: Any = None

    def _ensure_image(self) -> Any:
        if self._image is None:
            path = self.folder / IMAGE_FILE
            if self.precision == "int8":
                int8 = int8_image_encoder(self.folder, self.preprocess)
                if int8 is None:
                    self.precision = "fp32"
                else:
                    path = int8
            self._image = _session(path, self.device)
        return self._image

    def _ensure_text(self) -> None:
        if self._text is None:
            from uform.numpy_processors import TextProcessor

            self._text_processor = TextProcessor(
                str(self.folder / "config.json"), str(self.folder / "tokenizer.json")
            )
            self._text = _session(self.folder / "text_encoder.onnx", self.device)

    def preprocess(self, images: Sequence[Image]) -> np.ndarray:
        """Resize, crop and normalise to the (n, 3, size, size) float32 batch the image encoder takes."""
        return self._image_processor(list(images))

    def encode_pixels(self, batch: np.ndarray) -> np.ndarray:
        _, embeddings = self._ensure_image().run(None, {"images": batch})
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


def _test_pictures() -> list[Image]:
    """Pictures with the structure photos have (smooth gradients, edges, fine texture, flat areas),
    made here so checking a quantized encoder needs no files."""
    from PIL import Image as PILImage

    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:256, 0:256].astype(np.float32) / 255.0
    planes = [
        np.stack([x, y, 1 - x], axis=-1),
        np.stack([(np.sin(x * 40) > 0), (np.cos(y * 25) > 0), x > y], axis=-1).astype(np.float32),
        np.clip(rng.normal(0.5, 0.25, (256, 256, 3)), 0, 1),
        np.stack([np.hypot(x - 0.5, y - 0.5) < 0.3, np.zeros_like(x), np.ones_like(x) * 0.6], axis=-1),
        np.stack([x * 0.2 + 0.7, y * 0.3 + 0.4, np.full_like(x, 0.2)], axis=-1),
        np.clip(np.stack([x, x, x], axis=-1) + rng.normal(0, 0.05, (256, 256, 3)), 0, 1),
    ]
    return [PILImage.fromarray((p * 255).astype(np.uint8)) for p in planes]


def int8_image_encoder(folder: Path, preprocess: Any) -> Path | None:
    """The int8 copy of ``folder``'s image encoder, made (and checked against fp32) if missing or older
    than the published file; the published file itself when it is quantized already (UForm3 small's is:
    22.6 MB for ViT-S/16's 22M weights); None when it cannot be made or strays beyond
    :data:`MIN_INT8_COSINE`."""
    src, dst, check = folder / IMAGE_FILE, folder / INT8_FILE, folder / INT8_CHECK
    try:
        if _quantized(src):
            return src
        st = src.stat()
        stamp = {"source_size": st.st_size, "source_mtime_ns": st.st_mtime_ns}
        try:
            known = json.loads(check.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = None
        if isinstance(known, dict) and all(known.get(k) == v for k, v in stamp.items()):
            if not known.get("accepted"):
                return None
            if dst.is_file():
                return dst
        return _make_int8(src, dst, check, stamp, preprocess)
    except Exception as exc:  # quantization or a read-only folder: full precision still works
        log.warning("using the full-precision image encoder: no int8 copy (%s)", exc)
        return None


_QUANTIZED_OPS = {"MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "DynamicQuantizeLinear"}


def _quantized(path: Path) -> bool:
    """Whether the ONNX graph at ``path`` already computes in int8 (its weights are not read)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return any(node.op_type in _QUANTIZED_OPS for node in graph.node)


def _make_int8(src: Path, dst: Path, check: Path, stamp: dict, preprocess: Any) -> Path | None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = dst.with_name(f"{dst.name}.{os.getpid()}.tmp")
    try:
        quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8)
        batch = preprocess(_test_pictures())
        full = l2_normalize(_session(src, "cpu").run(None, {"images": batch})[1])
        low = l2_normalize(_session(tmp, "cpu").run(None, {"images": batch})[1])
        cosine = float((full * low).sum(axis=1).min())
        accepted = cosine >= MIN_INT8_COSINE
        if accepted:
            os.replace(tmp, dst)
        verdict = dict(stamp, accepted=accepted, min_cosine=round(cosine, 5))
        check_tmp = check.with_name(f"{check.name}.{os.getpid()}.tmp")
        check_tmp.write_text(json.dumps(verdict), encoding="utf-8")
        os.replace(check_tmp, check)
    finally:
        tmp.unlink(missing_ok=True)
    if not accepted:
        log.warning("int8 image encoder strays to cosine %.4f of fp32: using fp32", cosine)
        return None
    log.info("made the int8 image encoder (cosine to fp32 >= %.4f on the test pictures)", cosine)
    return dst
