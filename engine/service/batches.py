"""One batch of work as the core thread runs it: embedding a few files (``index_pending`` on the rows the
work list chose), or one small batch of the slower analyzers (``run_pending_analyses``), with their
progress, their flushes and what they leave behind (rows given back, rows waiting for a model).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from engine.indexing.analysis import run_pending_analyses
from engine.indexing.pipeline import FLUSH_EVERY_S, index_pending
from engine.service.progress import INDEXING
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from collections.abc import Callable

    from engine.core.progress import Progress
    from engine.library import Library
    from engine.service.model_use import ModelUse
    from engine.service.progress import ProgressBook
    from engine.service.scheduler import Scheduler


class StoreFlush:
    """The vector store's flushes, held to one per FLUSH_EVERY_S: ``index_pending`` flushes at the end
    of each call, and a flush per 16-file batch would seal thousands of tiny segments in Milvus Lite.
    The service flushes for real (:meth:`now`) when it goes idle and when it stops."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        #: Writes since the last flush (vectors upserted or deleted).
        self.dirty = False
        self._last = time.monotonic()

    def soon(self) -> None:
        """What a batch calls instead of ``store.flush()``: flush only if the window has passed."""
        self.dirty = True
        if time.monotonic() - self._last >= FLUSH_EVERY_S:
            self.now()

    def now(self) -> None:
        """Flush if anything was written since the last flush."""
        if self.dirty:
            self.lib.store.flush()
            self.dirty = False
        self._last = time.monotonic()


class Batches:
    """Runs the batches for the service. Core thread only."""

    def __init__(
        self,
        lib: Library,
        scheduler: Scheduler,
        book: ProgressBook,
        models: ModelUse,
        flush: StoreFlush,
        publish: Callable[[], None],
        *,
        batch_size: int,
        analysis_batch: int,
        batch_seconds: float = 0.0,
    ) -> None:
        self.lib = lib
        self.scheduler = scheduler
        self.book = book
        self.models = models
        self.flush = flush
        self._publish = publish
        self.batch_size = max(1, batch_size)
        #: Seconds after which an indexing batch starts no new file (0: none; the batch ends at
        #: ``batch_size`` files). A batch is one ``index_pending`` call, whose decode pool and writer fill
        #: at its start and drain at its end: a long batch, bounded in time rather than by a small count,
        #: keeps the stages overlapped, while pause, cancel and waiting requests still end it at the next
        #: file (``should_yield``) and fresh files wait at most this long.
        self.batch_seconds = batch_seconds
        #: Files per batch of the slower analyzers: small, so fresh files are embedded soon after they
        #: appear and a request waits at most for the file in hand.
        self.analysis_batch = analysis_batch

    def index(self) -> bool:
        """Embed the next few pending files, fresh ones first; False when there were none."""
        work = self.scheduler.work
        rows, fresh_ids = work.next_rows(self.lib.catalog, self.batch_size)
        if not rows:
            return False
        self.book.activity = INDEXING

        def on_progress(p: Progress) -> None:
            self.book.on_index_progress(p)
            self._publish()

        deadline = time.monotonic() + self.batch_seconds
        try:
            report = index_pending(
                self.lib,
                rows=rows,
                flush=self.flush.soon,
                progress=on_progress,
                cancel=self.scheduler.should_yield,
                feed=(lambda: time.monotonic() < deadline) if self.batch_seconds > 0 else None,
            )
        except BaseException:
            # Not per-file trouble (that becomes failed rows) but the store or catalog failing: the rows
            # not indexed go back in line and the step is retried after the error is reported.
            self.book.index_batch_aborted()
            now_rows = self.lib.catalog.get_many(r.id for r in rows)
            work.give_back([r for r in rows if now_rows.get(r.id, r).state == cat.PENDING], fresh_ids)
            raise
        self.book.index_batch_done(report.indexed, report.failed)
        if report.indexed or report.failed:
            self.models.used()
            self.flush.dirty = True
        if report.indexed:
            self.scheduler.new_work()
        left = [r for r in self.lib.catalog.get_many(r.id for r in rows).values() if r.state == cat.PENDING]
        if report.cancelled or report.unstarted:
            # Not reached (cancelled, or the batch's time was up): back to the front, in order.
            order = {r.id: i for i, r in enumerate(rows)}
            work.give_back(sorted(left, key=lambda r: order[r.id]), fresh_ids)
        elif left:
            # Not cancelled and still pending: their model is missing. Set aside so they do not stall
            # the rest; they come back when the model is installed (see Service._upkeep) or on a rescan.
            work.blocked.update(r.id for r in left)
            self.models.wait_for(report.waiting)
        self.book.refresh_counts()
        return True

    def analyze(self) -> bool:
        """One small batch of the slower analyzers, run only when nothing waits to be embedded. False
        when none had a file to do (then none runs until :meth:`Scheduler.new_work`)."""
        from engine.indexing.analyzers import slow_analyzers

        # Analyzers found complete are left out until new work: their "anything pending?" query walks
        # the indexed files (55 ms at 100k), which would otherwise precede every batch of the next one.
        todo = [a.name for a in slow_analyzers() if a.name not in self.scheduler.analyses_complete]
        if not todo:
            self.scheduler.analyses_idle = True
            return False

        def on_progress(p: Progress) -> None:
            if p.phase in ("done", "cancelled"):
                return
            if self.book.on_analysis_progress(p):
                self.book.refresh_counts(force=True, analyses=True)  # the new stage's own totals
            self._publish()

        finished = 0
        try:
            report = run_pending_analyses(
                self.lib,
                progress=on_progress,
                cancel=self.scheduler.should_yield,
                limit=self.analysis_batch,
                only=todo,
                count_totals=False,
            )
            finished = report.done + report.failed
        finally:
            self.book.analysis_batch_done(finished)
        self.scheduler.analyses_complete |= report.exhausted
        self.models.stages_wait(report.waiting)  # a stage whose model is missing or damaged says so
        if finished == 0 and not report.cancelled:
            self.scheduler.analyses_idle = True
            return False
        self.models.used()
        self.flush.dirty = True  # an analyzer may write vectors too (speech, text in frames)
        self.book.refresh_counts(analyses=True)
        return True
