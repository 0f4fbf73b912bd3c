"""Which frames of a clip become moments (:mod:`engine.media.video`): the regular grid, scene changes and
the cap (:class:`Picker`), frames shrunk to moments and compared as 16x16 thumbnails
(:class:`Shrinker`), and the three ways of reading a clip (keyframes, seek, sequential).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.errors import DecodeError
from engine.media.video_container import Clip, Orientation

if TYPE_CHECKING:
    import numpy as np
    from PIL.Image import Image

# One logger for the whole of video sampling, whichever module says it.
log = logging.getLogger("engine.media.video")

#: Mean absolute difference (0..1) of 16x16 RGB thumbnails above which the picture "changed".
DEFAULT_SCENE_THRESHOLD = 0.15
#: Share of ``max_moments`` the regular grid may use on long clips; the rest is for scene changes.
GRID_SHARE = 0.75


@dataclass
class Moment:
    """One sampled instant of a clip."""

    #: Seconds from the start of the clip.
    t: float
    #: RGB, upright (rotation metadata applied), short side about ``size`` px (never enlarged).
    image: Image
    #: True when taken because the picture changed, False when taken for the regular interval.
    scene_change: bool


class Picker:
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


class Shrinker:
    """Frame -> (small upright RGB picture, 16x16 thumbnail for scene comparison)."""

    def __init__(self, size: int, sar: float) -> None:
        self.size = size
        self.sar = sar
        self._dims: dict[tuple[int, int], tuple[int, int]] = {}
        self._orient: dict[int, Orientation] = {}

    def __call__(self, frame: Any) -> tuple[Image, np.ndarray]:
        import numpy as np
        from PIL import Image as PILImage

        key = (frame.width, frame.height)
        dims = self._dims.get(key)
        if dims is None:
            dims = self._dims[key] = target_dims(frame.width * self.sar, frame.height, self.size)
        # swscale reads the full frame once and writes only the small RGB picture.
        small = frame.reformat(dims[0], dims[1], format="rgb24", interpolation="AREA")
        img = small.to_image()
        # frame.rotation reads the matrix in C; the full matrix (for mirroring) needs side_data, which
        # PyAV keeps in a reference cycle with its frame, so it is read once per rotation value and
        # from the small copy (reformat copies side data), never from a full-size decoded frame.
        orient = self._orient.get(frame.rotation)
        if orient is None:
            orient = self._orient[frame.rotation] = Orientation.of(small)
        for op in orient.ops:
            img = img.transpose(op)
        return img, signature(img, np, PILImage)


def signature(img: Image, np: Any, PILImage: Any) -> np.ndarray:
    tiny = img.resize((16, 16), PILImage.Resampling.BOX)
    return np.asarray(tiny, dtype=np.float32) * (1 / 255)


def target_dims(w: float, h: int, size: int) -> tuple[int, int]:
    short = min(w, h)
    f = min(1.0, size / short) if short > 0 else 1.0
    return max(1, round(w * f)), max(1, round(h * f))


# -- reading strategies --------------------------------------------------------------------------


def scan_keyframes(clip: Clip, picker: Picker, shrink: Shrinker, eff: float) -> Iterator[Moment]:
    """Decode keyframes only; every one is looked at (scene changes between consecutive keyframes)."""
    for frame in clip.frames(keyframes_only=True, min_spacing=eff / 4):
        t = clip.time_of(frame)
        img, sig = shrink(frame)
        flag = picker.offer(t, sig)
        if flag is not None:
            yield Moment(t, img, flag)
        if picker.full:
            return


def scan_seek(clip: Clip, picker: Picker, shrink: Shrinker, eff: float, gop: float) -> Iterator[Moment]:
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
            yield from scan_sequential(clip, picker, shrink, eff, resume_after=picker.last_t)
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


def scan_sequential(
    clip: Clip, picker: Picker, shrink: Shrinker, eff: float, *, resume_after: float = -math.inf
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
