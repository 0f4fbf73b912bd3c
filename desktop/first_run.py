"""First run: the models are missing. Explain what will be downloaded, then download or install them.

The dialog is not modal: the library can be browsed while models download. The download runs
``engine.models.fetch.download`` on a worker thread; its progress callback only records a snapshot,
which the dialog polls on a QTimer (no signal per megabyte), and Cancel sets the flag the download
checks between chunks. An interrupted download installs nothing (the engine stages and verifies).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.bridge import Task, run_in_thread
from desktop.format import format_size
from desktop.qt_compat import emit


@dataclass
class DownloadSnapshot:
    model_id: str = ""
    file: str = ""
    done: int = 0
    total: int | None = None
    #: Which model of how many (1-based).
    index: int = 0
    count: int = 0


class DownloadJob:
    """Downloads models one after another on the calling thread; Qt-free and safe to poll from another."""

    def __init__(self, models_dir: Path, model_ids: list[str]) -> None:
        self.models_dir = models_dir
        self.model_ids = list(model_ids)
        self._lock = threading.Lock()
        self._snap = DownloadSnapshot(count=len(model_ids))
        self._cancel = threading.Event()

    def snapshot(self) -> DownloadSnapshot:
        with self._lock:
            return DownloadSnapshot(**vars(self._snap))

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> list[str]:
        """Download every model; returns their ids. Raises DownloadCancelled or LookalikeError."""
        from engine.models import fetch

        for i, model_id in enumerate(self.model_ids, 1):
            with self._lock:
                self._snap = DownloadSnapshot(model_id=model_id, index=i, count=len(self.model_ids))

            def progress(name: str, done: int, total: int | None, model_id: str = model_id) -> None:
                with self._lock:
                    self._snap.file, self._snap.done, self._snap.total = name, done, total

            fetch.download(self.models_dir, model_id, progress=progress, cancel=self._cancel.is_set)
        return self.model_ids


def describe_models(model_ids: list[str]) -> list[tuple[str, str, int | None]]:
    """(id, title, download bytes) from the registry, for the explanation. The bytes count the files
    whose size is published (small config files have none, so it is a lower bound); None when none is."""
    from engine.models import registry

    out = []
    for m in model_ids:
        spec = registry.spec(m)
        sizes = [f.size for f in spec.files if f.name not in spec.optional and f.size]
        out.append((m, spec.title, sum(sizes) if sizes else None))
    return out


class ModelsDialog(QDialog):
    """Explains which models are missing and gets them: Download (with progress and Cancel) or Install
    from a folder (for machines without network).

    Signals:
        modelsInstalled(list): these model ids are now installed.
    """

    modelsInstalled = Signal(list)
    POLL_MS = 100

    def __init__(self, models_dir: Path, missing: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lookalike needs its models")
        self.setModal(False)
        self.models_dir = models_dir
        self.missing = list(missing)
        self.job: DownloadJob | None = None
        self.task: Task | None = None
        rows = describe_models(self.missing)
        known = [size for _, _, size in rows if size]
        total = f"about {format_size(sum(known))}" if known else "size unknown"
        sizes = {mid: f"about {format_size(size)}" if size else "size not published" for mid, _, size in rows}
        lines = "".join(f"<li><b>{mid}</b> — {title} ({sizes[mid]})</li>" for mid, title, _ in rows)
        self.explanation = QLabel(
            "<p>To understand photos, video moments and sounds, Lookalike uses models that run on this "
            f"computer. These are not installed yet ({total} in all):</p><ul>{lines}</ul>"
            "<p>They are downloaded once from the Hugging Face Hub and Zenodo, checked, and kept in "
            f"<code>{models_dir}</code>. After that Lookalike never uses the network. You can keep browsing "
            "while they download; files wait and are indexed once the models are in.</p>",
            self,
        )
        self.explanation.setWordWrap(True)
        if not self.missing:
            self.explanation.setText(
                f"<p>All the models Lookalike needs are installed in <code>{models_dir}</code>.</p>"
            )
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.bar = QProgressBar(self)
        self.bar.setVisible(False)
        self.download_button = QPushButton("Download", self)
        self.download_button.setDefault(True)
        self.download_button.clicked.connect(self.start_download)
        self.install_button = QPushButton("Install from folder…", self)
        self.install_button.clicked.connect(self._choose_folder)
        self.cancel_button = QPushButton("Cancel download", self)
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.later_button = QPushButton("Later", self)
        self.later_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.install_button, self.cancel_button, self.later_button, self.download_button):
            buttons.addWidget(b)
        buttons.insertStretch(1)
        self.download_button.setVisible(bool(self.missing))
        layout = QVBoxLayout(self)
        layout.addWidget(self.explanation)
        layout.addWidget(self.bar)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self._poll)

    # -- download --------------------------------------------------------------------------------------

    def start_download(self) -> None:
        if self.task is not None:
            return
        self.job = DownloadJob(self.models_dir, self.missing)
        self._set_busy(True, "Starting the download…")
        self.task = Task(run_in_thread(self.job.run, "lookalike-download"), self)
        self.task.finished.connect(self._on_installed)
        self.task.errored.connect(self._on_failed)
        self._timer.start()

    def cancel_download(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _poll(self) -> None:
        if self.job is None:
            return
        s = self.job.snapshot()
        if s.total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * s.done / s.total))
        else:
            self.bar.setRange(0, 0)  # unknown size: a busy bar
        where = f"{s.model_id} ({s.index} of {s.count})" if s.model_id else ""
        of = f" of {format_size(s.total)}" if s.total else ""
        self.status.setText(
            f"Downloading {where}: {s.file} — {format_size(s.done)}{of}"
            if s.file
            else f"Connecting for {where}…"
        )

    # -- install from a folder -------------------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder holding the models")
        if folder:
            self.install_from(folder)

    def install_from(self, folder: str) -> None:
        """Install the models from ``folder`` (``<model_id>/`` subfolders, checked like a download)."""
        if self.task is not None:
            return
        from engine.models import fetch

        self._set_busy(True, f"Installing from {folder}…", cancellable=False)
        self.bar.setRange(0, 0)
        models_dir = self.models_dir
        self.task = Task(
            run_in_thread(lambda: fetch.install_from(models_dir, Path(folder)), "lookalike-install"), self
        )
        self.task.finished.connect(self._on_installed)
        self.task.errored.connect(self._on_failed)

    # -- outcome ---------------------------------------------------------------------------------------

    def _set_busy(self, busy: bool, text: str, *, cancellable: bool = True) -> None:
        self.bar.setVisible(busy)
        self.download_button.setEnabled(not busy)
        self.install_button.setEnabled(not busy)
        self.cancel_button.setVisible(busy and cancellable)
        self.status.setText(text)

    def _finish(self) -> None:
        self._timer.stop()
        self.task = None
        self.job = None

    def _on_installed(self, ids: list[str]) -> None:
        self._finish()
        self._set_busy(False, "")
        self.missing = [m for m in self.missing if m not in ids]
        if self.missing:
            self.status.setText(f"Installed {', '.join(ids)}. Still missing: {', '.join(self.missing)}.")
        else:
            self.status.setText("All models are installed. Indexing starts now.")
            self.download_button.setEnabled(False)
            self.later_button.setText("Close")
        emit(self.modelsInstalled, list(ids))

    def _on_failed(self, exc: Any) -> None:
        self._finish()
        cancelled = exc.__class__.__name__ == "DownloadCancelled"
        self._set_busy(False, "Download cancelled. Nothing was installed." if cancelled else str(exc))
