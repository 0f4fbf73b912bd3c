"""The indexing service: keeps a library current by itself, in the background.

One core thread owns the encoders and the vector store: the GUI, the CLI and the watcher's threads only
hand it requests (:mod:`.executor`: the Future API) and changes (the watcher's coalescing queue). It
takes work in the order :mod:`.scheduler` describes: requests, bookkeeping (:mod:`.health`: folders
online and watched; applying changes), indexing batches, then the slower analyzers (:mod:`.batches`).
:mod:`.progress` keeps the books and publishes snapshots; :mod:`.model_use` unloads idle models and
notices newly installed ones.

Startup reconciliation scans the folders (size and mtime; content hashed only to confirm a move) and
queues only the difference, so an unchanged library costs a directory walk, not a re-embedding.

Nothing is lost on a stop or a crash: the catalog says what is indexed (vectors are written before the
row is marked), pending rows stay pending, and the next start rescans the disk.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.indexing.scan import scan
from engine.service.batches import Batches, StoreFlush
from engine.service.executor import Executor, ServiceStoppedError
from engine.service.health import FolderHealth
from engine.service.model_use import ModelUse
from engine.service.progress import (
    IDLE,
    SCANNING,
    STARTING,
    STOPPED,
    ProgressBook,
    ServiceProgress,
    Surroundings,
)
from engine.service.scheduler import Scheduler
from engine.watch.applier import ChangeApplier
from engine.watch.observers import Watcher
from engine.watch.queue import ChangeQueue

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.results import Result

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Niceness of the core thread and of every thread it starts (decode pools, the in-process vector
#: store's server threads): indexing yields the CPU to the window and to the user's other programs.
BACKGROUND_NICE = 10


def lower_thread_priority(nice: int) -> bool:
    """Raise the calling thread's niceness to ``nice`` (never lowers it). Linux only, where niceness
    is per thread and inherited by the threads it starts; elsewhere, or when refused, does nothing.
    Returns whether the thread now runs at that niceness or lower priority."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
        return True
    except OSError:
        return False


class Service:
    """Watches a library's folders and indexes what changes, on one core thread.

    ``lib`` must be opened exclusively by the caller, who closes it after :meth:`stop`. Between
    ``start`` and ``stop``, only the core thread may use ``lib.store`` and the encoders: everything
    else goes through :meth:`call`. Reading ``lib.catalog`` from other threads is safe (it locks).

    ``watch=False`` only reconciles at start and on :meth:`rescan`. Folders are polled when
    ``force_polling``, when the setting ``watch_polling`` is true (or lists them), on network file
    systems, and when the OS refuses more watches; ``poll_interval`` is then the seconds between polls.
    A file is taken once unchanged for ``quiet_period`` seconds; a vanished file's row waits
    ``move_grace`` seconds (default: the quiet period) for its content to reappear elsewhere.
    ``health_interval``: seconds between checks of folder presence and watch health.
    ``max_interactive_wait``: how long a request may wait before the running batch stops early.
    ``batch_size``, ``batch_seconds``: an indexing batch takes at most this many files and starts no new
    file after this many seconds (0: no time bound); long batches keep the indexing pipeline's stages
    overlapped (see :class:`engine.service.batches.Batches`).

    Errors: a failing step (store or catalog error, unreadable folder) never ends the service; it is
    logged, shown in ``progress().warnings`` and retried. Request errors come back in their futures.
    """

    def __init__(
        self,
        lib: Library,
        *,
        watch: bool = True,
        force_polling: bool = False,
        quiet_period: float = 2.0,
        batch_size: int = 512,
        batch_seconds: float = 5.0,
        idle_unload_s: float = 300.0,
        poll_interval: float = 5.0,
        move_grace: float | None = None,
        health_interval: float = 2.0,
        max_interactive_wait: float = 0.5,
    ) -> None:
        self.lib = lib
        self.health_interval = health_interval
        self._executor = Executor()
        self._scheduler = Scheduler(self._executor, max_interactive_wait=max_interactive_wait)
        self._queue = ChangeQueue(quiet_period, on_put=self._executor.wake)
        self._book = ProgressBook(lib)
        self._models = ModelUse(lib, idle_unload_s)
        self._flush = StoreFlush(lib)
        extra = lib.settings.extra.get("watch_polling", False)
        watcher = None
        if watch:
            watcher = Watcher(
                self._queue,
                lib.settings.excludes,
                force_polling=force_polling or extra is True,
                poll_interval=poll_interval,
                polling_folders=[str(f) for f in extra] if isinstance(extra, list) else (),
            )
        self._applier = ChangeApplier(
            lib, quiet_period=quiet_period, grace=quiet_period if move_grace is None else move_grace
        )
        self._health = FolderHealth(lib, watcher, self._queue, self._applier, self._book.warn)
        self._batches = Batches(
            lib, self._scheduler, self._book, self._models, self._flush, self._publish,
            batch_size=batch_size, analysis_batch=8, batch_seconds=batch_seconds,
        )  # fmt: skip
        self._thread: threading.Thread | None = None
        self._last_health = 0.0

    # -- public API ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the core thread; it watches the folders, reconciles the catalog with the disk, then
        indexes. Returns at once. Raises RuntimeError if already started."""
        if self._thread is not None:
            raise RuntimeError("the service was already started")
        self._book.activity = STARTING
        self._publish()
        self._thread = threading.Thread(target=self._run, name="lookalike-core", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop cleanly: the current batch stops at the next file (finished files stay indexed, the rest
        stay pending), queued requests run, changes already seen are applied, the store is flushed and
        the watcher stops. Requests made after this fail with ServiceStoppedError.

        Returns after at most ``timeout`` seconds even if the core thread is still finishing a file
        (a long video); it then ends on its own, and nothing is lost either way.
        """
        self._scheduler.stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the indexing service is still finishing a file after %.0f s", timeout)
        else:
            self._executor.fail_pending()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(lib, *args, **kwargs)`` on the core thread ahead of indexing; its result or exception
        comes back in the future. Fails with ServiceStoppedError once the service is stopping."""
        return self._executor.submit(fn, args, kwargs)

    def search_text(self, text: str, **kw: Any) -> Future[list[Result]]:
        """engine.search.api.search_text on the core thread (ModelMissingError when the model is absent)."""
        from engine.search.api import search_text

        return self.call(search_text, text, **kw)

    def search_similar(self, paths: Sequence[str | Path] | str | Path, **kw: Any) -> Future[list[Result]]:
        """Find-similar for one example file or several together (LookalikeError for an unreadable one)."""
        from engine.search.api import search_similar, search_similar_many

        many = [paths] if isinstance(paths, (str, Path)) else list(paths)
        if len(many) == 1:
            return self.call(search_similar, many[0], **kw)
        return self.call(search_similar_many, many, **kw)

    def add_folder(self, path: str | Path) -> Future[Path]:
        """Add a library folder: saved in the settings, watched, then scanned and indexed in the
        background. The future fails with LookalikeError if it is not a folder."""
        return self.call(lambda lib: self._add_folder(path))

    def remove_folder(self, path: str | Path) -> Future[int]:
        """Forget a folder: no longer watched; its rows and vectors go. The future gives how many."""
        return self.call(lambda lib: self._remove_folder(path))

    def rescan(self) -> None:
        """Scan every folder again (size and mtime) and take up a cancelled backlog."""
        self._scheduler.take_up_backlog()
        self._scheduler.rescan(self.lib.settings.folders, replace=True)

    def retry_failed(self) -> Future[int]:
        """Put every failed file back in the queue; the future gives how many."""

        def retry(lib: Library) -> int:
            n = lib.catalog.retry_failed()
            self._scheduler.work.reset(unblock=True, undismiss=True)
            self._scheduler.new_work()
            self._book.refresh_counts(force=True)
            return n

        return self.call(retry)

    def use_model(self, model_id: str) -> Future[Any]:
        """Make ``model_id`` the library's model for its role (engine.indexing.switches.use_model): an
        image-text or sound model is switched to by re-embedding the library in the background as its
        own stage, while search keeps answering from the old model until the new one covers it. The
        future gives the ``UseResult``, or fails with ModelMissingError (not installed) or LookalikeError."""

        def use(lib: Library) -> Any:
            from engine.indexing.switches import use_model

            result = use_model(lib, model_id)
            self._scheduler.new_work()
            self._book.refresh_counts(force=True, analyses=True)
            return result

        return self.call(use)

    def pause(self) -> None:
        """Stop indexing after the current file; searches, scans and bookkeeping go on."""
        self._scheduler.pause()

    def resume(self) -> None:
        """Index again (also takes up a backlog dropped by cancel_current)."""
        self._scheduler.resume()

    def cancel_current(self) -> None:
        """Stop the current batch or scan at the next file and drop the backlog for this session: the
        files stay pending in the catalog and are taken up by resume(), rescan() or the next start.
        Changes seen by the watcher afterwards are still indexed."""
        self._scheduler.cancel()

    def progress(self) -> ServiceProgress:
        """The latest snapshot (republished by the core thread after every step and every file)."""
        return self._book.snapshot

    # -- the core thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        lower_thread_priority(BACKGROUND_NICE)
        try:
            self._startup()
            while not self._scheduler.stopping:
                self._run_requests()
                if self._scheduler.stopping:
                    break
                try:
                    busy = self._step()
                except Exception as exc:  # one failing step must not end the service: report, back off
                    log.exception("indexing service step failed")
                    self._book.warn(
                        f"Background indexing hit an error and will retry: {exc.__class__.__name__}: {exc}"
                    )
                    busy = False
                self._publish()
                if not busy:
                    self._executor.sleep(self._idle_timeout())
        except Exception as exc:
            log.exception("indexing service failed")
            self._book.warn(f"Background indexing stopped after an error: {exc.__class__.__name__}: {exc}")
        finally:
            self._shutdown()

    def _run_requests(self) -> None:
        if self._executor.run_pending(self.lib):
            self._models.used()  # a request may have loaded a model (a search): unload it only when idle

    def _startup(self) -> None:
        folders = list(self.lib.settings.folders)
        self._book.activity = SCANNING
        self._publish()
        # Watch first, so changes made while the scan runs are queued rather than missed.
        for folder in folders:
            if os.path.isdir(folder):
                self._health.watch(folder)
        for folder in folders:
            self._run_requests()  # requests wait for at most one folder's scan
            if self._scheduler.stopping:
                return
            try:
                self._scan_folder(folder)
            except Exception as exc:  # one bad folder (or a store error) must not stop the others
                log.exception("scanning %s", folder)
                self._book.warn(
                    f"Could not scan {folder}: {exc.__class__.__name__}: {exc}; `rescan` retries it."
                )
        self._book.refresh_counts(force=True, analyses=True)
        self._models.installed_changed()  # takes note of what is installed now

    def _shutdown(self) -> None:
        try:
            if self._health.watcher is not None:
                self._health.watcher.stop()
            # Changes seen but not yet quiet are applied now: a half-copied file becomes a pending row
            # with its current size, which the next start sees as changed and redoes.
            moves, changes = self._queue.take(force=True)
            if moves or changes:
                self._applier.apply(moves, changes, final=True)
            self._applier.expire(force=True)
            self._flush.dirty = True
            self._flush.now()
        except Exception as exc:
            log.exception("indexing service shutdown")
            self._book.warn(f"Stopping the indexing service: {exc.__class__.__name__}: {exc}")
        finally:
            self._run_requests()
            self._executor.fail_pending()
            try:
                self._book.refresh_counts(force=True)
            except Exception:  # the catalog itself failing: the last counts stay
                log.exception("reading the catalog counts")
            self._book.activity = STOPPED
            self._book.current = ""
            self._publish()

    def _idle_timeout(self) -> float:
        waits = [self._last_health + self.health_interval - time.monotonic()]
        due = self._queue.next_due_in()
        if due is not None:
            waits.append(due + 0.01)
        if self._applier.limbo_size:
            waits.append(self._applier.grace)
        unload = self._models.seconds_to_unload()
        if unload is not None:
            waits.append(unload + 0.01)
        return max(0.01, min(waits))

    def _step(self) -> bool:
        """One unit of background work in the scheduler's order (requests ran just before); False when
        there was nothing to do."""
        sched = self._scheduler
        sched.take_controls()
        if time.monotonic() - self._last_health >= self.health_interval:
            self._upkeep()
        folder = sched.next_rescan()
        if folder is not None:
            self._scan_folder(folder)
            return True
        moves, changes = self._queue.take()
        if moves or changes:
            applied = self._applier.apply(moves, changes)
            self._queue.again_later(applied.growing)
            sched.work.add_fresh(applied.fresh)
            self._book.refresh_counts()
            return True
        if self._applier.limbo_size and self._applier.expire():
            self._flush.dirty = True
            self._book.refresh_counts()
            return True
        if not sched.paused and sched.work.has_work() and self._batches.index():
            return True
        if not sched.paused and not sched.analyses_idle and self._batches.analyze():
            return True
        self._flush.now()
        if self._book.activity != IDLE:
            self._book.activity = IDLE
            self._book.current = ""
            self._book.stage = ""
            self._book.refresh_counts(force=True, analyses=True)
        return False

    # -- folders ------------------------------------------------------------------------------------------

    def _scan_folder(self, folder: str) -> None:
        self._book.activity = SCANNING
        self._publish()
        report = scan(self.lib, [folder], cancel=self._scheduler.scan_cancelled)
        self._health.scanned(folder, report)
        self._scheduler.work.reset()
        self._scheduler.new_work()
        self._book.activity = IDLE
        self._book.refresh_counts(force=True)

    def _upkeep(self) -> None:
        """Folder health, watch health, model availability, idle model unloading."""
        self._last_health = time.monotonic()
        for r in self._health.check():
            self._scan_folder(r.folder)
            if r.watch_after and r.folder not in self._health.offline:
                self._health.watch(r.folder)
        self._scheduler.rescan(self._health.check_watches())
        if self._models.installed_changed():
            self._scheduler.work.reset(unblock=True)
            self._scheduler.new_work()
        self._models.unload_if_idle()

    def _add_folder(self, path: str | Path) -> Path:
        p = self.lib.add_folder(path)
        self._health.added(str(p))
        self._scheduler.take_up_backlog()
        self._scheduler.rescan([str(p)])
        return p

    def _remove_folder(self, path: str | Path) -> int:
        folder = str(Path(path).expanduser().resolve())
        self._health.removed(folder)
        self._scheduler.forget_rescan(folder)
        n = self.lib.remove_folder(folder)
        self._flush.dirty = True
        self._book.refresh_counts(force=True)
        return n

    # -- progress -----------------------------------------------------------------------------------------

    def _publish(self) -> None:
        """Build the next snapshot. Core thread only (start() publishes once before the thread runs)."""
        sched = self._scheduler
        self._book.publish(
            Surroundings(
                paused=sched.paused,
                waiting=len(sched.work.blocked),
                waiting_warnings=self._models.warnings(),
                changes=len(self._queue),
                watch_modes=self._health.watch_modes(),
                offline=tuple(self._health.offline),
                models_loaded=self._models.loaded,
                backlog_cancelled=sched.work.dismissed,
            )
        )


__all__ = ["BACKGROUND_NICE", "Service", "ServiceProgress", "ServiceStoppedError", "lower_thread_priority"]
