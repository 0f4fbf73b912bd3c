"""Folder watching: watchdog observers on the library folders, a coalescing change queue, and what a
change means for the catalog.

The pieces, in the order a change travels:

- :class:`Watcher` schedules one recursive watch per library folder, natively (inotify, FSEvents,
  ReadDirectoryChangesW) or by polling (network file systems, forced by setting, or when the OS watch
  limit is reached). Its handlers only enqueue; they never touch the catalog.
- :class:`ChangeQueue` coalesces: many events on one path are one entry, taken once the path has been
  quiet for ``quiet_period`` seconds, so half-copied files are not embedded. A create followed by a
  delete is dropped. Moves are kept as ordered operations, so a rename never costs a re-embedding.
- :class:`ChangeApplier` (on the service's core thread) looks at the disk for each entry and updates the
  catalog: new and changed files become pending, renamed and moved ones are re-pointed, vanished ones
  wait a short grace period in a limbo (their content may reappear elsewhere: a move between two
  watched folders arrives as a delete and a create) and are then removed with their vectors.

The disk, not the event, is the truth: an entry only says "look at this path again", which makes the
queue safe against lost, duplicated or reordered events.
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
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.media.images import quick_hash
from engine.media.kinds import is_excluded, kind_of
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library

log = logging.getLogger(__name__)

CREATED, MODIFIED, DELETED, MOVED_IN = "created", "modified", "deleted", "moved_in"

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


# -- paths --------------------------------------------------------------------------------------------


def root_of(path: str, folders: Iterable[str]) -> str | None:
    """The library folder that contains ``path`` (the innermost one when folders nest), or None."""
    best: str | None = None
    for f in folders:
        if (path == f or path.startswith(f.rstrip(os.sep) + os.sep)) and (best is None or len(f) > len(best)):
            best = f
    return best


def is_excluded_path(path: str, root: str, excludes: list[str]) -> bool:
    """True if any part of ``path`` below ``root`` matches an exclusion pattern (``.git``, ``*.part`` …)."""
    rel = path[len(root) :].lstrip(os.sep)
    return any(is_excluded(part, excludes) for part in rel.split(os.sep) if part)


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


# -- the change queue ---------------------------------------------------------------------------------


@dataclass
class Change:
    """One coalesced path: look at it again once it has been quiet."""

    path: str
    first: str
    first_at: float
    last_at: float


@dataclass(frozen=True)
class Move:
    """A rename or move seen by the watcher (file or directory): re-point rows, keep vectors."""

    src: str
    dest: str


class ChangeQueue:
    """Thread-safe coalescing queue of paths to look at, plus the ordered moves seen.

    ``put`` is what watcher threads call; ``take`` is for the one consumer. ``on_put`` is called
    (outside the lock) after every put, to wake the consumer.
    """

    def __init__(
        self,
        quiet_period: float,
        *,
        on_put: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet_period = quiet_period
        self._on_put = on_put
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, Change] = {}
        self._moves: list[Move] = []

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries) + len(self._moves)

    def put(self, path: str, event: str) -> None:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                self._entries[path] = Change(path, event, now, now)
            elif event == DELETED and entry.first == CREATED:
                # Born and gone within one quiet period (a temp file, a cancelled copy): nothing to do.
                del self._entries[path]
            else:
                entry.last_at = now
        if self._on_put:
            self._on_put()

    def put_move(self, src: str, dest: str) -> None:
        """A rename or move of a file or folder. Queued entries under ``src`` follow it to ``dest``."""
        now = self._clock()
        with self._lock:
            self._moves.append(Move(src, dest))
            prefix = src.rstrip(os.sep) + os.sep
            for path in [p for p in self._entries if p == src or p.startswith(prefix)]:
                old = self._entries.pop(path)
                new = dest + path[len(src) :]
                mine = self._entries.get(new)
                if mine is None:
                    self._entries[new] = Change(new, old.first, old.first_at, old.last_at)
                else:
                    mine.last_at = max(mine.last_at, old.last_at)
            # The destination is looked at too, once quiet: anything changed inside it gets noticed.
            # MOVED_IN (not CREATED) so a later delete is never dropped as "born and gone".
            entry = self._entries.get(dest)
            if entry is None:
                self._entries[dest] = Change(dest, MOVED_IN, now, now)
            else:
                entry.last_at = now
        if self._on_put:
            self._on_put()

    def take(self, *, force: bool = False) -> tuple[list[Move], list[Change]]:
        """All moves so far, and the entries quiet for ``quiet_period`` (every entry when ``force``)."""
        now = self._clock()
        with self._lock:
            moves, self._moves = self._moves, []
            due = [e for e in self._entries.values() if force or now - e.last_at >= self.quiet_period]
            for e in due:
                del self._entries[e.path]
        return moves, due

    def again_later(self, paths: Iterable[str]) -> None:
        """Put back paths whose files are still being written; they are looked at after another quiet
        period (a new event on them would have done the same)."""
        now = self._clock()
        with self._lock:
            for p in paths:
                entry = self._entries.get(p)
                if entry is None:
                    self._entries[p] = Change(p, MODIFIED, now, now)
                else:
                    entry.last_at = max(entry.last_at, now)

    def next_due_in(self) -> float | None:
        """Seconds until the next entry becomes due (0 if one is due or a move waits), None if empty."""
        with self._lock:
            if self._moves:
                return 0.0
            if not self._entries:
                return None
            oldest = min(e.last_at for e in self._entries.values())
        return max(0.0, oldest + self.quiet_period - self._clock())

    def drop_under(self, folder: str) -> int:
        """Forget queued changes inside ``folder`` (removed from the library, or gone offline)."""
        prefix = folder.rstrip(os.sep) + os.sep
        with self._lock:
            gone = [p for p in self._entries if p == folder or p.startswith(prefix)]
            for p in gone:
                del self._entries[p]
            before = len(self._moves)
            self._moves = [m for m in self._moves if not (m.src.startswith(prefix) or m.src == folder)]
            return len(gone) + before - len(self._moves)


# -- event handler ------------------------------------------------------------------------------------


class _Handler:
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
        return is_dir or kind_of(path) is not None

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
            handler = _Handler(folder, self.excludes, self.queue)
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


# -- applying changes to the catalog ------------------------------------------------------------------


@dataclass
class Applied:
    """What one round of changes did."""

    #: Row ids of new or changed files, to index before the backlog.
    fresh: list[int] = field(default_factory=list)
    moved: int = 0
    #: Rows whose files vanished (held in limbo, removed after the grace period unless they reappear).
    vanished: int = 0
    #: Paths still being written: look again later.
    growing: list[str] = field(default_factory=list)


class ChangeApplier:
    """Turns queued changes into catalog updates; runs on the thread that owns the catalog and store.

    Vanished rows wait ``grace`` seconds in a limbo before their rows and vectors are removed: if the
    same content appears under another path meanwhile (a move the watcher saw as delete + create), the
    row is re-pointed and keeps its vectors. Nothing here decodes or embeds.
    """

    def __init__(self, lib: Library, *, quiet_period: float, grace: float) -> None:
        self.lib = lib
        self.quiet_period = quiet_period
        self.grace = grace
        self._limbo: dict[int, tuple[cat.FileRow, float]] = {}
        # (size, hash) -> ids in limbo: a folder of 10k files moved between two watches is 10k lookups,
        # not 10k scans of the limbo.
        self._limbo_keys: dict[tuple[int, str], list[int]] = {}
        # New files found during one apply(), inserted together (one transaction, not one per file).
        self._adds: list[tuple[str, int, float, str]] = []

    @property
    def limbo_size(self) -> int:
        return len(self._limbo)

    def _folders(self) -> list[str]:
        return list(self.lib.settings.folders)

    def _online(self, root: str) -> bool:
        return os.path.isdir(root)

    # -- moves ------------------------------------------------------------------------------------------

    def _apply_move(self, mv: Move, out: Applied) -> None:
        catalog = self.lib.catalog
        folders = self._folders()
        rows = catalog.under(mv.src)
        one = catalog.by_path(mv.src)
        if one is not None:
            rows.append(one)
        if not rows:
            return
        dest_root = root_of(mv.dest, folders)
        if dest_root is None or is_excluded_path(mv.dest, dest_root, self.lib.settings.excludes):
            # Moved out of the library or into an excluded place (the trash): its files are gone.
            self._vanish(rows, out)
            return
        moves = []
        for row in rows:
            # The old size and mtime are kept on purpose: the destination is looked at next, and a file
            # changed since the move then differs and is re-indexed; an unchanged one keeps its vectors.
            moves.append((row.id, mv.dest + row.path[len(mv.src) :], row.size, row.mtime))
            self._unlimbo(row.id)
        # One transaction for the whole folder; rows replaced at the destination lose their vectors.
        dropped = catalog.move_many(moves)
        self.lib.delete_vectors(dropped)
        for fid in dropped:
            self._unlimbo(fid)
        # A failed row may have failed because this very move took its file from under the running batch
        # ("file not found"): try it again at its new path. A really broken file just fails again.
        retry = [row.id for row in rows if row.state == cat.FAILED]
        if retry:
            catalog.set_state(retry, cat.PENDING)
            out.fresh += retry
        out.moved += len(moves)

    # -- vanished ---------------------------------------------------------------------------------------

    def _vanish(self, rows: Iterable[cat.FileRow], out: Applied) -> None:
        now = time.monotonic()
        for row in rows:
            if row.state == cat.OFFLINE or row.id in self._limbo:
                continue
            self._limbo[row.id] = (row, now)
            if row.hash and row.state == cat.INDEXED:
                self._limbo_keys.setdefault((row.size, row.hash), []).append(row.id)
            out.vanished += 1

    def _unlimbo(self, fid: int) -> cat.FileRow | None:
        entry = self._limbo.pop(fid, None)
        if entry is None:
            return None
        row = entry[0]
        if row.hash:
            ids = self._limbo_keys.get((row.size, row.hash), [])
            if fid in ids:
                ids.remove(fid)
                if not ids:
                    del self._limbo_keys[(row.size, row.hash)]
        return row

    def _gone_path(self, path: str, out: Applied) -> None:
        root = root_of(path, self._folders())
        if root is None or not self._online(root):
            # Outside the library now, or its whole folder vanished: that is the offline case, where
            # entries are kept, never a deletion.
            return
        catalog = self.lib.catalog
        rows = catalog.under(path)
        one = catalog.by_path(path)
        if one is not None:
            rows.append(one)
        self._vanish([r for r in rows if not os.path.lexists(r.path)], out)

    def expire(self, *, force: bool = False) -> int:
        """Remove rows (vectors first, then the row) that have been gone for the grace period; returns
        how many. ``force`` removes every row in limbo whose file is still missing."""
        now = time.monotonic()
        folders = self._folders()
        doomed: list[int] = []
        for fid, (row, since) in list(self._limbo.items()):
            if not force and now - since < self.grace:
                continue
            self._unlimbo(fid)
            root = root_of(row.path, folders)
            if root is None or not self._online(root) or os.path.lexists(row.path):
                continue  # folder removed or offline (handled elsewhere), or the file is back
            doomed.append(fid)
        if doomed:
            self.lib.delete_vectors(doomed)  # vectors first: a crash here leaves rows the next scan removes
            self.lib.catalog.remove(doomed)
        return len(doomed)

    def forget_under(self, folder: str) -> None:
        prefix = folder.rstrip(os.sep) + os.sep
        for fid, (row, _) in list(self._limbo.items()):
            if row.path.startswith(prefix):
                self._unlimbo(fid)

    def _take_from_limbo(self, size: int, digest: str) -> cat.FileRow | None:
        ids = self._limbo_keys.get((size, digest))
        return self._unlimbo(ids[0]) if ids else None

    def _orphan_with(self, size: int, digest: str) -> cat.FileRow | None:
        """An indexed row with this content whose file is gone but whose deletion has not been seen yet
        (events from two watches can arrive in either order)."""
        folders = self._folders()
        for row in self.lib.catalog.by_hash(digest):
            root = root_of(row.path, folders)
            if (
                row.state == cat.INDEXED
                and row.size == size
                and root is not None
                and self._online(root)
                and not os.path.lexists(row.path)
            ):
                self._unlimbo(row.id)
                return row
        return None

    # -- present ----------------------------------------------------------------------------------------

    def _present_file(self, path: str, st: os.stat_result, kind: str, out: Applied, final: bool) -> None:
        age = time.time() - st.st_mtime
        if not final and 0 <= age < self.quiet_period:
            # Written less than a quiet period ago, yet no event since: still being copied by something
            # that writes in bursts. Look again later rather than embed half a file.
            out.growing.append(path)
            return
        catalog = self.lib.catalog
        row = catalog.by_path(path)
        if row is not None:
            self._unlimbo(row.id)
            if row.state == cat.OFFLINE:
                return  # its folder's return is handled by a rescan that restores the rows
            if (row.size, row.mtime) != (st.st_size, st.st_mtime):
                self._adds.append((path, st.st_size, st.st_mtime, kind))
            elif row.state == cat.PENDING:
                out.fresh.append(row.id)
            return
        try:
            digest: str | None = quick_hash(path)
        except OSError:
            digest = None
        match = None
        if digest is not None:
            match = self._take_from_limbo(st.st_size, digest) or self._orphan_with(st.st_size, digest)
        if match is not None:
            self.lib.delete_vectors(catalog.move(match.id, path, st.st_size, st.st_mtime))
            out.moved += 1
        else:
            self._adds.append((path, st.st_size, st.st_mtime, kind))

    def _present_dir(self, path: str, out: Applied, final: bool) -> None:
        from engine.indexing.scan import walk_media

        excludes = self.lib.settings.excludes
        seen: set[str] = set()
        for fpath, st, kind in walk_media(Path(path), excludes):
            seen.add(fpath)
            self._present_file(fpath, st, kind.value, out, final)
        # Files that were in this folder's rows but are not on disk any more (a folder replaced by
        # another of the same name, or deletions that raced the move).
        rows = self.lib.catalog.under(path)
        self._vanish([r for r in rows if r.path not in seen and not os.path.lexists(r.path)], out)

    # -- entry point ------------------------------------------------------------------------------------

    def apply(self, moves: list[Move], changes: list[Change], *, final: bool = False) -> Applied:
        """Apply the moves in order, then look at each changed path on disk.

        ``final`` (when stopping): record files as they are even if written moments ago; a file still
        being written then has a pending row whose size the next start sees change.

        Never raises for one bad path: an unreadable file or folder is skipped (the next scan reports it).
        Catalog and store errors (LookalikeError, sqlite3.Error) do reach the caller.
        """
        out = Applied()
        self._adds = []
        for mv in moves:
            self._apply_move(mv, out)
        folders = self._folders()
        excludes = self.lib.settings.excludes
        present: list[str] = []
        for ch in changes:
            root = root_of(ch.path, folders)
            if root is None or is_excluded_path(ch.path, root, excludes):
                continue
            if os.path.lexists(ch.path):
                present.append(ch.path)
            else:
                self._gone_path(ch.path, out)
        # Vanished rows first, then present files: a file moved between two watched folders then finds
        # its old row in limbo and keeps its vectors.
        for path in present:
            try:
                st = os.stat(path)
            except OSError:
                self._gone_path(path, out)
                continue
            if stat.S_ISDIR(st.st_mode):
                self._present_dir(path, out, final)
            elif stat.S_ISREG(st.st_mode):
                kind = kind_of(path)
                if kind is not None:
                    self._present_file(path, st, kind.value, out, final)
        if self._adds:
            # New rows, and changed rows reset to pending (the same id, so the vectors are replaced).
            out.fresh += self.lib.catalog.add_many(self._adds)
            self._adds = []
        out.fresh = list(dict.fromkeys(out.fresh))
        return out
