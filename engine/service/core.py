"""The indexing service: keeps a library current by itself, in the background.

One core thread owns the encoders and the vector store (DESIGN.md, "Process and threads"). It is fed
by the watcher's change queue and by requests from the GUI or CLI, in this order of priority:

1. requests (``call``, searches, adding a folder): run before the next indexing batch; a batch in
   progress stops at the next file boundary once a request has waited ``max_interactive_wait``;
2. bookkeeping (cheap, no models): folder health (offline/online), rescans, applying queued changes;
3. indexing, in small batches of ``index_pending``: fresh files from the watcher before the backlog.

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
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from engine.core.progress import Progress
from engine.errors import LookalikeError
from engine.indexing.analysis import analysis_counts, run_pending_analyses
from engine.indexing.pipeline import FLUSH_EVERY_S, index_pending
from engine.indexing.scan import scan
from engine.storage import catalog as cat
from engine.watch.applier import ChangeApplier
from engine.watch.observers import NATIVE, POLLING, Watcher
from engine.watch.queue import ChangeQueue

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.api import Result

log = logging.getLogger(__name__)
T = TypeVar("T")

STOPPED, STARTING, SCANNING = "stopped", "starting", "scanning"
INDEXING, IDLE, PAUSED = "indexing", "idle", "paused"
#: Running the slower analyzers (text in photos, metadata...) behind the embeddings.
ANALYZING = "analyzing"
MAX_WARNINGS = 20


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


class ServiceStoppedError(LookalikeError):
    """The indexing service stopped before it could run this request."""


@dataclass(frozen=True)
class ServiceProgress:
    """A snapshot of the service, cheap to take from any thread (the GUI polls it on a timer)."""

    #: stopped | starting | scanning | indexing | analyzing | idle | paused
    state: str = STOPPED
    #: Files waiting to be indexed (pending in the catalog, not waiting for a model) plus changes seen
    #: on disk and not looked at yet.
    queued: int = 0
    #: Files indexed, and files that failed, since the service started.
    done: int = 0
    failed: int = 0
    #: The file being indexed now, or "".
    current: str = ""
    #: Files per second over the last half minute, and the seconds left at that rate.
    rate: float = 0.0
    eta: float | None = None
    offline_folders: tuple[str, ...] = ()
    #: native | polling | mixed | off
    watch_mode: str = "off"
    polling_folders: tuple[str, ...] = ()
    #: Things the user should know and may act on (watch limit reached, models missing, errors).
    warnings: tuple[str, ...] = ()
    #: Pending files that wait for a model that is not installed (the warnings say how to fix it).
    waiting: int = 0
    indexed_total: int = 0
    failed_total: int = 0
    #: Changes seen on disk and not looked at yet (they wait for the quiet period).
    changes: int = 0
    models_loaded: bool = False
    #: cancel_current() dropped the backlog for this session; resume() or rescan() takes it up again.
    backlog_cancelled: bool = False
    #: While analyzing: the stage's label ("reading text in photos") and its files done / to do in the
    #: whole library (done + failed, and done + failed + pending), as of the last count.
    stage: str = ""
    stage_done: int = 0
    stage_total: int = 0
    #: Per analyzer (embeddings included): {"done": n, "pending": n, "failed": n}, refreshed every few
    #: seconds while analyzing and whenever the service goes idle.
    analyses: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("offline_folders", "polling_folders", "warnings"):
            d[k] = list(d[k])
        return d


# -- what to index next ---------------------------------------------------------------------------


class _WorkList:
    """Pending rows in the order the service indexes them: fresh files (seen by the watcher) first,
    then the backlog, read from the catalog in chunks. Rows that wait for a missing model are set aside
    (``blocked``) so they never stall the rows behind them. Core thread only."""

    CHUNK = 1000

    def __init__(self) -> None:
        self.fresh: dict[int, None] = {}
        self.backlog: deque[int] = deque()
        self.blocked: set[int] = set()
        self.exhausted = False
        self.dismissed = False

    def add_fresh(self, ids: Sequence[int]) -> None:
        for i in ids:
            self.fresh[i] = None
        self.blocked.difference_update(ids)

    def reset(self, *, unblock: bool = False) -> None:
        """Read the backlog from the catalog again (after a scan, a retry, a new model)."""
        self.backlog.clear()
        self.exhausted = False
        self.dismissed = False
        if unblock:
            self.blocked.clear()

    def dismiss(self) -> None:
        self.fresh.clear()
        self.backlog.clear()
        self.dismissed = True

    def has_work(self) -> bool:
        return bool(self.fresh) or (not self.dismissed and (bool(self.backlog) or not self.exhausted))

    def _load(self, catalog: cat.Catalog) -> None:
        limit = self.CHUNK + len(self.blocked) + len(self.fresh)
        rows = catalog.in_state(cat.PENDING, limit=limit)
        self.backlog.extend(r.id for r in rows if r.id not in self.blocked and r.id not in self.fresh)
        # Fewer than asked: every pending row is now known. New ones arrive as fresh or after a reset.
        self.exhausted = len(rows) < limit

    def next_rows(self, catalog: cat.Catalog, n: int) -> tuple[list[cat.FileRow], set[int]]:
        """Up to ``n`` rows still pending, and which of them are fresh."""
        out: list[cat.FileRow] = []
        fresh_ids: set[int] = set()
        while len(out) < n:
            picked: list[int] = []
            while self.fresh and len(picked) < n - len(out):
                fid = next(iter(self.fresh))
                del self.fresh[fid]
                picked.append(fid)
                fresh_ids.add(fid)
            if len(picked) < n - len(out) and not self.dismissed:
                if not self.backlog and not self.exhausted:
                    self._load(catalog)
                while self.backlog and len(picked) < n - len(out):
                    picked.append(self.backlog.popleft())
            if not picked:
                break
            rows = catalog.get_many(picked)
            out += [
                rows[i]
                for i in picked
                if i in rows and rows[i].state == cat.PENDING and i not in self.blocked
            ]
        return out, fresh_ids

    def give_back(self, rows: Sequence[cat.FileRow], fresh_ids: set[int]) -> None:
        """Rows a cancelled batch did not reach go back to the front of their list."""
        for r in reversed(rows):
            if r.id in fresh_ids:
                self.fresh = {r.id: None, **self.fresh}
            else:
                self.backlog.appendleft(r.id)


# -- how the core thread hands index_pending its batch ----------------------------------------------


class _BatchCatalog:
    """The catalog as index_pending sees it for one batch: ``in_state(pending)`` lists the batch the
    service chose (fresh files first, no rows waiting for a model); everything else is the catalog."""

    def __init__(self, catalog: cat.Catalog, rows: list[cat.FileRow]) -> None:
        self._catalog = catalog
        self._rows = rows

    def in_state(self, state: str, limit: int | None = None) -> list[cat.FileRow]:
        if state == cat.PENDING:
            return self._rows[:limit]
        return self._catalog.in_state(state, limit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._catalog, name)


class _WindowedStore:
    """The store with ``flush`` held to one per FLUSH_EVERY_S: index_pending flushes at the end of each
    call, and a flush per 16-file batch would seal thousands of tiny segments in Milvus Lite. The
    service flushes for real when it goes idle and when it stops."""

    def __init__(self, store: Any, service: Service) -> None:
        self._store = store
        self._service = service

    def flush(self) -> None:
        self._service._store_dirty = True
        if time.monotonic() - self._service._last_flush >= FLUSH_EVERY_S:
            self._service._flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class _BatchLibrary:
    def __init__(self, lib: Library, rows: list[cat.FileRow], service: Service) -> None:
        self._lib = lib
        self.catalog = _BatchCatalog(lib.catalog, rows)
        self.store = _WindowedStore(lib.store, service)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any]
    at: float = field(default_factory=time.monotonic)


# -- the service ---------------------------------------------------------------------------------------


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
        batch_size: int = 16,
        idle_unload_s: float = 300.0,
        poll_interval: float = 5.0,
        move_grace: float | None = None,
        health_interval: float = 2.0,
        max_interactive_wait: float = 0.5,
    ) -> None:
        self.lib = lib
        self.batch_size = max(1, batch_size)
        self.idle_unload_s = idle_unload_s
        self.health_interval = health_interval
        self.max_interactive_wait = max_interactive_wait
        #: Files per batch of the slower analyzers: small, so fresh files are embedded soon after they
        #: appear and a request waits at most for the file in hand.
        self.analysis_batch = 8
        self._cond = threading.Condition()
        self._kick = False
        self._jobs: deque[_Job] = deque()
        self._queue = ChangeQueue(quiet_period, on_put=self._wake)
        extra = lib.settings.extra.get("watch_polling", False)
        polling_setting = extra is True
        self._watcher: Watcher | None = None
        if watch:
            self._watcher = Watcher(
                self._queue,
                lib.settings.excludes,
                force_polling=force_polling or polling_setting,
                poll_interval=poll_interval,
                polling_folders=[str(f) for f in extra] if isinstance(extra, list) else (),
            )
        self._applier = ChangeApplier(
            lib, quiet_period=quiet_period, grace=quiet_period if move_grace is None else move_grace
        )
        self._work = _WorkList()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._paused = False
        self._cancel_requested = False
        self._rescans: list[str] = []
        self._offline: set[str] = set()
        self._devices: dict[str, int] = {}
        # Progress (written on the core thread; published as frozen snapshots).
        self._activity = STOPPED
        self._current = ""
        self._done = 0
        self._failed = 0
        self._batch: tuple[int, int] = (0, 0)  # (indexed, failed) so far in the running batch
        self._since_counts = 0  # files finished since the counts were read
        self._resume_backlog = False
        self._samples: deque[tuple[float, int]] = deque()
        self._counts: dict[tuple[str, str], int] = {}
        self._counts_at = 0.0
        self._waiting: dict[str, tuple[int, str]] = {}
        self._warnings: list[str] = []
        self._models_loaded = False
        self._last_model_use = time.monotonic()
        self._last_health = 0.0
        self._models_sig: tuple[bool, ...] = ()
        self._store_dirty = False
        self._last_flush = time.monotonic()
        self._snapshot = ServiceProgress()
        # The slower analyzers: True once a batch found nothing to do; set back when files are indexed,
        # scanned, retried, a model arrives, or on resume (no catalog query while idle).
        self._analyses_idle = False
        self._analyses_complete: set[str] = set()  # analyzers with nothing pending, as of their last batch
        self._stage = ""
        self._stage_step = 0  # files finished in the running analysis batch
        self._analysed_since_counts = 0  # and in the batches since the per-analyzer counts were read
        self._analysis_counts: dict[str, dict[str, int]] = {}
        self._analysis_counts_at = 0.0

    # -- public API ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the core thread; it watches the folders, reconciles the catalog with the disk, then
        indexes. Returns at once. Raises RuntimeError if already started."""
        if self._thread is not None:
            raise RuntimeError("the service was already started")
        self._activity = STARTING
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
        with self._cond:
            self._stopping = True
            self._kick = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the indexing service is still finishing a file after %.0f s", timeout)
        else:
            self._fail_jobs()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(lib, *args, **kwargs)`` on the core thread ahead of indexing; its result or exception
        comes back in the future. Fails with ServiceStoppedError once the service is stopping."""
        fut: Future[T] = Future()
        with self._cond:
            if self._stopping:
                fut.set_exception(ServiceStoppedError("The indexing service has stopped."))
                return fut
            self._jobs.append(_Job(fn, args, kwargs, fut))
            self._kick = True
            self._cond.notify_all()
        return fut

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
        with self._cond:
            self._rescans = list(self.lib.settings.folders)
            self._kick = True
            self._cond.notify_all()

    def retry_failed(self) -> Future[int]:
        """Put every failed file back in the queue; the future gives how many."""

        def retry(lib: Library) -> int:
            n = lib.catalog.retry_failed()
            self._work.reset(unblock=True)
            self._analyses_due()
            self._refresh_counts(force=True)
            return n

        return self.call(retry)

    def pause(self) -> None:
        """Stop indexing after the current file; searches, scans and bookkeeping go on."""
        with self._cond:
            self._paused = True
            self._kick = True
            self._cond.notify_all()

    def resume(self) -> None:
        """Index again (also takes up a backlog dropped by cancel_current)."""
        with self._cond:
            self._paused = False
            self._resume_backlog = True
            self._kick = True
            self._cond.notify_all()

    def cancel_current(self) -> None:
        """Stop the current batch or scan at the next file and drop the backlog for this session: the
        files stay pending in the catalog and are taken up by resume(), rescan() or the next start.
        Changes seen by the watcher afterwards are still indexed."""
        with self._cond:
            self._cancel_requested = True
            self._kick = True
            self._cond.notify_all()

    def progress(self) -> ServiceProgress:
        """The latest snapshot (republished by the core thread after every step and every file)."""
        return self._snapshot

    # -- signalling ------------------------------------------------------------------------------------

    def _wake(self) -> None:
        with self._cond:
            self._kick = True
            self._cond.notify_all()

    def _should_yield(self) -> bool:
        """The cancel check handed to index_pending: stop, pause, cancel, or a request that has waited
        ``max_interactive_wait`` (then the batch ends at the next file and the request runs)."""
        if self._stopping or self._paused or self._cancel_requested:
            return True
        with self._cond:
            return bool(self._jobs) and time.monotonic() - self._jobs[0].at >= self.max_interactive_wait

    def _scan_cancelled(self) -> bool:
        # Not for requests: restarting a long scan for every keystroke could starve it for good. A
        # request waits for at most one folder's scan (seconds for 100k unchanged files).
        return self._stopping or self._cancel_requested

    def _sleep(self, timeout: float) -> None:
        with self._cond:
            if not self._kick:
                self._cond.wait(timeout)
            self._kick = False

    # -- the core thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        lower_thread_priority(BACKGROUND_NICE)
        try:
            self._startup()
            while not self._stopping:
                self._run_jobs()
                if self._stopping:
                    break
                try:
                    busy = self._step()
                except Exception as exc:  # one failing step must not end the service: report, back off
                    log.exception("indexing service step failed")
                    self._warn(
                        f"Background indexing hit an error and will retry: {exc.__class__.__name__}: {exc}"
                    )
                    busy = False
                self._publish()
                if not busy:
                    self._sleep(self._idle_timeout())
        except Exception as exc:
            log.exception("indexing service failed")
            self._warn(f"Background indexing stopped after an error: {exc.__class__.__name__}: {exc}")
        finally:
            self._shutdown()

    def _startup(self) -> None:
        lib = self.lib
        folders = list(lib.settings.folders)
        self._activity = SCANNING
        self._publish()
        # Watch first, so changes made while the scan runs are queued rather than missed.
        for folder in folders:
            if os.path.isdir(folder):
                self._watch(folder)
        for folder in folders:
            self._run_jobs()  # requests wait for at most one folder's scan
            if self._stopping:
                return
            try:
                self._scan_folder(folder)
            except Exception as exc:  # one bad folder (or a store error) must not stop the others
                log.exception("scanning %s", folder)
                self._warn(f"Could not scan {folder}: {exc.__class__.__name__}: {exc}; `rescan` retries it.")
        self._refresh_counts(force=True, analyses=True)
        self._models_sig = self._model_signature()

    def _shutdown(self) -> None:
        try:
            if self._watcher is not None:
                self._watcher.stop()
            # Changes seen but not yet quiet are applied now: a half-copied file becomes a pending row
            # with its current size, which the next start sees as changed and redoes.
            moves, changes = self._queue.take(force=True)
            if moves or changes:
                self._applier.apply(moves, changes, final=True)
            self._applier.expire(force=True)
            self._store_dirty = True
            self._flush()
        except Exception as exc:
            log.exception("indexing service shutdown")
            self._warn(f"Stopping the indexing service: {exc.__class__.__name__}: {exc}")
        finally:
            self._run_jobs()
            self._fail_jobs()
            try:
                self._refresh_counts(force=True)
            except Exception:  # the catalog itself failing: the last counts stay
                log.exception("reading the catalog counts")
            self._activity = STOPPED
            self._current = ""
            self._publish()

    def _fail_jobs(self) -> None:
        with self._cond:
            jobs, self._jobs = list(self._jobs), deque()
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(ServiceStoppedError("The indexing service stopped."))

    def _run_jobs(self) -> None:
        while True:
            with self._cond:
                if not self._jobs:
                    return
                job = self._jobs.popleft()
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                result = job.fn(self.lib, *job.args, **job.kwargs)
            except BaseException as exc:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
            finally:
                self._models_loaded = True
                self._last_model_use = time.monotonic()

    def _idle_timeout(self) -> float:
        waits = [self._last_health + self.health_interval - time.monotonic()]
        due = self._queue.next_due_in()
        if due is not None:
            waits.append(due + 0.01)
        if self._applier.limbo_size:
            waits.append(self._applier.grace)
        if self._models_loaded:
            waits.append(max(0.0, self._last_model_use + self.idle_unload_s - time.monotonic()) + 0.01)
        return max(0.01, min(waits))

    def _step(self) -> bool:
        """One unit of background work, most urgent first; False when there was nothing to do."""
        if self._cancel_requested:
            self._cancel_requested = False
            self._work.dismiss()
            self._analyses_idle = True
        if self._resume_backlog:
            self._resume_backlog = False
            self._work.reset()
            self._analyses_due()
        if time.monotonic() - self._last_health >= self.health_interval:
            self._upkeep()
        if self._rescans:
            with self._cond:
                folder = self._rescans.pop(0) if self._rescans else None
            if folder is not None:
                self._scan_folder(folder)
                return True
        moves, changes = self._queue.take()
        if moves or changes:
            applied = self._applier.apply(moves, changes)
            self._queue.again_later(applied.growing)
            self._work.add_fresh(applied.fresh)
            self._refresh_counts()
            return True
        if self._applier.limbo_size and self._applier.expire():
            self._store_dirty = True
            self._refresh_counts()
            return True
        if not self._paused and self._work.has_work() and self._index_batch():
            return True
        if not self._paused and not self._analyses_idle and self._analysis_batch():
            return True
        if self._store_dirty:
            self._flush()
        if self._activity != IDLE:
            self._activity = IDLE
            self._current = ""
            self._stage = ""
            self._refresh_counts(force=True, analyses=True)
        return False

    def _index_batch(self) -> bool:
        rows, fresh_ids = self._work.next_rows(self.lib.catalog, self.batch_size)
        if not rows:
            return False
        self._activity = INDEXING

        def on_progress(p: Progress) -> None:
            self._current = p.current
            self._batch = (p.done, p.failed)
            self._publish()

        view = cast("Library", _BatchLibrary(self.lib, rows, self))
        try:
            report = index_pending(view, progress=on_progress, cancel=self._should_yield, limit=len(rows))
        except BaseException:
            # Not per-file trouble (that becomes failed rows) but the store or catalog failing: the rows
            # not indexed go back in line and the step is retried after the error is reported.
            now_rows = self.lib.catalog.get_many(r.id for r in rows)
            self._work.give_back([r for r in rows if now_rows.get(r.id, r).state == cat.PENDING], fresh_ids)
            raise
        finally:
            self._batch = (0, 0)
        self._done += report.indexed
        self._failed += report.failed
        self._since_counts += report.indexed + report.failed
        now = time.monotonic()
        self._samples.append((now, self._done + self._failed))
        if report.indexed or report.failed:
            self._models_loaded = True
            self._last_model_use = now
            self._store_dirty = True
        if report.indexed:
            self._analyses_due()
        left = [r for r in self.lib.catalog.get_many(r.id for r in rows).values() if r.state == cat.PENDING]
        if report.cancelled:
            order = {r.id: i for i, r in enumerate(rows)}
            self._work.give_back(sorted(left, key=lambda r: order[r.id]), fresh_ids)
        elif left:
            # Not cancelled and still pending: their model is missing. Set aside so they do not stall
            # the rest; they come back when the model is installed (see _upkeep) or on a rescan.
            self._work.blocked.update(r.id for r in left)
            for model, (n, fix) in report.waiting.items():
                had, _ = self._waiting.get(model, (0, fix))
                self._waiting[model] = (had + n, fix)
        self._refresh_counts()
        return True

    def _analyses_due(self) -> None:
        """New work for the slower analyzers may exist (files indexed, scanned, retried, a model came)."""
        self._analyses_idle = False
        self._analyses_complete.clear()

    def _analysis_batch(self) -> bool:
        """One small batch of the slower analyzers (engine.indexing.analysis), run only when nothing
        waits to be embedded. False when none had a file to do (then none runs until new work)."""
        from engine.indexing.analyzers import slow_analyzers

        # Analyzers found complete are left out until new work: their "anything pending?" query walks
        # the indexed files (55 ms at 100k), which would otherwise precede every batch of the next one.
        todo = [a.name for a in slow_analyzers() if a.name not in self._analyses_complete]
        if not todo:
            self._analyses_idle = True
            return False

        def on_progress(p: Progress) -> None:
            if p.phase in ("done", "cancelled"):
                return
            self._activity = ANALYZING
            if p.phase != self._stage:
                self._stage = p.phase
                self._refresh_counts(force=True, analyses=True)  # the new stage's own totals
            self._current = p.current
            self._stage_step = p.done + p.failed
            self._publish()

        try:
            report = run_pending_analyses(
                self.lib,
                progress=on_progress,
                cancel=self._should_yield,
                limit=self.analysis_batch,
                only=todo,
                count_totals=False,
            )
        finally:
            self._stage_step = 0
        self._analysed_since_counts += report.done + report.failed
        self._analyses_complete |= report.exhausted
        if report.done + report.failed == 0 and not report.cancelled:
            self._analyses_idle = True
            return False
        self._models_loaded = True
        self._last_model_use = time.monotonic()
        self._store_dirty = True  # an analyzer may write vectors too (speech, text in frames)
        self._refresh_counts(analyses=True)
        return True

    def _flush(self) -> None:
        if self._store_dirty:
            self.lib.store.flush()
            self._store_dirty = False
        self._last_flush = time.monotonic()

    # -- folders ------------------------------------------------------------------------------------------

    def _watch(self, folder: str) -> None:
        if self._watcher is None:
            return
        try:
            self._watcher.watch(folder)
            self._devices[folder] = os.stat(folder).st_dev
        except OSError as exc:
            self._warn(f"Cannot watch {folder} for changes ({exc.strerror or exc}); rescan to pick them up.")

    def _unwatch(self, folder: str) -> None:
        if self._watcher is not None:
            self._watcher.unwatch(folder)
        self._devices.pop(folder, None)

    def _scan_folder(self, folder: str) -> None:
        self._activity = SCANNING
        self._publish()
        report = scan(self.lib, [folder], cancel=self._scan_cancelled)
        if report.offline:
            self._go_offline(folder, scanned=True)
        elif folder in self._offline and not report.cancelled:
            self._offline.discard(folder)
        if not report.cancelled and not report.offline:
            # The scan settled every row whose file had vanished (re-pointed to where its content is now,
            # or removed): limbo's copies are stale, and expiring one would remove a re-pointed row.
            self._applier.forget_under(folder)
        for path, why in report.unreadable[:3]:
            if path != folder:
                self._warn(f"Skipped {path}: {why}")
        self._work.reset()
        self._analyses_due()
        self._activity = IDLE
        self._refresh_counts(force=True)

    def _go_offline(self, folder: str, *, scanned: bool = False) -> None:
        self._offline.add(folder)
        self._unwatch(folder)
        self._queue.drop_under(folder)
        self._applier.forget_under(folder)
        if not scanned:
            scan(self.lib, [folder])  # marks its rows offline (the folder is missing or looks unmounted)

    def _upkeep(self) -> None:
        """Folder health, watch health, model availability, idle model unloading."""
        self._last_health = time.monotonic()
        for folder in list(self.lib.settings.folders):
            dev = _directory_device(folder)
            online = dev is not None
            if folder in self._offline:
                if online and _has_entries(folder):
                    self._offline.discard(folder)
                    self._watch(folder)
                    self._scan_folder(folder)  # restores its rows and picks up what changed meanwhile
            elif not online:
                self._go_offline(folder)
            elif self._watcher is not None and folder in self._devices and self._devices[folder] != dev:
                # Another file system now sits at this path (a drive unmounted, or another mounted).
                self._unwatch(folder)
                self._scan_folder(folder)
                if folder not in self._offline:
                    self._watch(folder)
        if self._watcher is not None:
            for folder in self._watcher.check():
                if folder not in self._offline and os.path.isdir(folder):
                    self._watch(folder)
                    with self._cond:
                        if folder not in self._rescans:
                            self._rescans.append(folder)
            for w in self._watcher.warnings():
                self._warn(w)
        sig = self._model_signature()
        if sig != self._models_sig:
            self._models_sig = sig
            self._waiting.clear()
            self._work.reset(unblock=True)
            self._analyses_due()
        if self._models_loaded and time.monotonic() - self._last_model_use >= self.idle_unload_s:
            self.lib.unload_models()
            self._models_loaded = False

    def _add_folder(self, path: str | Path) -> Path:
        p = self.lib.add_folder(path)
        folder = str(p)
        self._offline.discard(folder)
        self._watch(folder)
        with self._cond:
            if folder not in self._rescans:
                self._rescans.append(folder)
        return p

    def _remove_folder(self, path: str | Path) -> int:
        folder = str(Path(path).expanduser().resolve())
        self._unwatch(folder)
        self._queue.drop_under(folder)
        self._applier.forget_under(folder)
        self._offline.discard(folder)
        with self._cond:
            self._rescans = [f for f in self._rescans if f != folder]
        n = self.lib.remove_folder(folder)
        self._store_dirty = True
        self._refresh_counts(force=True)
        return n

    def _model_signature(self) -> tuple[bool, ...]:
        s = self.lib.settings
        return tuple(self.lib.model_ready(m) for m in (s.image_text_model, s.audio_model, s.text_model))

    # -- progress -----------------------------------------------------------------------------------------

    def _warn(self, text: str) -> None:
        if text not in self._warnings:
            self._warnings.append(text)
            del self._warnings[:-MAX_WARNINGS]

    def _refresh_counts(self, *, force: bool = False, analyses: bool = False) -> None:
        # A GROUP BY over the catalog: at most once a second while busy (tens of ms at 300k rows).
        now = time.monotonic()
        if force or now - self._counts_at >= 1.0:
            self._counts = self.lib.catalog.counts()
            self._counts_at = now
            self._since_counts = 0
        # Per analyzer: two queries each (15-40 ms at 100k files), so only when asked, and at most every
        # 10 s while analyzing (the stage's numbers move on between reads by the files done meanwhile).
        if analyses and (force or now - self._analysis_counts_at >= 10.0):
            self._analysis_counts = analysis_counts(self.lib)
            self._analysis_counts_at = now
            self._analysed_since_counts = 0

    def _publish(self) -> None:
        """Build the next snapshot. Core thread only (start() publishes once before the thread runs)."""
        counts = self._counts
        pending = sum(n for (_, s), n in counts.items() if s == cat.PENDING)
        waiting = len(self._work.blocked)
        changes = len(self._queue)
        batch_indexed, batch_failed = self._batch
        queued = max(0, pending - waiting - self._since_counts - batch_indexed - batch_failed) + changes
        now = time.monotonic()
        while self._samples and now - self._samples[0][0] > 30.0:
            self._samples.popleft()
        rate = 0.0
        if len(self._samples) >= 2:
            (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
            rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
        state = self._activity
        if self._paused and state == IDLE:
            state = PAUSED  # not while a batch is still finishing its current file
        modes = self._watcher.modes() if self._watcher is not None else {}
        kinds = set(modes.values())
        watch_mode = "off" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"
        warnings = list(self._warnings)
        warnings += [f"{n} files wait for {m}: {fix}" for m, (n, fix) in self._waiting.items()]
        self._snapshot = ServiceProgress(
            state=state,
            queued=queued,
            done=self._done + batch_indexed,
            failed=self._failed + batch_failed,
            current=self._current if state in (INDEXING, ANALYZING) else "",
            rate=rate,
            eta=queued / rate if rate > 0 and queued else None,
            offline_folders=tuple(sorted(self._offline)),
            watch_mode=watch_mode,
            polling_folders=tuple(sorted(f for f, m in modes.items() if m == POLLING)),
            warnings=tuple(warnings),
            waiting=waiting,
            indexed_total=sum(n for (_, s), n in counts.items() if s == cat.INDEXED),
            failed_total=sum(n for (_, s), n in counts.items() if s == cat.FAILED),
            changes=changes,
            models_loaded=self._models_loaded,
            backlog_cancelled=self._work.dismissed,
            **self._stage_progress(state),
        )

    def _stage_progress(self, state: str) -> dict[str, Any]:
        counts = self._analysis_counts
        out: dict[str, Any] = {"analyses": counts}
        if state == ANALYZING and self._stage:
            from engine.indexing.analyzers import all_analyzers

            name = next((a.name for a in all_analyzers() if a.label == self._stage), "")
            c = counts.get(name, {})
            done = c.get("done", 0) + c.get("failed", 0)
            now_done = done + self._analysed_since_counts + self._stage_step
            out.update(
                stage=self._stage,
                stage_done=now_done,
                stage_total=max(done + c.get("pending", 0), now_done),
            )
        return out


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


__all__ = ["NATIVE", "POLLING", "Service", "ServiceProgress", "ServiceStoppedError"]
