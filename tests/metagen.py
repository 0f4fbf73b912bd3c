"""Test media that carry metadata: JPEGs with EXIF dates, offsets, camera and GPS (Pillow writes the
EXIF and GPS IFDs), and videos/sounds with container tags (PyAV writes them)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from tests.media import make_photo

#: Positions of a few cities (lat, lon) as GeoNames has them.
PORTO = (41.1496, -8.6110)
VIENNA = (48.2082, 16.3738)
LISBON = (38.7223, -9.1393)
ROME = (41.8919, 12.5113)
MADRID = (40.4168, -3.7038)


def _dms(value: float) -> tuple[Fraction, Fraction, Fraction]:
    v = abs(value)
    d = int(v)
    m = int((v - d) * 60)
    s = round(((v - d) * 60 - m) * 60, 4)
    return Fraction(d), Fraction(m), Fraction(s).limit_denominator(10000)


def save_exif_photo(
    path: Path,
    seed: int,
    *,
    taken: str | None = None,
    offset: str | None = None,
    gps: tuple[float, float] | None = None,
    make: str | None = None,
    model: str | None = None,
    gps_utc: tuple[str, tuple[int, int, int]] | None = None,
    size: tuple[int, int] = (320, 240),
) -> Path:
    """A JPEG whose EXIF says ``taken`` ('2023:07:14 18:02:11') at ``offset`` ('+01:00') at ``gps``."""
    from PIL import Image

    img = make_photo(seed, size)
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    sub = exif.get_ifd(0x8769)
    if taken:
        sub[0x9003] = taken
        sub[0x9004] = taken
    if offset:
        sub[0x9011] = offset
    if gps is not None or gps_utc is not None:
        g = exif.get_ifd(0x8825)
        if gps is not None:
            lat, lon = gps
            g[1] = "N" if lat >= 0 else "S"
            g[2] = _dms(lat)
            g[3] = "E" if lon >= 0 else "W"
            g[4] = _dms(lon)
        if gps_utc is not None:
            g[29] = gps_utc[0]
            g[7] = tuple(Fraction(x) for x in gps_utc[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, "JPEG", quality=85, exif=exif)
    return path


def save_tagged_video(
    path: Path,
    seed: int,
    *,
    tags: dict[str, str],
    frames: int = 12,
    size: tuple[int, int] = (96, 64),
    apple_keys: bool = False,
) -> Path:
    """A short MP4/MOV whose container carries ``tags`` (creation_time, location, ...), written by PyAV.

    ``apple_keys`` writes them as QuickTime metadata keys (com.apple.quicktime.*), as iPhones do.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    options = {"movflags": "use_metadata_tags"} if apple_keys else {}
    with av.open(str(path), "w", options=options) as out:
        for k, v in tags.items():
            out.metadata[k] = v
        s = out.add_stream("mpeg4", rate=4)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        base = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="rgb24")
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def save_tagged_sound(path: Path, *, tags: dict[str, str], seconds: float = 1.0) -> Path:
    """A short sound file (format from the suffix: .flac, .mp3, .wav) with ``tags``, written by PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    codec = {".flac": "flac", ".mp3": "libmp3lame", ".wav": "pcm_s16le", ".ogg": "libvorbis"}[path.suffix]
    rate = 44100
    t = np.arange(int(rate * seconds)) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)[None, :]
    with av.open(str(path), "w") as out:
        for k, v in tags.items():
            out.metadata[k] = v
        s = out.add_stream(codec, rate=rate)
        s.layout = "mono"
        fmt = "s16" if codec in ("flac", "pcm_s16le") else "s16p"
        if codec == "libmp3lame":
            fmt = "s16p"
        if codec == "libvorbis":
            pcm_f = (pcm / 32768.0).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(pcm_f, format="fltp", layout="mono")
        else:
            frame = av.AudioFrame.from_ndarray(pcm, format=fmt, layout="mono")
        frame.sample_rate = rate
        for p in s.encode(frame):
            out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path
