"""Animated GIF and WebP as clips (:mod:`engine.media.video`), read with Pillow: FFmpeg has no animated
WebP decoder, and Pillow gets GIF frame disposal right. Raises DecodeError with a one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from engine.errors import DecodeError
from engine.media.kinds import ANIMATED_MAX_PIXELS
from engine.media.video_container import CancelFn, VideoInfo, short_reason
from engine.media.video_moments import GRID_SHARE, Moment, Picker, signature, target_dims


def animated_kind(p: Path) -> str | None:
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
        raise DecodeError(f"not a readable animated image: {short_reason(exc)}") from exc
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


def probe_animated(p: Path) -> VideoInfo:
    with _open_image(p) as im:
        try:
            durs = _frame_durations(im)
        except (OSError, ValueError, EOFError) as exc:
            raise DecodeError(f"corrupt animated image: {short_reason(exc)}") from exc
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


def sample_animated(
    p: Path, interval: float, max_moments: int, size: int, threshold: float, cancel: CancelFn
) -> Iterator[Moment]:
    import numpy as np
    from PIL import Image as PILImage

    with _open_image(p) as im:
        try:
            durs = _frame_durations(im)
        except (OSError, ValueError, EOFError) as exc:
            raise DecodeError(f"corrupt animated image: {short_reason(exc)}") from exc
        total = sum(durs)
        eff = interval
        if total / interval > GRID_SHARE * max_moments:
            eff = total / (GRID_SHARE * max_moments)
        picker = Picker(eff=eff, duration=total, cap=max_moments, threshold=threshold)
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
                        raise DecodeError(f"corrupt animated image: {short_reason(exc)}") from exc
                    return  # a damaged tail: keep what came before
                dims = target_dims(frame.width, frame.height, size)
                if dims != frame.size:
                    frame = frame.resize(dims, PILImage.Resampling.BOX)
                flag = picker.offer(t, signature(frame, np, PILImage))
                if flag is not None:
                    n += 1
                    yield Moment(t, frame, flag)
            t += d
