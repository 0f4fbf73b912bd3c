"""Animated GIF and WebP are video clips (their moments are indexed); still ones stay photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from engine.cli.main import main
from engine.media.kinds import Kind, is_animated, kind_of_file
from tests.engine.videogen import BLUE, GREEN, RED, YELLOW, Scene, make_animated


def _library(root: Path) -> Path:
    lib = root / "lib"
    lib.mkdir()
    make_animated(lib / "party.gif", [Scene(3.0, RED), Scene(3.0, BLUE, "disc")], fps=4)
    make_animated(lib / "sticker.webp", [Scene(2.5, GREEN), Scene(2.5, YELLOW, "disc")], fps=4)
    Image.new("RGB", (96, 64), (200, 30, 30)).save(lib / "still.gif")
    Image.new("RGB", (96, 64), (30, 200, 30)).save(lib / "still.webp")
    return lib


def test_animation_is_read_from_the_block_structure(tmp_path: Path) -> None:
    lib = _library(tmp_path)
    assert [is_animated(lib / n) for n in ("party.gif", "sticker.webp", "still.gif", "still.webp")] == [
        True, True, False, False,
    ]  # fmt: skip
    assert kind_of_file(lib / "party.gif") is Kind.VIDEO and kind_of_file(lib / "still.gif") is Kind.PHOTO
    truncated = tmp_path / "cut.gif"
    truncated.write_bytes((lib / "party.gif").read_bytes()[:200])
    assert kind_of_file(truncated) is Kind.PHOTO  # a damaged file keeps its extension's kind
    assert kind_of_file(tmp_path / "gone.gif") is Kind.PHOTO


def test_animated_gif_and_webp_are_indexed_as_moments(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hostile round, row 13: they were photos (first frame) while the README says video clips."""
    lib = _library(tmp_path)
    assert main(["index", str(lib), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["indexed"] == 4 and summary["failed"] == 0
    assert main(["status", "--json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert files.get("video/indexed") == 2 and files.get("photo/indexed") == 2

    probe = tmp_path / "blue.png"
    Image.new("RGB", (96, 64), BLUE).save(probe)
    assert main(["similar", str(probe), "--kind", "video", "--json"]) == 0
    hits = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert set(hits) == {"party.gif", "sticker.webp"}
    assert all(r["kind"] == "video" and r["t"] is not None for r in hits.values())
    assert max(m["t"] for m in [*hits["party.gif"]["moments"], hits["party.gif"]]) >= 2.0  # not frame 0 only


def test_a_huge_animation_is_indexed_by_its_first_frame_within_the_photo_budget(tmp_path: Path) -> None:
    """Frame by frame, Pillow holds each frame whole: a 215 KB 12000x12000 two-frame GIF took 1.9 GB."""
    from engine.errors import DecodeError
    from engine.media.images import load_photo
    from engine.media.kinds import ANIMATED_MAX_PIXELS
    from engine.media.video import sample_moments

    w, h = 5000, 3400
    assert w * h > ANIMATED_MAX_PIXELS
    frames = [Image.new("P", (w, h), i) for i in (1, 2)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
    path = tmp_path / "bomb.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=500, loop=0)
    del frames
    assert not is_animated(path) and kind_of_file(path) is Kind.PHOTO
    assert load_photo(path).getpixel((10, 10)) == (255, 0, 0)
    with pytest.raises(DecodeError, match="too large to decode frame by frame"):
        list(sample_moments(path))
