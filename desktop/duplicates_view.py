"""The Duplicates window: review each group of copies side by side, keep one, move the others to the
trash, or say "not duplicates" (remembered: the group never comes back).

Groups come from the engine (engine.storage.duplicates.list_groups, on the core thread through the
bridge); each copy shows its picture (photos; a video's first moment thumbnail when the cache has it),
size, resolution and date, with the engine's suggested keeper selected. "Move others to trash" uses the
operating system's trash (send2trash), never a deletion, after a confirmation.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImageReader, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.bridge import EngineBridge
from desktop.format import format_size
from desktop.qt_compat import emit

THUMB = 220


def _load_groups(lib: Any) -> list[Any]:
    from engine.storage.duplicates import list_groups

    return list_groups(lib.catalog)


def _trash(lib: Any, file_ids: list[int]) -> tuple[list[str], list[tuple[str, str]]]:
    from engine.storage.duplicates import trash_files

    return trash_files(lib, file_ids)


def _not_duplicates(lib: Any, file_ids: list[int]) -> None:
    from engine.storage.duplicates import mark_group_not_duplicates

    mark_group_not_duplicates(lib.catalog, file_ids)


def _size(n: int) -> str:
    # The same units as the preview and the file manager (decimal KB), so a card and the preview agree.
    return format_size(n)


def describe_file(f: Any) -> str:
    """Size · resolution · date (and "edited") of a group's file, for its card."""
    parts = [_size(f.size)]
    if f.width and f.height:
        parts.append(f"{f.width}\u00d7{f.height}")
    parts.append(_dt.datetime.fromtimestamp(f.taken).strftime("%Y-%m-%d %H:%M"))
    if f.edited:
        parts.append("edited")
    return " \u00b7 ".join(parts)


def _picture(path: str) -> QPixmap:
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > THUMB:
        size.scale(QSize(THUMB, THUMB), Qt.AspectRatioMode.KeepAspectRatio)
        reader.setScaledSize(size)
    image = reader.read()
    return QPixmap.fromImage(image) if not image.isNull() else QPixmap()


class _Card(QFrame):
    """One file of a group: picture, name, size · resolution · date, and the "keep" choice."""

    def __init__(self, f: Any, parent: QWidget) -> None:
        super().__init__(parent)
        self.file = f
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QVBoxLayout(self)
        pic = QLabel(self)
        pic.setFixedSize(THUMB, THUMB)
        pic.setAlignment(Qt.AlignmentFlag.AlignCenter)
        pm = _picture(f.path) if f.kind == "photo" else QPixmap()
        if pm.isNull():
            pic.setText(f.kind)
        else:
            pic.setPixmap(pm)
        lay.addWidget(pic)
        name = QLabel(os.path.basename(f.path), self)
        name.setToolTip(f.path)
        name.setWordWrap(True)
        lay.addWidget(name)
        self.details = QLabel(describe_file(f), self)
        lay.addWidget(self.details)
        self.keep = QRadioButton("Keep", self)
        self.keep.setChecked(bool(f.keep))
        lay.addWidget(self.keep)
        # A tall window must not spread the name, details and Keep down the card: keep them under the picture.
        lay.addStretch(1)


class DuplicatesView(QDialog):
    """Non-modal review of the duplicate groups.

    Signals:
        trashed(list): paths moved to the trash.
        changed(): groups were edited (trash or "not duplicates"): search results may stack differently.
    """

    trashed = Signal(list)
    changed = Signal()

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.setWindowTitle("Duplicates")
        self.resize(980, 560)
        self.groups: list[Any] = []
        self.cards: list[_Card] = []
        self._keep_group = QButtonGroup(self)
        outer = QVBoxLayout(self)
        self.summary = QLabel("Looking for duplicates\u2026", self)
        outer.addWidget(self.summary)
        split = QSplitter(self)
        self.list = QListWidget(split)
        self.list.currentRowChanged.connect(self._show_group)
        self.files_area = QScrollArea(split)
        self.files_area.setWidgetResizable(True)
        self.row = QWidget(self.files_area)
        self.row_layout = QHBoxLayout(self.row)
        self.files_area.setWidget(self.row)
        split.setStretchFactor(1, 3)
        outer.addWidget(split, 1)
        buttons = QHBoxLayout()
        self.trash_button = QPushButton("Keep the selected one, move the others to the trash", self)
        self.trash_button.clicked.connect(self.trash_others)
        self.not_button = QPushButton("Not duplicates", self)
        self.not_button.setToolTip("These files are different: never show them as a group again")
        self.not_button.clicked.connect(self.mark_not_duplicates)
        buttons.addWidget(self.trash_button)
        buttons.addWidget(self.not_button)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        #: Ask before trashing (tests turn it off to click through).
        self.confirm = True
        self._set_enabled(False)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        self.refresh()

    # -- loading -------------------------------------------------------------------------------------

    def refresh(self) -> None:
        if not self.bridge.is_open:
            return
        task = self.bridge.call(_load_groups)
        task.finished.connect(self._on_groups)
        task.errored.connect(lambda exc: self.summary.setText(f"Cannot list duplicates: {exc}"))

    def _on_groups(self, groups: list[Any]) -> None:
        row = max(0, self.list.currentRow())
        self.groups = groups
        self.list.clear()
        for i, g in enumerate(groups, 1):
            self.list.addItem(f"{i}. {len(g.files)} {g.kind}s \u00b7 {os.path.basename(g.files[0].path)}")
        copies = sum(len(g.files) - 1 for g in groups)
        self.summary.setText(
            f"{len(groups)} group{'s' if len(groups) != 1 else ''}; "
            f"{copies} cop{'ies' if copies != 1 else 'y'} could go."
            if groups
            else "No duplicates found."
        )
        if groups:
            self.list.setCurrentRow(min(row, len(groups) - 1))
        else:
            self._show_group(-1)

    def _show_group(self, index: int) -> None:
        for card in self.cards:
            self._keep_group.removeButton(card.keep)
            card.deleteLater()
        self.cards = []
        if not 0 <= index < len(self.groups):
            self._set_enabled(False)
            return
        for f in self.groups[index].files:
            card = _Card(f, self.row)
            self._keep_group.addButton(card.keep)
            self.row_layout.addWidget(card)
            self.cards.append(card)
        self._set_enabled(True)

    def _set_enabled(self, on: bool) -> None:
        self.trash_button.setEnabled(on)
        self.not_button.setEnabled(on)

    # -- actions -------------------------------------------------------------------------------------

    def current_group(self) -> Any | None:
        i = self.list.currentRow()
        return self.groups[i] if 0 <= i < len(self.groups) else None

    def trash_others(self) -> None:
        group = self.current_group()
        if group is None or not self.cards:
            return
        keep = next((c.file for c in self.cards if c.keep.isChecked()), None)
        if keep is None:
            return
        others = [c.file for c in self.cards if c.file is not keep]
        if self.confirm:
            answer = QMessageBox.question(
                self,
                "Move to the trash",
                f"Keep {os.path.basename(keep.path)} and move {len(others)} other file(s) "
                f"({_size(sum(f.size for f in others))}) to the trash?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        task = self.bridge.call(_trash, [f.file_id for f in others])
        task.finished.connect(self._on_trashed)
        task.errored.connect(lambda exc: self.summary.setText(f"Could not move to the trash: {exc}"))

    def _on_trashed(self, outcome: tuple[list[str], list[tuple[str, str]]]) -> None:
        trashed, failures = outcome
        if failures:
            self.summary.setText(
                "Could not move: " + "; ".join(f"{os.path.basename(p)} ({r})" for p, r in failures)
            )
        emit(self.trashed, list(trashed))
        emit(self.changed)
        self.refresh()

    def mark_not_duplicates(self) -> None:
        group = self.current_group()
        if group is None:
            return
        task = self.bridge.call(_not_duplicates, [f.file_id for f in group.files])
        task.finished.connect(lambda _r: self._saved())
        task.errored.connect(lambda exc: self.summary.setText(f"Could not save the choice: {exc}"))

    def _saved(self) -> None:
        emit(self.changed)
        self.refresh()
