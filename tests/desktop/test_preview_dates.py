"""The preview's Date row shows when a photo was taken (EXIF) or a clip recorded (its container's creation
time), labelled, and the file's date only when nothing was recorded, labelled as such; and the camera
chip of the search box."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from desktop.query_chips import QueryChips
from desktop.thumbnails import ThumbnailLoader
from engine.library import Library
from engine.search.understand import LibrarySummary, explain_offline, search
from engine.storage.metadata import CameraCount
from tests.media import save_photo
from tests.metagen import PORTO, save_exif_photo, save_tagged_video

#: 2024-01-15 10:00 UTC: the plain photo's modification time.
PLAIN_MTIME = 1705312800


def _indexed_library(home: Path, pics: Path) -> Library:
    from engine.indexing.analysis import run_pending_analyses
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan

    lib = Library.open(home)
    lib.add_folder(pics)
    scan(lib)
    index_pending(lib)
    run_pending_analyses(lib, only="metadata")
    return lib


def test_the_date_row_shows_the_capture_date_when_known(qtbot: Any, home: Path, tmp_path: Path) -> None:
    from desktop.preview import PreviewPane

    pics = tmp_path / "pics"
    save_exif_photo(
        pics / "porto.jpg", 1, taken="2019:03:02 12:34:56", gps=PORTO, make="Canon", model="Canon EOS 80D"
    )
    save_tagged_video(pics / "clip.mp4", 2, tags={"creation_time": "2020-08-02T08:00:00.000000Z"})
    plain = save_photo(pics / "plain.jpg", 3, quality=90)
    os.utime(plain, (PLAIN_MTIME, PLAIN_MTIME))
    for f in (pics / "porto.jpg", pics / "clip.mp4"):
        os.utime(f, (PLAIN_MTIME, PLAIN_MTIME))  # their file dates say 2024: the row must not

    with _indexed_library(home, pics) as lib:
        results, _ = search(lib, "", after="1990", limit=10)
        by_name = {Path(r.path).name: r for r in results}
        porto = search(lib, "canon", limit=5)[0][0]
    assert set(by_name) == {"porto.jpg", "clip.mp4", "plain.jpg"}
    assert Path(porto.path).name == "porto.jpg"

    pane = PreviewPane(ThumbnailLoader(tmp_path / "thumbs"))
    qtbot.addWidget(pane)
    pane.show()
    pane.show_result(by_name["porto.jpg"])
    assert pane.fields["Date"].text() == "2019-03-02 12:34 (taken)"
    pane.show_result(porto)  # found by camera: the same date
    assert pane.fields["Date"].text() == "2019-03-02 12:34 (taken)"
    pane.show_result(by_name["clip.mp4"])
    date = pane.fields["Date"].text()
    assert date.startswith("2020-08-0") and date.endswith("(recorded)")
    pane.show_result(by_name["plain.jpg"])
    date = pane.fields["Date"].text()
    assert date.startswith("2024-01-1") and date.endswith("(file date; no capture date recorded)")


def test_a_result_without_metadata_yet_shows_its_file_date(qtbot: Any, tmp_path: Path) -> None:
    from desktop.preview import PreviewPane
    from engine.search.results import Result

    pane = PreviewPane(ThumbnailLoader(tmp_path / "thumbs"))
    qtbot.addWidget(pane)
    pane.show_result(Result(1, "/p.jpg", "photo", 0.3, mtime=PLAIN_MTIME))
    assert pane.fields["Date"].text().endswith("(file date; no capture date recorded)")
    # A modification time stored as the "taken" time (nothing recorded) is still the file's date.
    r = Result(2, "/q.jpg", "photo", 0.3, mtime=PLAIN_MTIME, taken="2024-01-15T10:00:00", taken_from="mtime")
    pane.show_result(r)
    assert pane.fields["Date"].text().endswith("(file date; no capture date recorded)")


def test_the_camera_chip(qtbot: Any) -> None:
    chips = QueryChips()
    qtbot.addWidget(chips)
    summary = LibrarySummary(cameras=[CameraCount("Google", "Pixel 7", "Google Pixel 7", 2)])
    chips.show_understood(explain_offline("dog taken with pixel", summary))
    assert chips.parts() == [("camera", "Pixel"), ("text", "dog")]


def test_the_score_row_names_a_models_number_only(qtbot: Any, tmp_path: Path) -> None:
    """A ranked result's score is the fusion's: the preview shows the strongest finder's own number
    where it is a model's (a cosine), and none for a camera, date or name match."""
    from desktop.preview import PreviewPane
    from engine.search.results import Reason, Result

    pane = PreviewPane(ThumbnailLoader(tmp_path / "thumbs"))
    qtbot.addWidget(pane)
    camera = Reason("when", 1.0, {"label": "camera: Canon EOS 80D"})
    pane.show_result(Result(1, "/p.jpg", "photo", 0.0164, match=1.0, reasons=[camera]))
    assert pane.fields["Score"].text() == "100% match"
    looks = Reason("visual", 0.284, {"z": 3.0})
    pane.show_result(Result(2, "/q.jpg", "photo", 0.0164, match=0.7, reasons=[looks]))
    assert pane.fields["Score"].text() == "70% match (cosine 0.284)"
