"""Sound decoding: formats, rates and channel layouts to 32 kHz mono; streaming; bad files.

Every sound here is generated with numpy (tones, noise, chirps, clicks) and written with soundfile or
encoded with PyAV, so the tests need no data files.
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.errors import DecodeError
from engine.media.audio import SAMPLE_RATE, audio_duration, iter_audio_chunks, load_audio

SR = SAMPLE_RATE

# --------------------------------------------------------------------------------------------------
# Synthetic sounds (also used by test_panns.py)
# --------------------------------------------------------------------------------------------------

KINDS = (
    "hum",
    "whistle",
    "chord",
    "chirp",
    "white",
    "rumble",
    "hiss",
    "clicks",
    "beeps",
    "am_noise",
    "siren",
)


def make_sound(kind: str, sr: int, seconds: float = 4.0, seed: int = 0, floor: float = 0.01) -> np.ndarray:
    """A mono float32 test sound. ``floor`` adds a background noise (-40 dBFS by default) as every real
    recording has one: a purely digital tone has spectral bands at exactly zero, where any codec noise
    is an enormous change in log-mel terms."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr

    def band(lo: float, hi: float) -> np.ndarray:
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.fft.rfftfreq(n, 1 / sr)
        spec[(f < lo) | (f > hi)] = 0
        y = np.fft.irfft(spec, n)
        return y / np.abs(y).max()

    if kind == "tone":
        x = 0.3 * np.sin(2 * np.pi * 440 * t)
    elif kind == "hum":
        x = sum(0.3 / k * np.sin(2 * np.pi * 120 * k * t) for k in range(1, 8))
    elif kind == "whistle":
        x = 0.3 * np.sin(2 * np.pi * np.cumsum(2500 + 60 * np.sin(2 * np.pi * 5 * t)) / sr)
    elif kind == "chord":
        x = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in (262, 330, 392))
    elif kind == "chirp":
        x = 0.3 * np.sin(2 * np.pi * (100 * t + 3900 * t**2 / (2 * seconds)))
    elif kind == "white":
        x = 0.1 * rng.standard_normal(n)
    elif kind == "rumble":
        x = 0.5 * band(20, 300)
    elif kind == "hiss":
        x = 0.3 * band(4000, 8000)
    elif kind == "clicks":
        x = np.zeros(n)
        x[:: int(sr / 8)] = 0.9
    elif kind == "beeps":
        x = 0.3 * np.sin(2 * np.pi * 1000 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    elif kind == "am_noise":
        x = 0.1 * rng.standard_normal(n) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    elif kind == "siren":
        x = 0.3 * np.sin(2 * np.pi * np.cumsum(800 + 400 * np.sin(2 * np.pi * 0.5 * t)) / sr)
    else:
        raise ValueError(kind)
    x = x + floor * np.random.default_rng(seed + 1000 + len(kind)).standard_normal(n)
    return np.asarray(x, dtype=np.float32)


def tones(sr: int, seconds: float, freqs: list[float]) -> np.ndarray:
    """(frames, channels): one sine per channel, at the given frequencies."""
    t = np.arange(int(round(seconds * sr))) / sr
    return np.stack([0.2 * np.sin(2 * np.pi * f * t) for f in freqs], axis=1).astype(np.float32)


def av_encode(path: Path, data: np.ndarray, sr: int, codec: str, container: str | None = None) -> Path:
    """Encode (frames, channels) float audio with PyAV; skips the test when FFmpeg lacks the encoder."""
    av = pytest.importorskip("av")
    layouts = {1: "mono", 2: "stereo", 6: "5.1"}
    layout = layouts[data.shape[1]]
    try:
        out = av.open(str(path), "w", format=container)
        stream = out.add_stream(codec, rate=sr, layout=layout)
        stream.bit_rate = 128_000  # some encoders (wmav2) have no default
        fmt = stream.codec_context.codec.audio_formats[0].name
    except (av.error.FFmpegError, ValueError) as e:
        pytest.skip(f"FFmpeg here cannot encode {codec}: {e}")
    resampler = av.AudioResampler(format=fmt, layout=layout, rate=sr)
    step = 4096
    try:
        for i in range(0, data.shape[0], step):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[i : i + step].T), format="fltp", layout=layout
            )
            frame.sample_rate = sr
            frame.pts = i
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    except av.error.FFmpegError as e:  # pragma: no cover - depends on the FFmpeg build
        pytest.skip(f"FFmpeg here cannot encode {codec}: {e}")
    finally:
        out.close()
    return path


def dominant_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[spec.argmax()])


# --------------------------------------------------------------------------------------------------
# Formats, rates, layouts
# --------------------------------------------------------------------------------------------------

# (extension, writer, sample rate, channels, tolerance on the duration in seconds)
SOUNDFILE_CASES = [
    ("wav", 8000, 1, 0.001),
    ("wav", 96000, 2, 0.001),
    ("flac", 44100, 6, 0.001),
    ("flac", 22050, 2, 0.001),
    ("ogg", 48000, 2, 0.001),
    ("ogg", 16000, 1, 0.001),
    ("mp3", 44100, 2, 0.06),
    ("aiff", 11025, 1, 0.001),
]


@pytest.mark.parametrize(("ext", "rate", "channels", "tol"), SOUNDFILE_CASES)
def test_soundfile_formats_decode_to_32k_mono(tmp_path: Path, ext: str, rate: int, channels: int, tol: float):
    seconds = 2.5
    freqs = [440.0 * (1 + 0.25 * c) for c in range(channels)]
    path = tmp_path / f"s.{ext}"
    sf.write(path, tones(rate, seconds, freqs), rate)

    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size / SR - seconds) <= tol + 1 / SR
    assert audio_duration(path) == pytest.approx(seconds, abs=tol + 0.03)
    # The mono mix keeps every channel (a plain mean): each channel's tone is in the spectrum.
    spec = np.abs(np.fft.rfft(x[SR // 2 : SR // 2 + SR]))  # one second, 1 Hz bins
    for f in freqs:
        if f < rate / 2 * 0.9:
            assert spec[int(f)] > 0.2 * spec.max(), f"{f} Hz missing from the mono mix"
    if channels == 1:
        assert dominant_hz(x) == pytest.approx(freqs[0], abs=2)  # a wrong rate would shift it


PYAV_CASES = [
    # (file name, codec, container format, rate, channels, duration tolerance: encoder priming/padding)
    ("a.m4a", "aac", "mp4", 44100, 2, 0.08),
    ("a.mp3", "libmp3lame", "mp3", 22050, 1, 0.08),
    ("a.opus", "libopus", "ogg", 48000, 2, 0.03),
    ("a.wma", "wmav2", "asf", 44100, 2, 0.1),
    ("a.mka", "ac3", "matroska", 48000, 6, 0.05),
]


@pytest.mark.parametrize(("name", "codec", "container", "rate", "channels", "tol"), PYAV_CASES)
def test_pyav_formats_decode_to_32k_mono(tmp_path: Path, name, codec, container, rate, channels, tol):
    seconds = 3.0
    data = tones(rate, seconds, [1000.0] * channels)
    path = av_encode(tmp_path / name, data, rate, codec, container)

    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert abs(x.size / SR - seconds) <= tol
    duration = audio_duration(path)
    assert duration is None or abs(duration - seconds) <= tol + 0.05
    assert dominant_hz(x[SR : 2 * SR]) == pytest.approx(1000.0, abs=3)
    chunks = list(iter_audio_chunks(path, chunk_s=1.0))
    assert all(c.size == SR for c in chunks[:-1]) and 0 < chunks[-1].size <= SR
    assert sum(c.size for c in chunks) == x.size


def test_soundtrack_of_a_video_container(tmp_path: Path):
    """The audio track inside an MP4 with a video stream (what the video pipeline decodes)."""
    av = pytest.importorskip("av")
    path = tmp_path / "clip.mp4"
    out = av.open(str(path), "w")
    try:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=44100, layout="stereo")
    except av.error.FFmpegError as e:  # pragma: no cover
        out.close()
        pytest.skip(f"FFmpeg here cannot write MP4: {e}")
    data = tones(44100, 2.0, [660.0, 660.0])
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=44100)
    for i in range(20):
        img = np.full((48, 64, 3), i * 10, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        for p in video.encode(frame):
            out.mux(p)
    for i in range(0, data.shape[0], 1024):
        af = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data[i : i + 1024].T), format="fltp", layout="stereo"
        )
        af.sample_rate = 44100
        af.pts = i
        for f in resampler.resample(af):
            for p in audio.encode(f):
                out.mux(p)
    for s in (video, audio):
        for p in s.encode(None):
            out.mux(p)
    out.close()

    x = load_audio(path)
    assert abs(x.size / SR - 2.0) < 0.08
    assert dominant_hz(x[SR // 2 : SR + SR // 2]) == pytest.approx(660.0, abs=3)


def test_time_range_and_max_seconds(tmp_path: Path):
    # A tone whose pitch says which second it is: 200 Hz + 100 Hz per second.
    sr = 44100
    t = np.arange(10 * sr) / sr
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(200 + 100 * np.floor(t)) / sr)
    flac = tmp_path / "steps.flac"
    sf.write(flac, x.astype(np.float32), sr)
    m4a = av_encode(tmp_path / "steps.m4a", x[:, None].astype(np.float32), sr, "aac", "mp4")

    for path in (flac, m4a):
        part = load_audio(path, start=6.0, end=8.0)
        assert part.size == 2 * SR
        assert dominant_hz(part[SR // 4 : 3 * SR // 4]) == pytest.approx(800, abs=4)  # second 6
        assert dominant_hz(part[SR + SR // 4 : SR + 3 * SR // 4]) == pytest.approx(900, abs=4)
        assert load_audio(path, max_seconds=1.5).size == int(1.5 * SR)
        tail = load_audio(path, start=9.5)
        assert abs(tail.size / SR - 0.5) < 0.06
        with pytest.raises(DecodeError, match="shorter"):
            load_audio(path, start=30.0)
    with pytest.raises(ValueError):
        load_audio(flac, start=3.0, end=2.0)


def test_long_file_streams_in_bounded_memory(tmp_path: Path):
    """20 minutes of audio: chunks have the promised size, and decoding holds at most a few chunks'
    worth of numpy memory (the whole file at 32 kHz would be 154 MB)."""
    sr, minutes = 16000, 20
    path = tmp_path / "long.flac"
    rng = np.random.default_rng(0)
    # Written minute by minute, each minute with its own pitch, so the test itself stays small too.
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, format="FLAC") as f:
        t = np.arange(60 * sr) / sr
        for m in range(minutes):
            tone = 0.3 * np.sin(2 * np.pi * (300 + 10 * m) * t) + 0.01 * rng.standard_normal(t.size)
            f.write(tone.astype(np.float32))
    assert audio_duration(path) == pytest.approx(minutes * 60)

    chunk_s = 30.0
    bound = int(chunk_s * SR)
    sizes, pitches = [], []
    tracemalloc.start()
    try:
        for chunk in iter_audio_chunks(path, chunk_s=chunk_s):
            sizes.append(chunk.size)
            pitches.append(dominant_hz(chunk[: 4 * SR]))
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(sizes) == minutes * 2
    assert all(s == bound for s in sizes[:-1]) and 0 < sizes[-1] <= bound
    assert sum(sizes) == pytest.approx(minutes * 60 * SR, abs=10)
    assert peak < 6 * bound * 4, f"peak {peak / 1e6:.1f} MB for {bound * 4 / 1e6:.1f} MB chunks"
    assert pitches[::2] == pytest.approx([300 + 10 * m for m in range(minutes)], abs=1)


# --------------------------------------------------------------------------------------------------
# Bad and odd inputs: DecodeError with a reason, or a valid result; never a crash or a hang
# --------------------------------------------------------------------------------------------------


def _wav_bytes(x: np.ndarray, sr: int, data_size: int | None = None) -> bytes:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    size = len(pcm) if data_size is None else data_size
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", size)
    return header + pcm


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.wav", b"", "empty"),
        ("notes.wav", b"These are my notes, not a sound.\n" * 20, "Not a readable audio"),
        ("noise.mp3", bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), None),
        ("header-only.wav", _wav_bytes(np.zeros(0), 16000), None),
    ],
)
def test_unreadable_files_raise_decode_error(tmp_path: Path, name: str, content: bytes, reason: str | None):
    path = tmp_path / name
    path.write_bytes(content)
    for call in (load_audio, lambda p: list(iter_audio_chunks(p))):
        with pytest.raises(DecodeError, match=reason) as err:
            call(path)
        assert "\n" not in str(err.value) and len(str(err.value)) < 400


def test_missing_file_and_folder(tmp_path: Path):
    with pytest.raises(DecodeError, match="not found"):
        load_audio(tmp_path / "nope.wav")
    with pytest.raises(DecodeError):
        load_audio(tmp_path)
    with pytest.raises(DecodeError):
        audio_duration(tmp_path / "nope.wav")


def test_video_without_audio_track(tmp_path: Path):
    av = pytest.importorskip("av")
    path = tmp_path / "silent-film.mp4"
    out = av.open(str(path), "w")
    video = out.add_stream("mpeg4", rate=10)
    video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
    for i in range(5):
        frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = i
        for p in video.encode(frame):
            out.mux(p)
    for p in video.encode(None):
        out.mux(p)
    out.close()
    with pytest.raises(DecodeError, match="no audio track"):
        load_audio(path)


@pytest.mark.timeout(60)
def test_wav_header_that_lies_about_its_length(tmp_path: Path):
    x = make_sound("chirp", 16000, 2.0)
    longer = tmp_path / "claims-longer.wav"
    longer.write_bytes(_wav_bytes(x, 16000, data_size=10 * len(x) * 2))  # says 20 s, holds 2 s
    shorter = tmp_path / "claims-shorter.wav"
    shorter.write_bytes(_wav_bytes(x, 16000, data_size=len(x)))  # says 1 s, holds 2 s
    for path, expect in ((longer, 2.0), (shorter, 1.0)):
        y = load_audio(path)  # what the data really holds, or what the header admits: never more
        assert abs(y.size / SR - expect) < 0.01
        assert np.isfinite(y).all()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("ext", ["flac", "mp3", "ogg", "m4a"])
def test_truncated_files_keep_what_decodes(tmp_path: Path, ext: str):
    x = make_sound("siren", 44100, 4.0)
    full = tmp_path / f"full.{ext}"
    if ext == "m4a":
        av_encode(full, x[:, None], 44100, "aac", "mp4")
    else:
        sf.write(full, x, 44100)
    data = full.read_bytes()
    cut = tmp_path / f"cut.{ext}"
    cut.write_bytes(data[: len(data) // 2])
    try:
        y = load_audio(cut)
    except DecodeError as e:  # acceptable: e.g. an MP4 whose index sits at the end
        assert str(e)
        return
    assert 0 < y.size <= 4.1 * SR
    assert np.isfinite(y).all()


@pytest.mark.timeout(60)
def test_corrupt_mp3_frames_in_the_middle_still_decode(tmp_path: Path):
    x = make_sound("chord", 44100, 6.0)
    path = tmp_path / "glitch.mp3"
    sf.write(path, x, 44100)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(3)
    mid = len(data) // 2
    data[mid : mid + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    y = load_audio(path)
    assert y.size / SR > 4.0  # most of the 6 s survive a 2 kB hole
    assert np.isfinite(y).all()


def test_tiny_silent_and_nan_inputs_are_valid(tmp_path: Path):
    short = tmp_path / "blip.wav"
    sf.write(short, make_sound("clicks", 48000, 0.1), 48000)
    assert load_audio(short).size == pytest.approx(0.1 * SR, abs=2)
    assert [c.size for c in iter_audio_chunks(short)] == [load_audio(short).size]

    silence = tmp_path / "silence.flac"
    sf.write(silence, np.zeros(22050 * 3, np.float32), 22050)
    y = load_audio(silence)
    assert y.size == 3 * SR and not y.any()

    nan = tmp_path / "nan.wav"
    z = make_sound("tone", 32000, 1.0)
    z[100:200] = np.nan
    z[300] = np.inf
    sf.write(nan, z, 32000, subtype="FLOAT")
    y = load_audio(nan)
    assert np.isfinite(y).all() and y.size == SR
