"""Synthetic video clips for the video tests, made here with PyAV so no test needs a downloaded file.

A clip is a list of scenes; each scene is a solid background colour with a white shape that drifts a
little from frame to frame, so consecutive frames of one scene are alike but not identical, and two
scenes are told apart by their colour. Cuts are the start times of every scene after the first.

Codecs differ between FFmpeg builds: ``has_encoder`` says whether this build can write one, and the
tests skip what it cannot. Nothing here reaches the network.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

RED = (210, 30, 30)
GREEN = (30, 180, 40)
BLUE = (30, 40, 210)
YELLOW = (225, 210, 40)
MAGENTA = (200, 40, 190)
CYAN = (40, 200, 210)
GREY = (90, 90, 90)

#: Container format by file suffix (what PyAV's ``av.open(..., format=...)`` expects).
CONTAINER = {
    ".mp4": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
    ".ts": "mpegts",
}

#: Audio codec per container for the optional sine track.
AUDIO_CODEC = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus", ".avi": "mp3", ".ts": "aac"}


@dataclass(frozen=True)
class Scene:
    seconds: float
    color: tuple[int, int, int]
    #: "square", "disc" or "bars": drawn in white over the background; "quadrants": red, green, blue
    #: and yellow quarters (top left, top right, bottom left, bottom right), for rotation tests.
    shape: str = "square"


@dataclass
class Clip:
    path: Path
    scenes: list[Scene]
    fps: float
    size: tuple[int, int]
    #: Presentation time of every frame written, in seconds.
    frame_times: list[float] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(s.seconds for s in self.scenes)

    @property
    def cuts(self) -> list[float]:
        out, t = [], 0.0
        for s in self.scenes[:-1]:
            t += s.seconds
            out.append(t)
        return out

    def scene_at(self, t: float) -> Scene:
        end = 0.0
        for s in self.scenes:
            end += s.seconds
            if t < end - 1e-6:
                return s
        return self.scenes[-1]


def has_encoder(name: str) -> bool:
    """True if this FFmpeg build can encode with ``name`` (e.g. "libx264", "libvpx-vp9")."""
    import av

    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def draw(scene: Scene, size: tuple[int, int], k: int) -> np.ndarray:
    """Frame ``k`` of a scene as an RGB array: the background colour, and the shape moved by ``k``."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = scene.color
    side = max(4, min(w, h) // 4)
    # Drift one pixel per frame, wrapping, so motion inside a scene is small and smooth.
    x0 = (w // 8 + k) % max(1, w - side)
    y0 = h // 3
    if scene.shape == "square":
        img[y0 : y0 + side, x0 : x0 + side] = 255
    elif scene.shape == "disc":
        yy, xx = np.ogrid[:h, :w]
        r = side / 2
        img[(yy - y0 - r) ** 2 + (xx - x0 - r) ** 2 <= r * r] = 255
    elif scene.shape == "quadrants":
        # Four colours, no motion: shows any rotation or mirroring of the picture.
        img[: h // 2, : w // 2] = RED
        img[: h // 2, w // 2 :] = GREEN
        img[h // 2 :, : w // 2] = BLUE
        img[h // 2 :, w // 2 :] = YELLOW
    elif scene.shape == "bars":
        for i in range(3):
            x = (x0 + i * side // 2) % max(1, w - 2)
            img[:, x : x + 2] = 255
    return img


def _x264_options(gop: int) -> dict[str, str]:
    # scenecut=0 and a fixed keyint make the keyframes exactly where the test puts them.
    return {"preset": "ultrafast", "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"}


def _encoder_options(codec: str, gop: int) -> dict[str, str]:
    if codec == "libx264":
        return _x264_options(gop)
    if codec == "libx265":
        return {
            "preset": "ultrafast",
            "forced-idr": "1",
            "x265-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error",
        }
    if codec in ("libvpx", "libvpx-vp9"):
        # Realtime settings: these tiny clips encode in milliseconds instead of seconds.
        return {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    if codec == "libsvtav1":
        return {"preset": "12", "svtav1-params": f"keyint={gop}:scd=0"}
    return {}


def make_clip(
    path: str | Path,
    scenes: Sequence[Scene],
    *,
    fps: float = 10,
    size: tuple[int, int] = (160, 96),
    codec: str = "libx264",
    gop: int | None = None,
    keyframes_at_cuts: bool = True,
    audio: bool = False,
    rotation: int = 0,
    hflip: bool = False,
    vfr: bool = False,
    pix_fmt: str = "yuv420p",
) -> Clip:
    """Write ``scenes`` as a clip; the container comes from the suffix of ``path``.

    ``gop`` is the keyframe interval in frames (default: 2 s of frames); ``keyframes_at_cuts`` forces
    a keyframe on each scene's first frame, as real encoders' scene-cut detection does.
    ``rotation`` (degrees, counter-clockwise, as ``VideoFrame.rotation`` reads it back) and
    ``hflip`` write a display matrix (MP4/MOV). ``vfr`` gives frames uneven durations (50 to 150 ms
    around the nominal rate). Raises whatever PyAV raises when the codec is missing.
    """
    import av
    from av.video.frame import PictureType

    path = Path(path)
    fmt = CONTAINER[path.suffix]
    rate = Fraction(fps).limit_denominator(1000)
    gop = gop or max(1, round(2 * fps))
    w, h = size
    clip = Clip(path, list(scenes), float(fps), size)
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(codec, rate=rate, options=_encoder_options(codec, gop))
        v.width, v.height = w, h
        v.pix_fmt = pix_fmt
        v.codec_context.gop_size = gop
        if vfr:
            v.codec_context.time_base = Fraction(1, 1000)
        if rotation or hflip:
            v.set_display_rotation(rotation, hflip=hflip)
        a = None
        if audio:
            a = out.add_stream(AUDIO_CODEC[path.suffix], rate=48000)
            a.layout = "mono"
        a_pts = 0
        t = 0.0
        n = 0
        step = 1 / fps
        for s_index, scene in enumerate(clip.scenes):
            k = 0
            end = sum(s.seconds for s in clip.scenes[: s_index + 1])
            while t < end - 1e-9:
                frame = av.VideoFrame.from_ndarray(draw(scene, size, k), format="rgb24")
                if vfr:
                    frame.time_base = Fraction(1, 1000)
                    frame.pts = round(t * 1000)
                else:
                    frame.pts = n
                if k == 0 and keyframes_at_cuts:
                    frame.pict_type = PictureType.I
                clip.frame_times.append(t)
                for p in v.encode(frame):
                    out.mux(p)
                if a is not None:
                    a_pts = _write_audio(out, a, a_pts, t + step)
                n += 1
                k += 1
                # Uneven durations that average out to the nominal rate.
                t += step * (0.5, 1.5, 1.0)[n % 3] if vfr else step
                t = round(t, 6) if not vfr else t
        for p in v.encode():
            out.mux(p)
        if a is not None:
            for p in a.encode():
                out.mux(p)
    return clip


#: numpy scale and dtype per FFmpeg sample format (without the planar "p").
_SAMPLE_TYPES = {
    "flt": (1.0, np.float32),
    "dbl": (1.0, np.float64),
    "s16": (32767, np.int16),
    "s32": (2**31 - 1, np.int32),
    "u8": (127, np.uint8),
}


def _write_audio(out, stream, pts: int, until: float) -> int:
    """Encode a 440 Hz sine up to ``until`` seconds; returns the next sample position."""
    import av

    rate = stream.rate
    frame_size = stream.codec_context.frame_size or 1024
    while pts < until * rate:
        t = (np.arange(frame_size) + pts) / rate
        samples = (0.3 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)[None, :]
        fmt = stream.codec_context.format
        scale, dtype = _SAMPLE_TYPES[fmt.name.rstrip("p")]
        data = (samples * scale).astype(dtype)
        frame = av.AudioFrame.from_ndarray(
            data if fmt.is_planar else data.reshape(1, -1), format=fmt.name, layout="mono"
        )
        frame.sample_rate = rate
        frame.pts = pts
        for p in stream.encode(frame):
            out.mux(p)
        pts += frame_size
    return pts


def make_audio_only(path: str | Path, seconds: float = 2.0) -> Path:
    """An MP4 (or other container by suffix) with only a sine audio track."""
    import av

    path = Path(path)
    with av.open(str(path), "w", format=CONTAINER[path.suffix]) as out:
        a = out.add_stream(AUDIO_CODEC[path.suffix], rate=48000)
        a.layout = "mono"
        _write_audio(out, a, 0, seconds)
        for p in a.encode():
            out.mux(p)
    return path


def make_no_frames(path: str | Path, codec: str = "libx264") -> Path:
    """A well-formed container with a video stream that holds no frame at all (zero duration)."""
    import av

    path = Path(path)
    with av.open(str(path), "w", format=CONTAINER[path.suffix]) as out:
        v = out.add_stream(codec, rate=10, options=_encoder_options(codec, 10))
        v.width, v.height = 64, 48
        v.pix_fmt = "yuv420p"
        for p in v.encode():
            out.mux(p)
    return path


def make_animated(
    path: str | Path, scenes: Sequence[Scene], *, fps: float = 5, size: tuple[int, int] = (96, 64)
) -> Clip:
    """An animated GIF or WebP (by suffix) written with Pillow, one frame every ``1/fps`` s."""
    from PIL import Image

    path = Path(path)
    clip = Clip(path, list(scenes), float(fps), size)
    frames = []
    t = 0.0
    for scene in clip.scenes:
        for k in range(max(1, round(scene.seconds * fps))):
            frames.append(Image.fromarray(draw(scene, size, k)))
            clip.frame_times.append(t)
            t += 1 / fps
    kw = {"lossless": True} if path.suffix == ".webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=round(1000 / fps), loop=0, **kw)
    return clip


def mp4_fourcc_patched(src: str | Path, dst: str | Path, old: bytes = b"avc1", new: bytes = b"zq9x") -> Path:
    """Copy an MP4 with its video sample-entry code replaced, so no decoder recognises the codec."""
    data = Path(src).read_bytes()
    assert old in data, f"{old!r} not in {src}"
    Path(dst).write_bytes(data.replace(old, new))
    return Path(dst)
