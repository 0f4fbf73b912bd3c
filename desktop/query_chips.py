"""How the search box understood the query, as removable chips: 📅 July 2023 · 📍 Porto · 📷 Canon · "beach".

The chips come from engine.search.understand.explain_offline, run on the GUI thread against a summary of
the library (its places and years), so they follow the typing without asking the engine. Removing a
chip emits ``chipRemoved``; the search bar decides what that means (take the words out of the text, or
clear the date or place box).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from desktop.qt_compat import emit

ICONS = {"date": "📅", "place": "📍", "camera": "📷", "text": "🔎"}
#: Shown instead where no installed font has the emoji (a bare Linux desktop draws empty boxes).
WORDS = {"date": "when:", "place": "where:", "camera": "camera:", "text": "words:"}
_STYLE = (
    "QToolButton { border: 1px solid palette(mid); border-radius: 10px; padding: 1px 8px; }"
    "QToolButton:hover { background: palette(midlight); }"
)


class Chip(QToolButton):
    """One understood part of the query; clicking its ✕ (the whole chip) removes it."""

    def __init__(self, kind: str, label: str, fragment: str | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind, self.label, self.fragment = kind, label, fragment
        shown = f'"{label}"' if kind == "text" else label
        icon = ICONS.get(kind, "")
        if icon and not QFontMetrics(self.font()).inFontUcs4(ord(icon)):
            icon = WORDS.get(kind, "")
        self.setText(f"{icon} {shown}  ✕".strip())
        where = "typed" if fragment else "from the filters"
        self.setToolTip(f"Remove this ({where}) from the search")
        self.setStyleSheet(_STYLE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)


class QueryChips(QWidget):
    """A row of chips; hidden while there is nothing to show.

    Signals:
        chipRemoved(str, str, object): kind ("date", "place", "text"), label, and the fragment typed in
            the search text (None for a chip that comes from the date or place box).
    """

    chipRemoved = Signal(str, str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.note = QLabel(self)
        self.note.setStyleSheet("QLabel { color: palette(dark); }")
        self.note.setVisible(False)
        self._chips: list[Chip] = []
        self._layout.addWidget(self.note)
        self._layout.addStretch(1)

    def show_understood(self, understood: Any) -> None:
        """Show an engine.search.understand.Understood (None clears). The text chip appears only when
        something else was understood: a plain query needs no explanation."""
        for chip in self._chips:
            self._layout.removeWidget(chip)
            chip.hide()  # at once: deleteLater waits for the event loop
            chip.deleteLater()
        self._chips = []
        self.note.setVisible(False)
        chips: list[tuple[str, str, str | None]] = []
        errors: list[str] = []
        if understood is not None:
            for kind, label, fragment in understood.fragments:
                chips.append((kind, label, fragment))
            errors = [label for kind, label in understood.chips if kind == "error"]
            if chips and understood.text:
                chips.append(("text", understood.text, understood.text))
        for i, (kind, label, fragment) in enumerate(chips):
            chip = Chip(kind, label, fragment, self)
            chip.clicked.connect(
                lambda _c=False, ch=chip: emit(self.chipRemoved, ch.kind, ch.label, ch.fragment)
            )
            self._layout.insertWidget(i, chip)
            self._chips.append(chip)
        if errors:
            self.show_note(errors[0])
        self.setVisible(bool(chips) or bool(errors))

    def show_note(self, text: str) -> None:
        """A sentence after the chips ("No photos from 2019 in Porto in this library")."""
        self.note.setText(text)
        self.note.setVisible(bool(text))
        if text:
            self.setVisible(True)

    def labels(self) -> list[str]:
        """The chips as shown (for tests and accessibility)."""
        return [c.text() for c in self._chips]

    def parts(self) -> list[tuple[str, str]]:
        """(kind, label) of each chip, whatever icon the fonts allow."""
        return [(c.kind, c.label) for c in self._chips]

    def chip(self, label: str) -> Chip | None:
        return next((c for c in self._chips if c.label == label), None)
