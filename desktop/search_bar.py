"""The search bar: one text field (results as you type), kind and folder filters, a drop zone, and the
when-where row: how the query was understood as removable chips, date-range and place filters, and the
sort order (relevance or date)."""

from __future__ import annotations

import re
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
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import drops
from desktop.qt_compat import emit
from desktop.query_chips import QueryChips

DEBOUNCE_MS = 250
KINDS = (("photo", "Photos"), ("video", "Video moments"), ("sound", "Sounds"))
SORTS = (("relevance", "Best match"), ("date", "Newest first"))
ANY_PLACE = "Any place"


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
    """Search text, filters, the drop zone, and the when-where row (chips, dates, place, sort).

    Signals:
        textSearched(str): the text to search for, ~250 ms after typing stops (at once on Enter).
        similarRequested(list): files dropped, pasted or chosen: search items like them.
        filtersChanged(): the kind, folder, date, place or sort filter changed.
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
        rows = QVBoxLayout(self)
        rows.setContentsMargins(8, 6, 8, 6)
        rows.setSpacing(4)
        layout = QHBoxLayout()
        rows.addLayout(layout)
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
        self._build_when_where(rows)

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

    # -- when and where ------------------------------------------------------------------------------------

    def _build_when_where(self, rows: QVBoxLayout) -> None:
        """The second row: chips on the left; from/to dates, place and sort on the right."""
        #: The library's places and years (engine.search.understand.LibrarySummary), for the chips.
        self.summary: Any = None
        self._bridge: Any = None
        row = QHBoxLayout()
        rows.addLayout(row)
        self.chips = QueryChips(self)
        self.chips.setVisible(False)
        self.chips.chipRemoved.connect(self._on_chip_removed)
        row.addWidget(self.chips, 1)
        # Takes the room the hidden chips leave (the filters keep their own width, on the right) and
        # gives it up to them when they show (their stretch factor wins over this one's 0).
        row.addStretch(0)
        self.after_box = QLineEdit(self)
        self.after_box.setPlaceholderText("from (2020, 2020-07)")
        self.before_box = QLineEdit(self)
        self.before_box.setPlaceholderText("before (2021-07-14)")
        for box, tip in (
            (
                self.after_box,
                "Only files made on or after this date: a year, a month (2020-07, July 2020) or a day",
            ),
            (self.before_box, "Only files made before this date: a year, a month or a day"),
        ):
            box.setClearButtonEnabled(True)
            # Wide enough for the example in the placeholder (and the clear button), never stretched.
            box.setFixedWidth(min(190, box.fontMetrics().horizontalAdvance(box.placeholderText()) + 36))
            box.setToolTip(tip)
            box.editingFinished.connect(self._on_when_where_edited)
            row.addWidget(box)
        self.place_box = QComboBox(self)
        self.place_box.setEditable(True)
        self.place_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.place_box.setMinimumContentsLength(12)
        self.place_box.setToolTip("Only files made in this city, region or country")
        self.place_box.addItem(ANY_PLACE)
        place_edit = self.place_box.lineEdit()
        assert place_edit is not None  # an editable combo box always has one
        place_edit.setPlaceholderText(ANY_PLACE)
        self.place_box.activated.connect(lambda _i: self._on_when_where_edited())
        place_edit.editingFinished.connect(self._on_when_where_edited)
        self.place_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        row.addWidget(self.place_box)
        self.sort_box = QComboBox(self)
        for key, label in SORTS:
            self.sort_box.addItem(label, key)
        self.sort_box.setToolTip("Order of the results")
        self.sort_box.currentIndexChanged.connect(lambda _i: self._on_when_where_edited())
        row.addWidget(self.sort_box)
        self._last_when_where: dict[str, str] = {}
        self.field.textChanged.connect(lambda _t: self.update_chips())

    def attach(self, bridge: Any, controller: Any = None) -> None:
        """Keep the place list and the chips' summary of the library fresh (on open, and when indexing
        goes idle), and say so under the chips when a date or place search found nothing."""
        self._bridge = bridge
        self._was_busy = False
        bridge.opened.connect(lambda _s: self.refresh_summary())
        bridge.progressed.connect(self._on_progress)
        if controller is not None:
            controller.answered.connect(self._on_answer)

    def _on_progress(self, p: Any) -> None:
        busy = getattr(p, "state", "") in ("starting", "scanning", "indexing", "analyzing")
        if self._was_busy and not busy:
            self.refresh_summary()
        self._was_busy = busy

    def refresh_summary(self) -> None:
        """Ask the engine thread for the library's places and years (two grouped queries)."""
        if self._bridge is None or not getattr(self._bridge, "is_open", False):
            return
        from engine.search.understand import library_summary  # light: no model or store

        try:
            task = self._bridge.call(library_summary)
        except Exception:  # the service is stopping: keep what we have
            return
        task.finished.connect(self.set_summary)

    def set_summary(self, summary: Any) -> None:
        """Use ``summary`` (engine.search.understand.LibrarySummary) for the chips and the place list.
        When the library's places or years changed (the metadata pass just filled them in) and the
        query has a date or place, ``filtersChanged`` asks for the search again."""
        before = self.summary
        self.summary = summary
        changed = (
            before is not None
            and summary is not None
            and (before.places != summary.places or before.years != summary.years)
        )
        current = self.place()
        self.place_box.blockSignals(True)
        self.place_box.clear()
        self.place_box.addItem(ANY_PLACE)
        for name in summary.place_names() if summary is not None else []:
            self.place_box.addItem(name)
        self.place_box.setCurrentText(current or "")
        if not current:
            self.place_box.setCurrentIndex(0)
        self.place_box.blockSignals(False)
        self.update_chips()
        if changed and (self.chips.parts() or self.when_where()):
            emit(self.filtersChanged)

    def when_where(self) -> dict[str, str]:
        """The date, place and sort filters that are set, as engine.search.understand.search takes them."""
        out: dict[str, str] = {}
        if self.after_box.text().strip():
            out["after"] = self.after_box.text().strip()
        if self.before_box.text().strip():
            out["before"] = self.before_box.text().strip()
        place = self.place()
        if place:
            out["place"] = place
        if self.sort_box.currentData() == "date":
            out["sort"] = "date"
        return out

    def place(self) -> str | None:
        text = self.place_box.currentText().strip()
        return None if not text or text == ANY_PLACE else text

    def update_chips(self) -> None:
        """Show how the current text and filters are understood (GUI thread, no engine call)."""
        from engine.search.understand import explain_offline  # light: tables and the place index

        ww = self.when_where()
        understood = explain_offline(
            self.field.text(),
            self.summary,
            after=ww.get("after"),
            before=ww.get("before"),
            place=ww.get("place"),
        )
        self.chips.show_understood(understood)
        bad = {label for kind, label in understood.chips if kind == "error"}
        for box in (self.after_box, self.before_box):
            box.setStyleSheet("QLineEdit { color: #b00020; }" if bad and box.text().strip() else "")

    def _on_when_where_edited(self) -> None:
        self.update_chips()
        now = self.when_where()
        if now != self._last_when_where:
            self._last_when_where = now
            emit(self.filtersChanged)

    def _on_chip_removed(self, kind: str, label: str, fragment: object) -> None:
        if fragment is None:  # from a filter box: clear that box
            if kind == "date":
                self.after_box.clear()
                self.before_box.clear()
            elif kind == "place":
                self.place_box.setCurrentIndex(0)
            self._on_when_where_edited()
            return
        text = self.field.text()
        if kind == "text":
            # Keep only the dates and places: the query becomes "what was taken then and there".
            u = self.chips_understood()
            kept = [f for _k, _l, f in (u.fragments if u is not None else []) if f]
            new = " ".join(kept)
        else:
            new = re.sub(rf"(?<!\w){re.escape(str(fragment))}(?!\w)", " ", text, count=1, flags=re.IGNORECASE)
            new = " ".join(new.split())
        self.field.setText(new)
        self._emit_text()

    def chips_understood(self) -> Any:
        from engine.search.understand import explain_offline

        return explain_offline(self.field.text(), self.summary)

    def _on_answer(self, answer: Any) -> None:
        """A date or place search that found nothing says so under the chips."""
        if answer.all or answer.query.paths:
            return
        from engine.search.query import parse_query
        from engine.search.understand import explain_offline, nothing_message

        ww = self.when_where()
        u = explain_offline(
            answer.query.text,
            self.summary,
            after=ww.get("after"),
            before=ww.get("before"),
            place=ww.get("place"),
        )
        if u.fragments:
            q = parse_query("", None, understand=False)
            q.understood = u.chips
            self.chips.show_note(nothing_message(q) + ".")
