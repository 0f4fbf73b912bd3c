"""Video moment sampling throughput on a generated 1080p H.264 clip, beside a full decode of the same clip.

The clip: 1920x1080, 30 fps, H.264 High profile (x264 "veryfast", CRF 23, B-frames), a keyframe every
second, textured picture panning with moving shapes, so the bitrate and decode cost are those of camera
footage rather than of flat colour. It is generated once into the work dir (about two seconds of
encoding per second of clip).

Figures are "hours of video per hour": clip seconds divided by seconds spent. "per core" divides by
CPU time (user + system of this process), so it holds whatever the thread count. Every decoder is
given one thread (``threads=1``) except in the "all cores" row. The last row is the long-clip case:
the cap widens the interval, and each moment is one seek and one keyframe decode.

    python bench/bench_video_decode.py [--seconds 30] [--workdir DIR] [--repeat 2]

Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.media.video import probe_video, sample_moments  # noqa: E402


def make_clip(path: Path, seconds: int, fps: int = 30, size: tuple[int, int] = (1920, 1080)) -> Path:
    """Write the benchmark clip (textured pan, moving shapes, a keyframe every second)."""
    import av
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(7)
    # A smooth texture larger than the frame (low-resolution noise scaled up), plus fine grain that
    # changes every frame: flat synthetic pictures would decode several times faster than footage.
    low = rng.integers(0, 256, (h // 24 + 2, w // 24 + 2, 3), dtype=np.uint8)
    tex = np.asarray(Image.fromarray(low).resize((w + 2 * w // 4, h + 2 * h // 4), Image.Resampling.BICUBIC))
    grain = rng.integers(-12, 13, (8, h, w, 1), dtype=np.int16)
    with av.open(str(path), "w") as out:
        v = out.add_stream(
            "libx264",
            rate=Fraction(fps),
            options={
                "preset": "veryfast",
                "crf": "23",
                "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:log-level=error",
            },
        )
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        for i in range(seconds * fps):
            x = int(w / 4 + (w / 4) * np.sin(i / 90))
            y = int(h / 4 + (h / 4) * np.cos(i / 130))
            img = tex[y : y + h, x : x + w].astype(np.int16) + grain[i % 8]
            for k in range(3):
                cx = (i * (5 + 3 * k) + k * 500) % (w - 200)
                img[300 + k * 200 : 420 + k * 200, cx : cx + 200] = (255, 80 * k, 40)
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
    return path


def full_decode(path: Path, threads: int) -> int:
    """Decode every frame (no conversion): the reference a naive sampler would pay."""
    import av

    n = 0
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        s.codec_context.thread_count = threads
        for _ in c.decode(s):
            n += 1
    return n


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds over ``repeat`` runs, and the last result."""
    best_wall = best_cpu = float("inf")
    result: object = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return best_wall, best_cpu, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=30, help="length of the generated clip")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.gettempdir()) / "lookalike-bench-video"
    work.mkdir(parents=True, exist_ok=True)
    clip = work / f"bench_1080p30_h264_kf1s_{args.seconds}s.mp4"
    if not clip.exists():
        t0 = time.perf_counter()
        tmp = clip.with_suffix(".tmp.mp4")
        make_clip(tmp, args.seconds)
        os.replace(tmp, clip)
        print(f"generated {clip} in {time.perf_counter() - t0:.1f} s")
    info = probe_video(clip)
    dur = info.duration or float(args.seconds)
    print(
        f"clip: {info.width}x{info.height} {info.codec} {info.fps} fps, {dur:.1f} s, "
        f"{clip.stat().st_size * 8 / dur / 1e6:.1f} Mbit/s"
    )

    rows: dict[str, dict[str, float]] = {}

    def record(name: str, wall: float, cpu: float, extra: str = "") -> None:
        rows[name] = {
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "x_realtime_wall": round(dur / wall, 1),
            "x_realtime_per_core": round(dur / cpu, 1),
        }
        print(
            f"{name:<28} wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
            f"{dur / wall:7.1f}x real time (wall)  {dur / cpu:7.1f}x per core (cpu)  {extra}"
        )

    wall, cpu, n = timed(lambda: full_decode(clip, 1), args.repeat)
    record("full decode", wall, cpu, f"{n} frames")

    def sample(threads: int) -> list:
        return list(sample_moments(clip, threads=threads))

    wall, cpu, moments = timed(lambda: sample(1), args.repeat)
    assert isinstance(moments, list)
    scenes = sum(m.scene_change for m in moments)
    record("sample_moments (default)", wall, cpu, f"{len(moments)} moments, {scenes} scene changes")
    wall_auto, cpu_auto, _ = timed(lambda: sample(0), args.repeat)
    record("sample_moments, all cores", wall_auto, cpu_auto)
    # What a long clip gets: the cap widens the interval (here to 8 s, as a 2.5-hour clip at the
    # default cap of 600 would get about 20 s), so moments are found by seeking, one keyframe each.
    wall, cpu, few = timed(lambda: list(sample_moments(clip, threads=1, max_moments=5)), args.repeat)
    assert isinstance(few, list)
    record("widened interval (seek)", wall, cpu, f"{len(few)} moments")

    ratio = (
        rows["sample_moments (default)"]["x_realtime_per_core"] / rows["full decode"]["x_realtime_per_core"]
    )
    print(f"sampling vs full decode, per core: {ratio:.1f}x cheaper")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = os.getloadavg()[0]
    # Wall-clock rows are only as good as an idle machine; the per-core (CPU time) rows hold anyway.
    print(f"peak RSS {peak_mb:.0f} MiB, {os.cpu_count()} cores, load average {load:.1f} during the run")
    print(
        json.dumps(
            {
                "bench": "video_decode",
                "clip_s": round(dur, 2),
                "width": info.width,
                "height": info.height,
                "codec": info.codec,
                "moments": len(moments),
                "rows": rows,
                "hours_per_hour_per_core": rows["sample_moments (default)"]["x_realtime_per_core"],
                "full_decode_hours_per_hour_per_core": rows["full decode"]["x_realtime_per_core"],
                "speedup_vs_full_decode": round(ratio, 2),
                "peak_rss_mib": round(peak_mb),
                "load_avg_1min": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
