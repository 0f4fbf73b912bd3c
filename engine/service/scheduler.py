"""What the core thread does next. The work order, most urgent first:

1. requests (``Service.call``, searches, adding a folder): run before anything else; a batch in progress
   stops at the next file boundary once a request has waited ``max_interactive_wait``
   (:meth:`Scheduler.should_yield`);
2. bookkeeping (cheap, no models): folder and watch health, rescans, applying queued changes, removing
   rows whose files stayed gone;
3. indexing, in small batches: fresh files seen by the watcher before the backlog (:class:`WorkList`);
4. the slower analyzers (text in photos, metadata, hashes, speech), in smaller batches still, once
   nothing waits to be embedded.

:meth:`engine.service.core.Service._step` takes them in this order; this module holds the state the
order is decided on (what to index next, rescans asked for, pause and cancel).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.service.executor import Executor


class WorkList:
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

    def reset(self, *, unblock: bool = False, undismiss: bool = False) -> None:
        """Read the backlog from the catalog again (after a scan, a retry, a new model). A cancelled
        backlog stays cancelled unless ``undismiss`` (the user resumed, retried or rescanned): a scan the
        service runs by itself, or a model file appearing (the encoder's int8 copy being written), must
        not bring back what the user cancelled."""
        self.backlog.clear()
        self.exhausted = False
        if undismiss:
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


class Scheduler:
    """The state the work order is decided on. The controls (``pause``, ``resume``, ``cancel``,
    ``stop``, ``rescan``) are called from any thread and wake the core thread; the rest is the core
    thread's."""

    def __init__(self, executor: Executor, *, max_interactive_wait: float) -> None:
        self._executor = executor
        self.max_interactive_wait = max_interactive_wait
        self.work = WorkList()
        self._lock = threading.Lock()
        self._rescans: list[str] = []
        self.stopping = False
        self.paused = False
        self._cancel = False
        self._resume_backlog = False
        #: The slower analyzers: True once a batch found nothing to do; set back by :meth:`new_work`
        #: (files indexed, scanned, retried, a model arrived, resume), so an idle library costs no
        #: catalog query per step.
        self.analyses_idle = False
        #: Slower analyzers with nothing pending as of their last batch, left out until new work.
        self.analyses_complete: set[str] = set()

    # -- controls (any thread) ----------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping = True
        self._executor.close()

    def pause(self) -> None:
        self.paused = True
        self._executor.wake()

    def resume(self) -> None:
        self.paused = False
        self._resume_backlog = True
        self._executor.wake()

    def cancel(self) -> None:
        self._cancel = True
        self._executor.wake()

    def take_up_backlog(self) -> None:
        """Index the backlog again after a cancel (the user rescanned or added a folder), unpaused or not."""
        self._resume_backlog = True
        self._executor.wake()

    def rescan(self, folders: Iterable[str], *, replace: bool = False) -> None:
        """Scan these folders again, in this order (``replace``: instead of the rescans asked so far)."""
        with self._lock:
            before = list(self._rescans)
            if replace:
                self._rescans = []
            self._rescans += [f for f in folders if f not in self._rescans]
            changed = self._rescans != before
        if changed:
            self._executor.wake()

    def forget_rescan(self, folder: str) -> None:
        with self._lock:
            self._rescans = [f for f in self._rescans if f != folder]

    # -- the core thread ----------------------------------------------------------------------------------

    def next_rescan(self) -> str | None:
        with self._lock:
            return self._rescans.pop(0) if self._rescans else None

    def take_controls(self) -> None:
        """Apply a cancel or a resume asked for since the last step."""
        if self._cancel:
            self._cancel = False
            self.work.dismiss()
            self.analyses_idle = True
        if self._resume_backlog:
            self._resume_backlog = False
            self.work.reset(undismiss=True)
            self.new_work()

    def new_work(self) -> None:
        """New work for the slower analyzers may exist (files indexed, scanned, retried, a model came)."""
        self.analyses_idle = False
        self.analyses_complete.clear()

    def should_yield(self) -> bool:
        """The cancel check handed to a batch: stop, pause, cancel, or a request that has waited
        ``max_interactive_wait`` (then the batch ends at the next file and the request runs)."""
        if self.stopping or self.paused or self._cancel:
            return True
        waited = self._executor.oldest_wait()
        return waited is not None and waited >= self.max_interactive_wait

    def scan_cancelled(self) -> bool:
        # Not for requests: restarting a long scan for every keystroke could starve it for good. A
        # request waits for at most one folder's scan (seconds for 100k unchanged files).
        return self.stopping or self._cancel
