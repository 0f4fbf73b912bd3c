"""The library folders' health: watched or not, online or offline, still the same file system.

A folder that vanishes (an unplugged drive, a deleted folder) or looks unmounted (empty, but the
catalog has rows in it) goes offline: it is no longer watched, its queued changes are dropped and its
rows are kept, marked offline, so searches skip them and nothing is re-embedded when it returns. When
it is back, or when another file system now sits at its path, it is scanned again. A watch that died
or dropped events is replaced and its folder rescanned.

:class:`FolderHealth` decides and keeps the books; the scans themselves are the service's (they report
progress and may be cancelled), so :meth:`FolderHealth.check` returns what to scan instead of scanning.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.indexing.scan import scan

if TYPE_CHECKING:
    from engine.indexing.scan import ScanReport
    from engine.library import Library
    from engine.watch.applier import ChangeApplier
    from engine.watch.observers import Watcher
    from engine.watch.queue import ChangeQueue


@dataclass(frozen=True)
class Rescan:
    """A folder to scan now, and whether to watch it again once scanned (its file system changed)."""

    folder: str
    watch_after: bool = False


class FolderHealth:
    """Watching and offline bookkeeping for the library folders. Core thread only."""

    def __init__(
        self,
        lib: Library,
        watcher: Watcher | None,
        queue: ChangeQueue,
        applier: ChangeApplier,
        warn: Callable[[str], None],
    ) -> None:
        self.lib = lib
        self.watcher = watcher
        self.queue = queue
        self.applier = applier
        self._warn = warn
        self.offline: set[str] = set()
        self._devices: dict[str, int] = {}

    # -- watching -----------------------------------------------------------------------------------------

    def watch(self, folder: str) -> None:
        """Watch ``folder`` (natively or by polling); a folder that cannot be watched gets a warning."""
        if self.watcher is None:
            return
        try:
            self.watcher.watch(folder)
            self._devices[folder] = os.stat(folder).st_dev
        except OSError as exc:
            self._warn(f"Cannot watch {folder} for changes ({exc.strerror or exc}); rescan to pick them up.")

    def unwatch(self, folder: str) -> None:
        if self.watcher is not None:
            self.watcher.unwatch(folder)
        self._devices.pop(folder, None)

    def watch_modes(self) -> dict[str, str]:
        return self.watcher.modes() if self.watcher is not None else {}

    # -- offline and back ---------------------------------------------------------------------------------

    def go_offline(self, folder: str, *, scanned: bool = False) -> None:
        """``folder`` is missing or looks unmounted: stop watching it and keep its rows, offline."""
        self.offline.add(folder)
        self.unwatch(folder)
        self.queue.drop_under(folder)
        self.applier.forget_under(folder)
        if not scanned:
            scan(self.lib, [folder])  # marks its rows offline (the folder is missing or looks unmounted)

    def scanned(self, folder: str, report: ScanReport) -> None:
        """Take note of a finished scan of ``folder``."""
        if report.offline:
            self.go_offline(folder, scanned=True)
        elif folder in self.offline and not report.cancelled:
            self.offline.discard(folder)
        if not report.cancelled and not report.offline:
            # The scan settled every row whose file had vanished (re-pointed to where its content is now,
            # or removed): limbo's copies are stale, and expiring one would remove a re-pointed row.
            self.applier.forget_under(folder)
        for path, why in report.unreadable[:3]:
            if path != folder:
                self._warn(f"Skipped {path}: {why}")

    def added(self, folder: str) -> None:
        """A folder was added to the library: watch it (the caller scans it)."""
        self.offline.discard(folder)
        self.watch(folder)

    def removed(self, folder: str) -> None:
        """A folder left the library: forget everything about it."""
        self.unwatch(folder)
        self.queue.drop_under(folder)
        self.applier.forget_under(folder)
        self.offline.discard(folder)

    def check(self) -> list[Rescan]:
        """Look at every library folder: one that vanished goes offline now; the ones to scan now (back
        online, or another file system at their path) are returned, in the settings' order."""
        out: list[Rescan] = []
        for folder in list(self.lib.settings.folders):
            dev = _directory_device(folder)
            if folder in self.offline:
                if dev is not None and _has_entries(folder):
                    self.offline.discard(folder)
                    self.watch(folder)
                    out.append(Rescan(folder))  # restores its rows and picks up what changed meanwhile
            elif dev is None:
                self.go_offline(folder)
            elif self.watcher is not None and folder in self._devices and self._devices[folder] != dev:
                # Another file system now sits at this path (a drive unmounted, or another mounted).
                self.unwatch(folder)
                out.append(Rescan(folder, watch_after=True))
        return out

    def check_watches(self) -> list[str]:
        """Replace watches that died or dropped events (and pass on the watcher's warnings); returns
        their folders, whose changes in between may have been missed: the caller rescans them."""
        if self.watcher is None:
            return []
        again = []
        for folder in self.watcher.check():
            if folder not in self.offline and os.path.isdir(folder):
                self.watch(folder)
                again.append(folder)
        for w in self.watcher.warnings():
            self._warn(w)
        return again


def _directory_device(folder: str) -> int | None:
    """The device of ``folder`` if it is a readable directory, else None."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return st.st_dev if os.path.isdir(folder) else None


def _has_entries(folder: str) -> bool:
    try:
        with os.scandir(folder) as it:
            return next(it, None) is not None
    except OSError:
        return False
