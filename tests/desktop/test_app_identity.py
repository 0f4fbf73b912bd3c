"""The app names itself as its .desktop file does, so Wayland and desktop shells match its windows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def test_desktop_file_name_is_the_launchers(qapp: Any) -> None:
    from PySide6.QtGui import QGuiApplication

    from desktop.app import identify

    before = (qapp.applicationName(), QGuiApplication.desktopFileName())
    try:
        identify(qapp)
        name = QGuiApplication.desktopFileName()
        assert (REPO / "resources" / f"{name}.desktop").is_file(), name
        assert name == "io.github.lookalike.Lookalike"
        assert qapp.applicationName() == "Lookalike"
    finally:
        qapp.setApplicationName(before[0])
        QGuiApplication.setDesktopFileName(before[1])
