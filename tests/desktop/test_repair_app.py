"""The app on a damaged library (issue 12 rows 6-7): the message says what is damaged, and Repair rebuilds
it and opens the library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.media import make_library


def test_damaged_catalog_shows_the_message_and_repair_opens_the_library(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path
) -> None:
    from engine.library import Library

    make_library(tmp_path / "Pictures", 2)
    with Library.open() as lib:
        lib.add_folder(tmp_path / "Pictures")
    (home / "catalog.sqlite").write_bytes(b"this is not a database" * 500)
    w = make_window(home, open_library=False)
    w.bridge.open()
    qtbot.waitUntil(lambda: "The library is damaged" in w.message.label.text(), timeout=30_000)
    assert "catalog" in w.message.label.text() and "lookalike repair" in w.message.label.text()
    assert w.message.button.text() == "Repair"
    with qtbot.waitSignal(w.bridge.opened, timeout=60_000):
        w.message.button.click()
    assert list(home.glob("catalog.sqlite.damaged-*"))
    assert w.bridge.is_open
