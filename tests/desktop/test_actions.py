"""Result actions from the context menu and the keyboard, and the preview."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from desktop import file_actions, media_player
from tests.desktop.fake_service import result_for


@pytest.fixture
def shown(qtbot: Any, window: Any, photos: list[Path], tmp_path: Path) -> Any:
    """The window showing three results (two photos and a sound), the first one selected and focused."""
    sound = tmp_path / "rain.wav"
    sound.write_bytes(b"RIFF0000WAVE")
    window.bridge.service.answers["beach"] = [
        result_for(photos[0], 0.4, 1),
        result_for(photos[1], 0.3, 2),
        result_for(sound, 0.25, 3, kind="sound", duration=42.0),
    ]
    window.search_text("beach")
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=10_000)
    window.activateWindow()
    window.view.setFocus()
    window.view.setCurrentIndex(window.model.index(0, 0))
    qtbot.waitUntil(lambda: window.view.hasFocus(), timeout=5_000)
    return window


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Record what would be handed to the desktop instead of launching applications."""
    log: list[tuple[str, Any]] = []
    monkeypatch.setattr(file_actions, "open_file", lambda p: log.append(("open", p)) or True)
    monkeypatch.setattr(file_actions, "show_in_folder", lambda ps: log.append(("show", list(ps))) or True)
    monkeypatch.setattr(media_player, "open_externally", lambda p: log.append(("player", p)) or True)
    return log


def menu_action(window: Any, text: str) -> Any:
    menu = window.view.context_menu()
    return next(a for a in menu.actions() if a.text() == text)


def test_context_menu_actions_reach_the_right_place(
    qtbot: Any, shown: Any, photos: list[Path], opened: list
) -> None:
    svc = shown.bridge.service
    menu_action(shown, "Open").trigger()
    menu_action(shown, "Show in folder").trigger()
    menu_action(shown, "Copy path").trigger()
    assert opened == [("open", str(photos[0])), ("show", [str(photos[0])])]
    assert QGuiApplication.clipboard().text() == str(photos[0])
    svc.answers[("similar", str(photos[0]))] = [result_for(photos[5], 0.8, 6)]
    menu_action(shown, "Find similar").trigger()
    qtbot.waitUntil(lambda: shown.model.rowCount() == 1, timeout=10_000)
    assert [c for c in svc.calls if c[0] == "search_similar"] == [
        ("search_similar", ([str(photos[0])],), {"limit": 500})
    ]
    assert shown.model.result(0).path == str(photos[5])


def test_keyboard_enter_opens_and_space_previews(
    qtbot: Any, shown: Any, photos: list[Path], opened: list
) -> None:
    qtbot.keyClick(shown.view, Qt.Key.Key_Return)
    assert opened == [("open", str(photos[0]))]
    shown.view.setCurrentIndex(shown.model.index(1, 0))
    qtbot.keyClick(shown.view, Qt.Key.Key_Space)
    assert shown.preview.result.path == str(photos[1])
    assert shown.preview.fields["Path"].text() == str(photos[1])
    assert shown.preview.fields["Score"].text() == "30% match (cosine 0.300)"
    # The preview's large image arrives from the thumbnail pool.
    qtbot.waitUntil(
        lambda: shown.preview.image.pixmap is not None and shown.preview.image.pixmap.width() >= 320,
        timeout=10_000,
    )


def test_sound_plays_in_the_system_player_without_qtmultimedia(
    qtbot: Any, shown: Any, opened: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media_player, "multimedia_available", lambda: False)
    shown.view.setCurrentIndex(shown.model.index(2, 0))
    assert shown.preview.play_button.isVisible()
    assert shown.preview.fields["Length"].text() == "0:42"
    qtbot.keyClick(shown.view, Qt.Key.Key_Space)
    assert opened == [("player", shown.model.result(2).path)]


def test_multiple_selection_finds_items_like_all_of_them(qtbot: Any, shown: Any, photos: list[Path]) -> None:
    svc = shown.bridge.service
    expected = [r.path for r in shown.model.results()]
    shown.view.selectAll()
    menu_action(shown, "Find similar").trigger()
    qtbot.waitUntil(lambda: "search_similar" in svc.names(), timeout=10_000)
    call = next(c for c in svc.calls if c[0] == "search_similar")
    assert call[1][0] == expected
    assert "folder" not in call[2]  # several examples: no folder filter in the engine
