"""Waveform pictures of sounds: each sound's own shape on its result tile, so twenty "dog barking"
results do not look alike.

The picture is made once, at index time, from the audio the sound pipeline already decodes for its
embeddings: :class:`Envelope` keeps a per-bin minimum, maximum and sum of squares of the chunks as they
stream past (one reshape and three reductions per 10 s chunk: about 1 ms, beside PANNs' hundreds), in
bins that double in length whenever there are too many, so memory stays a few kilobytes for any
length. :func:`render_waveform` draws it as a small RGBA PNG (peaks light, RMS solid, on a
transparent background, so it reads on light and dark palettes), saved beside the thumbnails under
:func:`waveform_key`. Files indexed before this existed get theirs on first display:
:func:`make_waveform_file` decodes the file once (the app calls it on its thumbnail thread).

The amplitude is scaled to the file's own peak (a quiet recording still shows its shape); silence draws
a flat line. Time runs left to right over the whole file, so ``t / duration`` of a matched segment is
where it is in the picture.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import DecodeError
from engine.media.thumbnails import thumbnail_path

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

#: Width and height of the picture: a result tile's thumbnail area is about 170 x 140 points, so this
#: is sharp at 1.5x scaling and stays around 5 KB as a PNG.
WIDTH, HEIGHT = 256, 128
#: Bins kept before pairs are merged (then each covers twice as many samples): 4 per column.
MAX_BINS = 4 * WIDTH
#: Samples per bin to start with (2 ms at the 32 kHz the sound pipeline decodes at).
FIRST_BIN = 64
#: Peaks (min..max) light, RMS solid: the accent colour of the app's glyphs.
PEAK_RGBA = (61, 124, 242, 110)
RMS_RGBA = (61, 124, 242, 255)
#: Sample rate for a waveform made on first display: a quarter of the pipeline's, for a cheaper
#: resample; an envelope at pixel width looks the same.
LAZY_RATE = 8000


def waveform_key(path: str, size: int, mtime: float) -> str:
    """The cache key of a sound's waveform: changes whenever the file does (a re-recorded take gets
    a new picture). The indexer and the app compute it from the same catalog fields."""
    return hashlib.sha1(f"wave:{path}:{size}:{mtime:.3f}".encode("utf-8", "surrogatepass")).hexdigest()


def waveform_path(cache_dir: str | os.PathLike[str], key: str) -> Path:
    """Where the waveform for ``key`` is (or would be) stored, beside the thumbnails (no disk access)."""
    return thumbnail_path(cache_dir, key).with_suffix(".png")


@dataclass
class Shape:
    """An envelope per column: ``low``/``high`` (the extremes, in [-1, 1]) and ``rms``, each as many
    values as columns; ``seconds`` is the length of the audio they cover."""

    low: np.ndarray
    high: np.ndarray
    rms: np.ndarray
    seconds: float


class Envelope:
    """Accumulates a stream of float32 mono chunks at ``sr`` Hz into :data:`MAX_BINS` bins or fewer.

    Bin ``i`` always covers samples ``[i * bin, (i + 1) * bin)`` of the stream, so the result does not
    depend on how the stream was cut into chunks. When there are too many bins, neighbours merge and
    ``bin`` doubles; an odd last bin becomes the first half of the new open bin, which later samples
    complete. Not thread-safe: one per stream.
    """

    def __init__(self, sr: int, *, max_bins: int = MAX_BINS, first_bin: int = FIRST_BIN) -> None:
        import numpy as np

        self.sr = sr
        self.max_bins = max(2, max_bins)
        self.bin = max(1, first_bin)
        self.samples = 0
        self._low = np.zeros(0, np.float32)
        self._high = np.zeros(0, np.float32)
        self._sq = np.zeros(0, np.float64)
        #: The open bin: statistics (low, high, sum of squares, samples) of its first samples, which
        #: were in a bin before a merge; then ``_rest``, samples not yet in any bin.
        self._open: tuple[float, float, float, int] | None = None
        self._rest = np.zeros(0, np.float32)

    def add(self, chunk: np.ndarray) -> None:
        import numpy as np

        x = np.asarray(chunk, dtype=np.float32).reshape(-1)
        self.samples += len(x)
        if len(self._rest):
            x = np.concatenate([self._rest, x])
        if self._open is not None:
            need = self.bin - self._open[3]
            if len(x) < need:
                self._rest = x.copy()
                return
            lo, hi, sq, _n = self._open
            head = x[:need]
            closed = (min(lo, float(head.min())), max(hi, float(head.max())), sq + _sumsq(head))
            self._append(*(np.array([v]) for v in closed))
            self._open = None
            x = x[need:]
        k = len(x) // self.bin
        if k:
            blocks = x[: k * self.bin].reshape(k, self.bin)
            self._append(
                blocks.min(axis=1), blocks.max(axis=1), np.square(blocks, dtype=np.float64).sum(axis=1)
            )
        self._rest = x[k * self.bin :].copy()
        while len(self._low) > self.max_bins:
            self._halve()

    def tap(self, chunks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Pass ``chunks`` through unchanged, adding each one on the way (for a pipeline that eats them)."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk

    def _append(self, low: np.ndarray, high: np.ndarray, sq: np.ndarray) -> None:
        import numpy as np

        self._low = np.concatenate([self._low, low.astype(np.float32)])
        self._high = np.concatenate([self._high, high.astype(np.float32)])
        self._sq = np.concatenate([self._sq, sq.astype(np.float64)])

    def _halve(self) -> None:
        import numpy as np

        n = len(self._low) // 2 * 2
        if n < len(self._low):  # the odd last bin opens the next, twice as long
            last = (float(self._low[-1]), float(self._high[-1]), float(self._sq[-1]), self.bin)
            if self._open is not None:  # (only when several halvings run at once)
                lo, hi, sq, m = self._open
                last = (min(last[0], lo), max(last[1], hi), last[2] + sq, last[3] + m)
            self._open = last
        self._low = np.minimum(self._low[0:n:2], self._low[1:n:2])
        self._high = np.maximum(self._high[0:n:2], self._high[1:n:2])
        self._sq = self._sq[0:n:2] + self._sq[1:n:2]
        self.bin *= 2

    def shape(self, columns: int = WIDTH) -> Shape:
        """The envelope in ``columns`` columns (fewer when the sound has fewer bins: a click of a few
        milliseconds). Raises ValueError when no sample was added."""
        import numpy as np

        low, high, sq = self._low, self._high, self._sq
        counts = np.full(len(low), float(self.bin))
        lo, hi, s, m = self._open if self._open is not None else (np.inf, -np.inf, 0.0, 0)
        if len(self._rest):
            lo, hi = min(lo, float(self._rest.min())), max(hi, float(self._rest.max()))
            s, m = s + _sumsq(self._rest), m + len(self._rest)
        if m:  # the last, partial bin
            low, high = np.append(low, lo), np.append(high, hi)
            sq, counts = np.append(sq, s), np.append(counts, float(m))
        n = len(low)
        if n == 0:
            raise ValueError("no audio samples")
        cols = min(columns, n)
        starts = np.unique((np.arange(cols) * n // cols).astype(np.int64))
        rms = np.sqrt(np.add.reduceat(sq, starts) / np.add.reduceat(counts, starts))
        return Shape(
            np.minimum.reduceat(low, starts),
            np.maximum.reduceat(high, starts),
            rms.astype(np.float32),
            self.samples / self.sr,
        )


def _sumsq(x: np.ndarray) -> float:
    import numpy as np

    return float(np.square(x, dtype=np.float64).sum())


def render_waveform(shape: Shape, width: int = WIDTH, height: int = HEIGHT) -> Image:
    """Draw ``shape`` as an RGBA picture ``width`` x ``height``: the peaks light, the RMS solid, scaled to
    the loudest peak; a flat line for silence."""
    import numpy as np
    from PIL import Image as PILImage

    n = len(shape.low)
    col = np.minimum((np.arange(width) * n) // width, n - 1)  # each pixel column's envelope column
    low, high, rms = shape.low[col], shape.high[col], shape.rms[col]
    peak = float(max(np.abs(low).max(), np.abs(high).max(), 1e-9))
    if peak < 1e-4:  # digital silence (or close): a line, not amplified noise
        low = high = rms = np.zeros(width, np.float32)
        peak = 1.0
    mid, half = (height - 1) / 2.0, (height - 2) / 2.0
    rows = np.arange(height, dtype=np.float32)[:, None]
    top = mid - np.clip(high / peak, -1, 1) * half
    bottom = mid - np.clip(low / peak, -1, 1) * half
    r = np.clip(rms / peak, 0, 1) * half
    # At least a pixel everywhere, so quiet stretches still show where the sound is.
    peaks = (rows >= np.minimum(top, mid - 0.5) - 0.5) & (rows <= np.maximum(bottom, mid + 0.5) + 0.5)
    body = (rows >= mid - r - 0.5) & (rows <= mid + r + 0.5)
    img = np.zeros((height, width, 4), np.uint8)
    img[peaks] = PEAK_RGBA
    img[body] = RMS_RGBA
    return PILImage.fromarray(img, "RGBA")


def save_waveform(cache_dir: str | os.PathLike[str], key: str, image: Image) -> Path:
    """Store ``image`` as the waveform for ``key`` (atomically: a reader sees the old file or the new
    one). Returns its path. Raises ValueError for an empty key, OSError when the cache cannot be written."""
    path = waveform_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        image.save(tmp, "PNG", optimize=True)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def make_waveform_file(
    cache_dir: str | os.PathLike[str], key: str, src_path: str | os.PathLike[str], *, sr: int = LAZY_RATE
) -> Path:
    """The waveform file for ``key`` of the sound at ``src_path``: the cached one, else made now by
    decoding the whole file (seconds for an hour of audio: call it off the GUI thread). Raises
    DecodeError for a file with no decodable audio, OSError when the cache cannot be written."""
    dest = waveform_path(cache_dir, key)
    if dest.is_file():
        return dest
    if not Path(src_path).is_file():  # moved or deleted since it was indexed: no decoder needed to say so
        raise DecodeError(f"{src_path}: no such file")
    from engine.media.audio import iter_audio_chunks

    env = Envelope(sr, first_bin=max(1, FIRST_BIN * sr // 32000))
    for chunk in iter_audio_chunks(src_path, sr=sr, chunk_s=30.0):
        env.add(chunk)
    return save_waveform(cache_dir, key, render_waveform(env.shape()))
