"""Render lookalike.svg to the PNG sizes beside it.

Run ``QT_QPA_PLATFORM=offscreen python resources/icons/render.py`` after editing the SVG.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> None:
    here = Path(__file__).resolve().parent
    _app = QGuiApplication([])  # noqa: F841 - QPainter needs a GUI application
    renderer = QSvgRenderer(str(here / "lookalike.svg"))
    if not renderer.isValid():
        raise SystemExit("lookalike.svg is not valid SVG")
    for size in SIZES:
        img = QImage(size, size, QImage.Format.Format_ARGB32)
        img.fill(Qt.GlobalColor.transparent)
        p = QPainter(img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(p)
        p.end()
        img.save(str(here / f"lookalike-{size}.png"))


if __name__ == "__main__":
    main()
