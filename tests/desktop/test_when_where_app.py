"""The app on the real engine service and tiny models: photos with EXIF dates and GPS, searched by place
and date typed in the box (English and Spanish), with the chips showing the understanding, the place and
date boxes, sorting by date, and removing a chip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from engine.service.core import Service
from tests.metagen import PORTO, VIENNA, save_exif_photo

pytestmark = pytest.mark.slow


def real_service(lib: Any) -> Service:
    return Service(lib, quiet_period=0.2, batch_size=8)


def names(w: Any) -> list[str]:
    return [Path(r.path).name for r in w.model.results()]


def settled(w: Any, n: int) -> None:
    p = w.bridge.last_progress
    assert p is not None and p.state == "idle" and p.indexed_total == n, p
    assert w.search_bar.summary is not None and w.search_bar.summary.places, "no places yet"


def test_place_and_date_in_the_box_with_chips(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path
) -> None:
    pics = tmp_path / "Pictures"
    save_exif_photo(pics / "porto_jul.jpg", 1, taken="2023:07:14 18:02:11", offset="+01:00", gps=PORTO)
    save_exif_photo(pics / "porto_mar.jpg", 2, taken="2019:03:02 12:00:00", gps=PORTO)
    save_exif_photo(pics / "vienna.jpg", 3, taken="2020:08:01 10:00:00", offset="+02:00", gps=VIENNA)
    save_exif_photo(pics / "nowhere.jpg", 4)
    w = make_window(home, real_service)
    w.menus.add_folder(str(pics))
    qtbot.waitUntil(lambda: settled(w, 4), timeout=240_000)  # indexing + analyzers, on shared cores
    bar = w.search_bar
    # A place alone lists its photos by date, newest first; the chip says how it was understood.
    qtbot.keyClicks(bar.field, "Porto")
    qtbot.waitUntil(lambda: names(w) == ["porto_jul.jpg", "porto_mar.jpg"], timeout=30_000)
    assert bar.chips.parts() == [("place", "Porto")]
    # Spanish, with a month and words: the chips show all three parts.
    bar.field.clear()
    qtbot.keyClicks(bar.field, "playa en Oporto julio 2023")
    qtbot.waitUntil(lambda: names(w) == ["porto_jul.jpg"], timeout=30_000)
    assert bar.chips.parts() == [("date", "julio 2023"), ("place", "Porto"), ("text", "playa")]
    # Removing the date chip takes its words out of the box and searches again.
    bar.chips.chip("julio 2023").click()
    assert bar.field.text() == "playa en Oporto"
    qtbot.waitUntil(lambda: sorted(names(w)) == ["porto_jul.jpg", "porto_mar.jpg"], timeout=30_000)
    # The place and date boxes, with nothing typed; sorted by date.
    bar.field.clear()
    qtbot.keyClick(bar.field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.model.rowCount() == 0, timeout=30_000)
    bar.after_box.setText("2020")
    bar.after_box.editingFinished.emit()
    qtbot.waitUntil(lambda: set(names(w)) >= {"porto_jul.jpg", "vienna.jpg"}, timeout=30_000)
    assert "porto_mar.jpg" not in names(w)
    bar.place_box.setCurrentText("Austria")
    bar.place_box.lineEdit().editingFinished.emit()
    qtbot.waitUntil(lambda: names(w) == ["vienna.jpg"], timeout=30_000)
    assert ("place", "Austria") in bar.chips.parts()
    # A date and place that match nothing say so.
    bar.after_box.clear()
    bar.after_box.editingFinished.emit()
    bar.place_box.setCurrentIndex(0)
    bar.place_box.lineEdit().editingFinished.emit()
    qtbot.keyClicks(bar.field, "Vienna 2019")
    qtbot.waitUntil(lambda: "No photos from 2019 in Vienna" in bar.chips.note.text(), timeout=30_000)
    # Sort by date: newest first (nowhere.jpg has only its mtime, today).
    bar.field.clear()
    qtbot.keyClicks(bar.field, "a photo")
    bar.sort_box.setCurrentIndex(1)
    qtbot.waitUntil(lambda: names(w)[:2] == ["nowhere.jpg", "porto_jul.jpg"], timeout=30_000)
