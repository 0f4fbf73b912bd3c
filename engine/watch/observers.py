"""Watching the library folders: native observers (inotify's limits and lost events reported), a polling
fallback, and the event handler that filters what they see into the :class:`~engine.watch.queue.ChangeQueue`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import re
import stat
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from engine.media.kinds import is_excluded, kind_of
from engine.watch.paths import is_excluded_path, root_of
from engine.watch.queue import CREATED, DELETED, MODIFIED, ChangeQueue

log = logging.getLogger(__name__)

NATIVE, POLLING = "native", "polling"

#: File systems whose changes made elsewhere (another machine, the VM host) never reach inotify: these
#: folders are polled. Removable drives (vfat, exfat, ntfs) are local and are watched natively; their
#: unplugging and return are handled as offline folders.
NETWORK_FS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "afpfs", "9p", "virtiofs", "vboxsf",
        "vmhgfs", "drvfs", "prl_fs", "ceph", "glusterfs", "lustre", "gpfs", "davfs", "coda",
        "fuse.sshfs", "fuse.rclone", "fuse.davfs2", "fuse.glusterfs", "fuse.s3fs", "fuse.gcsfuse",
        "fuse.vmhgfs-fuse", "fuse.afpfs", "fuse.smbnetfs", "fuse.gvfsd-fuse",
    }
)  # fmt: skip

WATCH_LIMIT_HELP = (
    "The system limit on watched folders is reached (inotify: fs.inotify.max_user_watches = {limit}); "
    "{folder} is now checked by polling every {interval:g} s, which is slower and costs more. "
    "To watch it natively again, raise the limit (e.g. `sudo sysctl fs.inotify.max_user_watches=524288`) "
    "and restart Lookalike."
)


def fs_type(path: str) -> str | None:
    """The file system type of the mount holding ``path`` (Linux, from /proc/self/mountinfo), else None."""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best, best_type = "", None
    for line in lines:
        left, _, right = line.partition(" - ")
        parts = left.split()
        if len(parts) < 5 or not right:
            continue
        # Mount points escape blanks and the like as octal (\040); undo that before comparing.
        mount = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4])
        if (real == mount or real.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best):
            best, best_type = mount, right.split()[0]
    return best_type


def _watch_limit() -> str:
    try:
        with open("/proc/sys/fs/inotify/max_user_watches") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


# -- event handler ------------------------------------------------------------------------------------


def _is_folder_link(path: str) -> bool:
    """A symbolic link to a folder: observers report it as a file (no IN_ISDIR), yet the scan may follow
    it (:class:`engine.indexing.scan.LinkPolicy`), so the applier must look at it like a new folder."""
    return os.path.islink(path) and os.path.isdir(path)


class EventHandler:
    """watchdog handler for one library folder: filters and enqueues, nothing else (it runs on the
    observer's thread, which must never wait on the catalog or the models)."""

    def __init__(self, root: str, excludes: list[str], queue: ChangeQueue) -> None:
        self.root = root
        self.excludes = excludes
        self.queue = queue

    def _wanted(self, path: str, is_dir: bool) -> bool:
        if not path or not (path == self.root or path.startswith(self.root.rstrip(os.sep) + os.sep)):
            return False
        if is_excluded_path(path, self.root, self.excludes):
            return False
        return is_dir or kind_of(path) is not None or _is_folder_link(path)

    def dispatch(self, event: Any) -> None:
        try:
            self._dispatch(event)
        except Exception:  # a handler exception would kill the observer thread: never let it out
            log.exception("watch event %r could not be queued", event)

    def _dispatch(self, event: Any) -> None:
        kind = event.event_type
        src = os.fsdecode(event.src_path)
        is_dir = bool(event.is_directory)
        if kind == "moved":
            dest = os.fsdecode(event.dest_path)
            src_ok, dest_ok = self._wanted(src, is_dir), self._wanted(dest, is_dir)
            if src_ok and dest_ok:
                self.queue.put_move(src, dest)
            elif src_ok:  # moved out of the library, into the trash, or renamed to a non-media name
                self.queue.put(src, DELETED)
            elif dest_ok:  # moved in from outside, or a download renamed from .part to .jpg
                self.queue.put(dest, CREATED)
            return
        if kind in ("opened", "closed_no_write") or (is_dir and kind in ("modified", "attrib", "closed")):
            return  # reading a file or listing a folder changes nothing we index
        if not self._wanted(src, is_dir):
            return
        if kind == "created":
            self.queue.put(src, CREATED)
        elif kind == "deleted":
            self.queue.put(src, DELETED)
        else:  # modified, closed (after writing), attrib (touch changes the mtime the catalog compares)
            self.queue.put(src, MODIFIED)


# -- observers ----------------------------------------------------------------------------------------


def _linux_native_observer(
    on_limit: Callable[[bytes, OSError], None], on_overflow: Callable[[], None] | None = None
) -> Any:
    """An inotify observer whose watch failures and lost events are reported.

    watchdog swallows failures to watch a subfolder (only the root's failure reaches the caller), so a
    watch limit hit halfway through a tree, or by a folder created later, would leave part of the
    library silently unwatched. This observer's inotify instance reports every ENOSPC/EMFILE. It also
    calls ``on_overflow`` when the kernel's event queue overflowed (a storm of changes faster than they
    are read): watchdog then only logs and re-adds its watches, and the dropped events are gone.
    Raises OSError (EMFILE) when no inotify instance can be created at all.
    """
    from watchdog.observers.api import BaseObserver
    from watchdog.observers.inotify import InotifyEmitter
    from watchdog.observers.inotify_c import InotifyFD

    class ReportingInotifyFD(InotifyFD):
        def add_callback(self, path: bytes, mask: Any, callback: Any, id_: Any) -> Any:
            try:
                return super().add_callback(path, mask, callback, id_)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EMFILE):
                    on_limit(path, exc)
                raise

        def handle_event(self, event: Any) -> None:
            try:
                super().handle_event(event)  # on overflow, watchdog re-adds the watches first
            finally:
                if event.is_queue_overflow and on_overflow is not None:
                    on_overflow()

    class ReportingInotifyObserver(BaseObserver):
        def __init__(self) -> None:
            self._inotify_fd = ReportingInotifyFD()
            self._inotify_fd.start()
            super().__init__(InotifyEmitter, inotify_fd=self._inotify_fd)

        def on_thread_stop(self) -> None:
            super().on_thread_stop()
            self._inotify_fd.stop()
            self._inotify_fd.join()

    return ReportingInotifyObserver()


def native_observer(
    on_limit: Callable[[bytes, OSError], None], on_overflow: Callable[[], None] | None = None
) -> Any:
    """The platform's native observer. Raises OSError when the OS refuses one (inotify instance limit)."""
    if sys.platform.startswith("linux"):
        return _linux_native_observer(on_limit, on_overflow)
    from watchdog.observers import Observer

    return Observer()


def _polling_stat(path: str) -> os.stat_result:
    """lstat, except that a link to a file reports the file: links to folders are not followed, so a
    symlink loop cannot make the poller walk the same tree again and again."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.stat(path)
        except OSError:
            return st
        if stat.S_ISREG(target.st_mode):
            return target
    return st


def polling_observer(excludes: list[str], interval: float) -> Any:
    from watchdog.observers.polling import PollingObserverVFS

    def listdir(path: str | None) -> Iterator[os.DirEntry[str]]:
        # Excluded folders (.git, node_modules, caches) are not even listed: polling cost is the walk.
        with os.scandir(path) as it:
            return iter([e for e in it if not is_excluded(e.name, excludes)])

    return PollingObserverVFS(stat=_polling_stat, listdir=listdir, polling_interval=interval)


@dataclass
class _Watch:
    mode: str
    handle: Any
    observer: Any


class Watcher:
    """Recursive watches on the library folders, feeding a :class:`ChangeQueue`.

    ``watch`` picks native or polling per folder; when the OS watch limit is reached (on scheduling or
    later, for a new subfolder) the folder moves to polling and a warning says so and how to fix it.
    Call :meth:`check` regularly (the service does): it performs those switches and reports watches
    that died. Thread-safe.
    """

    def __init__(
        self,
        queue: ChangeQueue,
        excludes: list[str],
        *,
        force_polling: bool = False,
        poll_interval: float = 5.0,
        polling_folders: Iterable[str] = (),
        native_factory: Callable[[Callable[[bytes, OSError], None]], Any] | None = None,
    ) -> None:
        self.queue = queue
        self.excludes = list(excludes)
        self.force_polling = force_polling
        self.poll_interval = poll_interval
        self.polling_folders = {str(p) for p in polling_folders}
        self._native_factory = native_factory or functools.partial(
            native_observer, on_overflow=self._on_overflow
        )
        self._lock = threading.RLock()
        self._native: Any = None
        self._native_broken = False
        self._polling: Any = None
        self._watches: dict[str, _Watch] = {}
        # Written from watchdog's inotify thread, which may hold its own locks while our thread (holding
        # self._lock) waits on them in unschedule(): so it gets a lock of its own and a plain tuple.
        self._hit_lock = threading.Lock()
        self._limit_hit: set[str] = set()
        self._overflowed = False
        self._watched: tuple[str, ...] = ()
        self._warnings: list[str] = []

    # -- state ----------------------------------------------------------------------------------------

    def modes(self) -> dict[str, str]:
        with self._lock:
            return {f: w.mode for f, w in self._watches.items()}

    def warnings(self) -> list[str]:
        with self._lock:
            return list(self._warnings)

    def _warn(self, text: str) -> None:
        log.warning("%s", text)
        with self._lock:
            if text not in self._warnings:
                self._warnings.append(text)

    def _warn_limit(self, folder: str) -> None:
        self._warn(WATCH_LIMIT_HELP.format(limit=_watch_limit(), folder=folder, interval=self.poll_interval))

    # -- scheduling -----------------------------------------------------------------------------------

    def _wants_polling(self, folder: str) -> bool:
        if self.force_polling or folder in self.polling_folders or self._native_broken:
            return True
        t = fs_type(folder)
        return t is not None and (t in NETWORK_FS or t.startswith("fuse.sshfs"))

    def _on_limit(self, path: bytes, exc: OSError) -> None:
        # Runs on watchdog's threads: only record; check() does the switch on the caller's thread.
        folder = root_of(os.fsdecode(path), self._watched)
        if folder is not None:
            with self._hit_lock:
                self._limit_hit.add(folder)

    def _on_overflow(self) -> None:
        # Runs on watchdog's thread: only record; check() reports it on the caller's thread.
        with self._hit_lock:
            self._overflowed = True

    def _native_observer(self) -> Any:
        if self._native is None:
            self._native = self._native_factory(self._on_limit)
            self._native.start()
        return self._native

    def _polling_observer(self) -> Any:
        if self._polling is None:
            self._polling = polling_observer(self.excludes, self.poll_interval)
            self._polling.start()
        return self._polling

    def watch(self, folder: str) -> str:
        """Start watching ``folder`` recursively; returns the mode used ("native" or "polling").

        Falls back to polling (with a warning) when a native watch cannot be had. Raises OSError when
        the folder cannot be watched at all (it does not exist or cannot be read).
        """
        with self._lock:
            if folder in self._watches:
                return self._watches[folder].mode
            handler = EventHandler(folder, self.excludes, self.queue)
            if not self._wants_polling(folder):
                try:
                    obs = self._native_observer()
                    self._watched = (*self._watched, folder)
                    try:
                        handle = obs.schedule(handler, folder, recursive=True)
                    except BaseException:
                        self._watched = tuple(f for f in self._watched if f != folder)
                        raise
                    self._watches[folder] = _Watch(NATIVE, handle, obs)
                    return NATIVE
                except OSError as exc:
                    if exc.errno not in (errno.ENOSPC, errno.EMFILE):
                        raise
                    if self._native is None:
                        self._native_broken = True  # no inotify instance at all: every folder polls
                    self._warn_limit(folder)
                    with self._hit_lock:
                        self._limit_hit.discard(folder)
            obs = self._polling_observer()
            self._watches[folder] = _Watch(POLLING, obs.schedule(handler, folder, recursive=True), obs)
            self._watched = (*self._watched, folder)
            return POLLING

    def unwatch(self, folder: str) -> None:
        with self._lock:
            w = self._watches.pop(folder, None)
            self._watched = tuple(f for f in self._watched if f != folder)
            with self._hit_lock:
                self._limit_hit.discard(folder)
        if w is not None:
            # KeyError/OSError: its emitter already stopped (the folder vanished).
            with contextlib.suppress(KeyError, OSError):
                w.observer.unschedule(w.handle)

    def check(self) -> list[str]:
        """Fix what went wrong since the last call; returns the folders whose watch was replaced or whose
        events the OS dropped (their changes in between may have been missed: the caller rescans them).

        A native watch that hit the OS limit moves to polling, with a warning. A watch whose emitter
        died (the folder was deleted, or unmounted) is dropped: the caller's offline handling watches the
        folder again when it comes back.
        """
        replaced: list[str] = []
        with self._lock:
            with self._hit_lock:
                hit, self._limit_hit = self._limit_hit, set()
                overflowed, self._overflowed = self._overflowed, False
            for folder in hit:
                w = self._watches.get(folder)
                if w is None or w.mode != NATIVE:
                    continue
                self._warn_limit(folder)
                self.unwatch(folder)
                self.polling_folders.add(folder)
                if os.path.isdir(folder):
                    self.watch(folder)
                replaced.append(folder)
            for folder, w in list(self._watches.items()):
                alive = any(e.watch == w.handle and e.is_alive() for e in list(w.observer.emitters))
                if not alive:
                    self.unwatch(folder)
                    replaced.append(folder)
            if overflowed:
                # Every native watch shares the one inotify queue that overflowed.
                replaced += [f for f, w in self._watches.items() if w.mode == NATIVE and f not in replaced]
        return replaced

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            observers = [o for o in (self._native, self._polling) if o is not None]
            self._native = self._polling = None
            self._watches.clear()
            self._watched = ()
        for o in observers:
            o.stop()
        for o in observers:
            o.join(timeout)
