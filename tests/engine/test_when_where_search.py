"""End to end: photos and videos with EXIF dates, offsets and GPS, indexed through the CLI (tiny models),
then searched by date, place, both, in Spanish, with words, and with --after/--before/--place."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.media import save_photo
from tests.metagen import LISBON, PORTO, ROME, VIENNA, save_exif_photo, save_tagged_video


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def search(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    code, out, err = run(capsys, "search", "--json", "-n", "50", *args)
    assert code == 0, err
    return [Path(r["path"]).name for r in json.loads(out)]


@pytest.fixture
def library(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    pics = tmp_path / "pics"
    save_exif_photo(
        pics / "porto1.jpg",
        1,
        taken="2023:07:14 18:02:11",
        offset="+01:00",
        gps=PORTO,
        make="Canon",
        model="Canon EOS 5D",
    )
    save_exif_photo(pics / "porto2.jpg", 2, taken="2023:07:20 09:00:00", offset="+01:00", gps=PORTO)
    save_exif_photo(pics / "porto_old.jpg", 3, taken="2019:03:02 12:00:00", gps=PORTO)
    save_exif_photo(pics / "lisbon.jpg", 4, taken="2021:12:25 20:00:00", offset="+00:00", gps=LISBON)
    save_exif_photo(pics / "vienna.jpg", 5, taken="2020:08:01 10:00:00", offset="+02:00", gps=VIENNA)
    save_exif_photo(pics / "rome.jpg", 6, taken="2018:05:05 15:00:00", gps=ROME)
    save_exif_photo(pics / "rome_2022.jpg", 7, taken="2022:05:05 15:00:00", gps=ROME)
    save_tagged_video(
        pics / "clip.mp4",
        8,
        tags={"creation_time": "2020-08-02T08:00:00.000000Z", "location": "+48.2082+016.3738/"},
    )
    plain = save_photo(pics / "plain.jpg", 9, quality=90)  # no metadata: its mtime, 2024-01-15
    os.utime(plain, (1705312800, 1705312800))
    code, out, err = run(capsys, "index", "--json", str(pics))
    assert code == 0, err
    summary = json.loads(out)
    assert summary["indexed"] == 9 and summary["failed"] == 0
    return pics


def test_place_date_and_both_return_exactly_the_matching_files(library: Path, capsys) -> None:
    porto = {"porto1.jpg", "porto2.jpg", "porto_old.jpg"}
    assert set(search(capsys, "Porto")) == porto
    assert search(capsys, "Porto")[:2] == ["porto2.jpg", "porto1.jpg"]  # by date, newest first
    assert set(search(capsys, "Portugal")) == porto | {"lisbon.jpg"}
    assert search(capsys, "July 2023") == ["porto2.jpg", "porto1.jpg"]
    assert search(capsys, "Rome 2018") == ["rome.jpg"]
    assert set(search(capsys, "Vienna")) == {"vienna.jpg", "clip.mp4"}
    assert search(capsys, "Christmas 2021") == ["lisbon.jpg"]
    # The same in Spanish.
    assert set(search(capsys, "Oporto")) == porto
    assert search(capsys, "julio 2023") == ["porto2.jpg", "porto1.jpg"]
    assert search(capsys, "Roma 2018") == ["rome.jpg"]
    assert search(capsys, "fotos de Viena en agosto de 2020") == ["clip.mp4", "vienna.jpg"]
    assert search(capsys, "Navidad 2021") == ["lisbon.jpg"]
    assert set(search(capsys, "Italia")) == {"rome.jpg", "rome_2022.jpg"}


def test_words_with_a_place_stay_inside_the_place(library: Path, capsys) -> None:
    found = search(capsys, "a red car in Porto")
    assert found and set(found) <= {"porto1.jpg", "porto2.jpg", "porto_old.jpg"}


def test_a_place_not_in_the_library_stays_visual(library: Path, capsys) -> None:
    code, out, err = run(capsys, "search", "London", "--explain", "--json", "-n", "50")
    data = json.loads(out)
    assert data["understood"]["text"] == "London" and not data["understood"]["chips"]


def test_nothing_from_then_says_so(library: Path, capsys) -> None:
    code, out, _ = run(capsys, "search", "Porto 2020")
    assert code == 0 and "No photos from 2020 in Porto" in out
    assert search(capsys, "Porto 2020") == []


def test_files_without_metadata_still_work(library: Path, capsys) -> None:
    found = search(capsys, "a red car")
    assert "plain.jpg" in found and len(found) >= 9 - 1
    # Its modification time is its date, marked as such in the reason.
    code, out, _ = run(capsys, "search", "January 2024", "--json")
    (only,) = json.loads(out)
    assert Path(only["path"]).name == "plain.jpg"
    assert only["reasons"][0]["detail"]["time_source"] == "mtime"


def test_reasons_carry_date_place_and_camera(library: Path, capsys) -> None:
    code, out, _ = run(capsys, "search", "Porto", "--json")
    first = next(r for r in json.loads(out) if r["path"].endswith("porto1.jpg"))
    when = next(x for x in first["reasons"] if x["retriever"] == "when")
    assert when["detail"]["date"] == "2023-07-14T18:02:11"
    assert when["detail"]["place"] == "Porto, Portugal"
    assert when["detail"]["camera"] == "Canon EOS 5D"
    # With words too, each result says when and where it was taken.
    code, out, _ = run(capsys, "search", "a red car in Portugal", "--json")
    assert all(any(x["retriever"] == "when" for x in r["reasons"]) for r in json.loads(out))


def test_explicit_filters_sort_and_explain(library: Path, capsys) -> None:
    assert set(search(capsys, "--after", "2021", "--before", "2022")) == {"lisbon.jpg"}
    assert set(search(capsys, "--place", "Portugal", "--after", "2020")) == {
        "porto1.jpg",
        "porto2.jpg",
        "lisbon.jpg",
    }
    assert search(capsys, "--place", "Atlantis") == []
    by_date = search(capsys, "a red car", "--sort", "date")
    assert by_date[0] == "plain.jpg" and by_date[1] == "porto2.jpg"  # 2024 (mtime), then July 2023
    code, out, err = run(capsys, "search", "beach Porto July 2023", "--explain")
    assert code == 0 and 'understood: 📅 July 2023 · 📍 Porto · "beach"' in err
    code, out, err = run(capsys, "search", "--after", "July 2023", "--explain", "--json")
    data = json.loads(out)
    assert data["understood"]["filters"]["date"] == [["2023-07-01T00:00:00", None]]
    assert {Path(r["path"]).name for r in data["results"]} == {"porto1.jpg", "porto2.jpg", "plain.jpg"}
    code, out, err = run(capsys, "search", "--after", "someday")
    assert code == 1 and "Not a date" in err
