"""Camera RAW photos: indexed through their embedded preview, with EXIF; demosaiced only without one."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import DecodeError
from engine.media.images import load_photo
from engine.media.kinds import Kind, kind_of
from tests.engine.dng import mosaic_of, write_dng

rawpy = pytest.importorskip("rawpy", reason="rawpy (LibRaw) is not installed")


def _scene() -> np.ndarray:
    """What the sensor saw: red on the left, magenta on the right (600 x 400)."""
    rgb = np.zeros((400, 600, 3), np.uint8)
    rgb[..., 0] = 220
    rgb[:, 300:, 2] = 200
    return rgb


def _jpeg(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    im = Image.new("RGB", size, colour)
    im.paste((255, 255, 0), (0, 0, size[0] // 4, size[1] // 4))  # a yellow top-left corner
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_raw_extensions_are_photos() -> None:
    for ext in ("cr2", "CR3", "nef", "arw", "raf", "orf", "rw2", "dng"):
        assert kind_of(f"/x/IMG_0001.{ext}") is Kind.PHOTO


def test_a_dng_is_indexed_through_its_embedded_preview(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.dng"
    write_dng(path, mosaic_of(_scene()), _jpeg((1200, 800), (0, 0, 255)), (1200, 800))
    im = load_photo(path, min_side=256)
    assert im.mode == "RGB" and im.size == (384, 256)
    r, g, b = im.getpixel((300, 200))
    assert b > 200 and r < 40  # the camera's blue preview, not the red mosaic
    assert im.getpixel((5, 5))[2] < 60  # yellow corner at the top left: upright


def test_the_raw_files_orientation_turns_its_preview(tmp_path: Path) -> None:
    path = tmp_path / "portrait.dng"
    write_dng(path, mosaic_of(_scene()), _jpeg((1200, 800), (0, 0, 255)), (1200, 800), orientation=6)
    im = load_photo(path, min_side=256)
    assert im.size == (256, 384)  # turned 90 degrees clockwise, as the camera was held
    assert im.getpixel((im.size[0] - 5, 5))[2] < 60  # the yellow corner went to the top right


def test_without_a_preview_the_raw_is_demosaiced(tmp_path: Path) -> None:
    path = tmp_path / "bare.dng"
    write_dng(path, mosaic_of(_scene()))
    im = load_photo(path, min_side=128)
    assert im.mode == "RGB" and im.size == (192, 128)  # half-size demosaic, then resized
    left, right = np.asarray(im)[64, 20].astype(int), np.asarray(im)[64, 170].astype(int)
    assert left[0] > 150 and left[2] < left[0] / 2  # red
    assert right[0] > 150 and right[2] > 150  # magenta


def test_a_preview_smaller_than_asked_gives_way_to_the_demosaic(tmp_path: Path) -> None:
    path = tmp_path / "tiny-preview.dng"
    write_dng(path, mosaic_of(_scene()), _jpeg((160, 120), (0, 0, 255)), (160, 120))
    im = load_photo(path, min_side=128)
    assert np.asarray(im)[64, 20][0] > 150  # red from the sensor, not the blue thumbnail


def test_exif_of_a_raw(tmp_path: Path) -> None:
    from engine.media.raw import raw_exif

    path = tmp_path / "IMG_0002.dng"
    write_dng(path, mosaic_of(_scene()), _jpeg((1200, 800), (0, 0, 255)), (1200, 800),
              make="Nikon", model="Z 6", taken="2019:08:17 07:45:00")  # fmt: skip
    exif = raw_exif(path)
    assert exif is not None and exif[0x010F] == "Nikon" and exif[0x0110] == "Z 6"
    assert exif.get_ifd(0x8769)[0x9003] == "2019:08:17 07:45:00"
    # Olympus and Panasonic write TIFF under their own magic numbers.
    orf = tmp_path / "P0001.orf"
    orf.write_bytes(b"IIRO" + path.read_bytes()[4:])
    assert (raw_exif(orf) or {}).get(0x010F) == "Nikon"
    assert raw_exif(tmp_path / "missing.cr2") is None


def test_a_damaged_raw_fails_with_a_reason(tmp_path: Path) -> None:
    bad = tmp_path / "broken.nef"
    bad.write_bytes(b"II*\0" + b"\x00" * 200)
    with pytest.raises(DecodeError, match="RAW"):
        load_photo(bad)
    junk = tmp_path / "junk.cr3"
    junk.write_bytes(b"not a raw file at all" * 10)
    with pytest.raises(DecodeError):
        load_photo(junk)


def test_the_metadata_of_a_raw_has_its_camera_and_capture_time(tmp_path: Path) -> None:
    from engine.media.metadata import read_photo_meta

    path = tmp_path / "IMG_0003.dng"
    write_dng(path, mosaic_of(_scene()), _jpeg((1200, 800), (0, 0, 255)), (1200, 800),
              make="Canon", model="EOS R5", taken="2022:12:24 18:30:00")  # fmt: skip
    meta = read_photo_meta(path)
    assert (meta.make, meta.model) == ("Canon", "EOS R5")
    assert meta.local == "2022-12-24T18:30:00" and meta.time_source == "exif"
