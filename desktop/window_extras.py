"""The window's menus and dialogs (folders, errors, models, settings) and the tray icon."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QSystemTrayIcon

from desktop import library_queries as q
from desktop.icons import app_icon
from desktop.status import describe

if TYPE_CHECKING:
    from desktop.first_run import ModelsDialog
    from desktop.library_dialog import ErrorsDialog, FoldersDialog
    from desktop.main_window import MainWindow


class LibraryMenus(QObject):
    """The menu bar and the dialogs it opens (created on first use)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.folders_dialog: FoldersDialog | None = None
        self.errors_dialog: ErrorsDialog | None = None
        self.models_dialog: ModelsDialog | None = None
        bar = window.menuBar()
        file_menu = bar.addMenu("&File")
        self._add(
            file_menu, "Find similar to a file…", window.choose_similar_file, QKeySequence.StandardKey.Open
        )
        file_menu.addSeparator()
        self._add(file_menu, "Quit", window.quit_app, QKeySequence.StandardKey.Quit)
        lib = bar.addMenu("&Library")
        self._add(lib, "Folders…", self.show_folders)
        self._add(lib, "Errors…", self.show_errors)
        self._add(lib, "Models…", self.show_models)
        self._add(lib, "Duplicates…", self.show_duplicates)
        self._add(lib, "Preferences…", self.show_preferences, QKeySequence.StandardKey.Preferences)
        lib.addSeparator()
        self._add(lib, "Look for changes now", self._rescan, "F5")
        self.pause_action = self._add(lib, "Pause indexing", self._toggle_pause)
        lib.addSeparator()
        self.tray_action = self._add(lib, "Keep indexing in the tray when the window closes", self._set_tray)
        self.tray_action.setCheckable(True)
        for a in lib.actions():
            a.setEnabled(False)  # until the library is open
        self._library_actions = lib.actions()

    def _add(self, menu: QMenu, text: str, slot: Any, keys: Any = None) -> QAction:
        a = QAction(text, self.w)
        if keys is not None:
            a.setShortcut(QKeySequence(keys))
        a.triggered.connect(lambda _c=False: slot())
        menu.addAction(a)
        return a

    def on_opened(self, session: Any) -> None:
        for a in self._library_actions:
            a.setEnabled(True)
        self.tray_action.setChecked(session.keep_running_in_tray)
        self.w.bridge.progressed.connect(self._on_progress)
        if session.missing_models:
            self.show_models()

    def _on_progress(self, p: Any) -> None:
        paused = getattr(p, "state", "") == "paused"
        self.pause_action.setText("Resume indexing" if paused else "Pause indexing")

    # -- dialogs ---------------------------------------------------------------------------------------

    def show_folders(self) -> None:
        from desktop.library_dialog import FoldersDialog

        if self.folders_dialog is None:
            self.folders_dialog = FoldersDialog(self.w.bridge, self.w)
            self.folders_dialog.folderAdded.connect(self.w.folder_added)
            self.folders_dialog.folderRemoved.connect(self.w.folder_removed)
        self.folders_dialog.show()
        self.folders_dialog.raise_()

    def show_errors(self) -> None:
        from desktop.library_dialog import ErrorsDialog

        if not self.w.bridge.is_open:
            return
        if self.errors_dialog is None:
            self.errors_dialog = ErrorsDialog(self.w.bridge, self.w)
        self.errors_dialog.show()
        self.errors_dialog.raise_()

    def show_duplicates(self) -> None:
        """The Duplicates window (engine.storage.duplicates groups: review, keep, trash, not duplicates)."""
        from desktop.duplicates_view import DuplicatesView

        if not self.w.bridge.is_open:
            return
        view = getattr(self, "duplicates_view", None)
        if view is None:
            view = self.duplicates_view = DuplicatesView(self.w.bridge, self.w)
        view.show()
        view.raise_()

    def show_preferences(self) -> None:
        """Preferences: the models per role, and switching to another (desktop.preferences)."""
        from desktop.preferences import PreferencesDialog

        if not self.w.bridge.is_open:
            return
        dialog = getattr(self, "preferences_dialog", None)
        if dialog is None:
            dialog = self.preferences_dialog = PreferencesDialog(self.w.bridge, self.w)
        dialog.show()
        dialog.raise_()

    def show_models(self) -> None:
        """The first-run dialog: what is missing, Download or Install from folder (non-modal)."""
        from desktop.first_run import ModelsDialog

        session = self.w.session
        if session is None:
            return
        missing = session.missing_models
        if self.models_dialog is None or (
            self.models_dialog.task is None and self.models_dialog.missing != missing
        ):
            if self.models_dialog is not None:
                self.models_dialog.deleteLater()
            self.models_dialog = ModelsDialog(session.models_dir, missing, self.w)
            self.models_dialog.modelsInstalled.connect(self._on_models_installed)
        self.models_dialog.show()
        self.models_dialog.raise_()

    def _on_models_installed(self, ids: list[str]) -> None:
        session = self.w.session
        session.missing_models = [m for m in session.missing_models if m not in ids]
        # Files that waited for these models are still pending: a rescan queues them for indexing.
        self.w.bridge.require().rescan()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.w, "Add a folder to the library", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        task = self.w.bridge.submit(self.w.bridge.require().add_folder(folder))
        task.finished.connect(lambda path: self.w.folder_added(str(path)))
        task.errored.connect(lambda exc: self.w.status.set_message(str(exc)))

    # -- indexing --------------------------------------------------------------------------------------

    def _rescan(self) -> None:
        self.w.bridge.require().rescan()

    def _toggle_pause(self) -> None:
        if self.w.status.paused:
            self.w.bridge.require().resume()
        else:
            self.w.bridge.require().pause()

    def _set_tray(self) -> None:
        value = self.tray_action.isChecked()
        self.w.tray.enabled = value
        self.w.bridge.call(q.set_keep_running_in_tray, value)


class TrayKeeper(QObject):
    """Keeps indexing in a tray icon when the window closes, if the setting asks for it and the desktop
    has a tray. The icon's menu shows the window again, pauses, or quits."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.enabled = False
        self.icon: QSystemTrayIcon | None = None

    def keep_running(self) -> bool:
        """Called when the window closes: True (and the icon shows) when the app should stay in the tray."""
        if not self.enabled or not QSystemTrayIcon.isSystemTrayAvailable():
            return False
        if self.icon is None:
            self.icon = QSystemTrayIcon(app_icon(), self)
            menu = QMenu()
            menu.addAction("Show Lookalike", self.w.bring_to_front)
            menu.addAction("Pause or resume indexing", self.w.menus._toggle_pause)
            menu.addSeparator()
            menu.addAction("Quit", self.w.quit_app)
            self._menu = menu
            self.icon.setContextMenu(menu)
            self.icon.activated.connect(lambda _reason: self.w.bring_to_front())
            self.w.bridge.progressed.connect(self._on_progress)
        self.icon.show()
        self.icon.showMessage(
            "Lookalike", "Still indexing in the background. Quit from this icon's menu.", app_icon(), 4000
        )
        return True

    def _on_progress(self, p: Any) -> None:
        if self.icon is not None:
            self.icon.setToolTip(f"Lookalike — {describe(p)}")

    def hide(self) -> None:
        if self.icon is not None:
            self.icon.hide()
