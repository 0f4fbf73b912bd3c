"""Handing files to the desktop: open, show in the file manager, copy paths."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMimeData, QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication


def open_file(path: str) -> bool:
    """Open with the system's default application. False when nothing could open it."""
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(path)))


def _show_via_dbus(paths: Sequence[str]) -> bool:
    """Ask the freedesktop file manager (Nautilus, Dolphin, Nemo, Thunar …) to select the files."""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage
    except ImportError:
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    iface = QDBusInterface(
        "org.freedesktop.FileManager1", "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1", bus
    )
    if not iface.isValid():
        return False
    reply = iface.call("ShowItems", [QUrl.fromLocalFile(p).toString() for p in paths], "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def show_in_folder(paths: Sequence[str]) -> bool:
    """Show files selected in the file manager; at least open their folder. False if nothing worked."""
    if not paths:
        return False
    if sys.platform == "win32":
        return QProcess.startDetached("explorer.exe", ["/select,", os.path.normpath(paths[0])])[0]
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", *paths])[0]
    if _show_via_dbus(paths):
        return True
    return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(paths[0]).parent))))


def copy_paths(paths: Sequence[str]) -> None:
    """Put the paths on the clipboard: as text (one per line) and as file URLs (paste into a file manager)."""
    md = QMimeData()
    md.setText("\n".join(paths))
    md.setUrls([QUrl.fromLocalFile(p) for p in paths])
    QGuiApplication.clipboard().setMimeData(md)
