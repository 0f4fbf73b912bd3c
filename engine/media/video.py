"""Video clips as moments: a frame about every ``interval`` seconds plus the frames where the scene changes.

The encoder embeds each moment, so search can jump to the moment rather than just name the file.

How a clip is read is chosen per clip (``_plan``), from how far apart its keyframes are (``g``, read
from the container index or from a cheap demux of the first packets) and the effective sampling
interval (``eff``, the requested interval widened on long clips so the cap covers the whole clip):

* **keyframes** (``g <= eff``: the usual camera or phone clip): every packet is demuxed but only
  keyframes are decoded (``skip_frame = "NONKEY"``), no two closer than ``eff / 4`` (so all-intra
  codecs such as MJPEG do not turn this into a full decode). About 10x cheaper than a full decode of a
  1080p H.264 clip with a keyframe each second (``bench/bench_video_decode.py``).
* **seek** (long clips, whose interval was widened for the cap, with ``g < eff / 4``): one seek per
  sample, landing on the keyframe at or just before the sample time, which is decoded alone. Nothing
  between samples is read, so a 3-hour file costs about ``max_moments`` keyframe decodes.
* **sequential** (``g > eff``, or unknown, or a container that cannot seek, or after a seek that went
  wrong): every frame is decoded and one every ``eff / 4`` seconds is looked at. Seeking would not
  save work here: each sample would be decoded from the same keyframe, further back than the
  previous sample.

Scene changes: each frame looked at is shrunk to 16x16 RGB; when its mean absolute difference to the
previous frame looked at is above ``scene_threshold`` (0..1 of full scale), it becomes a moment with
``scene_change=True`` and the regular interval restarts from it. So a cut is found at the first frame
looked at after it: in keyframes mode that is the first keyframe of the new scene, which real
encoders place on the cut itself (x264's scenecut, hardware encoders' IDR on scene change), and is
otherwise at most one keyframe interval (<= ``interval``) late; in sequential mode at most ``eff / 4``
late; in seek mode the comparison is between consecutive samples, so at most one (widened) interval
late. Either way a scene's first moment is within one sampling interval of its cut, unless the scene
lasts less than that. Scene-change moments are at least ``eff / 4`` apart, which bounds flashes and
strobes.

The cap: at most ``max_moments`` per clip. When the regular grid alone would pass 3/4 of the cap, the
interval is widened to ``duration / (0.75 * max_moments)``; the other quarter is for scene changes,
which are only taken while the clip is not ahead of its share of the cap (``count <= cap * t /
duration``), so the moments spread over the whole clip rather than stopping early.

Frames are scaled down in C by swscale (``VideoFrame.reformat``) straight to the moment size, so an
8K frame never exists as full-size RGB; the display matrix (phone rotation, flips) and non-square
pixels are applied to the small picture. Animated GIF and WebP are read with Pillow, since FFmpeg has
no animated WebP decoder and Pillow gets GIF frame disposal right.

Every failure is a ``DecodeError`` with a one-line reason. Packets that fail to decode are skipped;
only when no frame at all decodes is the clip an error.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import DecodeError
from engine.media.kinds import ANIMATED_MAX_PIXELS

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

#: Mean absolute difference (0..1) of 16x16 RGB thumbnails above which the picture "changed".
DEFAULT_SCENE_THRESHOLD = 0.15

#: Share of ``max_moments`` the regular grid may use on long clips; the rest is for scene changes.
_GRID_SHARE = 0.75
#: Stop after this many packets in a row fail to decode (a stream that is garbage from here on).
_MAX_BAD_RUN = 300
#: Packets demuxed at most to estimate the keyframe spacing when the container has no index.
_PROBE_PACKETS = 900
#: Above this many pixels (a bit over 4K UHD), use fewer decoder threads: each holds whole frames.
_HUGE_FRAME = 9_000_000


@dataclass
class Moment:
    """One sampled instant of a clip."""

    #: Seconds from the start of the clip.
    t: float
    #: RGB, upright (rotation metadata applied), short side about ``size`` px (never enlarged).
    image: Image
    #: True when taken because the picture changed, False when taken for the regular interval.
    scene_change: bool


@dataclass
class VideoInfo:
    """What ``probe_video`` reads from the container and the first frame."""

    #: Seconds; None when the container does not say and it cannot be estimated.
    duration: float | None
    #: The picture as shown: rotation and non-square pixels applied (a portrait phone clip is tall).
    width: int
    height: int
    #: Degrees (0, 90, 180, 270) the stored picture is turned clockwise to show it upright: the
    #: convention of the "rotate" tag phones write.
    rotation: int
    fps: float | None
    has_audio: bool
    #: FFmpeg's codec name: "h264", "hevc", "vp9", "av1", "gif", "webp", …
    codec: str


CancelFn = Callable[[], bool]


def _never() -> bool:
    return False


# -- public API ----------------------------------------------------------------------------------


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a clip's duration, displayed size, rotation, frame rate, audio presence and codec.

    Decodes the first frame only (the rotation is side data of decoded frames). Raises DecodeError
    for a missing, empty, truncated or unreadable file, one with no video stream, an unsupported
    codec, or a video stream without any frame.
    """
    p = Path(path)
    _check_file(p)
    if _animated_kind(p):
        return _probe_animated(p)
    with _Clip(p, threads=1) as clip:
        orient = _Orientation()
        w, h = clip.stream.width, clip.stream.height
        first = clip.first_frame()
        if first is not None:
            # A 2x2 copy carries the side data; see _Shrinker for why not the frame itself.
            orient = _Orientation.of(first.reformat(2, 2, format="rgb24", interpolation="POINT"))
            w, h = first.width, first.height
        elif clip.packet_count == 0:
            raise DecodeError("the video has no frames (zero duration)")
        dw = round(w * clip.sar)
        if orient.swaps:
            dw, h = h, dw
        return VideoInfo(
            duration=clip.duration,
            width=dw,
            height=h,
            rotation=orient.clockwise,
            fps=clip.fps,
            has_audio=any(s.type == "audio" for s in clip.container.streams),
            codec=clip.codec,
        )


def sample_moments(
    path: str | os.PathLike[str],
    *,
    interval: float = 2.0,
    max_moments: int = 600,
    size: int = 256,
    scene_threshold: float = DEFAULT_SCENE_THRESHOLD,
    cancel: CancelFn | None = None,
    threads: int = 0,
) -> Iterator[Moment]:
    """Yield a clip's moments in time order: about one every ``interval`` s, plus scene changes.

    At most ``max_moments``, spread over the whole clip (long clips get a wider interval rather than
    stopping early). ``threads`` is the decoder thread count (0: FFmpeg picks one per core); the
    indexer runs several decodes at once and may want 1. ``cancel()`` is checked between packets and
    frames: when it returns True the iteration just ends.

    Raises DecodeError (before yielding anything) for a missing, empty, truncated or unreadable
    file, one with no video stream, an unsupported codec, zero frames, or a stream where no frame at
    all decodes. A stream that breaks part way yields what decoded before and after the damage
    (error-concealed frames are left out: their picture may belong to another scene). Raises
    ValueError for a non-positive ``interval``, ``max_moments`` or ``size``. Being a generator, it
    raises these when iteration starts, not when called.
    """
    if interval <= 0 or max_moments < 1 or size < 1:
        raise ValueError("interval, max_moments and size must be positive")
    cancel = cancel or _never
    p = Path(path)
    _check_file(p)
    if _animated_kind(p):
        yield from _sample_animated(p, interval, max_moments, size, scene_threshold, cancel)
        return
    with _Clip(p, threads=threads, cancel=cancel) as clip:
        duration = clip.duration
        eff = interval
        if duration and duration / interval > _GRID_SHARE * max_moments:
            eff = duration / (_GRID_SHARE * max_moments)
        picker = _Picker(eff=eff, duration=duration, cap=max_moments, threshold=scene_threshold)
        shrink = _Shrinker(size, clip.sar)
        gop = clip.keyframe_spacing(eff)
        frames: Iterator[Moment]
        if gop is None or gop > eff:
            clip.mode = "sequential"
            frames = _scan_sequential(clip, picker, shrink, eff)
        elif eff > interval and gop < eff / 4 and clip.seekable:
            clip.mode = "seek"
            frames = _scan_seek(clip, picker, shrink, eff, gop)
        else:
            clip.mode = "keyframes"
            # Half the spacing of the frames looked at: the keyframe nearest the due time counts.
            picker.tolerance = max(gop, eff / 4) / 2
            frames = _scan_keyframes(clip, picker, shrink, eff)
        log.debug("sampling %s: mode=%s keyframe spacing=%s s, interval=%.3g s", p.name, clip.mode, gop, eff)
        n = 0
        for m in frames:
            n += 1
            yield m
        if n == 0 and not cancel():
            if clip.packet_count == 0:
                raise DecodeError("the video has no frames (zero duration)")
            raise DecodeError(f"no frame of the {clip.codec} video stream could be decoded (corrupt stream)")


# -- the sampling decision -----------------------------------------------------------------------


class _Picker:
    """Decides which of the frames looked at become moments: the regular grid, scene changes, the cap."""

    def __init__(self, *, eff: float, duration: float | None, cap: int, threshold: float) -> None:
        self.eff = eff
        self.duration = duration
        self.cap = cap
        self.threshold = threshold
        #: How early a frame may come and still count as the regular sample due at ``due``.
        self.tolerance = 0.0
        self.due = 0.0
        self.count = 0
        self.last_t = -math.inf
        self._prev: np.ndarray | None = None
        self._pending = False

    @property
    def full(self) -> bool:
        return self.count >= self.cap

    def is_due(self, t: float) -> bool:
        return t >= self.due - self.tolerance - 1e-6

    def offer(self, t: float, sig: np.ndarray) -> bool | None:
        """Look at the frame at ``t`` (thumbnail ``sig``): None to skip it, else its scene_change flag."""
        changed = self._prev is not None and float(abs(sig - self._prev).mean()) > self.threshold
        self._prev = sig
        # A change seen too soon after the last moment is retried once, on the next frame looked at,
        # so a cut just after a sample still gets its own moment a quarter interval later.
        pending, self._pending = self._pending, False
        if self.full or t <= self.last_t:
            return None
        if self.is_due(t):
            # Keep the grid anchored (so samples do not drift later and later behind a late frame),
            # but never let two regular samples bunch up after a gap.
            self.due = max(self.due + self.eff, t + self.eff / 2)
        elif (changed or pending) and t - self.last_t >= self.eff / 4 and self._within_share(t):
            changed = True
            self.due = t + self.eff
        else:
            self._pending = changed and t - self.last_t < self.eff / 4
            return None
        self.count += 1
        self.last_t = t
        return changed

    def _within_share(self, t: float) -> bool:
        return not self.duration or self.count <= self.cap * t / self.duration


class _Shrinker:
    """Frame -> (small upright RGB picture, 16x16 thumbnail for scene comparison)."""

    def __init__(self, size: int, sar: float) -> None:
        self.size = size
        self.sar = sar
        self._dims: dict[tuple[int, int], tuple[int, int]] = {}
        self._orient: dict[int, _Orientation] = {}

    def __call__(self, frame: Any) -> tuple[Image, np.ndarray]:
        import numpy as np
        from PIL import Image as PILImage

        key = (frame.width, frame.height)
        dims = self._dims.get(key)
        if dims is None:
            dims = self._dims[key] = _target_dims(frame.width * self.sar, frame.height, self.size)
        # swscale reads the full frame once and writes only the small RGB picture.
        small = frame.reformat(dims[0], dims[1], format="rgb24", interpolation="AREA")
        img = small.to_image()
        # frame.rotation reads the matrix in C; the full matrix (for mirroring) needs side_data, which
        # PyAV keeps in a reference cycle with its frame, so it is read once per rotation value and
        # from the small copy (reformat copies side data), never from a full-size decoded frame.
        orient = self._orient.get(frame.rotation)
        if orient is None:
            orient = self._orient[frame.rotation] = _Orientation.of(small)
        for op in orient.ops:
            img = img.transpose(op)
        return img, _signature(img, np, PILImage)


def _signature(img: Image, np: Any, PILImage: Any) -> np.ndarray:
    tiny = img.resize((16, 16), PILImage.Resampling.BOX)
    return np.asarray(tiny, dtype=np.float32) * (1 / 255)


def _target_dims(w: float, h: int, size: int) -> tuple[int, int]:
    short = min(w, h)
    f = min(1.0, size / short) if short > 0 else 1.0
    return max(1, round(w * f)), max(1, round(h * f))


# -- reading strategies --------------------------------------------------------------------------


def _scan_keyframes(clip: _Clip, picker: _Picker, shrink: _Shrinker, eff: float) -> Iterator[Moment]:
    """Decode keyframes only; every one is looked at (scene changes between consecutive keyframes)."""
    for frame in clip.frames(keyframes_only=True, min_spacing=eff / 4):
        t = clip.time_of(frame)
        img, sig = shrink(frame)
        flag = picker.offer(t, sig)
        if flag is not None:
            yield Moment(t, img, flag)
        if picker.full:
            return


def _scan_seek(clip: _Clip, picker: _Picker, shrink: _Shrinker, eff: float, gop: float) -> Iterator[Moment]:
    """One seek per sample; the keyframe it lands on (at most about ``gop`` early) is the sample.

    Falls back to reading the rest in order, from a fresh open, when the container cannot seek or
    a seek lands somewhere its index could not have meant (a damaged or partly written file).
    """
    duration = clip.duration or math.inf
    while not picker.full and picker.due < duration:
        due = picker.due
        try:
            frame = clip.keyframe_at(due)
            t = clip.time_of(frame) if frame is not None else None
            if t is not None and (t < picker.last_t - 1e-3 or t > due + max(2 * gop, eff)):
                raise DecodeError("seek landed far from its target")
            if t is not None and t <= picker.last_t + 1e-3:
                # The previous sample's keyframe again (a longer GOP here): take the one after it.
                frame = clip.keyframe_at(due, backward=False)
                t = clip.time_of(frame) if frame is not None else None
                if t is not None and t <= picker.last_t + 1e-3:
                    raise DecodeError("seek went backwards")
        except DecodeError as exc:
            log.debug("%s: %s; reading the rest in order", clip.path.name, exc)
            clip.reopen()
            clip.mode = "seek, then sequential"
            yield from _scan_sequential(clip, picker, shrink, eff, resume_after=picker.last_t)
            return
        if frame is None or t is None:
            return  # past the last keyframe, or cancelled
        picker.tolerance = max(0.0, due - t)
        img, sig = shrink(frame)
        flag = picker.offer(t, sig)
        picker.tolerance = 0.0
        if flag is not None:
            yield Moment(t, img, flag)
        elif picker.due <= due:
            return  # no progress possible (only when full): never loop on the same target


def _scan_sequential(
    clip: _Clip, picker: _Picker, shrink: _Shrinker, eff: float, *, resume_after: float = -math.inf
) -> Iterator[Moment]:
    """Decode every frame; look at one every ``eff / 4`` s and at each one a sample is due on."""
    step = eff / 4
    picker.tolerance = 0.5 / clip.fps if clip.fps else 0.02
    looked = -math.inf
    for frame in clip.frames(skip_nonref=True):
        t = clip.time_of(frame)
        if t <= resume_after:
            continue  # already seen before a fallback re-read the clip from its start
        if picker.is_due(t) or t - looked >= step - 1e-6:
            looked = t
            img, sig = shrink(frame)
            flag = picker.offer(t, sig)
            if flag is not None:
                yield Moment(t, img, flag)
            if picker.full:
                return


# -- the container -------------------------------------------------------------------------------


class _Clip:
    """An open clip: its video stream, timing, decoding with bad packets skipped, seeking."""

    def __init__(self, path: Path, *, threads: int = 0, cancel: CancelFn = _never) -> None:
        self.path = path
        self.threads = threads
        self.cancel = cancel
        self.mode = ""
        self.packet_count = 0
        self.bad_packets = 0
        self._offset = 0.0
        self._last_t = -math.inf
        self._open()

    def _open(self) -> None:
        import av

        try:
            self.container: Any = av.open(str(self.path), metadata_errors="replace")
        except Exception as exc:
            raise DecodeError(_open_error(self.path, exc)) from exc
        try:
            self.stream = _video_stream(self.container, self.path)
            cc = self.stream.codec_context
            self.codec = cc.codec.canonical_name or cc.name
            # Frame threads each hold whole frames; for 8K keep memory to a couple of frames.
            huge = (self.stream.width or 0) * (self.stream.height or 0) > _HUGE_FRAME
            cc.thread_type = "AUTO"
            cc.thread_count = min(self.threads or 2, 2) if huge else self.threads
        except BaseException:
            self.container.close()
            raise
        tb = self.stream.time_base
        self.time_base = float(tb) if tb else 1 / 90000
        st = self.stream.start_time
        if st is not None:
            self.start = st * self.time_base
        elif self.container.start_time is not None:
            self.start = self.container.start_time / 1e6
        else:
            self.start = 0.0

    def __enter__(self) -> _Clip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    # -- facts about the clip --

    @property
    def duration(self) -> float | None:
        s = self.stream
        if s.duration and s.duration > 0:
            return float(s.duration * self.time_base)
        if self.container.duration and self.container.duration > 0:
            return self.container.duration / 1e6
        return None

    @property
    def fps(self) -> float | None:
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate) if rate else None

    @property
    def sar(self) -> float:
        sar = self.stream.sample_aspect_ratio
        return float(sar) if sar and 0.1 < sar < 10 else 1.0

    @property
    def seekable(self) -> bool:
        # AVFMT_NO_BYTE_SEEK | AVFMT_NOTIMESTAMPS-style flags vary; what matters is an index or
        # timestamps to seek by, which GIF and raw elementary streams do not have.
        return self.container.format.name not in ("gif", "h264", "hevc", "mjpeg", "image2")

    def keyframe_spacing(self, eff: float) -> float | None:
        """Mean seconds between keyframes: from the index where the container has a full one (MP4,
        MOV, AVI), else from demuxing the first packets (no decoding), then reopening."""
        entries = self.stream.index_entries
        dur = self.duration
        if dur and len(entries) > 1:
            n_key = sum(1 for e in entries if e.is_keyframe)
            if len(entries) >= 0.5 * dur * (self.fps or 1):  # a full per-frame index
                return dur / max(1, n_key)
        times: list[float] = []
        last = None
        for n, packet in enumerate(self._packets()):
            if n >= _PROBE_PACKETS:
                break
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:
                continue
            last = ts * self.time_base
            if packet.is_keyframe:
                times.append(last)
            if last - (times[0] if times else last) > max(4 * eff, 30):
                break
        self.reopen()
        if last is None or not times:
            return None
        if len(times) == 1:
            span = last - times[0]
            # One keyframe in all that was read: at least that far apart.
            return max(span, eff * 1.01) if span > 0 else None
        return (times[-1] - times[0]) / (len(times) - 1)

    def first_frame(self) -> Any | None:
        """The first frame that decodes (from the first keyframes), or None."""
        return self._next_keyframe()

    # -- reading --

    def _packets(self) -> Iterator[Any]:
        import av

        errors = 0
        while errors < 8:
            try:
                for packet in self.container.demux(self.stream):
                    if packet.size == 0 and packet.dts is None:
                        continue  # the demuxer's end-of-stream marker; flushing is done explicitly
                    errors = 0
                    self.packet_count += 1
                    yield packet
                return
            except av.error.EOFError:
                return
            except av.error.FFmpegError:
                # A damaged stretch of the file: demux() again continues after it.
                errors += 1

    def frames(
        self, *, keyframes_only: bool = False, min_spacing: float = 0.0, skip_nonref: bool = False
    ) -> Iterator[Any]:
        """Decoded frames from the current position, bad packets skipped, ``cancel`` honoured.

        ``keyframes_only`` sends only keyframe packets at least ``min_spacing`` s apart to the
        decoder; ``skip_nonref`` lets it skip frames nothing refers to (B-frames, mostly), a third of
        a full decode's cost that sampling does not need.
        """
        import av

        cc = self.stream.codec_context
        cc.skip_frame = "NONKEY" if keyframes_only else "NONREF" if skip_nonref else "DEFAULT"
        bad_run = 0
        last_key = -math.inf
        for packet in self._packets():
            if self.cancel():
                return
            if keyframes_only:
                if not packet.is_keyframe:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is not None:
                    pt = ts * self.time_base
                    # Dense keyframes (all-intra codecs) would make "keyframes only" a full decode.
                    if pt < last_key + min_spacing:
                        continue
                    last_key = pt
            try:
                out = cc.decode(packet)
            except av.error.FFmpegError:
                self.bad_packets += 1
                bad_run += 1
                if bad_run > _MAX_BAD_RUN:
                    return
                continue
            bad_run = 0
            for frame in out:
                if frame.is_corrupt:
                    # Error-concealed (damaged data or a missing reference): its picture may be
                    # another scene's, and a moment must show what is at its time.
                    self.bad_packets += 1
                    continue
                yield frame
                if self.cancel():
                    return
        try:
            out = cc.decode(None)
        except av.error.FFmpegError:
            return
        for frame in out:
            if not frame.is_corrupt:
                yield frame
            if self.cancel():
                return

    def time_of(self, frame: Any) -> float:
        """Seconds from the clip start, made monotonic across timestamp resets and gaps in pts."""
        ts = frame.pts if frame.pts is not None else frame.dts
        if ts is None:
            step = 1 / self.fps if self.fps else 0.04
            t = self._last_t + step if self._last_t > -math.inf else 0.0
        else:
            t = ts * self.time_base - self.start + self._offset
        if t < self._last_t - 0.5:
            # Timestamps jumped back (concatenated recordings, a TS wrap): carry on from where we were.
            self._offset += self._last_t - t
            t = self._last_t
        t = max(t, self._last_t, 0.0)
        self._last_t = t
        return t

    def keyframe_at(self, t: float, *, backward: bool = True) -> Any | None:
        """The keyframe at or before ``t`` s (after it with ``backward=False``), decoded alone.

        Returns None past the last keyframe or on cancel; raises DecodeError if the container
        refuses to seek.
        """
        import av

        target = int((t + self.start - self._offset) / self.time_base)
        try:
            self.container.seek(max(target, 0), stream=self.stream, backward=backward)
        except (av.error.FFmpegError, OverflowError) as exc:
            raise DecodeError(f"cannot seek: {_short(exc)}") from exc
        self._last_t = -math.inf
        return self._next_keyframe()

    def _next_keyframe(self) -> Any | None:
        import av

        cc = self.stream.codec_context
        cc.skip_frame = "NONKEY"
        tries = 0
        for packet in self._packets():
            if self.cancel() or tries > 16:
                return None
            if not packet.is_keyframe:
                continue
            tries += 1
            try:
                # Draining right away gets the frame out now rather than after the decoder's
                # reordering and frame-thread delay, which would cost several more keyframes.
                out = cc.decode(packet) + cc.decode(None)
            except av.error.FFmpegError:
                self.bad_packets += 1
                out = []
            cc.flush_buffers()  # leave the drained state so the next packet is accepted
            out = [f for f in out if not f.is_corrupt]  # see frames()
            if out:
                return out[0]
        return None

    def reopen(self) -> None:
        """Close and open again, reading from the start (after a probe, or a seek that went wrong)."""
        self.container.close()
        self._offset = 0.0
        self._last_t = -math.inf
        self._open()


def _video_stream(container: Any, path: Path) -> Any:
    from av.stream import Disposition

    streams = [s for s in container.streams.video if not (s.disposition & Disposition.attached_pic)]
    if not streams:
        if container.streams.audio:
            raise DecodeError("no video stream (the file holds audio only)")
        raise DecodeError("no video stream in the file")
    stream = streams[0]
    if stream.codec_context is None:
        raise DecodeError(f"unsupported codec {_codec_tag(path)}: no decoder for it in this FFmpeg build")
    return stream


def _check_file(p: Path) -> None:
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise DecodeError("file not found (moved or deleted)") from exc
    except PermissionError as exc:
        raise DecodeError("permission denied: cannot read the file") from exc
    except OSError as exc:
        raise DecodeError(f"cannot read the file: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(st.st_mode):
        # A FIFO or device would make FFmpeg block or read forever.
        raise DecodeError("not a regular file")
    if st.st_size == 0:
        raise DecodeError("empty file (0 bytes)")
    if not os.access(p, os.R_OK):
        raise DecodeError("permission denied: cannot read the file")


def _open_error(path: Path, exc: BaseException) -> str:
    """A readable reason for av.open failing, telling the common cases apart by the file's bytes."""
    import av

    if isinstance(exc, PermissionError):
        return "permission denied: cannot read the file"
    if isinstance(exc, FileNotFoundError):
        return "file not found (moved or deleted)"
    head, tail = _head_tail(path, 1 << 16)
    if head[4:8] == b"ftyp" and b"moov" not in head and b"moov" not in tail:
        return "truncated MP4/MOV: its index (moov atom) is missing; the recording was probably interrupted"
    if isinstance(exc, av.error.EOFError):
        return "truncated or empty video: the file ends before any frame"
    if isinstance(exc, av.error.InvalidDataError):
        return "not a readable video (unknown format, or the file is corrupt)"
    return f"cannot open the video: {_short(exc)}"


def _head_tail(path: Path, n: int) -> tuple[bytes, bytes]:
    try:
        with open(path, "rb") as f:
            head = f.read(n)
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - n))
            return head, f.read(n)
    except OSError:
        return b"", b""


def _codec_tag(path: Path) -> str:
    """Best-effort name of a codec FFmpeg does not know: the MP4/MOV sample entry, AVI FourCC or MKV
    CodecID, read from the file's first and last 4 MiB (PyAV exposes no tag for decoder-less streams)."""
    head, tail = _head_tail(path, 4 << 20)
    for blob in (head, tail):
        i = blob.find(b"vide")  # MP4/MOV: the video track's handler comes before its sample table
        while i >= 0:
            j = blob.find(b"stsd", i)
            if j >= 0 and j + 20 <= len(blob):
                return _printable(blob[j + 16 : j + 20])
            i = blob.find(b"vide", i + 4)
        i = blob.find(b"strhvids")  # AVI stream header: fccType "vids" then fccHandler
        if i >= 0:
            return _printable(blob[i + 12 : i + 16])
        i = blob.find(b"\x86")  # Matroska CodecID element, e.g. "V_MPEG4/ISO/AVC"
        while 0 <= i < len(blob) - 3:
            n = blob[i + 1] & 0x7F if blob[i + 1] & 0x80 else 0
            if n and blob[i + 2 : i + 4] == b"V_":
                return _printable(blob[i + 2 : i + 2 + n])
            i = blob.find(b"\x86", i + 1)
    return "(unknown to FFmpeg)"


def _printable(b: bytes) -> str:
    s = b.decode("latin-1")
    return repr(s) if not s.isprintable() else f'"{s}"'


def _short(exc: BaseException) -> str:
    msg = str(exc) or exc.__class__.__name__
    return msg.split(": '")[0][:160]


# -- orientation ---------------------------------------------------------------------------------


class _Orientation:
    """The display matrix of a frame as PIL transposes, the way FFmpeg's command line applies it."""

    def __init__(self, clockwise: int = 0, ops: tuple[int, ...] = ()) -> None:
        self.clockwise = clockwise
        self.ops = ops

    @property
    def swaps(self) -> bool:
        return self.clockwise in (90, 270)

    @classmethod
    def of(cls, frame: Any) -> _Orientation:
        """Read from ``frame``'s display matrix side data (a small frame: this pins it until a GC)."""
        from av.sidedata.sidedata import Type
        from PIL.Image import Transpose

        matrix = None
        for sd in frame.side_data:
            if sd.type == Type.DISPLAYMATRIX:
                raw = bytes(sd)
                if len(raw) >= 36:
                    matrix = struct.unpack("=9i", raw[:36])
                break
        if matrix is None:
            return _NO_ROTATION
        # Same reading as fftools (ffmpeg_filter.c): theta is the clockwise angle to show it upright.
        theta = -round(frame.rotation)
        theta = int(theta - 360 * math.floor(theta / 360 + 0.9 / 360))
        m = matrix
        if abs(theta - 90) < 1:
            return cls(90, (Transpose.TRANSPOSE,) if m[3] > 0 else (Transpose.ROTATE_270,))
        if abs(theta - 270) < 1:
            return cls(270, (Transpose.TRANSVERSE,) if m[3] < 0 else (Transpose.ROTATE_90,))
        if abs(theta - 180) < 1:
            ops = []
            if m[0] < 0:
                ops.append(Transpose.FLIP_LEFT_RIGHT)
            if m[4] < 0:
                ops.append(Transpose.FLIP_TOP_BOTTOM)
            # A 180° turn written as both flips is the usual case; a lone flip is a mirror.
            return cls(180 if len(ops) == 2 else 0, tuple(ops))
        if abs(theta) < 1:
            return cls(0, (Transpose.FLIP_TOP_BOTTOM,) if m[4] < 0 else ())
        return _NO_ROTATION  # odd angles (e.g. 45°): shown as stored, like most players


_NO_ROTATION = _Orientation()


# -- animated GIF / WebP -------------------------------------------------------------------------


def _animated_kind(p: Path) -> str | None:
    try:
        with open(p, "rb") as f:
            head = f.read(12)
    except OSError:
        return None
    if head[:4] == b"GIF8":
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def _open_image(p: Path) -> Any:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        im = PILImage.open(p)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DecodeError(f"not a readable animated image: {_short(exc)}") from exc
    w, h = im.size
    if w * h > ANIMATED_MAX_PIXELS:  # Pillow holds every frame whole: 1.9 GB for a 12000x12000 GIF
        im.close()
        raise DecodeError(f"animated image too large to decode frame by frame ({w}x{h})")
    return im


def _frame_durations(im: Any) -> list[float]:
    """Seconds each frame is shown; delays under 20 ms are shown as 100 ms, as browsers do."""
    out = []
    for i in range(getattr(im, "n_frames", 1)):
        im.seek(i)
        if im.format == "WEBP":
            im.load()  # Pillow's WebP reader sets a frame's duration only when it decodes it
        ms = im.info.get("duration") or 0
        out.append((ms if ms >= 20 else 100) / 1000)
    im.seek(0)
    return out


def _probe_animated(p: Path) -> VideoInfo:
    with _open_image(p) as im:
        try:
            durs = _frame_durations(im)
        except (OSError, ValueError, EOFError) as exc:
            raise DecodeError(f"corrupt animated image: {_short(exc)}") from exc
        total = sum(durs)
        return VideoInfo(
            duration=total,
            width=im.size[0],
            height=im.size[1],
            rotation=0,
            fps=len(durs) / total if total else None,
            has_audio=False,
            codec=(im.format or "").lower(),
        )


def _sample_animated(
    p: Path, interval: float, max_moments: int, size: int, threshold: float, cancel: CancelFn
) -> Iterator[Moment]:
    import numpy as np
    from PIL import Image as PILImage

    with _open_image(p) as im:
        try:
            durs = _frame_durations(im)
        except (OSError, ValueError, EOFError) as exc:
            raise DecodeError(f"corrupt animated image: {_short(exc)}") from exc
        total = sum(durs)
        eff = interval
        if total / interval > _GRID_SHARE * max_moments:
            eff = total / (_GRID_SHARE * max_moments)
        picker = _Picker(eff=eff, duration=total, cap=max_moments, threshold=threshold)
        t = 0.0
        looked = -math.inf
        n = 0
        for i, d in enumerate(durs):
            if cancel() or picker.full:
                return
            if picker.is_due(t) or t - looked >= eff / 4 - 1e-6:
                looked = t
                try:
                    im.seek(i)
                    frame = im.convert("RGB")
                except (OSError, ValueError, EOFError) as exc:
                    if n == 0:
                        raise DecodeError(f"corrupt animated image: {_short(exc)}") from exc
                    return  # a damaged tail: keep what came before
                dims = _target_dims(frame.width, frame.height, size)
                if dims != frame.size:
                    frame = frame.resize(dims, PILImage.Resampling.BOX)
                flag = picker.offer(t, _signature(frame, np, PILImage))
                if flag is not None:
                    n += 1
                    yield Moment(t, frame, flag)
            t += d
