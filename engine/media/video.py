"""Video clips as moments: a frame about every ``interval`` seconds plus the frames where the scene changes.

The encoder embeds each moment, so search can jump to the moment rather than just name the file.

How a clip is read is chosen per clip (in :func:`sample_moments`), from how far apart its keyframes
are (``g``, read from the container index or from a cheap demux of the first packets) and the effective
sampling interval (``eff``, the requested interval widened on long clips so the cap covers the whole clip):

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

This module is the public face (:func:`probe_video`, :func:`sample_moments`, :class:`Moment`,
:class:`VideoInfo`); the work is split by concern: :mod:`engine.media.video_container` (the open clip,
file checks and reasons, orientation), :mod:`engine.media.video_moments` (which frames become moments,
and the three reading strategies) and :mod:`engine.media.video_animated` (GIF and WebP).

Every failure is a ``DecodeError`` with a one-line reason. Packets that fail to decode are skipped;
only when no frame at all decodes is the clip an error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from engine.errors import DecodeError
from engine.media.video_animated import animated_kind, probe_animated, sample_animated
from engine.media.video_container import CancelFn, Clip, Orientation, VideoInfo, check_file, never
from engine.media.video_moments import (
    DEFAULT_SCENE_THRESHOLD,
    GRID_SHARE,
    Moment,
    Picker,
    Shrinker,
    scan_keyframes,
    scan_seek,
    scan_sequential,
)

__all__ = ["DEFAULT_SCENE_THRESHOLD", "CancelFn", "Moment", "VideoInfo", "probe_video", "sample_moments"]

log = logging.getLogger(__name__)

# The names these had when this module held all of video sampling (tests patch _Clip's methods).
_Clip = Clip
_Orientation = Orientation


# -- public API ----------------------------------------------------------------------------------


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a clip's duration, displayed size, rotation, frame rate, audio presence and codec.

    Decodes the first frame only (the rotation is side data of decoded frames). Raises DecodeError
    for a missing, empty, truncated or unreadable file, one with no video stream, an unsupported
    codec, or a video stream without any frame.
    """
    p = Path(path)
    check_file(p)
    if animated_kind(p):
        return probe_animated(p)
    with Clip(p, threads=1) as clip:
        orient = Orientation()
        w, h = clip.stream.width, clip.stream.height
        first = clip.first_frame()
        if first is not None:
            # A 2x2 copy carries the side data; see Shrinker for why not the frame itself.
            orient = Orientation.of(first.reformat(2, 2, format="rgb24", interpolation="POINT"))
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
    cancel = cancel or never
    p = Path(path)
    check_file(p)
    if animated_kind(p):
        yield from sample_animated(p, interval, max_moments, size, scene_threshold, cancel)
        return
    with Clip(p, threads=threads, cancel=cancel) as clip:
        duration = clip.duration
        eff = interval
        if duration and duration / interval > GRID_SHARE * max_moments:
            eff = duration / (GRID_SHARE * max_moments)
        picker = Picker(eff=eff, duration=duration, cap=max_moments, threshold=scene_threshold)
        shrink = Shrinker(size, clip.sar)
        gop = clip.keyframe_spacing(eff)
        frames: Iterator[Moment]
        if gop is None or gop > eff:
            clip.mode = "sequential"
            frames = scan_sequential(clip, picker, shrink, eff)
        elif eff > interval and gop < eff / 4 and clip.seekable:
            clip.mode = "seek"
            frames = scan_seek(clip, picker, shrink, eff, gop)
        else:
            clip.mode = "keyframes"
            # Half the spacing of the frames looked at: the keyframe nearest the due time counts.
            picker.tolerance = max(gop, eff / 4) / 2
            frames = scan_keyframes(clip, picker, shrink, eff)
        log.debug("sampling %s: mode=%s keyframe spacing=%s s, interval=%.3g s", p.name, clip.mode, gop, eff)
        n = 0
        for m in frames:
            n += 1
            yield m
        if n == 0 and not cancel():
            if clip.packet_count == 0:
                raise DecodeError("the video has no frames (zero duration)")
            raise DecodeError(f"no frame of the {clip.codec} video stream could be decoded (corrupt stream)")
