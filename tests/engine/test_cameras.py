"""Cameras in the search box: EXIF make and model found by "canon", "iphone 12", "taken with pixel", with a
"camera: …" reason and a chip; and ``--only date|place|camera`` (the metadata finder alone)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.search.understand import LibrarySummary, explain_offline
from engine.search.understand.cameras import CameraIndex
from engine.storage.metadata import CameraCount
from tests.media import save_photo
from tests.metagen import PORTO, VIENNA, save_exif_photo

CAMERAS = [
    CameraCount("Canon", "Canon EOS 80D", "Canon EOS 80D", 3),
    CameraCount("Apple", "iPhone 12", "Apple iPhone 12", 2),
    CameraCount("Apple", "iPhone 12 Pro", "Apple iPhone 12 Pro", 1),
    CameraCount("Google", "Pixel 7", "Google Pixel 7", 1),
    CameraCount("NIKON CORPORATION", "NIKON D750", "NIKON D750", 1),
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def found(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = run(capsys, "search", "--json", "-n", "50", *args)
    assert code == 0, err
    return json.loads(out)


def names(results: list[dict]) -> list[str]:
    return sorted(Path(r["path"]).name for r in results)


@pytest.fixture
def library(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    pics = tmp_path / "pics"
    save_exif_photo(
        pics / "canon.jpg", 1, taken="2019:03:02 12:00:00", gps=PORTO, make="Canon", model="Canon EOS 80D"
    )
    save_exif_photo(pics / "iphone12.jpg", 2, taken="2021:06:01 10:00:00", make="Apple", model="iPhone 12")
    save_exif_photo(
        pics / "iphone12pro.jpg",
        3,
        taken="2022:06:01 10:00:00",
        gps=VIENNA,
        make="Apple",
        model="iPhone 12 Pro",
    )
    save_exif_photo(pics / "pixel.jpg", 4, taken="2023:01:05 08:00:00", make="Google", model="Pixel 7")
    save_exif_photo(pics / "nikon.jpg", 5, make="NIKON CORPORATION", model="NIKON D750")
    save_photo(pics / "plain.jpg", 6, quality=90)
    code, out, err = run(capsys, "index", "--json", str(pics))
    assert code == 0, err
    assert json.loads(out)["indexed"] == 6
    return pics


def test_cameras_are_searchable_with_a_reason(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    canon = found(capsys, "canon")
    assert names(canon) == ["canon.jpg"]
    assert canon[0]["reason"] == "camera: Canon EOS 80D" and canon[0]["good"] is True
    assert names(found(capsys, "iphone 12")) == ["iphone12.jpg", "iphone12pro.jpg"]
    assert names(found(capsys, "iphone 12 pro")) == ["iphone12pro.jpg"]
    assert names(found(capsys, "taken with pixel")) == ["pixel.jpg"]
    assert names(found(capsys, "shot on nikon d750")) == ["nikon.jpg"]
    assert names(found(capsys, "eos 80d")) == ["canon.jpg"]
    assert names(found(capsys, "fotos hechas con el iphone")) == ["iphone12.jpg", "iphone12pro.jpg"]
    # With a place or a date, the filters meet.
    assert names(found(capsys, "iphone Vienna")) == ["iphone12pro.jpg"]
    assert names(found(capsys, "iphone 2021")) == ["iphone12.jpg"]

    # The text output shows the reason, and --explain the chip.
    code, out, err = run(capsys, "search", "taken with pixel", "--explain")
    assert code == 0 and "📷 Pixel" in err
    assert "camera: Google Pixel 7" in out and "pixel.jpg" in out
    code, out, _ = run(capsys, "search", "canon", "--explain", "--json")
    understood = json.loads(out)["understood"]
    assert {"kind": "camera", "label": "Canon"} in understood["chips"]
    assert understood["filters"]["camera"] == ["Canon EOS 80D"]


def test_words_that_are_no_camera_here_stay_words(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def chips(text: str) -> list[dict]:
        code, out, err = run(capsys, "search", text, "--explain", "--json")
        assert code == 0, err
        return json.loads(out)["understood"]["chips"]

    assert not any(c["kind"] == "camera" for c in chips("apple"))  # the fruit, unless "taken with apple"
    assert {"kind": "camera", "label": "Apple"} in chips("taken with apple")
    assert not any(c["kind"] == "camera" for c in chips("12"))
    assert not any(c["kind"] == "camera" for c in chips("sony"))  # no Sony photos in this library
    assert not any(c["kind"] == "camera" for c in chips('"canon"'))  # quoted: exact text


def test_only_date_place_and_camera(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert names(found(capsys, "Porto", "--only", "place")) == ["canon.jpg"]
    assert names(found(capsys, "beach 2021", "--only", "date")) == ["iphone12.jpg"]
    assert names(found(capsys, "iphone", "--only", "camera")) == ["iphone12.jpg", "iphone12pro.jpg"]
    # The query names nothing of the kind asked for: said plainly, nothing found.
    code, out, _ = run(capsys, "search", "beach", "--only", "place")
    assert code == 0 and out.strip() == "“beach” names no place this library has files from."
    code, out, _ = run(capsys, "search", "beach", "--only", "date")
    assert code == 0 and out.startswith("“beach” names no date (try 2019")
    assert found(capsys, "beach", "--only", "camera") == []
    # A wrong name lists the right ones, these among them.
    code, _, err = run(capsys, "search", "beach", "--only", "bogus")
    assert code != 0 and all(n in err for n in ("date", "place", "camera"))


def test_camera_index_on_its_own() -> None:
    index = CameraIndex(CAMERAS)
    one = index.find("beach taken with canon camera")
    assert [(m.fragment, m.label, m.cameras) for m in one] == [
        ("taken with canon camera", "Canon", ("Canon EOS 80D",))
    ]
    assert index.find("iphone 12")[0].cameras == ("Apple iPhone 12", "Apple iPhone 12 Pro")
    assert index.find("d750")[0].cameras == ("NIKON D750",)
    assert index.find("nikon")[0].cameras == ("NIKON D750",)
    assert index.find("apple pie") == [] and index.find("pro") == [] and index.find("12") == []
    assert index.find("shot on apple")[0].fragment == "shot on apple"
    assert index.find("canon", taken=[(0, 5)]) == []
    # A model this library has no camera for is none: not every other iPhone.
    assert index.find("iphone 13") == [] and index.find("beach iphone 13 sunset") == []
    assert index.find("canon 2019")[0].fragment == "canon"  # a year after a name is no model number


def test_the_app_chips_show_the_camera_while_typing() -> None:
    summary = LibrarySummary(cameras=CAMERAS)
    u = explain_offline("dog taken with pixel", summary)
    assert ("camera", "Pixel", "taken with pixel") in u.fragments
    assert u.text == "dog"
    assert "📷 Pixel" in u.describe()


def test_nothing_of_the_kind_asked_says_so(library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "canon", "--kind", "video")
    assert code == 0 and out.strip() == "No videos taken with Canon in this library."
    code, out, _ = run(capsys, "search", "--after", "2024", "--place", "Porto")
    assert code == 0 and out.strip() == "No photos from 2024 in Porto in this library."  # not "from from"


def test_labels_keep_the_cameras_spelling_and_short_codes_are_no_names() -> None:
    index = CameraIndex(
        [
            CameraCount("FUJIFILM", "X-T3", "FUJIFILM X-T3", 1),
            CameraCount("samsung", "SM-G991B", "samsung SM-G991B", 1),
        ]
    )
    assert [(m.fragment, m.label) for m in index.find("x t3")] == [("x t3", "X-T3")]
    assert index.find("g991b")[0].cameras == ("samsung SM-G991B",)
    assert index.find("sm") == []  # two letters of a model code are no camera
