"""Running the slower analyzers (text in photos, metadata, hashes, speech) behind the embeddings.

``run_pending_analyses`` takes each ready analyzer in priority order and runs it over the indexed files
it has not done yet, in file order, one file at a time. Every outcome is written per (file, analyzer)
as it happens (done, or failed with the reason), so a kill loses at most the file in hand, a cancel
stops between files, and the next run starts where this one stopped. Any exception from one file is
that file's failure for that analyzer; the files behind it go on. An analyzer that is not ready (model
missing, turned off) is skipped with its reason and its files stay pending; so is one whose model turns
out missing or damaged while it runs (``ModelMissingError`` / ``ModelFileError``: never a file's fault).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.core.progress import CancelFn, Progress, ProgressFn, never
from engine.errors import LookalikeError, ModelFileError, ModelMissingError
from engine.indexing.analyzers.base import Analyzer, Inputs
from engine.indexing.analyzers.registry import all_analyzers, slow_analyzers
from engine.storage import analyses
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library

#: Rows read from the catalog at a time (the query is paged by id, so a long run holds little).
PAGE = 64


@dataclass
class AnalysisReport:
    """What one run did. ``failures`` holds (analyzer, path, reason); ``waiting`` the analyzers that
    could not run although files wait for them, with the reason (those files stay pending)."""

    done: int = 0
    failed: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    #: analyzer name -> (done, failed) in this run.
    by_analyzer: dict[str, tuple[int, int]] = field(default_factory=dict)
    cancelled: bool = False
    #: The whole ``limit`` was used (more may be pending).
    limited: bool = False
    #: Analyzers whose stage ran out of files (none pending for them when it ended): a caller running
    #: small batches can leave them out (``only``) until new files are indexed.
    exhausted: set[str] = field(default_factory=set)
    seconds: float = 0.0


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LookalikeError) else f"{exc.__class__.__name__}: {exc}"


def _active(lib: Library, an: Analyzer) -> bool:
    try:
        return an.active(lib)
    except Exception:  # a broken check keeps it out, as an inactive one
        return False


def _selected(only: str | Collection[str] | None, lib: Library | None = None) -> list[Analyzer]:
    chosen = slow_analyzers()
    if lib is not None:
        chosen = [a for a in chosen if _active(lib, a)]
    if only is None:
        return chosen
    names = {only} if isinstance(only, str) else set(only)
    return [a for a in chosen if a.name in names]


def _finished(lib: Library, an: Analyzer) -> None:
    """The stage ran out of files: let the analyzer complete what it completes as a whole."""
    try:
        an.finished(lib)
    except Exception:  # what it completes is retried when the stage next runs out of files
        logging.getLogger(__name__).exception("finishing the %s stage", an.name)


def _ready(lib: Library, an: Analyzer) -> str | None:
    try:
        return an.ready(lib)
    except Exception as exc:  # a broken readiness check only keeps this analyzer from running
        return f"cannot tell whether it can run: {_why(exc)}"


def ready_analyzers(lib: Library, only: str | Collection[str] | None = None) -> list[Analyzer]:
    """The slow analyzers that can run now, in run order."""
    return [a for a in _selected(only, lib) if _ready(lib, a) is None]


def not_ready(lib: Library) -> dict[str, str]:
    """{analyzer name: why it cannot run now} for the slow analyzers that cannot."""
    return {a.name: why for a in _selected(None, lib) if (why := _ready(lib, a)) is not None}


def has_pending_analyses(lib: Library, only: str | Collection[str] | None = None) -> bool:
    """Whether a ready slow analyzer has a file to do (one indexed query per analyzer)."""
    return any(
        analyses.pending_rows(lib.catalog, a.name, a.version, a.kinds, limit=1)
        for a in ready_analyzers(lib, only)
    )


def run_pending_analyses(
    lib: Library,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    limit: int | None = None,
    only: str | Collection[str] | None = None,
    count_totals: bool = True,
) -> AnalysisReport:
    """Run every ready slow analyzer (or those named in ``only``) over its pending files; at most
    ``limit`` (file, analyzer) runs in all. Returns a report; never raises for a bad file (a catalog
    error does raise: nothing could be recorded). ``count_totals=False`` skips counting each stage's
    pending files first (Progress.total is then 0): the service's small batches keep their own counts.

    ``progress`` gets one Progress per stage (phase = the analyzer's label, total = its pending files,
    done, failed, current path) after every file, then a last one with phase "done" or "cancelled".
    ``cancel()`` is checked between files; on cancel the file in hand is finished (or, if it saw the
    cancel itself, left pending) and the rest stay pending.
    """
    cancel = cancel or never
    started = time.monotonic()
    report = AnalysisReport()
    left = limit
    for an in _selected(only, lib):
        if report.cancelled or (left is not None and left <= 0):
            break
        reason = _ready(lib, an)
        if reason is not None:
            # Said only when files wait for it: no "speech model missing" in a library of photos.
            if analyses.pending_rows(lib.catalog, an.name, an.version, an.kinds, limit=1):
                report.waiting[an.name] = reason
            continue
        total = 0
        if count_totals:
            total = analyses.counts(lib.catalog, an.name, an.version, an.kinds)[analyses.PENDING]
            if total == 0:
                report.exhausted.add(an.name)
                _finished(lib, an)
                continue
        prog = Progress(phase=an.label, total=total if left is None else min(total, left))
        left = _run_one(lib, an, prog, report, progress, cancel, left)
    report.limited = left is not None and left <= 0
    report.seconds = time.monotonic() - started
    if progress:
        phase = "cancelled" if report.cancelled else "done"
        progress(Progress(phase=phase, done=report.done, failed=report.failed))
    return report


def _run_one(
    lib: Library,
    an: Analyzer,
    prog: Progress,
    report: AnalysisReport,
    progress: ProgressFn | None,
    cancel: CancelFn,
    left: int | None,
) -> int | None:
    """One analyzer's stage. Returns what is left of the limit."""
    after = 0
    tally = [0, 0]  # done, failed

    def record(row: cat.FileRow, why: str | None) -> None:
        state = analyses.DONE if why is None else analyses.FAILED
        if not analyses.record_result(lib.catalog, row, an.name, an.version, state, why):
            return  # changed or removed meanwhile: it stays pending (or is gone)
        if why is None:
            tally[0] += 1
            prog.done += 1
            report.done += 1
        else:
            tally[1] += 1
            prog.failed += 1
            report.failed += 1
            report.failures.append((an.name, row.path, why))

    step = max(1, int(an.batch_size))
    try:
        while left is None or left > 0:
            page = PAGE if left is None else min(PAGE, left)
            rows = analyses.pending_rows(
                lib.catalog, an.name, an.version, an.kinds, limit=max(page, step), after_id=after
            )
            if not rows:
                report.exhausted.add(an.name)
                _finished(lib, an)
                break
            if progress and after == 0:
                progress(prog)  # the stage starts (only once there is a file for it)
            for i in range(0, len(rows), step):
                if cancel():
                    report.cancelled = True
                    return left
                if left is not None and left <= 0:
                    return left
                group = rows[i : i + min(step, left if left is not None else step)]
                after = group[-1].id
                prog.current = group[0].path
                try:
                    if step == 1:
                        outcome = _analyze_one(lib, an, group[0], cancel)
                    else:
                        outcome = _analyze_group(lib, an, group, cancel)
                except (ModelMissingError, ModelFileError) as exc:
                    # Not these files' fault: the analyzer cannot run at all (its model is missing or
                    # damaged). Its files stay pending until the model is installed again.
                    report.waiting[an.name] = str(exc)
                    return left
                for row in group:
                    if row.id in outcome:
                        record(row, outcome[row.id])
                if len(outcome) < len(group):
                    # It saw the cancel and stopped part way: what it did not finish is redone next time.
                    report.cancelled = True
                    return left
                if left is not None:
                    left -= len(group)
                if progress:
                    progress(prog)
    finally:
        report.by_analyzer[an.name] = (tally[0], tally[1])
    return left


def _analyze_one(lib: Library, an: Analyzer, row: cat.FileRow, cancel: CancelFn) -> dict[int, str | None]:
    """{row.id: None (done) or the reason it failed}, or {} when it saw the cancel (output partial)."""
    inputs = Inputs(row, cancel)
    try:
        an.analyze(lib, row, inputs)
    except (ModelMissingError, ModelFileError):
        raise
    except Exception as exc:  # whatever one file raises is that file's failure
        return {row.id: _why(exc)}
    return {} if inputs.cancelled else {row.id: None}


def _analyze_group(
    lib: Library, an: Analyzer, rows: list[cat.FileRow], cancel: CancelFn
) -> dict[int, str | None]:
    """A batch analyzer's outcome for ``rows``; if the batch call itself raises, each file is done on
    its own, so one bad file costs only itself."""
    try:
        return dict(an.analyze_many(lib, rows, cancel))
    except (ModelMissingError, ModelFileError):
        raise
    except Exception:
        out: dict[int, str | None] = {}
        for row in rows:
            one = _analyze_one(lib, an, row, cancel)
            out.update(one)
            if not one:
                break
        return out


def analysis_counts(lib: Library) -> dict[str, dict[str, int]]:
    """{analyzer name: {"done": n, "pending": n, "failed": n}} for every analyzer, embeddings included,
    in run order. Slow analyzers count the indexed files of their kinds; embeddings every file of theirs
    that is not offline."""
    return {
        a.name: analyses.counts(lib.catalog, a.name, a.version, a.kinds, embedding=a.embedding)
        for a in all_analyzers()
        if _active(lib, a)
    }
