"""Video containers for :mod:`engine.media.video`: an open clip (its video stream, timing, decoding with
bad packets skipped, seeking), the checks and readable reasons for files that cannot be read, and the
display matrix (phone rotation, flips) as Pillow transposes.

Raises DecodeError with a one-line reason for every file it cannot read. PyAV is imported inside the
functions that need it.
"""

from __future__ import annotations

import math
import os
import stat
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import DecodeError

#: Stop after this many packets in a row fail to decode (a stream that is garbage from here on).
MAX_BAD_RUN = 300
#: Packets demuxed at most to estimate the keyframe spacing when the container has no index.
PROBE_PACKETS = 900
#: Above this many pixels (a bit over 4K UHD), use fewer decoder threads: each holds whole frames.
HUGE_FRAME = 9_000_000

CancelFn = Callable[[], bool]


def never() -> bool:
    """A cancel function that never cancels."""
    return False


@dataclass
class VideoInfo:
    """What :func:`engine.media.video.probe_video` reads from the container and the first frame."""

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


class Clip:
    """An open clip: its video stream, timing, decoding with bad packets skipped, seeking."""

    def __init__(self, path: Path, *, threads: int = 0, cancel: CancelFn = never) -> None:
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
            huge = (self.stream.width or 0) * (self.stream.height or 0) > HUGE_FRAME
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

    def __enter__(self) -> Clip:
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
            if n >= PROBE_PACKETS:
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
                if bad_run > MAX_BAD_RUN:
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
            raise DecodeError(f"cannot seek: {short_reason(exc)}") from exc
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


def check_file(p: Path) -> None:
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
    return f"cannot open the video: {short_reason(exc)}"


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


def short_reason(exc: BaseException) -> str:
    msg = str(exc) or exc.__class__.__name__
    return msg.split(": '")[0][:160]


# -- orientation ---------------------------------------------------------------------------------


class Orientation:
    """The display matrix of a frame as PIL transposes, the way FFmpeg's command line applies it."""

    def __init__(self, clockwise: int = 0, ops: tuple[int, ...] = ()) -> None:
        self.clockwise = clockwise
        self.ops = ops

    @property
    def swaps(self) -> bool:
        return self.clockwise in (90, 270)

    @classmethod
    def of(cls, frame: Any) -> Orientation:
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


_NO_ROTATION = Orientation()
