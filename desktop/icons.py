"""The app icon: the SVG and PNG sizes from ``resources/icons/``, or the same mark drawn in code when the
resources are not installed beside the package (a wheel without them)."""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtGui import QIcon

from desktop.glyphs import glyph_icon

_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "resources" / "icons",  # source checkout / editable install
    Path(__file__).resolve().parent / "resources",  # package data
)


def icons_dir() -> Path | None:
    return next((d for d in _CANDIDATES if (d / "lookalike.svg").is_file()), None)


@functools.cache
def app_icon() -> QIcon:
    d = icons_dir()
    if d is None:
        return glyph_icon("app", 256)
    icon = QIcon()
    for png in sorted(d.glob("lookalike-*.png")):
        icon.addFile(str(png))
    icon.addFile(str(d / "lookalike.svg"))
    return icon
