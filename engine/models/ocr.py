"""Reading text in pictures: RapidOCR's PP-OCRv4 detector and recognizer (ONNX, shipped in the
``rapidocr-onnxruntime`` wheel, so nothing is downloaded), driven here rather than through
``RapidOCR.__call__`` so that it costs less without reading fewer words.

What is cheaper than RapidOCR's own call, and why it keeps the words:

- **Detection at RapidOCR's scale, but run well.** RapidOCR scales the *short* side up to 736 px before
  detecting (a 640x426 COCO photo is detected at 1120x736) and the detector is most of the time. That
  scale stays: the detector misses small text below it (bench/bench_ocr.py: a short side of 640
  instead of 736 loses a third of the words, an int8 detector a third too). What changes is how the
  cores are used: one ONNX thread per picture and two pictures at once (:func:`read_many`) instead of
  two threads on one picture, and only the pre-processing the detector needs (one resize, one
  normalisation). Measured: 192 vs 347 CPU ms per COCO photo, 8.56 vs 2.87 photos/s, every word kept.
- **Nothing more when the detector finds no text**: no crops, no recognizer call. An optional gate pass
  at the photo's own size (``coarse_side``) can skip the detector proper on photos that show no text
  at all; it is off by default because it misses small text (docs/benchmarks.md).
- **Recognition on the detected boxes only**, cropped from the decoded image, upright.
- **One decode at OCR size**: :func:`load_for_ocr` decodes a 12 MP JPEG at 1/4 scale (DCT scaling), so a
  big photo costs about what a COCO-size one does.
- **Thread counts capped**: one ONNX thread per call (inter-op 1), at most 2 pictures at once; the
  cores are shared with decoders.

Boxes come back normalised to 0..1 of the image that was read, so they can be drawn on any size of
thumbnail or preview.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ModelMissingError

if TYPE_CHECKING:
    from PIL.Image import Image

#: Long side, in pixels, of an optional gate pass that decides whether a photo may hold text (0: no
#: gate, the default). Measured on COCO (docs/benchmarks.md): a 640 px gate saves ~20 % of the CPU but
#: misses the small text (watermarks, distant signs) in 3 of 30 photos, 6 % of the words.
COARSE_SIDE = 0
#: Short side, in pixels, the fine detection pass sees (RapidOCR's own, which upscales COCO photos).
FINE_SIDE = 736
#: Text probability above which one gate-pass pixel opens the gate (DB's own threshold is 0.3).
GATE_THRESH = 0.01
#: Short side to decode a photo at for OCR (JPEG draft mode decodes a 12 MP photo at 1/4 scale for this).
#: Recognition crops come from this image, so it is larger than the detector's.
DECODE_MIN_SIDE = 720
#: Lines the recognizer reads with less confidence than this are dropped (RapidOCR's own default).
MIN_CONFIDENCE = 0.5
#: The version of the whole reading recipe; analyzers store it so a change re-reads the library.
VERSION = "ppocrv4-736-cls-1"


@dataclass(frozen=True)
class TextLine:
    """One line of text read in a picture.

    ``box`` is four (x, y) corners, clockwise from top-left, as fractions 0..1 of the image's width and
    height (so it fits any rescaled copy); ``confidence`` is the recognizer's mean character probability.
    """

    text: str
    box: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
    confidence: float

    def pixel_box(self, width: int, height: int) -> list[tuple[float, float]]:
        """The box in pixels of an image of that size."""
        return [(x * width, y * height) for x, y in self.box]


def model_dir() -> Path:
    """Where the wheel keeps its ONNX models. Raises ModelMissingError when the wheel is not installed."""
    try:
        import rapidocr_onnxruntime
    except ImportError as exc:
        raise ModelMissingError(
            "Text reading needs the rapidocr-onnxruntime package: pip install rapidocr-onnxruntime"
        ) from exc
    return Path(rapidocr_onnxruntime.__file__).resolve().parent / "models"


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, threads)
    env = os.environ.get("LOOKALIKE_OCR_THREADS")
    if env and env.isdigit():
        return max(1, int(env))
    return 1


def default_workers() -> int:
    """Pictures read at once: at most 2 (the cores are shared with decoders and the other stages)."""
    env = os.environ.get("LOOKALIKE_OCR_WORKERS")
    if env and env.isdigit():
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


def to_rgb_array(image: Image | np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 RGB array from a PIL image or an array (grey, RGB or RGBA)."""
    if not isinstance(image, np.ndarray):
        if image.mode != "RGB":
            image = image.convert("RGB")
        return np.asarray(image)
    arr = image
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


class OcrModel:
    """PP-OCRv4 detector + recognizer on ONNX Runtime (CPU). ``read(image)`` returns the lines it reads.

    Loads the models on first use. Thread-safe: ONNX Runtime sessions run concurrently and release the
    GIL, so :meth:`read_many` reads ``workers`` pictures at once with ``threads`` cores per call (one
    thread per picture on few cores uses them better than two threads on one picture: the detector's
    convolutions scale poorly across threads). Raises ModelMissingError when the wheel is absent.
    """

    def __init__(
        self,
        *,
        coarse_side: int = COARSE_SIDE,
        fine_side: int = FINE_SIDE,
        gate_thresh: float = GATE_THRESH,
        use_cls: bool = True,
        threads: int | None = None,
        min_confidence: float = MIN_CONFIDENCE,
        box_thresh: float = 0.5,
        unclip_ratio: float = 1.6,
        det_model: str | os.PathLike[str] | None = None,
    ) -> None:
        self.coarse_side = coarse_side
        self.fine_side = fine_side
        self.gate_thresh = gate_thresh
        self.use_cls = use_cls
        self._cls: Any = None
        self.threads = _threads(threads)
        self.min_confidence = min_confidence
        self._box_thresh = box_thresh
        self._det_model = det_model
        self._unclip_ratio = unclip_ratio
        self._det: Any = None
        self._rec: Any = None
        self._load_lock = threading.Lock()

    # -- loading --------------------------------------------------------------------------------------

    def _config(self, model_file: str) -> dict[str, Any]:
        return {
            "model_path": str(model_dir() / model_file),
            "intra_op_num_threads": self.threads,
            "inter_op_num_threads": 1,
            "use_cuda": False,
            "use_dml": False,
        }

    def load(self) -> None:
        """Load both models now (otherwise the first ``read`` does). Raises ModelMissingError."""
        with self._load_lock:
            if self._det is not None:
                return
            from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
            from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

            det_cfg = self._config("ch_PP-OCRv4_det_infer.onnx") | {
                "model_path": str(self._det_model or model_dir() / "ch_PP-OCRv4_det_infer.onnx"),
                "limit_side_len": self.fine_side,  # unused: detect() resizes itself
                "limit_type": "max",
                "mean": [0.5, 0.5, 0.5],
                "std": [0.5, 0.5, 0.5],
                "thresh": 0.3,
                "box_thresh": self._box_thresh,
                "max_candidates": 1000,
                "unclip_ratio": self._unclip_ratio,
                "use_dilation": True,
                "score_mode": "fast",
            }
            rec_cfg = self._config("ch_PP-OCRv4_rec_infer.onnx") | {
                "rec_img_shape": [3, 48, 320],
                "rec_batch_num": 6,
            }
            for cfg in (det_cfg, rec_cfg):
                if not Path(cfg["model_path"]).is_file():
                    raise ModelMissingError(f"OCR model file missing: {cfg['model_path']}")
            if self.use_cls:
                from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier

                self._cls = TextClassifier(self._config("ch_ppocr_mobile_v2.0_cls_infer.onnx") | {
                    "cls_image_shape": [3, 48, 192], "cls_batch_num": 6, "cls_thresh": 0.9,
                    "label_list": ["0", "180"]})
            rec = TextRecognizer(rec_cfg)
            self._det = TextDetector(det_cfg)
            self._rec = rec

    # -- the stages (public so the benchmark can time each alone) -----------------------------------

    def _det_map(self, bgr: np.ndarray, scale: float) -> tuple[np.ndarray, tuple[int, int]]:
        """The detector's text probability map for ``bgr`` resized by ``scale`` (to multiples of 32),
        and the (height, width) it was computed at."""
        import cv2

        h, w = bgr.shape[:2]
        rh, rw = max(32, round(h * scale / 32) * 32), max(32, round(w * scale / 32) * 32)
        interp = cv2.INTER_AREA if rh * rw < h * w else cv2.INTER_LINEAR
        small = cv2.resize(bgr, (rw, rh), interpolation=interp) if (rh, rw) != (h, w) else bgr
        x = (small.astype(np.float32) * (2 / 255.0) - 1.0).transpose(2, 0, 1)[None]
        pred = self._det.infer(np.ascontiguousarray(x))[0]
        return pred, (h, w)

    def _boxes(self, pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        boxes, _ = self._det.postprocess_op(pred, shape)
        if boxes is None or len(boxes) == 0:
            return np.zeros((0, 4, 2), np.float32)
        boxes = self._det.filter_tag_det_res(np.asarray(boxes, np.float32), shape)
        return np.asarray(boxes, np.float32).reshape(-1, 4, 2)

    def detect(self, rgb: np.ndarray) -> np.ndarray:
        """Text boxes, shape (n, 4, 2) float32, in pixels of ``rgb``, in reading order.

        The detection runs at the scale RapidOCR itself uses (short side ``fine_side``, upscaling small
        photos: the detector misses small text below that, see docs/benchmarks.md). With
        ``coarse_side`` set, a gate pass first, at the photo's own size (never upscaled), asks whether
        any pixel may be text (probability above ``gate_thresh``, far below DB's own 0.3); when none
        is, that is the end.
        """
        self.load()
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])  # the models were trained on OpenCV's BGR order
        h, w = bgr.shape[:2]
        if min(h, w) < 8:
            return np.zeros((0, 4, 2), np.float32)
        fine = min(self.fine_side / min(h, w), 4.0, 4000 / max(h, w))
        coarse = min(1.0, self.coarse_side / max(h, w)) if self.coarse_side else 0.0
        if coarse and coarse < fine * 0.8:
            pred, _ = self._det_map(bgr, coarse)
            if float(pred.max()) <= self.gate_thresh:
                return np.zeros((0, 4, 2), np.float32)
        pred, shape = self._det_map(bgr, fine)
        return _reading_order(self._boxes(pred, shape))

    def recognize(self, rgb: np.ndarray, boxes: np.ndarray) -> list[tuple[str, float]]:
        """(text, confidence) for each box (pixels of ``rgb``), cropped upright from ``rgb``."""
        self.load()
        if len(boxes) == 0:
            return []
        bgr = rgb[:, :, ::-1]
        crops = [_crop(bgr, b) for b in boxes]
        if self._cls is not None:
            crops, _, _ = self._cls(crops)  # turns upside-down lines the right way up
        res, _ = self._rec(crops)
        return [(str(r[0]), float(r[1])) for r in res]

    def read(self, image: Image | np.ndarray) -> list[TextLine]:
        """Detect, then recognise, the text in a decoded RGB image (PIL or array). Lines below
        ``min_confidence`` or without a letter or digit are dropped. An image without text costs one
        detector call."""
        rgb = to_rgb_array(image)
        boxes = self.detect(rgb)
        if len(boxes) == 0:
            return []
        h, w = rgb.shape[:2]
        lines = []
        for box, (text, conf) in zip(boxes, self.recognize(rgb, boxes), strict=True):
            text = text.strip()
            if conf < self.min_confidence or not any(c.isalnum() for c in text):
                continue
            norm = tuple((float(min(max(x / w, 0.0), 1.0)), float(min(max(y / h, 0.0), 1.0))) for x, y in box)
            lines.append(TextLine(text, norm, conf))  # type: ignore[arg-type]
        return lines


def read_many(
    model: OcrModel,
    items: Sequence[Any],
    load: Callable[[Any], Any] | None = None,
    workers: int | None = None,
) -> Iterator[tuple[Any, list[TextLine] | BaseException]]:
    """Read several pictures at once on ``workers`` threads, yielding (item, lines) in input order, or
    (item, the exception) for an item whose ``load(item)`` (decode) or read failed: one bad file never
    stops the others. ``load`` turns an item into an image (default: the item is the image)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(item: Any) -> list[TextLine] | BaseException:
        try:
            return model.read(load(item) if load else item)
        except Exception as exc:  # the caller reports it as that item's failure
            return exc

    n = workers or default_workers()
    if n <= 1 or len(items) <= 1:
        for item in items:
            yield item, one(item)
        return
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="ocr") as pool:
        yield from zip(items, pool.map(one, items), strict=True)


def read_full_resolution(image: Image | np.ndarray, threads: int | None = None) -> list[TextLine]:
    """RapidOCR's own pipeline at its defaults (short side scaled up to 736 for detection, angle
    classifier on): the reference the cheaper :class:`OcrModel` is measured against. Slow; for
    benchmarks and tests."""
    engine = _full_engine(_threads(threads))
    rgb = to_rgb_array(image)
    h, w = rgb.shape[:2]
    result, _ = engine(np.ascontiguousarray(rgb[:, :, ::-1]))
    lines = []
    for box, text, conf in result or []:
        norm = tuple((float(min(max(x / w, 0.0), 1.0)), float(min(max(y / h, 0.0), 1.0))) for x, y in box)
        lines.append(TextLine(str(text).strip(), norm, float(conf)))  # type: ignore[arg-type]
    return lines


_full_engines: dict[int, Any] = {}


def _full_engine(threads: int) -> Any:
    if threads not in _full_engines:
        model_dir()  # a clear ModelMissingError first
        from rapidocr_onnxruntime import RapidOCR

        _full_engines[threads] = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1)
    return _full_engines[threads]


def _reading_order(boxes: np.ndarray) -> np.ndarray:
    """Boxes sorted top to bottom, then left to right within a line (tops within half a line)."""
    if len(boxes) < 2:
        return boxes
    tops = boxes[:, :, 1].min(axis=1)
    lefts = boxes[:, :, 0].min(axis=1)
    heights = np.maximum(boxes[:, :, 1].max(axis=1) - tops, 1.0)
    band = np.floor(tops / (np.median(heights) / 2 + 1e-6))
    order = np.lexsort((lefts, band))
    return boxes[order]


def _crop(bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The box's content warped to an upright rectangle (tall narrow boxes turned to read across)."""
    import cv2

    pts = box.astype(np.float32)
    width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    width, height = max(width, 2), max(height, 2)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    m = cv2.getPerspectiveTransform(pts, dst)
    out = cv2.warpPerspective(bgr, m, (width, height), borderMode=cv2.BORDER_REPLICATE,
                              flags=cv2.INTER_CUBIC)
    if height >= 1.5 * width:
        out = np.rot90(out)
    return np.ascontiguousarray(out)
