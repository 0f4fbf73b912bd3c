"""The indexing status in the status bar: what the service is doing, pause/resume, and the error count.

It is fed the ``Service.progress()`` snapshots the bridge polls; it never asks the engine itself.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.format import format_count, format_eta
from desktop.qt_compat import emit


def _get(p: Any, name: str, default: Any = None) -> Any:
    return getattr(p, name, default) if p is not None else default


def describe(p: Any) -> str:
    """One line for a ServiceProgress, e.g. "Indexing 34 of 1,200 · 12.3 files/s · about 2 min left"."""
    if p is None:
        return "Opening the library…"
    state = _get(p, "state", "idle")
    done = int(_get(p, "done", 0) or 0)
    failed = int(_get(p, "failed", 0) or 0)
    queued = int(_get(p, "queued", 0) or 0)
    waiting = int(_get(p, "waiting", 0) or 0)
    parts: list[str]
    if state in ("starting", "scanning"):
        parts = ["Looking for new and changed files…"]
    elif state == "indexing":
        parts = [f"Indexing {format_count(done + failed)} of {format_count(done + failed + queued)}"]
        rate = _get(p, "rate")
        if rate:
            parts.append(f"{rate:.1f} files/s")
        eta = format_eta(_get(p, "eta"))
        if eta:
            parts.append(eta)
    elif state == "analyzing":
        # The slower analyzers, behind the embeddings: "Reading text in photos 120 / 400".
        stage = str(_get(p, "stage", "") or "analyzing files")
        parts = [f"{stage[:1].upper()}{stage[1:]} {format_count(int(_get(p, 'stage_done', 0) or 0))}"]
        total = int(_get(p, "stage_total", 0) or 0)
        if total:
            parts[0] += f" / {format_count(total)}"
    elif state == "paused":
        parts = [f"Paused · {format_count(queued)} files waiting" if queued else "Paused"]
    elif state == "stopped":
        parts = ["Indexing stopped"]
    else:
        total = int(_get(p, "indexed_total", 0) or 0)
        if total:
            parts = [f"Up to date · {format_count(total)} file{'s' if total != 1 else ''} indexed"]
        else:
            # Nothing to be up to date with (no folder yet, or none with media): say so, not "Up to date".
            parts = ["Up to date" if waiting else "No files indexed yet"]
    if waiting:
        parts.append(f"{format_count(waiting)} files wait for models")
    offline = _get(p, "offline_folders") or ()
    if offline:
        n = len(offline)
        parts.append(f"{n} folder{'s' if n > 1 else ''} offline")
    return " · ".join(parts)


def warnings_of(p: Any) -> list[str]:
    return [str(w) for w in (_get(p, "warnings") or ())]


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when its text is wider than the room it has (a long warning
    with a path was cut mid-word before), and never asks the window to be wider for it. ``text()`` is
    the whole line; the status bar's tooltip lists every warning in full."""

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(40, super().minimumSizeHint().height())

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(40, super().sizeHint().height())

    def elided(self) -> str:
        """The text as painted at the label's width."""
        return self.fontMetrics().elidedText(
            self.text(), Qt.TextElideMode.ElideRight, self.contentsRect().width()
        )

    def paintEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        align = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        p.drawText(self.contentsRect(), int(align), self.elided())
        p.end()


class IndexStatus(QWidget):
    """Status bar contents: a progress line, Pause/Resume, and an "N errors" button.

    Signals:
        pauseRequested(): the user asked to pause indexing.
        resumeRequested(): the user asked to resume indexing.
        errorsRequested(): the user wants the error list (the button shows the files that failed).
    """

    pauseRequested = Signal()
    resumeRequested = Signal()
    errorsRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = ElidedLabel(describe(None), self)
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setFlat(True)
        self.pause_button.setVisible(False)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.errors_button = QPushButton(self)
        self.errors_button.setFlat(True)
        self.errors_button.setVisible(False)
        self.errors_button.clicked.connect(self.errorsRequested)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.errors_button)
        layout.addWidget(self.pause_button)
        self.paused = False
        #: Scanning or indexing now.
        self.busy = False

    def set_progress(self, p: Any) -> None:
        self.label.setText(describe(p))
        warnings = warnings_of(p)
        self.label.setToolTip("\n".join(warnings))
        if warnings:
            self.label.setText(f"{describe(p)} · ⚠ {warnings[-1]}")
        state = _get(p, "state", "idle")
        self.paused = state == "paused"
        self.busy = state in ("starting", "scanning", "indexing", "analyzing")
        self.pause_button.setText("Resume" if self.paused else "Pause")
        self.pause_button.setVisible(state in ("scanning", "indexing", "analyzing", "paused"))
        failed = int(_get(p, "failed_total", 0) or 0)
        self.errors_button.setText(f"{format_count(failed)} error{'s' if failed != 1 else ''}")
        self.errors_button.setVisible(failed > 0)

    def set_message(self, text: str) -> None:
        self.label.setText(text)

    def _on_pause_clicked(self) -> None:
        emit(self.resumeRequested if self.paused else self.pauseRequested)
