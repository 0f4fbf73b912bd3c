"""The search bar: one text field (results as you type), kind and folder filters, and a drop zone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QWidget,
)

from desktop import drops
from desktop.qt_compat import emit

DEBOUNCE_MS = 250
KINDS = (("photo", "Photos"), ("video", "Video moments"), ("sound", "Sounds"))


class SearchField(QLineEdit):
    """A line edit that turns a pasted image or pasted files into a find-similar request.

    Signals:
        filesPasted(list): paths to search similar for (a pasted image is saved to a file first).
    """

    filesPasted = Signal(list)

    def __init__(self, paste_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paste_dir = paste_dir

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Paste) and self.paste_mime(
            QGuiApplication.clipboard().mimeData()
        ):
            return
        super().keyPressEvent(event)

    def paste_mime(self, md: QMimeData | None) -> bool:
        """Handle a paste that is an image or media files; False leaves it to the normal text paste."""
        if md is None or (md.hasText() and not md.hasUrls() and not md.hasImage()):
            return False
        try:
            paths = drops.query_paths(md, self.paste_dir)
        except OSError:
            return False
        if paths:
            emit(self.filesPasted, paths)
            return True
        return False


class DropZone(QLabel):
    """A visible target for dropping a photo, clip or sound; clicking it opens a file chooser.

    Signals:
        filesDropped(list): local media files to search similar for.
    """

    filesDropped = Signal(list)

    def __init__(self, paste_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__("Drop a file to find similar", parent)
        self.paste_dir = paste_dir
        self.setAcceptDrops(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Drop a photo, video clip or sound here (or paste an image) to find similar items")
        self.setStyleSheet(
            "QLabel { border: 1px dashed palette(mid); border-radius: 6px; padding: 4px 10px; }"
        )

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if drops.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = drops.query_paths(event.mimeData(), self.paste_dir)
        if paths:
            event.acceptProposedAction()
            emit(self.filesDropped, paths)

    def mousePressEvent(self, event: Any) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Find items similar to…")
        if files:
            emit(self.filesDropped, files)


class SearchBar(QWidget):
    """Search text, filters and the drop zone.

    Signals:
        textSearched(str): the text to search for, ~250 ms after typing stops (at once on Enter).
        similarRequested(list): files dropped, pasted or chosen: search items like them.
        filtersChanged(): the kind or folder filter changed.
    """

    textSearched = Signal(str)
    similarRequested = Signal(list)
    filtersChanged = Signal()

    def __init__(self, paste_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = SearchField(paste_dir, self)
        self.field.setPlaceholderText("Search your photos, video moments and sounds…")
        self.field.setClearButtonEnabled(True)
        self.field.setMinimumWidth(280)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_text)
        self.field.textEdited.connect(lambda _t: self._debounce.start())
        self.field.returnPressed.connect(self._emit_text)
        self.field.filesPasted.connect(self.similarRequested)

        self.kind_buttons: dict[str, QToolButton] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addWidget(self.field, 3)
        for kind, label in KINDS:
            b = QToolButton(self)
            b.setText(label)
            b.setCheckable(True)
            b.setChecked(True)
            b.toggled.connect(self._on_kind_toggled)
            self.kind_buttons[kind] = b
            layout.addWidget(b)
        self.folder_box = QComboBox(self)
        self.folder_box.setMinimumContentsLength(14)
        self.folder_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.set_folders([])
        self.folder_box.currentIndexChanged.connect(lambda _i: emit(self.filtersChanged))
        layout.addWidget(self.folder_box, 1)
        self.drop_zone = DropZone(paste_dir, self)
        self.drop_zone.filesDropped.connect(self.similarRequested)
        layout.addWidget(self.drop_zone)

    def _emit_text(self) -> None:
        self._debounce.stop()
        emit(self.textSearched, self.text())

    def _on_kind_toggled(self, _checked: bool) -> None:
        if not any(b.isChecked() for b in self.kind_buttons.values()):
            # At least one kind stays on: an empty filter would only ever show nothing.
            sender = self.sender()
            if isinstance(sender, QToolButton):
                sender.setChecked(True)
            return
        emit(self.filtersChanged)

    def text(self) -> str:
        return self.field.text().strip()

    def kinds(self) -> list[str] | None:
        """The kinds to search, or None for all of them."""
        on = [k for k, b in self.kind_buttons.items() if b.isChecked()]
        return None if len(on) == len(self.kind_buttons) else on

    def folder(self) -> str | None:
        data = self.folder_box.currentData()
        return str(data) if data else None

    def set_folders(self, folders: list[str]) -> None:
        """Offer these library folders in the folder filter (keeps the current choice if still there)."""
        current = self.folder()
        self.folder_box.blockSignals(True)
        self.folder_box.clear()
        self.folder_box.addItem("All folders", None)
        for f in folders:
            self.folder_box.addItem(Path(f).name or f, f)
            self.folder_box.setItemData(self.folder_box.count() - 1, f, Qt.ItemDataRole.ToolTipRole)
        idx = self.folder_box.findData(current) if current else 0
        self.folder_box.setCurrentIndex(max(0, idx))
        self.folder_box.blockSignals(False)
        if current and idx < 0:
            emit(self.filtersChanged)
