"""Closing the window: quits by default; keeps indexing in the tray when the setting asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QSystemTrayIcon

from engine.storage.settings import Settings


def test_close_quits_and_stops_the_service_by_default(qtbot: Any, window: Any) -> None:
    svc = window.bridge.service
    assert not window.tray.enabled
    window.close()
    qtbot.waitUntil(lambda: window.is_finished, timeout=30_000)
    assert svc.stopped and "stop" in svc.names()


# Qt's tray icon looks for the platform's tray window signal, which the offscreen platform lacks.
@pytest.mark.qt_log_ignore("systemTrayWindowChanged")
def test_keep_running_in_tray(qtbot: Any, window: Any, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    svc = window.bridge.service
    window.menus.tray_action.trigger()  # Library ▸ Keep indexing in the tray when the window closes
    assert window.tray.enabled
    qtbot.waitUntil(lambda: Settings.load(home).keep_running_in_tray, timeout=10_000)  # saved by the engine
    window.close()
    assert not window.isVisible()
    assert window.tray.icon is not None and window.tray.icon.isVisible()
    qtbot.wait(300)  # the service keeps running: nothing stops it behind the user's back
    assert not window.is_finished and not svc.stopped
    window.bring_to_front()  # clicking the tray icon
    assert window.isVisible()
    window.close()
    window.quit_app()  # the tray menu's Quit
    qtbot.waitUntil(lambda: window.is_finished, timeout=30_000)
    assert svc.stopped
