"""Thumbnail cache: keys, sizes, orientation, atomic writes, cache hits, bad photos, video moments."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import DecodeError
from engine.media.thumbnails import make_photo_thumbnail, moment_key, save_thumbnail, thumbnail_path

RED, GREEN, BLUE, YELLOW = (220, 30, 30), (30, 190, 40), (30, 40, 220), (230, 215, 40)


def quadrants(w: int, h: int) -> Image.Image:
    a = np.empty((h, w, 3), np.uint8)
    a[: h // 2, : w // 2], a[: h // 2, w // 2 :] = RED, GREEN
    a[h // 2 :, : w // 2], a[h // 2 :, w // 2 :] = BLUE, YELLOW
    return Image.fromarray(a)


def colour_at(img: Image.Image, fx: float, fy: float) -> tuple[int, ...]:
    return img.convert("RGB").getpixel((int(img.width * fx), int(img.height * fy)))


def near(a, b, tol: int = 30) -> bool:
    return max(abs(x - y) for x, y in zip(a, b, strict=True)) <= tol


def leftovers(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".jpg"]


def test_moment_key_is_stable_to_the_millisecond() -> None:
    k = moment_key(42, 12.5)
    assert len(k) == 40 and int(k, 16) >= 0
    assert k == moment_key(42, 12.5004) == moment_key("42", 12.5)
    assert k != moment_key(42, 12.502) and k != moment_key(43, 12.5)
    assert moment_key(7) == moment_key(7, 0.0)


def test_thumbnail_path_never_leaves_the_cache(tmp_path: Path) -> None:
    k = moment_key(1, 2.0)
    assert thumbnail_path(tmp_path, k) == tmp_path / k[:2] / f"{k}.jpg"
    for key in ("../../etc/passwd", "photo:/home/me/a.jpg:123:4.000", "/abs", "ü" * 300):
        p = thumbnail_path(tmp_path, key)
        assert p.parent.parent == tmp_path and len(p.stem) == 40
    assert thumbnail_path(tmp_path, "a/b") != thumbnail_path(tmp_path, "a_b")
    with pytest.raises(ValueError):
        thumbnail_path(tmp_path, "")


def test_save_thumbnail_scales_a_moment_down_and_keeps_its_picture(tmp_path: Path) -> None:
    img = quadrants(455, 256)  # a Moment.image at the default size
    p = save_thumbnail(tmp_path, moment_key(3, 4.0), img)
    assert p == thumbnail_path(tmp_path, moment_key(3, 4.0))
    with Image.open(p) as t:
        assert t.format == "JPEG" and t.size == (320, 180)
        for (fx, fy), c in zip(
            [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)], [RED, GREEN, BLUE, YELLOW], strict=True
        ):
            assert near(colour_at(t, fx, fy), c)
    assert leftovers(tmp_path) == []

    small = save_thumbnail(tmp_path, "small", Image.new("RGB", (100, 60), RED))
    with Image.open(small) as t:
        assert t.size == (100, 60)  # never enlarged


def test_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((30, 40, 220, 255), (0, 0, 32, 64))
    with Image.open(save_thumbnail(tmp_path, "alpha", rgba)) as t:
        assert near(colour_at(t, 0.25, 0.5), BLUE) and near(colour_at(t, 0.75, 0.5), (255, 255, 255))


def test_a_failed_write_leaves_the_old_thumbnail_and_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    key = moment_key(9, 1.0)
    p = save_thumbnail(tmp_path, key, Image.new("RGB", (64, 48), RED))
    before = p.read_bytes()
    real_save = Image.Image.save

    def save_half_then_fail(self, fp, *args, **kwargs):
        real_save(self, fp, *args, **kwargs)
        Path(fp).write_bytes(Path(fp).read_bytes()[:50])  # a torn write …
        raise OSError(28, "No space left on device")  # … then the disk fills up

    monkeypatch.setattr(Image.Image, "save", save_half_then_fail)
    with pytest.raises(OSError):
        save_thumbnail(tmp_path, key, Image.new("RGB", (64, 48), GREEN))
    assert p.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_concurrent_writers_of_one_key(tmp_path: Path) -> None:
    key = moment_key(5, 5.0)
    errors: list[BaseException] = []

    def write(colour: tuple[int, int, int]) -> None:
        try:
            for _ in range(20):
                save_thumbnail(tmp_path, key, Image.new("RGB", (400, 300), colour))
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(c,)) for c in (RED, GREEN, BLUE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Image.open(thumbnail_path(tmp_path, key)) as t:
        t.load()  # a whole JPEG, whichever writer came last
        assert any(near(colour_at(t, 0.5, 0.5), c) for c in (RED, GREEN, BLUE))
    assert leftovers(tmp_path) == []


def _exif_rotated_jpeg(path: Path, size: tuple[int, int]) -> None:
    """A JPEG stored sideways with EXIF orientation 6 ("turn 90° clockwise to view"), as phones write."""
    upright = quadrants(size[1], size[0])  # what the viewer should see: portrait
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # stored landscape (turned counter-clockwise)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, quality=92, exif=exif)


def test_photo_thumbnail_is_upright_and_decoded_small(tmp_path: Path, monkeypatch) -> None:
    from PIL import JpegImagePlugin

    src = tmp_path / "IMG_0001.jpg"
    _exif_rotated_jpeg(src, (4000, 3000))
    drafts: list[tuple] = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = real_draft(self, mode, size)
        drafts.append((size, self.size))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    p = make_photo_thumbnail(tmp_path / "cache", "photo-1", src)
    with Image.open(p) as t:
        assert t.size == (240, 320)
        for (fx, fy), c in zip(
            [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)], [RED, GREEN, BLUE, YELLOW], strict=True
        ):
            assert near(colour_at(t, fx, fy), c), (fx, fy)
    # libjpeg decoded at 1/8 scale (500x375), not the 12 MP original.
    assert drafts and drafts[0][1] == (500, 375)


def test_photo_thumbnail_cache_hit_does_not_decode_again(tmp_path: Path, monkeypatch) -> None:
    src = tmp_path / "a.png"
    quadrants(800, 600).save(src)
    p = make_photo_thumbnail(tmp_path / "cache", "k", src)
    opened: list[str] = []
    real_open = Image.open

    def spy(fp, *a, **kw):
        opened.append(str(fp))
        return real_open(fp, *a, **kw)

    monkeypatch.setattr(Image, "open", spy)
    assert make_photo_thumbnail(tmp_path / "cache", "k", src) == p
    assert opened == []
    Image.new("RGB", (800, 600), GREEN).save(src)
    make_photo_thumbnail(tmp_path / "cache", "k", src, refresh=True)
    assert opened == [str(src)]
    with real_open(p) as t:
        assert t.size == (320, 240) and near(colour_at(t, 0.1, 0.1), GREEN)


def test_bad_photos_raise_decode_error(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    good = tmp_path / "good.jpg"
    quadrants(640, 480).save(good, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:2000])
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image at all" * 100)
    cases = {tmp_path / "missing.jpg": "not found", truncated: "truncated", junk: "not a readable image"}
    for path, words in cases.items():
        with pytest.raises(DecodeError) as err:
            make_photo_thumbnail(cache, path.name, path)
        assert words in str(err.value) and "\n" not in str(err.value)
    assert not any(cache.rglob("*.jpg")) if cache.exists() else True


def test_video_moments_get_thumbnails_in_the_same_pass(tmp_path: Path) -> None:
    from engine.media.video import sample_moments
    from tests.engine.videogen import BLUE as V_BLUE
    from tests.engine.videogen import RED as V_RED
    from tests.engine.videogen import Scene, make_clip

    clip = make_clip(tmp_path / "clip.mp4", [Scene(2.5, V_RED), Scene(2.5, V_BLUE)], size=(640, 360))
    cache = tmp_path / "thumbs"
    saved = [(m, save_thumbnail(cache, moment_key(17, m.t), m.image)) for m in sample_moments(clip.path)]
    assert len(saved) >= 3
    for m, p in saved:
        assert p == thumbnail_path(cache, moment_key(17, m.t))
        with Image.open(p) as t:
            assert t.size == (320, 180)
            assert near(colour_at(t, 0.05, 0.9), clip.scene_at(m.t).color, tol=45)
