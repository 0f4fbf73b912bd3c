"""The main window: search bar on top, results grid with the preview beside it, indexing status below."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop import drops, file_actions
from desktop.bridge import EngineBridge, describe
from desktop.icons import app_icon
from desktop.preview import PreviewPane
from desktop.qt_compat import emit
from desktop.result_model import ResultModel
from desktop.result_view import ResultView
from desktop.search_bar import SearchBar
from desktop.search_controller import Answer, Query, SearchController
from desktop.status import IndexStatus
from desktop.thumbnails import ThumbnailLoader
from desktop.window_extras import LibraryMenus, TrayKeeper
from engine.errors import ModelMissingError  # light: the exceptions alone, no engine machinery

if TYPE_CHECKING:
    from engine.service.core import Service


class MessagePage(QWidget):
    """The grid's stand-in when there is nothing to show: a sentence and, sometimes, one button."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.button = QPushButton(self)
        self.button.setVisible(False)
        self._handler: Any = None
        self.button.clicked.connect(lambda: self._handler and self._handler())
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(self.label)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)

    def show_message(self, text: str, button: str = "", handler: Any = None) -> None:
        self.label.setText(text)
        self.button.setText(button)
        self.button.setVisible(bool(button))
        self._handler = handler


class MainWindow(QMainWindow):
    """Lookalike's window. All engine work goes through ``bridge``; the window only shows and reacts.

    Signals:
        finished(): the window has closed for good and the service has stopped (the app may quit).
    """

    finished = Signal()

    def __init__(self, bridge: EngineBridge, paste_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Lookalike")
        self.setWindowIcon(app_icon())
        self.resize(1180, 760)
        self.setAcceptDrops(True)
        self.bridge = bridge
        self.session: Any = None
        self.paste_dir = paste_dir
        self._quitting = False
        #: True once the window has closed for good and the service has stopped.
        self.is_finished = False
        #: The single-instance server (set by desktop.app.build); None when another app serves the library.
        self.ipc_server: Any = None

        self.loader = ThumbnailLoader(parent=self)
        self.model = ResultModel(self.loader, self)
        self.search_bar = SearchBar(paste_dir, self)
        self.view = ResultView(self)
        self.view.setModel(self.model)
        self.message = MessagePage(self)
        self.header = QLabel(self)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.linkActivated.connect(lambda _l: self.show_weak())
        self.preview = PreviewPane(self.loader, self)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.message)
        self.stack.addWidget(self.view)
        left = QWidget(self)
        lay = QVBoxLayout(left)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.header)
        lay.addWidget(self.stack, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([850, 330])
        central = QWidget(self)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.search_bar)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.status = IndexStatus(self)
        self.statusBar().addWidget(self.status, 1)

        self.searches = SearchController(bridge, self)
        self.search_bar.attach(bridge, self.searches)  # places for the chips; "nothing from then" notes
        self.answer: Answer | None = None
        #: Files indexed and failed (since the service started) when the query was last run again.
        self._finished_at_rerun: tuple[int, int] = (0, 0)
        self.menus = LibraryMenus(self)
        self.tray = TrayKeeper(self)
        self._connect()
        self.message.show_message("Opening your library…")

    def _connect(self) -> None:
        sb, v = self.search_bar, self.view
        sb.textSearched.connect(self.search_text)
        sb.similarRequested.connect(self.find_similar)
        sb.filtersChanged.connect(self._on_filters_changed)
        v.openRequested.connect(lambda rs: [file_actions.open_file(r.path) for r in rs[:10]])
        v.showInFolderRequested.connect(lambda rs: file_actions.show_in_folder([r.path for r in rs]))
        v.findSimilarRequested.connect(lambda rs: self.find_similar([r.path for r in rs]))
        v.copyPathRequested.connect(lambda rs: file_actions.copy_paths([r.path for r in rs]))
        v.previewRequested.connect(self.preview_and_play)
        v.selectionModel().selectionChanged.connect(self._on_selection)
        self.searches.answered.connect(self._on_answer)
        self.searches.failed.connect(self._on_search_failed)
        self.searches.cleared.connect(self._on_cleared)
        self.searches.started.connect(self._on_search_started)
        self.bridge.opened.connect(self._on_opened)
        self.bridge.openFailed.connect(self._on_open_failed)
        self.bridge.progressed.connect(self._on_progress)
        self.bridge.stopped.connect(self._on_stopped)
        self.status.pauseRequested.connect(lambda: self._with_service(lambda s: s.pause()))
        self.status.resumeRequested.connect(lambda: self._with_service(lambda s: s.resume()))
        self.status.errorsRequested.connect(self.menus.show_errors)
        focus = QAction(self)
        focus.setShortcuts([QKeySequence(QKeySequence.StandardKey.Find), QKeySequence("Ctrl+L")])
        focus.triggered.connect(self.focus_search)
        self.addAction(focus)

    def _with_service(self, action: Callable[[Service], None]) -> None:
        """``action(service)`` once the library is open; a click before that does nothing."""
        if self.bridge.service is not None:
            action(self.bridge.service)

    def focus_search(self) -> None:
        self.search_bar.field.setFocus()
        self.search_bar.field.selectAll()

    # -- library ---------------------------------------------------------------------------------------

    def _on_opened(self, session: Any) -> None:
        self.session = session
        self._finished_at_rerun = (0, 0)  # a new service counts from zero
        self.loader.cache_dir = session.thumbnails_dir
        self.search_bar.set_folders(session.folders)
        self.tray.enabled = session.keep_running_in_tray
        self.menus.on_opened(session)
        if self.searches.query is None or self.searches.query.empty:
            self._show_idle()
        notices = getattr(session, "notices", None) or []
        if notices:  # e.g. "12 files had lost their vectors and are being indexed again."
            self.status.set_message(" ".join(notices))

    def _on_open_failed(self, reason: str) -> None:
        from engine.errors import LibraryDamagedError

        self.stack.setCurrentWidget(self.message)
        if isinstance(getattr(self.bridge, "open_exc", None), LibraryDamagedError):
            # The message says what is damaged; Repair does what `lookalike repair` does, then reopens.
            self.message.show_message(
                f"<b>The library is damaged.</b><br>{html.escape(reason)}", "Repair", self.repair_library
            )
        else:
            self.message.show_message(
                f"<b>The library could not be opened.</b><br>{html.escape(reason)}",
                "Try again",
                self.bridge.open,
            )
        self.header.setText("")
        self.status.set_message("Library not open")

    def repair_library(self) -> None:
        """Rebuild the damaged catalog or vector database on a background thread, then open the library
        again (its scan brings back what could not be salvaged; indexing redoes what was lost)."""
        from desktop.bridge import Task, run_in_thread
        from desktop.session import repair_library

        self.message.show_message("<b>Repairing the library…</b><br>The damaged copy is kept aside.")
        task = Task(run_in_thread(repair_library, "lookalike-repair"), self)

        def done(lines: list[str]) -> None:
            self.status.set_message(" ".join(lines))
            self.bridge.open()

        task.finished.connect(done)
        task.errored.connect(
            lambda exc: self.message.show_message(
                f"<b>The repair failed.</b><br>{html.escape(str(exc))}", "Try again", self.repair_library
            )
        )

    def _show_idle(self) -> None:
        if self.session is not None and not self.session.folders:
            self.message.show_message(
                "<b>Welcome to Lookalike.</b><br>Add the folders that hold your photos, videos and sounds; "
                "they are indexed in the background, on this computer.",
                "Add a folder…",
                self.menus.choose_folder,
            )
        else:
            self.message.show_message(
                "Type what you are looking for — <i>a dog on a beach</i>, <i>rain</i>, "
                "<i>birthday cake</i> — or drop a photo, clip or sound here to find similar ones."
            )
        self.stack.setCurrentWidget(self.message)
        self.header.setText("")

    def folder_added(self, folder: str) -> None:
        if self.session is not None and folder not in self.session.folders:
            self.set_folders([*self.session.folders, folder])

    def folder_removed(self, folder: str) -> None:
        if self.session is not None:
            self.set_folders([f for f in self.session.folders if f != folder])

    def set_folders(self, folders: list[str]) -> None:
        """The library's folders changed (added or removed here; the engine saved them)."""
        if self.session is not None:
            self.session.folders = list(folders)
        self.search_bar.set_folders(folders)
        if self.searches.query is None or self.searches.query.empty:
            self._show_idle()

    def _on_progress(self, p: Any) -> None:
        was_busy = self.status.busy
        self.status.set_progress(p)
        # Indexing just finished: show what it added, unless the user is looking at a result. Only
        # when files were indexed: a scan that found nothing new (every start) must not search again,
        # which would drop the answer to a query typed while the library opened and ask anew.
        finished = (getattr(p, "done", 0), getattr(p, "failed", 0))
        if was_busy and not self.status.busy and finished != self._finished_at_rerun:
            self._finished_at_rerun = finished
            if not self.view.selectionModel().hasSelection():
                self.searches.rerun()

    # -- searching -------------------------------------------------------------------------------------

    def _query(self, text: str = "", paths: list[str] | None = None) -> Query:
        extra = {} if paths else self.search_bar.when_where()  # dates, place, sort (issue 14)
        return Query(text, list(paths or []), self.search_bar.kinds(), self.search_bar.folder(), extra)

    def search_text(self, text: str) -> None:
        self.searches.search(self._query(text=text))

    def find_similar(self, paths: list[str]) -> None:
        """Search for items like ``paths`` (dropped, pasted, chosen, forwarded, or from a result)."""
        if not paths:
            return
        self.search_bar.field.setText("")
        self.searches.search(self._query(paths=paths))

    def _on_filters_changed(self) -> None:
        q = self.searches.query
        new = self._query(q.text, q.paths) if q is not None else self._query()
        # A date or place box alone is a search too ("everything from Porto"); clearing it clears.
        if not new.empty or (q is not None and not q.empty):
            self.searches.search(new)

    def _what(self, q: Query) -> str:
        if q.paths:
            names = ", ".join(Path(p).name for p in q.paths[:3]) + ("…" if len(q.paths) > 3 else "")
            return f"items like {html.escape(names)}"
        return f"“{html.escape(q.text)}”"

    def _on_search_started(self, q: Query) -> None:
        self.header.setText("Searching…")
        # Over an empty grid the page's hint ("Type what you are looking for…") would stay in the middle
        # of the window while the first query waits for the library or the models: say what is going on.
        if self.stack.currentWidget() is self.message:
            self.message.show_message(f"Searching for {self._what(q)}…")

    def _on_answer(self, answer: Answer) -> None:
        self.answer = answer
        q = answer.query
        if answer.good:
            self._show_results(answer.good)
            more = f" · <a href='weak'>show {len(answer.weak)} weaker</a>" if answer.weak else ""
            n = len(answer.good)
            self.header.setText(f"{n} match{'es' if n != 1 else ''} for {self._what(q)}{more}")
        elif answer.weak:
            self.model.clear()
            self.stack.setCurrentWidget(self.message)
            self.message.show_message(
                f"<b>No good match for {self._what(q)}.</b><br>The closest items score below the floor "
                "where results start to look unrelated.",
                f"Show the closest {len(answer.weak)} anyway",
                self.show_weak,
            )
            self.header.setText("")
        else:
            self.model.clear()
            self.stack.setCurrentWidget(self.message)
            self.message.show_message(
                f"<b>Nothing found for {self._what(q)}.</b><br>"
                "Nothing in the library is indexed for this yet."
            )
            self.header.setText("")

    def show_weak(self) -> None:
        """Show every result of the current answer, the ones under the floor too."""
        if self.answer is not None:
            results = self.answer.all
            self._show_results(results)
            self.header.setText(
                f"{len(results)} closest items for {self._what(self.answer.query)} (some are weak matches)"
            )

    def _show_results(self, results: list[Any]) -> None:
        mode = self.answer.query.mode if self.answer is not None else "text"
        self.model.set_results(results, mode)
        self.stack.setCurrentWidget(self.view)
        self.view.scrollToTop()
        self.preview.show_result(None)

    def _on_search_failed(self, query: Query, exc: BaseException) -> None:
        self.model.clear()
        self.stack.setCurrentWidget(self.message)
        reason = describe(exc)
        if isinstance(exc, ModelMissingError):
            self.message.show_message(
                f"<b>A model is missing.</b><br>{html.escape(reason)}",
                "Get the models…",
                self.menus.show_models,
            )
        else:
            self.message.show_message(f"<b>The search failed.</b><br>{html.escape(reason)}")
        self.header.setText("")

    def _on_cleared(self) -> None:
        self.answer = None
        self.model.clear()
        self._show_idle()

    # -- selection and preview -------------------------------------------------------------------------

    def _on_selection(self, _sel: QItemSelection, _desel: QItemSelection) -> None:
        results = self.view.selected_results()
        self.preview.show_result(results[0] if results else None, self.model.mode)

    def preview_and_play(self, result: Any) -> None:
        """Space: show the result large (opening the preview if it was collapsed) and play it."""
        if self.splitter.sizes()[1] == 0:
            self.splitter.setSizes([3, 1])
        if self.preview.result is not result:
            self.preview.show_result(result, self.model.mode)
        if result.kind in ("video", "sound"):
            self.preview.play()

    # -- drops, activation, closing --------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if drops.accepts(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = drops.query_paths(event.mimeData(), self.paste_dir)
        if paths:
            event.acceptProposedAction()
            self.find_similar(paths)

    def bring_to_front(self) -> None:
        self.show()
        self.setWindowState(
            (self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive
        )
        self.raise_()
        self.activateWindow()

    def show_similar_from_elsewhere(self, paths: list[str]) -> None:
        """A request from another launch (file manager, command line): come to the front and search."""
        self.bring_to_front()
        self.find_similar(paths)

    def choose_similar_file(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Find items similar to…")
        self.find_similar(files)

    def quit_app(self) -> None:
        """Close for good: stop the service (its batch in hand is written) and then emit ``finished``."""
        if self._quitting:
            return
        self._quitting = True
        self.preview.stop()
        self.hide()
        self.tray.hide()
        self.loader.cancel_pending()
        self.bridge.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._quitting and self.tray.keep_running():
            event.ignore()
            self.hide()
            return
        event.accept()
        self.quit_app()

    def _on_stopped(self) -> None:
        self.loader.wait(5000)
        self.is_finished = True
        emit(self.finished)
