"""Sound decoding for the audio encoder: any common audio file, or a video's soundtrack, as 32 kHz mono.

Two back ends, tried in order:

* **soundfile** (libsndfile): WAV, FLAC, OGG/Vorbis, Opus-in-Ogg, MP3, AIFF, … Exact seeking, cheap.
* **PyAV** (FFmpeg), when soundfile cannot open the file: M4A/AAC, WMA, and the audio track inside
  video containers (MP4, MKV, WebM, …).

Samples are downmixed to mono by averaging the channels (what PANNs saw in training: librosa's
``mono=True`` does the same) and resampled with soxr. Long files are streamed: :func:`iter_audio_chunks`
holds one input block, the resampler's state and one output chunk at a time, whatever the file's length.

Every failure raises :class:`engine.errors.DecodeError` with a one-line reason meant for a person.
A file that breaks off in the middle (truncated download, corrupt frames) yields what could be decoded
before the break; only a file with no decodable audio at all is an error.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DecodeError

log = logging.getLogger(__name__)

#: The rate every model here expects (PANNs were trained at 32 kHz).
SAMPLE_RATE = 32_000
#: Samples beyond this (full scale is 1.0) are clipped: the model's power spectrum would overflow.
MAX_SAMPLE = 8.0
#: Default chunk length for streaming: PANNs were trained on 10 s clips.
CHUNK_SECONDS = 10.0
#: Frames read from soundfile per block: ~1.5 s at 44.1 kHz, whatever the file's length.
_SF_BLOCK = 65_536
#: Consecutive undecodable packets after which PyAV decoding gives up (a corrupt tail, not a glitch).
_MAX_BAD_PACKETS = 200

PathLike = str | os.PathLike[str]


# --------------------------------------------------------------------------------------------------
# Native-rate sources: (sample rate, iterator of mono float32 blocks starting at ``start`` seconds)
# --------------------------------------------------------------------------------------------------


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) float → (frames,) float32; NaN/inf become 0 (they would poison
    every later sum in the model)."""
    block = np.asarray(block, dtype=np.float32)
    if block.ndim == 2:
        # The channel mean as a matrix-vector product: numpy's strided mean(axis=1) is ~3x slower,
        # enough to show in the decoder's throughput.
        mono = block @ np.full(block.shape[1], 1.0 / block.shape[1], dtype=np.float32)
    else:
        mono = block
    # Two cheap reductions instead of elementwise isfinite/abs passes. NaN/inf would poison every later
    # sum in the model, and finite but huge samples (a float WAV of ±3e38) overflow its power spectrum:
    # clip to a few times full scale, which the model handles.
    if mono.size:
        hi, lo = float(mono.max()), float(mono.min())
        if not (np.isfinite(hi) and np.isfinite(lo)) or hi > MAX_SAMPLE or lo < -MAX_SAMPLE:
            mono = np.clip(np.nan_to_num(mono, nan=0.0, posinf=0.0, neginf=0.0), -MAX_SAMPLE, MAX_SAMPLE)
    return mono


def _open_soundfile(path: Path) -> Any:
    import soundfile as sf

    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as e:
        raise _SoundfileCannot(str(e)) from e
    if f.samplerate <= 0 or f.channels <= 0:
        f.close()
        raise _SoundfileCannot("no sample rate or channels")
    return f


class _SoundfileCannot(Exception):
    """soundfile cannot open the file; PyAV gets a try."""


def _soundfile_first(f: Any, start_s: float) -> np.ndarray | None:
    """Seek to ``start_s`` and read the first block; None when soundfile cannot decode the file's samples
    (then PyAV gets a try) or there are none."""
    import soundfile as sf

    try:
        if start_s > 0:
            target = int(round(start_s * f.samplerate))
            if 0 <= f.frames <= target:
                return np.zeros(0, dtype=np.float32)
            f.seek(target)
        block = f.read(_SF_BLOCK, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return None
    if block.shape[0] == 0:
        return None
    return _to_mono(block)


def _soundfile_blocks(f: Any, first: np.ndarray, start_s: float, path: Path) -> Iterator[np.ndarray]:
    import soundfile as sf

    rate = int(f.samplerate)
    expected = int(f.frames) - int(round(start_s * rate))  # what the header promises from start_s on
    got = first.size
    try:
        yield first
        while True:
            try:
                block = f.read(_SF_BLOCK, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as e:
                log.warning("%s: libsndfile stopped early: %s", path, e)
                break
            # Only an empty read is the end: MP3 reads come back short around a resync.
            if block.shape[0] == 0:
                break
            got += block.shape[0]
            yield _to_mono(block)
    finally:
        f.close()
    if 0 < expected < 2**62 and expected - got > rate // 4:
        # libsndfile gave up well before the end its header announced: mpg123 stops at the first
        # corrupt MP3 frame, where FFmpeg skips it and goes on. Let FFmpeg decode the rest.
        yield from _av_resume(path, rate, start_s + got / rate)


def _av_resume(path: Path, rate: int, at_s: float) -> Iterator[np.ndarray]:
    """The samples from ``at_s`` on as decoded by PyAV; nothing when PyAV cannot do better."""
    try:
        container, stream = _av_open(path)
    except DecodeError:
        return
    if int(stream.codec_context.sample_rate) != rate:
        container.close()
        return
    resumed = 0
    for block in _av_blocks(container, stream, at_s, path):
        resumed += block.size
        yield block
    if resumed:
        log.warning("%s: %.1f s after a decoding error were recovered with FFmpeg", path, resumed / rate)


def _av_open(path: Path) -> tuple[Any, Any]:
    import av

    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
        raise DecodeError(f"Not a readable audio or video file: {_short(e)}") from e
    if not container.streams.audio:
        container.close()
        raise DecodeError("The file has no audio track")
    stream = container.streams.audio[0]
    if stream.codec_context is None or stream.codec_context.sample_rate in (None, 0):
        container.close()
        raise DecodeError(f"The audio track's codec ({stream.codec_context.name!r}) is not supported")
    return container, stream


def _av_frame_to_mono(frame: Any, resampler: Any) -> np.ndarray:
    # Converting to planar float keeps rate and layout; mixing to mono is ours (a plain mean, as for
    # soundfile), so both back ends hand the model the same signal for the same file.
    parts = [f.to_ndarray() for f in resampler.resample(frame)]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    planar = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return _to_mono(planar.T)


def _av_blocks(container: Any, stream: Any, start_s: float, path: Path) -> Iterator[np.ndarray]:
    import av

    try:
        rate = int(stream.codec_context.sample_rate)
        # Planar float at the same rate and layout; the mono mix is ours (see _av_frame_to_mono).
        resampler = av.AudioResampler(format="fltp")
        start_at = int(round(start_s * rate))  # in samples
        # ``position`` is where the next decoded sample sits; unknown after a seek until the first frame
        # (seeking lands on a packet boundary before ``start_s``, so samples before it are dropped).
        position: int | None = 0
        if start_s > 0:
            try:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
                position = None
            except av.error.FFmpegError:
                position = 0  # unseekable: decode from the start and drop samples
        bad = 0
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as e:
                # Corrupt frames in the middle of an MP3/AAC stream: skip them and go on.
                bad += 1
                if bad >= _MAX_BAD_PACKETS:
                    log.warning("%s: giving up after %d undecodable packets: %s", path, bad, _short(e))
                    break
                continue
            bad = 0
            for frame in frames:
                if position is None:
                    if frame.pts is not None and frame.time_base is not None:
                        position = int(round(float(frame.pts * frame.time_base) * rate))
                    else:
                        position = start_at
                mono = _av_frame_to_mono(frame, resampler)
                position, mono = position + mono.size, mono[max(0, start_at - position) :]
                if mono.size:
                    yield mono
        tail = [f.to_ndarray() for f in resampler.resample(None)]
        if tail and position is not None:
            mono = _to_mono(np.concatenate(tail, axis=1).T)
            mono = mono[max(0, start_at - position) :]
            if mono.size:
                yield mono
    except av.error.FFmpegError as e:
        log.warning("%s: decoding stopped early: %s", path, _short(e))
    finally:
        container.close()


def _open_native(path: PathLike, start_s: float = 0.0) -> tuple[int, Iterator[np.ndarray]]:
    """The file's native sample rate and its mono blocks from ``start_s`` on. Raises DecodeError."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise DecodeError(f"File not found: {p}") from None
    except OSError as e:
        raise DecodeError(f"Cannot read the file: {e.strerror or e}") from e
    if not p.is_file():
        raise DecodeError("Not a regular file")
    if size == 0:
        raise DecodeError("The file is empty (0 bytes)")
    sf_error: Exception
    try:
        f = _open_soundfile(p)
    except _SoundfileCannot as e:
        sf_error = e
    else:
        first = _soundfile_first(f, start_s)
        if first is not None:
            if first.size == 0:  # start_s is past the end
                f.close()
                return int(f.samplerate), iter(())
            return int(f.samplerate), _soundfile_blocks(f, first, start_s, p)
        # Opened but its samples would not decode (e.g. a broken MP3 start): FFmpeg is more forgiving.
        sf_error = _SoundfileCannot("no decodable samples")
        f.close()
    try:
        container, stream = _av_open(p)
    except DecodeError as av_error:
        raise DecodeError(f"{av_error} (libsndfile: {_short(sf_error)})") from av_error
    return int(stream.codec_context.sample_rate), _av_blocks(container, stream, start_s, p)


# --------------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------------


def _resampled(blocks: Iterator[np.ndarray], in_rate: int, out_rate: int) -> Iterator[np.ndarray]:
    """Stream ``blocks`` through soxr's streaming resampler: constant memory, no seams between blocks."""
    if in_rate == out_rate:
        yield from blocks
        return
    import soxr

    rs = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")
    for block in blocks:
        out = rs.resample_chunk(block, last=False)
        if out.size:
            yield out
    out = rs.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    if out.size:
        yield out


def _rechunk(blocks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """Regroup arbitrary blocks into chunks of exactly ``size`` samples (the last may be shorter)."""
    buf = np.empty(size, dtype=np.float32)
    fill = 0
    for block in blocks:
        i = 0
        while i < block.size:
            n = min(size - fill, block.size - i)
            buf[fill : fill + n] = block[i : i + n]
            fill += n
            i += n
            if fill == size:
                yield buf.copy()
                fill = 0
    if fill:
        yield buf[:fill].copy()


# --------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------


def iter_audio_chunks(
    path: PathLike, sr: int = SAMPLE_RATE, chunk_s: float = CHUNK_SECONDS
) -> Iterator[np.ndarray]:
    """Stream a sound file (or a video's soundtrack) as float32 mono chunks of ``chunk_s`` seconds at
    ``sr`` Hz; every chunk has exactly ``round(chunk_s * sr)`` samples except the last, which is shorter.

    Memory stays bounded by one input block plus one chunk, however long the file.

    Raises DecodeError (before the first chunk) when the file is missing, empty, not audio, has no audio
    track or uses a codec that cannot be decoded, or when it holds no decodable samples at all. A file
    that breaks off later ends early instead: what was decoded is kept, and a warning is logged.
    """
    if sr <= 0 or not chunk_s > 0:
        raise ValueError("sr and chunk_s must be positive")
    size = max(1, int(round(chunk_s * sr)))
    in_rate, blocks = _open_native(path, 0.0)
    chunks = _rechunk(_resampled(blocks, in_rate, sr), size)
    first = next(chunks, None)
    if first is None:
        raise DecodeError("The file contains no audio samples")
    return _prepend(first, chunks)


def _prepend(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def load_audio(
    path: PathLike,
    sr: int = SAMPLE_RATE,
    max_seconds: float | None = None,
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Decode a whole short file, or the range ``[start, end)`` seconds of any file, as float32 mono at
    ``sr`` Hz. ``max_seconds`` caps the length returned (use it for files of unknown length: a query
    sound dropped by the user, a clip). Only the part asked for is decoded after seeking.

    Raises DecodeError like :func:`iter_audio_chunks`, and when the range holds no samples (``start``
    past the end of the file). Raises ValueError for a negative or empty range.
    """
    start_s = float(start or 0.0)
    if start_s < 0 or (end is not None and end <= start_s):
        raise ValueError(f"bad time range: start={start!r}, end={end!r}")
    limit = math.inf
    if end is not None:
        limit = end - start_s
    if max_seconds is not None:
        limit = min(limit, float(max_seconds))
    want = None if math.isinf(limit) else max(1, int(round(limit * sr)))

    in_rate, blocks = _open_native(path, start_s)
    out: list[np.ndarray] = []
    got = 0
    stream = _resampled(blocks, in_rate, sr)
    try:
        for block in stream:
            if want is not None and got + block.size >= want:
                out.append(block[: want - got])
                got = want
                break
            out.append(block)
            got += block.size
    finally:
        # Closes the file now even when we stopped early.
        with suppress(Exception):
            _close(stream)
            _close(blocks)
    if got == 0:
        if start_s > 0:
            raise DecodeError(f"No audio at {start_s:.1f} s: the file is shorter")
        raise DecodeError("The file contains no audio samples")
    return np.concatenate(out) if len(out) > 1 else out[0]


def _close(gen: Any) -> None:
    close: Callable[[], None] | None = getattr(gen, "close", None)
    if close is not None:
        close()


def audio_duration(path: PathLike) -> float | None:
    """The duration in seconds from the file's headers, without decoding; None when the headers do not
    say (some raw streams, live recordings). Raises DecodeError when the file cannot be opened as audio.
    """
    p = Path(path)
    if not p.is_file():
        raise DecodeError(f"File not found: {p}")
    if p.stat().st_size == 0:
        raise DecodeError("The file is empty (0 bytes)")
    try:
        f = _open_soundfile(p)
    except _SoundfileCannot as sf_error:
        try:
            container, stream = _av_open(p)
        except DecodeError as av_error:
            raise DecodeError(f"{av_error} (libsndfile: {_short(sf_error)})") from av_error
        try:
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000  # AV_TIME_BASE
            return None
        finally:
            container.close()
    try:
        if f.frames <= 0 or f.frames >= 2**62:  # libsndfile's "unknown" is a huge count
            return None
        return f.frames / f.samplerate
    finally:
        f.close()


def _short(e: object) -> str:
    """One line, no path (the UI shows the path beside the error), at most 200 characters."""
    text = " ".join(str(e).split())
    return text[:200] if text else type(e).__name__
