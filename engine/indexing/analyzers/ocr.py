"""The OCR analyzer: text in photos and in video moments, read after the embeddings, so photos are
searchable by how they look first and by the words on them a little later.

Per file: a photo is decoded once at the size OCR needs (short side about 720 px; a 12 MP JPEG at 1/4
scale) and read by :class:`engine.models.ocr.OcrModel` (a cheap gate first, so the many photos without
text cost one small detector pass). A video's moments are sampled at the embedding's interval (same
``t``, so a hit lines up with the moment's thumbnail), at OCR size; a moment that looks the same as the
last one read (a static shot, a slide held on screen) is not read again; the others are read two at
a time while the clip decodes on. What was read replaces the
file's rows in ``engine.storage.texts`` in one transaction, and the runner marks the file done after
that, so a kill at any point re-reads at most the file in hand, and re-reading it leaves one copy.

``ocr = false`` in settings.toml turns it off (its files stay pending, and it resumes when turned on).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from engine.core.progress import CancelFn
from engine.indexing.analyzers.base import Analyzer, Inputs, register
from engine.media.kinds import Kind

if TYPE_CHECKING:
    from PIL.Image import Image

    from engine.library import Library
    from engine.models.ocr import OcrModel, TextLine
    from engine.storage.catalog import FileRow

#: Seconds between the video moments read (the embedding's own interval; scene changes come on top).
VIDEO_INTERVAL_S = 2.0
#: At most this many moments of one video are read (spread over its whole length).
MAX_MOMENTS = 600
#: Mean absolute difference (0..255) of two moments' 32x32 grey copies below which the later one is
#: the same picture (held shot, slide, credits) and is not read again.
SAME_PICTURE = 4.0

_model: OcrModel | None = None
_model_lock = threading.Lock()


def load_for_ocr(path: str | os.PathLike[str]) -> Image:
    """Decode a photo once at the size OCR needs (short side about ``DECODE_MIN_SIDE`` of
    engine.models.ocr, never upscaled; JPEGs decoded at reduced DCT scale). Raises DecodeError like
    :func:`engine.media.images.load_photo`. Here, not in the model's module: models do not decode."""
    from engine.media.images import load_photo
    from engine.models.ocr import DECODE_MIN_SIDE

    return load_photo(path, min_side=DECODE_MIN_SIDE)


def ocr_model() -> OcrModel:
    """The process's OCR model (loaded on first use; the sessions are shared by every library)."""
    global _model
    with _model_lock:
        if _model is None:
            from engine.models.ocr import OcrModel

            _model = OcrModel()
        return _model


def read_photo(image: Any, model: OcrModel | None = None) -> list[TextLine]:
    """The lines read in one decoded photo (PIL image or RGB array)."""
    return (model or ocr_model()).read(image)


def _signature(image: Any) -> np.ndarray:
    from PIL import Image as PILImage

    img = image if isinstance(image, PILImage.Image) else PILImage.fromarray(np.asarray(image))
    return np.asarray(img.convert("L").resize((32, 32), PILImage.Resampling.BILINEAR), dtype=np.float32)


def read_moments(
    moments: Any, model: OcrModel | None = None, cancel: Any = None, workers: int | None = None
) -> list[tuple[float, TextLine]]:
    """(t, line) for each line read in a video's moments (``Moment`` objects with ``t`` and ``image``),
    in time order. A moment that looks like the last one read is skipped; the others are read
    ``workers`` at a time while the clip decodes on. Stops early when ``cancel()`` is true."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    from engine.models.ocr import default_workers

    model = model or ocr_model()
    n = workers or default_workers()
    out: list[tuple[float, TextLine]] = []
    last: np.ndarray | None = None
    queue: deque[tuple[float, Future]] = deque()
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="ocr-video") as pool:
        for m in moments:
            if cancel is not None and cancel():
                break
            sig = _signature(m.image)
            if last is not None and float(np.abs(sig - last).mean()) < SAME_PICTURE:
                continue
            last = sig
            queue.append((float(m.t), pool.submit(model.read, m.image)))
            while len(queue) > 2 * n:  # bounded: a long clip never holds more than a few frames
                t, fut = queue.popleft()
                out.extend((t, line) for line in fut.result())
        while queue:
            t, fut = queue.popleft()
            out.extend((t, line) for line in fut.result())
    return out


class OcrAnalyzer(Analyzer):
    name: ClassVar[str] = "ocr"
    #: Bump with engine.models.ocr.VERSION's meaning: a new reading recipe re-reads every file.
    version: ClassVar[int] = 1
    kinds: ClassVar[frozenset[str]] = frozenset({Kind.PHOTO.value, Kind.VIDEO.value})
    needs: ClassVar[str] = "pixels"
    produces: ClassVar[str] = "text rows with boxes (full-text index)"
    # After the embeddings (0) and metadata (10, cheap), before hashes (30) and speech (40, slowest).
    priority: ClassVar[int] = 20
    label: ClassVar[str] = "reading text in photos"
    #: Photos per analyze_many call: read two at a time (engine.models.ocr.read_many).
    batch_size: ClassVar[int] = 8

    def ready(self, lib: Library) -> str | None:
        if not getattr(lib.settings, "ocr", True):
            return "turned off in settings (ocr = false)"
        import importlib.util

        if importlib.util.find_spec("rapidocr_onnxruntime") is None:
            return "the rapidocr-onnxruntime package is not installed (pip install rapidocr-onnxruntime)"
        return None

    def analyze(self, lib: Library, row: FileRow, inputs: Inputs) -> None:
        from engine.models.ocr import DECODE_MIN_SIDE
        from engine.storage.texts import PHOTO_T, TextIndex, TextRow

        model = ocr_model()
        if row.kind == Kind.VIDEO.value:
            moments = inputs.moments(interval=VIDEO_INTERVAL_S, max_moments=MAX_MOMENTS, size=DECODE_MIN_SIDE)
            found = read_moments(moments, model, cancel=inputs)
            if inputs.cancelled:
                return  # part of the clip only: the runner leaves it pending, nothing is stored
            rows = [TextRow(line.text, line.box, line.confidence, t=t) for t, line in found]
        else:
            lines = model.read(inputs.photo(min_side=DECODE_MIN_SIDE))
            rows = [TextRow(line.text, line.box, line.confidence, t=PHOTO_T) for line in lines]
        TextIndex(lib.catalog).replace(row.id, rows)

    def analyze_many(
        self, lib: Library, rows: Sequence[FileRow], cancel: CancelFn
    ) -> Mapping[int, str | None]:
        """Photos decoded and read ``default_workers()`` at a time (a failed decode is that photo's
        reason); videos one by one through :meth:`analyze`. Stops between files on ``cancel()``."""
        from engine.errors import LookalikeError, ModelMissingError
        from engine.models.ocr import read_many
        from engine.storage.texts import PHOTO_T, TextIndex, TextRow

        out: dict[int, str | None] = {}
        photos = [r for r in rows if r.kind != Kind.VIDEO.value]
        videos = [r for r in rows if r.kind == Kind.VIDEO.value]
        if photos and not cancel():
            index = TextIndex(lib.catalog)
            for row, lines in read_many(ocr_model(), photos, lambda r: load_for_ocr(r.path)):
                if isinstance(lines, ModelMissingError):
                    raise lines
                if isinstance(lines, BaseException):
                    user = isinstance(lines, LookalikeError)
                    out[row.id] = str(lines) if user else f"{lines.__class__.__name__}: {lines}"
                else:
                    index.replace(row.id, [TextRow(x.text, x.box, x.confidence, t=PHOTO_T) for x in lines])
                    out[row.id] = None
                if cancel():
                    return out
        if videos:
            out.update(super().analyze_many(lib, videos, cancel))
        return out


OCR = register(OcrAnalyzer())
