"""Library dialogs: the folders (add, remove, per-folder counts and state) and the error list (Retry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import library_queries as q
from desktop.bridge import EngineBridge
from desktop.format import format_count
from desktop.qt_compat import emit

REFRESH_MS = 3000


def folder_state(info: q.FolderInfo, progress: Any) -> str:
    """What a folder is doing, in words: offline, indexing, waiting, N errors, or up to date."""
    if not info.online or info.path in (getattr(progress, "offline_folders", ()) or ()):
        return "offline (files kept)"
    current = str(getattr(progress, "current", "") or "")
    busy = getattr(progress, "state", "idle") in ("scanning", "indexing")
    if busy and current.startswith(info.path.rstrip("/") + "/"):
        return "indexing"
    pending = info.counts.get("pending", 0)
    failed = info.counts.get("failed", 0)
    if pending:
        return "paused" if getattr(progress, "state", "") == "paused" else f"{format_count(pending)} waiting"
    if failed:
        return f"{format_count(failed)} errors"
    return "up to date"


def _progress_key(p: Any) -> tuple:
    """What in a progress snapshot changes the folders' counts or states."""
    names = ("state", "indexed_total", "failed_total", "queued", "offline_folders")
    return tuple(getattr(p, n, None) for n in names)


def _table(headers: list[str], parent: QWidget) -> QTableWidget:
    t = QTableWidget(0, len(headers), parent)
    t.setHorizontalHeaderLabels(headers)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return t


class FoldersDialog(QDialog):
    """The library's folders with their file counts and state; add and remove folders.

    Signals:
        folderAdded(str): a folder joined the library (its absolute path).
        folderRemoved(str): a folder left the library.
    """

    folderAdded = Signal(str)
    folderRemoved = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Library folders")
        self.resize(720, 360)
        self.bridge = bridge
        self.infos: list[q.FolderInfo] = []
        self.table = _table(["Folder", "Files", "Indexed", "Errors", "State"], self)
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        add = QPushButton("Add folder…", self)
        add.clicked.connect(self._choose_folder)
        self.remove_button = QPushButton("Remove", self)
        self.remove_button.clicked.connect(self._remove_selected)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(add, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.remove_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.message)
        layout.addWidget(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh_if_changed)
        self._seen: Any = None

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: Any) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def _refresh_if_changed(self) -> None:
        """Ask the engine again only when indexing moved on (each ask reads the folders' rows)."""
        if _progress_key(self.bridge.last_progress) != self._seen:
            self.refresh()

    def refresh(self) -> None:
        if not self.bridge.is_open:
            return
        self._seen = _progress_key(self.bridge.last_progress)
        self.bridge.call(q.folder_infos).finished.connect(self._fill)

    def _fill(self, infos: list[q.FolderInfo]) -> None:
        self.infos = infos
        progress = self.bridge.last_progress
        self.table.setRowCount(len(infos))
        for row, info in enumerate(infos):
            cells = [
                info.path,
                format_count(info.total),
                format_count(info.counts.get("indexed", 0)),
                format_count(info.counts.get("failed", 0)),
                folder_state(info, progress),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
        if not infos:
            self.message.setText("No folders yet. Add the folders that hold your photos, videos and sounds.")
        else:
            self.message.setText("")

    def _on_added(self, path: Any) -> None:
        emit(self.folderAdded, str(path))
        self.refresh()

    def _on_removed(self, folder: str) -> None:
        emit(self.folderRemoved, folder)
        self.refresh()

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        """Add ``folder`` to the library; it is scanned and indexed in the background."""
        task = self.bridge.submit(self.bridge.require().add_folder(folder))
        task.finished.connect(self._on_added)
        task.errored.connect(lambda exc: self.message.setText(str(exc)))

    def _remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        if not rows:
            return
        folder = self.infos[rows[0]].path
        answer = QMessageBox.question(
            self,
            "Remove folder",
            f"Remove {folder} from the library?\n\nIts files stay on disk; only the index forgets them.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_folder(folder)

    def remove_folder(self, folder: str) -> None:
        """Forget ``folder``: its files leave the index (never the disk)."""
        task = self.bridge.submit(self.bridge.require().remove_folder(folder))
        task.finished.connect(lambda _n: self._on_removed(folder))
        task.errored.connect(lambda exc: self.message.setText(str(exc)))


class ErrorsDialog(QDialog):
    """Files that could not be indexed, with the reason for each, and Retry.

    Signals:
        retried(int): how many failed files were queued again.
    """

    retried = Signal(int)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Files that could not be indexed")
        self.resize(820, 400)
        self.bridge = bridge
        self.table = _table(["File", "Reason"], self)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.summary = QLabel(self)
        self.retry_button = QPushButton("Retry all", self)
        self.retry_button.clicked.connect(self.retry)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.addButton(self.retry_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table)
        layout.addWidget(buttons)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        if self.bridge.is_open:
            self.bridge.call(q.failures).finished.connect(self._fill)

    def _fill(self, rows: list[tuple[str, str]]) -> None:
        self.table.setRowCount(len(rows))
        for i, (path, reason) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(path))
            self.table.setItem(i, 1, QTableWidgetItem(reason))
        self.summary.setText(
            f"{format_count(len(rows))} file{'s' if len(rows) != 1 else ''} could not be indexed."
            if rows
            else "No errors: every file was read."
        )
        self.retry_button.setEnabled(bool(rows))

    def retry(self) -> None:
        """Queue every failed file again (fixed files get indexed; the rest fail again with their reason)."""
        task = self.bridge.submit(self.bridge.require().retry_failed())
        task.finished.connect(self._on_retried)

    def _on_retried(self, n: int) -> None:
        emit(self.retried, int(n))
        self.refresh()
