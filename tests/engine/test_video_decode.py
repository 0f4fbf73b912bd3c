"""Video moments: sampling times, scene cuts, the cap, rotation, bad files, animations, cancel, real clips.

Clips are generated with PyAV (tests/engine/videogen.py): solid-colour scenes with known cut times, so
a moment's picture tells which scene it was taken from.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.errors import DecodeError
from engine.media.video import Moment, VideoInfo, probe_video, sample_moments
from tests.engine.videogen import (
    BLUE,
    CYAN,
    GREEN,
    GREY,
    MAGENTA,
    RED,
    YELLOW,
    Clip,
    Scene,
    draw,
    has_encoder,
    make_animated,
    make_audio_only,
    make_clip,
    mp4_fourcc_patched,
)

ASSETS = Path(__file__).resolve().parents[3] / "shared" / "assets" / "data"
REAL_DIRS = [ASSETS / "videos_intel_sample", ASSETS / "videos_libscan"]
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".ts", ".ogv"}

#: Four scenes, 10 s, cuts at 2.5, 5.5 and 8.0 s: none of them on the 2 s grid.
SCENES = [Scene(2.5, RED), Scene(3.0, GREEN, "disc"), Scene(2.5, BLUE, "square"), Scene(2.0, YELLOW)]


def dominant(img) -> tuple[int, ...]:
    """The background colour of a moment's picture (the white shape covers well under half)."""
    return tuple(int(v) for v in np.median(np.asarray(img).reshape(-1, 3), axis=0))


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 45) -> bool:
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= tol


def mode_of(caplog: pytest.LogCaptureFixture) -> str:
    msgs = [
        r.getMessage() for r in caplog.records if r.name == "engine.media.video" and "mode=" in r.getMessage()
    ]
    assert msgs, "sample_moments logs the strategy it chose"
    return msgs[-1].split("mode=")[1].split()[0]


def run(path: Path, caplog: pytest.LogCaptureFixture | None = None, **kw) -> list[Moment]:
    if caplog is not None:
        caplog.set_level(logging.DEBUG, logger="engine.media.video")
    return list(sample_moments(path, **kw))


def assert_times_ordered(moments: list[Moment]) -> None:
    ts = [m.t for m in moments]
    assert ts == sorted(ts) and len(set(ts)) == len(ts), ts


def assert_colours_match(clip: Clip, moments: list[Moment], frame_slack: float = 0.0) -> None:
    """Every moment shows the scene its timestamp says (allowing ``frame_slack`` s of timestamp skew)."""
    for m in moments:
        seen = dominant(m.image)
        allowed = {clip.scene_at(m.t).color, clip.scene_at(max(0.0, m.t - frame_slack)).color}
        assert any(near(seen, c) for c in allowed), (m.t, seen, allowed)


def assert_cuts_found(clip: Clip, moments: list[Moment], within: float, frame_slack: float = 0.0) -> None:
    """Each scene's first moment comes no later than ``within`` s after its cut, showing that scene."""
    for cut in clip.cuts:
        scene = clip.scene_at(cut + 1e-3)
        after = [m for m in moments if m.t >= cut + frame_slack - 1e-3]
        assert after, f"no moment after the cut at {cut}"
        first = after[0]
        assert first.t <= cut + within + 1e-3, (cut, [round(m.t, 2) for m in moments])
        assert near(dominant(first.image), scene.color), (cut, first.t, dominant(first.image))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def h264(clips: Path) -> Clip:
    """The everyday case: H.264 MP4, keyframe every second and on each cut, with sound."""
    return make_clip(clips / "h264.mp4", SCENES, gop=10, audio=True)


# -- sampling times and scene cuts ---------------------------------------------------------------


def test_samples_about_every_interval_and_cover_the_clip(
    h264: Clip, caplog: pytest.LogCaptureFixture
) -> None:
    moments = run(h264.path, caplog)
    assert mode_of(caplog) == "keyframes"
    assert_times_ordered(moments)
    ts = [m.t for m in moments]
    assert ts[0] == 0.0
    assert max(np.diff(ts)) <= 2.0 + 1e-6
    assert ts[-1] >= h264.duration - 2.0
    regular = [m.t for m in moments if not m.scene_change]
    assert regular[:2] == [0.0, 2.0]  # the grid, before the first cut restarts it
    for m in moments:
        assert m.image.mode == "RGB" and m.image.size == (160, 96)  # never enlarged
    assert_colours_match(h264, moments)

    finer = run(h264.path, interval=1.0)
    assert len(finer) >= 10 and max(np.diff([m.t for m in finer])) <= 1.0 + 1e-6


def test_scene_cut_on_a_keyframe_gives_a_moment_at_the_cut(h264: Clip) -> None:
    moments = run(h264.path)
    scene_ts = [m.t for m in moments if m.scene_change]
    assert scene_ts == pytest.approx(h264.cuts, abs=0.051)
    assert_cuts_found(h264, moments, within=0.05)


def test_cut_between_keyframes_is_found_at_the_next_keyframe(clips: Path, caplog) -> None:
    # No keyframe on the cuts (an encoder without scene-cut detection), one every 1.5 s.
    clip = make_clip(clips / "nocutkeys.mp4", SCENES, gop=15, keyframes_at_cuts=False)
    moments = run(clip.path, caplog)
    assert mode_of(caplog) == "keyframes"
    assert_cuts_found(clip, moments, within=1.5)  # one keyframe interval, less than one sampling interval
    assert_colours_match(clip, moments)


def test_cut_just_after_a_sample_still_gets_its_own_moment(clips: Path) -> None:
    # The cut at 2.2 s comes 0.2 s after the sample at 2.0 s: too close for a moment of its own
    # (scene changes keep a quarter interval apart), so the next keyframe looked at takes it.
    scenes = [Scene(2.2, RED), Scene(3.0, GREEN, "disc"), Scene(2.0, BLUE)]
    clip = make_clip(clips / "closecut.mp4", scenes, gop=10)
    moments = run(clip.path)
    first_green = next(m for m in moments if m.t >= 2.2)
    assert first_green.scene_change and first_green.t <= 2.2 + 1.0 + 1e-3, [
        (m.t, m.scene_change) for m in moments
    ]
    assert_colours_match(clip, moments)


def test_scene_threshold_one_turns_scene_changes_off(h264: Clip) -> None:
    moments = run(h264.path, scene_threshold=1.0)
    # Keyframes fall at 0, 1, 2, 2.5, 3.5, …: each sample is the keyframe nearest its grid time.
    assert [m.t for m in moments] == pytest.approx([0.0, 2.0, 4.0, 6.0, 8.0], abs=0.5)
    assert not any(m.scene_change for m in moments)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        next(sample_moments("whatever.mp4", interval=0))


def test_long_gop_is_decoded_in_order_and_finds_cuts_within_a_quarter_interval(clips: Path, caplog) -> None:
    clip = make_clip(clips / "longgop.mp4", SCENES, gop=100, keyframes_at_cuts=False)
    moments = run(clip.path, caplog)
    assert mode_of(caplog) == "sequential"
    assert_cuts_found(clip, moments, within=0.5)
    assert_colours_match(clip, moments)
    assert max(np.diff([m.t for m in moments])) <= 2.0 + 1e-6


def test_all_intra_clip_looks_at_a_frame_every_quarter_interval(clips: Path, caplog) -> None:
    clip = make_clip(clips / "intra.mp4", SCENES, gop=1, keyframes_at_cuts=False)
    moments = run(clip.path, caplog)
    assert mode_of(caplog) == "keyframes"
    assert_cuts_found(clip, moments, within=0.5)
    assert_colours_match(clip, moments)


def test_flashing_picture_does_not_flood_the_index(clips: Path) -> None:
    strobe = [Scene(0.2, (RED, CYAN)[i % 2]) for i in range(50)]  # 10 s, a cut every 0.2 s
    clip = make_clip(clips / "strobe.mp4", strobe, gop=10)
    moments = run(clip.path)
    assert_times_ordered(moments)
    # Scene changes at least interval/4 apart: at most one per 0.5 s, plus the first frame.
    assert len(moments) <= 10 / 0.5 + 1
    assert min(np.diff([m.t for m in moments])) >= 0.5 - 1e-6


def test_variable_frame_rate(clips: Path) -> None:
    clip = make_clip(clips / "vfr.mkv", SCENES, vfr=True)
    moments = run(clip.path)
    assert_times_ordered(moments)
    ts = [m.t for m in moments]
    assert ts[0] == 0.0 and ts[-1] >= clip.duration - 2.0 and max(np.diff(ts)) <= 2.0 + 0.15
    assert_colours_match(clip, moments)
    assert_cuts_found(clip, moments, within=2.0)


CODECS = [
    (".mp4", "libx264"),
    (".mov", "libx264"),
    (".mp4", "libx265"),
    (".mkv", "libx265"),
    (".webm", "libvpx"),
    (".webm", "libvpx-vp9"),
    (".mkv", "libsvtav1"),
    (".avi", "mpeg4"),
    (".avi", "mjpeg"),
    (".ts", "mpeg2video"),
    (".ts", "libx264"),
]


@pytest.mark.parametrize(("suffix", "codec"), CODECS, ids=[f"{c}{s}" for s, c in CODECS])
def test_containers_and_codecs(clips: Path, suffix: str, codec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not has_encoder(codec):
        pytest.skip(f"this FFmpeg build cannot encode {codec}")
    monkeypatch.setenv("SVT_LOG", "1")  # the AV1 encoder prints a banner to stderr otherwise
    pix = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    clip = make_clip(clips / f"c_{codec}{suffix}", SCENES, codec=codec, gop=10, audio=True, pix_fmt=pix)
    info = probe_video(clip.path)
    assert (info.width, info.height, info.rotation, info.has_audio) == (160, 96, 0, True)
    assert info.duration == pytest.approx(clip.duration, abs=0.2)
    assert info.fps == pytest.approx(10, abs=0.01)
    moments = run(clip.path)
    assert_times_ordered(moments)
    assert moments[0].t == 0.0 and moments[-1].t >= clip.duration - 2.0
    # AVI written by FFmpeg with an MP3 track reads back with its video timestamps one frame late.
    slack = 0.1 if suffix == ".avi" else 0.0
    assert_colours_match(clip, moments, frame_slack=slack)
    assert_cuts_found(clip, moments, within=2.0, frame_slack=slack)


def test_probe_reports_codec_and_missing_sound(h264: Clip, clips: Path) -> None:
    info = probe_video(h264.path)
    assert info == VideoInfo(
        duration=pytest.approx(10.0, abs=0.05),
        width=160,
        height=96,
        rotation=0,
        fps=pytest.approx(10.0),
        has_audio=True,
        codec="h264",
    )
    silent = make_clip(clips / "silent.mkv", SCENES[:1])
    assert probe_video(silent.path).has_audio is False


# -- the cap on long clips -----------------------------------------------------------------------

THREE_HOURS = [Scene(900, (RED, GREEN, BLUE, YELLOW, MAGENTA, CYAN)[i % 6]) for i in range(12)]


@pytest.mark.parametrize(
    ("gop", "mode"),
    [(1, "seek"), (12, "keyframes"), (720, "sequential")],
    ids=["keyframe-every-5s", "keyframe-every-minute", "keyframe-every-hour"],
)
def test_three_hour_clip_is_capped_and_spread_over_its_whole_length(
    clips: Path, caplog: pytest.LogCaptureFixture, gop: int, mode: str
) -> None:
    # Tiny frames at one every 5 s make three hours cheap to write and read.
    clip = make_clip(clips / f"long_{gop}.mp4", THREE_HOURS, fps=0.2, size=(48, 32), gop=gop)
    assert clip.duration == 3 * 3600
    moments = run(clip.path, caplog, max_moments=120)
    assert mode_of(caplog) == mode
    assert_times_ordered(moments)
    assert 0.75 * 120 <= len(moments) <= 120
    ts = np.array([m.t for m in moments])
    # Widened interval: 10800 s / (0.75 * 120) = 120 s; spread to the end, no long hole anywhere.
    assert ts[0] == 0.0 and ts[-1] >= clip.duration - 2 * 120
    assert np.diff(ts).max() <= 120 + 10
    assert_colours_match(clip, moments)
    assert_cuts_found(clip, moments, within=120)


def test_default_cap_holds_on_a_three_hour_clip(clips: Path) -> None:
    clip = make_clip(clips / "long_default.mp4", THREE_HOURS, fps=0.2, size=(48, 32), gop=1)
    moments = run(clip.path)
    assert 400 <= len(moments) <= 600
    assert moments[-1].t >= clip.duration - 60


def test_a_seek_that_lands_wrong_falls_back_to_reading_in_order(
    clips: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.media import video

    clip = make_clip(clips / "long_lying.mp4", THREE_HOURS, fps=0.2, size=(48, 32), gop=1)
    honest = video._Clip.keyframe_at
    calls = {"n": 0}

    def lying(self, t: float, *, backward: bool = True):
        calls["n"] += 1
        # The 20th seek lands back at the start, as a damaged index can make it do.
        return honest(self, 0.0 if calls["n"] == 20 else t, backward=backward)

    monkeypatch.setattr(video._Clip, "keyframe_at", lying)
    moments = run(clip.path, caplog, max_moments=120)
    assert "seek landed far from its target" in caplog.text
    assert mode_of(caplog) == "seek"
    assert_times_ordered(moments)  # nothing re-sampled from the start
    assert calls["n"] == 20  # no more seeking after the fallback
    assert 90 <= len(moments) <= 120 and moments[-1].t >= clip.duration - 240
    assert_colours_match(clip, moments)


# -- rotation, size --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rotation", "hflip", "clockwise", "k", "mirror"),
    [
        (90, False, 270, 1, False),
        (-90, False, 90, -1, False),
        (180, False, 180, 2, False),
        (0, True, 0, 0, True),
    ],
    ids=["ccw90", "cw90-phone-portrait", "180", "mirrored"],
)
def test_rotation_metadata_is_applied(
    clips: Path, rotation: int, hflip: bool, clockwise: int, k: int, mirror: bool
) -> None:
    scene = Scene(1.0, GREY, "quadrants")
    clip = make_clip(
        clips / f"rot_{rotation}_{hflip}.mp4", [scene], size=(128, 64), rotation=rotation, hflip=hflip
    )
    stored = draw(scene, (128, 64), 0)
    # PyAV's rotation is counter-clockwise, as np.rot90 turns.
    expected = np.fliplr(stored) if mirror else np.rot90(stored, k)
    info = probe_video(clip.path)
    assert (info.width, info.height) == (expected.shape[1], expected.shape[0])
    assert info.rotation == clockwise
    img = np.asarray(run(clip.path)[0].image)
    assert img.shape[:2] == expected.shape[:2] if min(expected.shape[:2]) <= 256 else True
    h, w = img.shape[:2]
    for fy, fx in [(0.25, 0.25), (0.25, 0.75), (0.75, 0.25), (0.75, 0.75)]:
        got = tuple(int(v) for v in img[int(h * fy), int(w * fx)])
        want = tuple(int(v) for v in expected[int(expected.shape[0] * fy), int(expected.shape[1] * fx)])
        assert near(got, want), ((fy, fx), got, want)


def test_moment_short_side_is_size(h264: Clip) -> None:
    m = run(h264.path, size=48)[0]
    assert min(m.image.size) == 48 and m.image.size == (80, 48)


def test_8k_frames_are_scaled_down_in_the_decoder_with_bounded_memory(clips: Path) -> None:
    path = clips / "8k.mp4"
    make_clip(path, [Scene(0.3, MAGENTA)], fps=10, size=(7680, 4320), gop=3)
    # In a fresh process, so the peak RSS is this decode's: a full-size RGB copy of one frame alone
    # would be 100 MB, the naive decode-to-PIL path peaks near 530 MB; sampling stays well under.
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from engine.media.video import probe_video, sample_moments
        info = probe_video({str(path)!r})
        ms = list(sample_moments({str(path)!r}))
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
        hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")]
        print(info.width, info.height, len(ms), *ms[0].image.size, int(hwm[0]) // 1024 if hwm else -1)
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    w, h, n, iw, ih, peak_mib = map(int, out.stdout.split())
    assert (w, h, n, iw, ih) == (7680, 4320, 1, 455, 256)
    if peak_mib < 0:
        pytest.skip("no /proc/self/status here to read the peak memory from")
    assert peak_mib < 350, f"peak RSS {peak_mib} MiB"


# -- bad input -------------------------------------------------------------------------------------


def expect_error(path: Path, *words: str) -> str:
    for fn in (probe_video, lambda p: list(sample_moments(p))):
        with pytest.raises(DecodeError) as err:
            fn(path)
        msg = str(err.value)
        assert "\n" not in msg and all(w in msg for w in words), msg
    return msg


def test_truncated_mp4_without_its_index(h264: Clip, clips: Path) -> None:
    data = h264.path.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")  # FFmpeg writes the index last
    cut = clips / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 2])
    expect_error(cut, "truncated", "moov")


def test_zero_duration_and_empty_files(clips: Path) -> None:
    import av

    empty = clips / "empty.mp4"
    empty.write_bytes(b"")
    expect_error(empty, "empty file")
    # A container with a video stream and not one frame in it.
    path = clips / "noframes.avi"
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    expect_error(path, "no frames", "zero duration")


def test_audio_only_file(clips: Path) -> None:
    expect_error(make_audio_only(clips / "sound.mp4"), "no video stream")


def test_unknown_codec_is_named(h264: Clip, clips: Path) -> None:
    path = mp4_fourcc_patched(h264.path, clips / "unknown.mp4", b"avc1", b"zq9x")
    expect_error(path, "unsupported codec", "zq9x")


def test_not_a_video_and_missing_file(clips: Path) -> None:
    junk = clips / "junk.mkv"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    expect_error(junk, "not a readable video")
    expect_error(clips / "absent.mp4", "not found")


def _corrupt(src: Path, dst: Path, start: float, end: float) -> None:
    """Overwrite the bytes between fractions ``start`` and ``end`` of the media data with noise."""
    data = bytearray(src.read_bytes())
    lo, hi = int(len(data) * start), int(len(data) * end)
    data[lo:hi] = np.random.default_rng(3).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".ts"])
def test_corrupt_middle_keeps_what_decodes(clips: Path, suffix: str) -> None:
    scenes = [Scene(4.0, c, "square") for c in (RED, GREEN, BLUE, YELLOW, MAGENTA)]  # 20 s
    clip = make_clip(clips / f"whole{suffix}", scenes, gop=10)
    bad = clips / f"corrupt{suffix}"
    _corrupt(clip.path, bad, 0.4, 0.6)
    moments = run(bad)
    assert_times_ordered(moments)
    ts = [m.t for m in moments]
    assert min(ts) < 4 and max(ts) > 16, ts  # before and after the damage
    assert_colours_match(clip, moments)  # error-concealed frames (another scene's picture) are left out


def test_no_decodable_frame_is_an_error(clips: Path) -> None:
    clip = make_clip(clips / "tobreak.mkv", SCENES, gop=10)
    bad = clips / "allbroken.mkv"
    # Keep the Matroska header (first 1 KiB) so the file opens, destroy every frame after it.
    _corrupt(clip.path, bad, 1024 / clip.path.stat().st_size, 1.0)
    with pytest.raises(DecodeError) as err:
        list(sample_moments(bad))
    assert "\n" not in str(err.value)


# -- animations ------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animated_images_are_clips(clips: Path, suffix: str) -> None:
    clip = make_animated(clips / f"anim{suffix}", [Scene(3.0, RED), Scene(2.6, GREEN, "disc")], fps=5)
    info = probe_video(clip.path)
    assert info.duration == pytest.approx(5.6, abs=0.01)
    assert (info.width, info.height, info.codec) == (96, 64, suffix[1:])
    moments = run(clip.path)
    # Frames are 0.2 s apart and one is looked at every 0.5 s at least: 0, 0.6, 1.2, 1.8, 2.0 (due),
    # 2.6, 3.2 (the first look after the cut at 3.0), then the interval restarts from there.
    assert [round(m.t, 2) for m in moments] == [0.0, 2.0, 3.2, 5.2]
    assert [m.scene_change for m in moments] == [False, False, True, False]
    assert_colours_match(clip, moments)
    assert_cuts_found(clip, moments, within=0.5)


# -- cancel ----------------------------------------------------------------------------------------


def test_cancel_stops_promptly(h264: Clip) -> None:
    calls = {"after": 0}
    stop = False

    def cancel() -> bool:
        if stop:
            calls["after"] += 1
        return stop

    got = []
    for m in sample_moments(h264.path, cancel=cancel):
        got.append(m)
        stop = True
    assert len(got) == 1
    assert calls["after"] <= 2  # checked once more, not carried on to the end of the clip

    assert list(sample_moments(h264.path, cancel=lambda: True)) == []  # cancelled, not an error


# -- real clips ------------------------------------------------------------------------------------


def _real_videos() -> list[Path]:
    found = []
    for d in REAL_DIRS:
        if d.is_dir():
            found += sorted(p for p in d.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    return found


@pytest.mark.parametrize("path", _real_videos() or [None], ids=lambda p: p.name if p else "absent")
def test_real_videos_give_moments(path: Path | None) -> None:
    if path is None:
        pytest.skip("the sample videos in shared/assets/data are not on this machine")
    info = probe_video(path)
    moments = list(sample_moments(path))
    assert moments, path
    assert_times_ordered(moments)
    assert moments[0].t < 0.5
    # The video track's own end (a container's duration can be its longer sound track's).
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = [p.pts for p in c.demux(s) if p.pts is not None]
        end = float((max(pts) - (s.start_time or 0)) * s.time_base)
    assert moments[-1].t >= end - 2.0 - 0.6, (end, [m.t for m in moments])
    for m in moments:
        assert m.image.mode == "RGB" and min(m.image.size) == min(256, info.width, info.height)
        assert np.asarray(m.image).std() > 1  # a picture, not a blank frame
