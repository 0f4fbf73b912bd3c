"""Preferences: which models the library uses, and switching to another one.

One table per role (photos and video moments, sounds, speech) lists the known models with their size,
whether they are installed, the languages their text side understands, and what a switch would cost on
this library ("about 40 min for your 12,000 photos", from the measured per-model speed, or an estimate
from the parameter count, which the text says). **Use** starts the switch (``Service.use_model``): the
library is re-embedded in the background as its own stage, shown here and in the status bar, while
search keeps answering from the old model until the new one covers every file. **Download** opens the
models dialog for that one model. A switch in progress can be cancelled (the old model stays).

Everything the page shows is read on the engine core thread (:func:`desktop.model_choices.model_choices`
through ``bridge.call``), refreshed every second or so while the page is open.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.bridge import describe
from desktop.format import format_size
from desktop.model_choices import ROLES, Choices, ModelChoice, model_choices

if TYPE_CHECKING:
    from desktop.bridge import EngineBridge, Task

COLUMNS = ("Model", "Size", "Installed", "Languages", "Switching to it", "")


def rough_size(n: int) -> str:
    """An estimate's size to two figures: 110_300_000 → "110 MB", 2_810_000_000 → "2.8 GB"."""
    value, unit = n / 1e6, "MB"
    if value >= 1000:
        value, unit = value / 1000, "GB"
    return f"{float(f'{value:.2g}'):g} {unit}"


def size_text(m: ModelChoice) -> str:
    """ "about 60.6 MB" (published sizes), "about 110 MB (estimated from 143 M parameters)", or, with
    neither a size nor a way to estimate it, the parameter count."""
    if m.size:
        return f"about {format_size(m.size)}"
    if m.size_estimate:
        return f"about {rough_size(m.size_estimate)} (estimated from {m.params_m:g} M parameters)"
    if m.params_m:
        return f"size not published ({m.params_m:g} M parameters)"
    return "size not published"


def languages_text(m: ModelChoice) -> str:
    if not m.languages:
        return "—" if m.role != "speech" else "99 languages"
    if len(m.languages) <= 3:
        return ", ".join(m.languages)
    return f"{len(m.languages)} languages"


class SwitchBox(QWidget):
    """A switch in progress: its line, a bar, and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.bar = QProgressBar(self)
        self.cancel_button = QPushButton("Cancel switch", self)
        row = QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addLayout(row)
        self.role = ""
        self.current = ""


class PreferencesDialog(QDialog):
    """The Preferences page (non-modal). ``bridge`` runs the reads and the switch on the engine."""

    REFRESH_MS = 1200

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lookalike preferences")
        self.setModal(False)
        self.resize(980, 640)
        self.bridge = bridge
        self.choices: Choices | None = None
        self._reading: Task | None = None
        self._download_dialog: Any = None
        intro = QLabel(
            "<p>The models Lookalike understands your files with. Switching re-reads the library with "
            "the new model in the background; search keeps using the current one until the new one has "
            "seen every file, then the old model's data is removed.</p>",
            self,
        )
        intro.setWordWrap(True)
        self.switch_boxes: list[SwitchBox] = []
        self.switch_area = QVBoxLayout()
        self.tables: dict[str, QTableWidget] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(self.switch_area)
        for role, heading in ROLES:
            box = QGroupBox(heading, self)
            table = QTableWidget(0, len(COLUMNS), box)
            table.setHorizontalHeaderLabels(list(COLUMNS))
            table.verticalHeader().setVisible(False)
            table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
            table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
            table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            header = table.horizontalHeader()
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
            inner = QVBoxLayout(box)
            inner.addWidget(table)
            layout.addWidget(box, 1)
            self.tables[role] = table
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        bottom = QHBoxLayout()
        bottom.addWidget(self.message, 1)
        bottom.addWidget(close)
        layout.addLayout(bottom)
        self._timer = QTimer(self)
        self._timer.setInterval(self.REFRESH_MS)
        self._timer.timeout.connect(self.refresh)

    # -- reading -----------------------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._timer.stop()
        super().hideEvent(event)

    def refresh(self) -> None:
        """Read the models' state on the engine (one read at a time)."""
        if self._reading is not None or not self.bridge.is_open:
            return
        task = self.bridge.call(model_choices)
        self._reading = task
        task.finished.connect(self._on_choices)
        task.errored.connect(self._on_read_failed)

    def _on_read_failed(self, exc: BaseException) -> None:
        self._reading = None
        self.message.setText(describe(exc))

    def _on_choices(self, choices: Choices) -> None:
        self._reading = None
        self.show_choices(choices)

    # -- showing -----------------------------------------------------------------------------------------

    def show_choices(self, choices: Choices) -> None:
        self.choices = choices
        for role, table in self.tables.items():
            rows = [m for m in choices.models if m.role == role]
            table.setRowCount(len(rows))
            for i, m in enumerate(rows):
                name = m.model_id + (" (default)" if m.default else "")
                installed = ("yes" + (" (test model)" if m.test_model else "")) if m.installed else "no"
                cost = m.use or m.cost
                if m.cost_source and not m.use:
                    cost += " (measured)" if m.cost_source.startswith("measured") else " (estimate)"
                tips = (m.title, m.size_basis, "", ", ".join(m.languages), m.cost_source)
                for col, text in enumerate((name, size_text(m), installed, languages_text(m), cost)):
                    item = QTableWidgetItem(text)
                    item.setToolTip(tips[col] or text)
                    table.setItem(i, col, item)
                table.setCellWidget(i, 5, self._action(m))
            # The cost column stretches and wraps: a long line ("about 3 h 50 min for your 12,000
            # photos and 40 videos (estimate)") takes two lines instead of ending in "…".
            table.resizeRowsToContents()
            for i in range(table.rowCount()):
                button = table.cellWidget(i, 5)
                least = max(table.verticalHeader().defaultSectionSize(), button.sizeHint().height() + 2)
                table.setRowHeight(i, max(table.rowHeight(i), least))
        self._show_switches(choices)

    def _action(self, m: ModelChoice) -> QWidget:
        if m.use in ("in use", "switching to"):
            label = QLabel("In use" if m.use == "in use" else "Switching…", self)
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            return label
        if not m.installed:
            button = QPushButton("Download…", self)
            button.clicked.connect(lambda _c=False, mid=m.model_id: self.download(mid))
            return button
        button = QPushButton("Use", self)
        button.setObjectName(f"use:{m.model_id}")
        button.clicked.connect(lambda _c=False, mid=m.model_id: self.use(mid))
        return button

    def _show_switches(self, choices: Choices) -> None:
        while len(self.switch_boxes) < len(choices.switches):
            box = SwitchBox(self)
            box.cancel_button.clicked.connect(lambda _c=False, b=box: self.use(b.current))
            self.switch_area.addWidget(box)
            self.switch_boxes.append(box)
        for i, box in enumerate(self.switch_boxes):
            if i >= len(choices.switches):
                box.setVisible(False)
                continue
            sw = choices.switches[i]
            box.setVisible(True)
            box.role, box.current = sw.role, sw.current
            box.label.setText(sw.line[:1].upper() + sw.line[1:])
            box.bar.setRange(0, max(1, sw.total))
            box.bar.setValue(sw.done)

    # -- acting ------------------------------------------------------------------------------------------

    def use(self, model_id: str) -> None:
        """Switch to ``model_id`` (or, for the model in use, cancel the switch of its role)."""
        if not model_id:
            return
        self.message.setText(f"Switching to {model_id}…")
        task = self.bridge.submit(self.bridge.require().use_model(model_id))
        task.finished.connect(self._on_used)
        task.errored.connect(lambda exc: self.message.setText(describe(exc)))

    def _on_used(self, result: Any) -> None:
        self.message.setText(str(getattr(result, "message", "")))
        self.refresh()

    def download(self, model_id: str) -> None:
        from desktop.first_run import ModelsDialog

        if self.choices is None:
            return
        from pathlib import Path

        dialog = ModelsDialog(Path(self.choices.models_dir), [model_id], self)
        dialog.modelsInstalled.connect(lambda _ids: self.refresh())
        self._download_dialog = dialog
        dialog.show()
        dialog.raise_()
