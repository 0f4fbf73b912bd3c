"""What the service tells its callers about itself: the :class:`ServiceProgress` snapshot, and the
accounting behind it (files done and failed, the rate over the last half minute, the catalog's counts,
the slower analyzers' stages, warnings).

The core thread writes :class:`ProgressBook` and publishes a frozen snapshot after every step and every
file; any thread reads the latest one (the GUI polls it on a timer), so reading costs nothing.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from engine.indexing.analysis import analysis_counts
from engine.storage import catalog as cat
from engine.watch.observers import POLLING

if TYPE_CHECKING:
    from engine.core.progress import Progress
    from engine.library import Library

STOPPED, STARTING, SCANNING = "stopped", "starting", "scanning"
INDEXING, IDLE, PAUSED = "indexing", "idle", "paused"
#: Running the slower analyzers (text in photos, metadata...) behind the embeddings.
ANALYZING = "analyzing"
MAX_WARNINGS = 20
#: The window of the files-per-second rate.
RATE_WINDOW_S = 30.0


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


@dataclass(frozen=True)
class Surroundings:
    """What the snapshot reports of the service's other parts, as the core thread sees them now."""

    paused: bool = False
    #: Rows set aside because their model is missing, and the warnings for them.
    waiting: int = 0
    waiting_warnings: tuple[str, ...] = ()
    changes: int = 0
    watch_modes: dict[str, str] = field(default_factory=dict)
    offline: tuple[str, ...] = ()
    models_loaded: bool = False
    backlog_cancelled: bool = False


class ProgressBook:
    """The service's progress accounting. Core thread only, except :attr:`snapshot`."""

    def __init__(self, lib: Library) -> None:
        self.lib = lib
        self.activity = STOPPED
        self.current = ""
        self.done = 0
        self.failed = 0
        self._batch: tuple[int, int] = (0, 0)  # (indexed, failed) so far in the running batch
        self._since_counts = 0  # files finished since the counts were read
        self._samples: deque[tuple[float, int]] = deque()
        self._counts: dict[tuple[str, str], int] = {}
        self._counts_at = 0.0
        self._warnings: list[str] = []
        self.stage = ""
        self._stage_step = 0  # files finished in the running analysis batch
        self._analysed_since_counts = 0  # and in the batches since the per-analyzer counts were read
        self._analysis_counts: dict[str, dict[str, int]] = {}
        self._analysis_counts_at = 0.0
        #: The latest snapshot; replaced (never changed) by :meth:`publish`.
        self.snapshot = ServiceProgress()

    # -- what happened ------------------------------------------------------------------------------------

    def warn(self, text: str) -> None:
        """Show ``text`` in the progress' warnings (once; the last MAX_WARNINGS are kept)."""
        if text not in self._warnings:
            self._warnings.append(text)
            del self._warnings[:-MAX_WARNINGS]

    def on_index_progress(self, p: Progress) -> None:
        """A file of the running indexing batch finished (or the batch started)."""
        self.current = p.current
        self._batch = (p.done, p.failed)
        # A rate sample within a batch too (a batch runs up to Service's batch_seconds), at most 2 a second.
        now, n = time.monotonic(), self.done + self.failed + p.done + p.failed
        if not self._samples or now - self._samples[-1][0] >= 0.5:
            self._samples.append((now, n))

    def index_batch_aborted(self) -> None:
        """The running indexing batch failed as a whole (its rows go back in line)."""
        self._batch = (0, 0)

    def index_batch_done(self, indexed: int, failed: int) -> None:
        self._batch = (0, 0)
        self.done += indexed
        self.failed += failed
        self._since_counts += indexed + failed
        self._samples.append((time.monotonic(), self.done + self.failed))

    def on_analysis_progress(self, p: Progress) -> bool:
        """A file of the running analysis batch finished; True when it is a new stage (the caller
        then refreshes the counts with ``analyses=True``, for that stage's own totals)."""
        self.activity = ANALYZING
        new_stage = p.phase != self.stage
        self.stage = p.phase
        self.current = p.current
        self._stage_step = p.done + p.failed
        return new_stage

    def analysis_batch_done(self, finished: int) -> None:
        self._stage_step = 0
        self._analysed_since_counts += finished

    def refresh_counts(self, *, force: bool = False, analyses: bool = False) -> None:
        """Read the catalog's counts again: at most once a second unless ``force`` (a GROUP BY: tens of
        ms at 300k rows); the per-analyzer counts only when ``analyses`` (two queries per analyzer,
        15-40 ms at 100k files), and at most every 10 s while analyzing (the stage's numbers move on
        between reads by the files done meanwhile)."""
        now = time.monotonic()
        if force or now - self._counts_at >= 1.0:
            self._counts = self.lib.catalog.counts()
            self._counts_at = now
            self._since_counts = 0
        if analyses and (force or now - self._analysis_counts_at >= 10.0):
            self._analysis_counts = analysis_counts(self.lib)
            self._analysis_counts_at = now
            self._analysed_since_counts = 0

    # -- the snapshot -------------------------------------------------------------------------------------

    def rate(self) -> float:
        """Files finished per second over the last RATE_WINDOW_S."""
        now = time.monotonic()
        while self._samples and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()
        if len(self._samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def publish(self, s: Surroundings) -> ServiceProgress:
        """Build the next snapshot from the counts and ``s``, and make it :attr:`snapshot`."""
        counts = self._counts
        pending = sum(n for (_, st), n in counts.items() if st == cat.PENDING)
        batch_indexed, batch_failed = self._batch
        queued = max(0, pending - s.waiting - self._since_counts - batch_indexed - batch_failed) + s.changes
        rate = self.rate()
        state = self.activity
        if s.paused and state == IDLE:
            state = PAUSED  # not while a batch is still finishing its current file
        kinds = set(s.watch_modes.values())
        watch_mode = "off" if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"
        self.snapshot = ServiceProgress(
            state=state,
            queued=queued,
            done=self.done + batch_indexed,
            failed=self.failed + batch_failed,
            current=self.current if state in (INDEXING, ANALYZING) else "",
            rate=rate,
            eta=queued / rate if rate > 0 and queued else None,
            offline_folders=tuple(sorted(s.offline)),
            watch_mode=watch_mode,
            polling_folders=tuple(sorted(f for f, m in s.watch_modes.items() if m == POLLING)),
            warnings=(*self._warnings, *s.waiting_warnings),
            waiting=s.waiting,
            indexed_total=sum(n for (_, st), n in counts.items() if st == cat.INDEXED),
            failed_total=sum(n for (_, st), n in counts.items() if st == cat.FAILED),
            changes=s.changes,
            models_loaded=s.models_loaded,
            backlog_cancelled=s.backlog_cancelled,
            **self._stage_progress(state),
        )
        return self.snapshot

    def _stage_progress(self, state: str) -> dict[str, Any]:
        counts = self._analysis_counts
        out: dict[str, Any] = {"analyses": counts}
        if state == ANALYZING and self.stage:
            from engine.indexing.analyzers import all_analyzers

            name = next((a.name for a in all_analyzers() if a.label == self.stage), "")
            c = counts.get(name, {})
            done = c.get("done", 0) + c.get("failed", 0)
            now_done = done + self._analysed_since_counts + self._stage_step
            out.update(
                stage=self.stage,
                stage_done=now_done,
                stage_total=max(done + c.get("pending", 0), now_done),
            )
        return out
