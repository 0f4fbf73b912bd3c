"""Photo decoding: big images decode reduced (PNG in strips) and never whole more than once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import DecodeError
from engine.media import big_images, images
from engine.media.images import load_photo
from testkit.big_png import write_flat_png

REPO = Path(__file__).resolve().parents[2]


def _picture(mode: str, size: tuple[int, int] = (701, 523)) -> Image.Image:
    """Noise over gradients: every PNG filter type gets used, and a strip seam would show."""
    rng = np.random.default_rng(7)
    w, h = size
    x = np.linspace(0, 255, w)[None, :, None]
    y = np.linspace(0, 255, h)[:, None, None]
    rgb = ((x + y) / 2 + rng.normal(0, 30, (h, w, 3))).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(rgb, "RGB")
    if mode == "RGBA":
        im.putalpha(Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L"))
    elif mode == "P":
        return im.quantize(64)
    elif mode != "RGB":
        return im.convert(mode)
    return im


@pytest.mark.parametrize(
    ("mode", "save"),
    [("RGB", {}), ("RGBA", {}), ("L", {}), ("LA", {}), ("1", {}), ("P", {}), ("P", {"bits": 4}),
     ("P", {"transparency": 3}), ("L", {"transparency": 17}), ("RGB", {"compress_level": 0})],
)  # fmt: skip
def test_png_strips_give_exactly_the_whole_image_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, save: dict
) -> None:
    path = tmp_path / "p.png"
    _picture(mode).save(path, **save)
    monkeypatch.setattr(big_images, "STRIP_BYTES", 701 * 4 * 37)  # 36-row strips: 15 seams
    with Image.open(path) as im:
        got = big_images.png_in_strips(im, path, 3, images.to_rgb)
    with Image.open(path) as im:
        im.load()
        want = images.to_rgb(im).reduce(3)
    assert got is not None and got.size == want.size == (234, 175)
    assert np.array_equal(np.asarray(got), np.asarray(want))


def test_pngs_the_strips_cannot_read_are_left_to_the_whole_decode(tmp_path: Path) -> None:
    deep = tmp_path / "deep.png"  # 16-bit: its rows cannot be re-packed from the 8-bit strip
    Image.new("I;16", (50, 40), 30000).save(deep)
    with Image.open(deep) as im:
        assert big_images.png_in_strips(im, deep, 2, images.to_rgb) is None


def test_a_huge_flat_png_decodes_in_little_memory(tmp_path: Path) -> None:
    """Hostile round, row 12: a 12000x12000 PNG of 166 KB took 2.1 GB (1.1 GB here) for one file."""
    path = tmp_path / "bomb.png"
    write_flat_png(path, 12000, 12000, (200, 120, 40))
    assert path.stat().st_size < 2_000_000
    code = (
        "import json, resource, sys\n"
        "from engine.media.images import load_photo\n"
        "im = load_photo(sys.argv[1])\n"
        # VmHWM is this process's own peak; ru_maxrss keeps the parent's across fork+exec on Linux
        # (a pytest that ran the app tests first is 650 MB).
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for line in open('/proc/self/status') if sys.platform.startswith('linux') else []:\n"
        "    if line.startswith('VmHWM:'):\n"
        "        peak = int(line.split()[1])\n"
        "print(json.dumps([im.size, im.getpixel((5, 5)), peak]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(path)],
        capture_output=True, text=True, timeout=300, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    size, pixel, peak_kb = json.loads(out.stdout)
    assert size == [256, 256] and pixel == [200, 120, 40]
    assert peak_kb < 400 * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"  # the interpreter alone is ~40 MB


def test_a_truncated_huge_png_fails_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    write_flat_png(path, 6000, 6000, (1, 2, 3), rows=3000)
    with pytest.raises(DecodeError, match="truncated"):
        load_photo(path)


def test_big_images_of_other_formats_are_decoded_whole_then_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.gif"
    _picture("P", (900, 640)).save(path)
    monkeypatch.setattr(images, "BIG_PIXELS", 100_000)
    with Image.open(path) as im:
        im.load()
        want = images.to_rgb(im).resize((360, 256), Image.Resampling.BILINEAR, reducing_gap=2.0)
    got = load_photo(path)
    assert got.size == (360, 256) and got.mode == "RGB"
    diff = np.abs(np.asarray(got, np.int16) - np.asarray(want, np.int16))
    assert diff.mean() < 2.0  # box-reduced first instead of resized in one go: nearly the same
    monkeypatch.setattr(images, "FULL_DECODE_BYTES", 500_000)  # the palette GIF: 1 byte a pixel, 576 KB
    with pytest.raises(DecodeError, match="memory budget"):
        load_photo(path)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_orientation_is_applied_on_the_small_image(tmp_path: Path, orientation: int) -> None:
    im = Image.new("RGB", (1200, 800), (255, 0, 0))
    im.paste((0, 0, 255), (0, 0, 300, 200))  # a blue top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.jpg"
    im.save(path, exif=exif.tobytes(), quality=95)
    got = load_photo(path, min_side=256)
    landscape = orientation in (1, 3)
    assert got.size == ((384, 256) if landscape else (256, 384))
    corner = {
        1: (5, 5),
        3: (got.size[0] - 5, got.size[1] - 5),
        6: (got.size[0] - 5, 5),
        8: (5, got.size[1] - 5),
    }
    r, g, b = got.getpixel(corner[orientation])
    assert b > 200 and r < 60, (orientation, (r, g, b))
