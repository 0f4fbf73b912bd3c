"""Indexing pending files into the vector store.

Pipeline: a bounded look-ahead of decode jobs on a thread pool (the model never waits for I/O, and
memory stays flat), batched encoding on the calling thread (which owns the encoders and the store),
then the crash-safe write order: delete the file's old vectors, upsert the new ones by key, and only
then mark the catalog row indexed. A file that fails becomes a failed row with its reason; the rest
of the folder keeps going.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine.core.progress import CancelFn, Progress, ProgressFn, never
from engine.core.vectors import KIND_PHOTO
from engine.errors import DecodeError, LookalikeError, ModelMissingError
from engine.indexing.analyzers.embeddings import EMBEDDINGS, embedding_for
from engine.indexing.media_pipelines import PREPARERS
from engine.indexing.work import Prepared, Preparer
from engine.media.images import load_photo, quick_hash
from engine.media.kinds import Kind
from engine.storage import analyses
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library

ENCODE_BATCH = 32
FLUSH_EVERY_S = 2.0


# -- indexing ----------------------------------------------------------------------------------------


@dataclass
class IndexReport:
    indexed: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: Files left pending because their model is not installed: model id -> (count, how to fix).
    waiting: dict[str, tuple[int, str]] = field(default_factory=dict)
    cancelled: bool = False
    seconds: float = 0.0


def prepare_photo(lib: Library, row: cat.FileRow, cancel: CancelFn) -> Prepared:
    enc = lib.image_text_encoder()
    img = load_photo(row.path, min_side=enc.image_size)
    # Preprocessed here, on the decode pool, so the encoder thread only runs the model.
    return Prepared(row, images=[(0, 0.0, enc.preprocess([img])[0].astype(np.float16), KIND_PHOTO)])


def _preparer(kind: str) -> Preparer | None:
    if kind == Kind.PHOTO.value:
        return prepare_photo
    return PREPARERS.get(kind)


def _prepare(lib: Library, row: cat.FileRow, fn: Preparer, cancel: CancelFn) -> Prepared:
    """Run on a pool thread: hash and decode one file, turning every failure into a per-file error."""
    try:
        st = os.stat(row.path)
        digest = quick_hash(row.path)
        prepared = fn(lib, row, cancel)
        prepared.digest = digest
        if (st.st_size, st.st_mtime) != (row.size, row.mtime):
            # Changed since the scan: index what we read now and record its current size/mtime.
            lib.catalog.add(row.path, st.st_size, st.st_mtime, row.kind)
        return prepared
    except DecodeError as exc:
        return Prepared(row, error=str(exc))
    except FileNotFoundError:
        return Prepared(row, error="file not found (moved or deleted before it was indexed)")
    except PermissionError:
        return Prepared(row, error="permission denied: cannot read the file")
    except OSError as exc:
        return Prepared(row, error=f"cannot read the file: {exc.strerror or exc}")
    except ModelMissingError:
        raise
    except Exception as exc:  # a decoder bug on one odd file must not stop the library
        return Prepared(row, error=f"unexpected error while reading: {exc.__class__.__name__}: {exc}")


def _required_models(lib: Library, kind: str) -> list[str]:
    an = embedding_for(kind)
    return an.required_models(lib) if an is not None else []


def requeue_outdated_embeddings(lib: Library) -> int:
    """Files embedded by another version of their embedding analyzer go back to pending (only that
    embedding is redone: their other analyses stay). Returns how many; cheap when there are none."""
    return sum(analyses.requeue_outdated(lib.catalog, a.name, a.version, a.kinds) for a in EMBEDDINGS)


def _mark_failed(lib: Library, row: cat.FileRow, why: str, digest: str | None) -> None:
    an = embedding_for(row.kind)
    with lib.catalog.transaction():
        lib.catalog.mark_failed(row.id, why, digest=digest)
        if an is not None:
            analyses.record(lib.catalog, row.id, an.name, an.version, analyses.FAILED, why)


def index_pending(
    lib: Library,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    workers: int | None = None,
    limit: int | None = None,
    rows: Sequence[cat.FileRow] | None = None,
    flush: Callable[[], None] | None = None,
) -> IndexReport:
    """Index every pending row of the catalog (at most ``limit``). Returns a report; never raises for a
    bad file.

    ``cancel()`` is checked between files: on cancel, finished files stay indexed and the rest stay
    pending for the next run. Files whose model is not installed stay pending and are listed in
    ``report.waiting`` with the command that installs the model. ``rows``: index these pending rows
    instead (the service passes the batch it chose: fresh files first, none waiting for a model).
    ``flush``: what seals the store's writes (default ``lib.store.flush``; the service passes its own,
    which holds flushes to one per FLUSH_EVERY_S across its batches).
    """
    cancel = cancel or never
    started = time.monotonic()
    report = IndexReport()
    requeue_outdated_embeddings(lib)
    rows = list(rows)[:limit] if rows is not None else lib.catalog.in_state(cat.PENDING, limit=limit)
    flush = flush or (lambda: lib.store.flush())  # not lib.store.flush: that opens the store now
    runnable: list[tuple[cat.FileRow, Preparer]] = []
    for row in rows:
        missing = [m for m in _required_models(lib, row.kind) if not lib.model_ready(m)]
        fn = _preparer(row.kind)
        if missing or fn is None:
            for m in missing or [f"{row.kind}-pipeline"]:
                n, _ = report.waiting.get(m, (0, ""))
                fix = f"lookalike models download {m}" if missing else "not supported in this version"
                report.waiting[m] = (n + 1, fix)
            continue
        runnable.append((row, fn))

    prog = Progress(phase="indexing", total=len(runnable))
    if progress:
        progress(prog)
    if not runnable:
        report.seconds = time.monotonic() - started
        return report

    n_workers = workers or lib.settings.workers or max(1, min(4, (os.cpu_count() or 2)))
    lookahead = n_workers * 4
    batch: list[Prepared] = []
    batch_images = 0
    last_flush = time.monotonic()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="lookalike-decode") as pool:
        pending: deque[Future[Prepared]] = deque()
        it = iter(runnable)

        def refill() -> None:
            while len(pending) < lookahead and not cancel():
                nxt = next(it, None)
                if nxt is None:
                    return
                pending.append(pool.submit(_prepare, lib, nxt[0], nxt[1], cancel))

        refill()
        while pending:
            prepared = pending.popleft().result()
            refill()
            prog.current = prepared.row.path
            if prepared.error is not None:
                _mark_failed(lib, prepared.row, prepared.error, prepared.digest)
                report.failed += 1
                report.failures.append((prepared.row.path, prepared.error))
                prog.failed += 1
            else:
                batch.append(prepared)
                batch_images += len(prepared.images)
            if batch and (batch_images >= ENCODE_BATCH or not pending or cancel()):
                _write_batch(lib, batch, report, prog)
                batch, batch_images = [], 0
                if time.monotonic() - last_flush > FLUSH_EVERY_S:
                    flush()
                    last_flush = time.monotonic()
            if progress:
                progress(prog)
            if cancel():
                report.cancelled = True
                for f in pending:
                    f.cancel()
                break
        if batch:
            _write_batch(lib, batch, report, prog)
    flush()
    if progress:
        prog.phase = "cancelled" if report.cancelled else "done"
        progress(prog)
    report.seconds = time.monotonic() - started
    return report


def _write_batch(lib: Library, batch: list[Prepared], report: IndexReport, prog: Progress) -> None:
    """Encode a batch's images together, then write each file: old vectors out, new in, row indexed."""
    from engine.storage.store import vector_id

    pixels = [px for p in batch for (_, _, px, _) in p.images]
    vectors = np.zeros((0, 0), dtype=np.float32)
    if pixels:
        enc = lib.image_text_encoder()
        vectors = np.concatenate(
            [
                enc.encode_pixels(np.stack(pixels[i : i + ENCODE_BATCH]).astype(np.float32))
                for i in range(0, len(pixels), ENCODE_BATCH)
            ]
        )
        lib.store.ensure_collection(lib.image_collection, vectors.shape[1])
    offset = 0
    for p in batch:
        try:
            n = len(p.images)
            if p.row.indexed_at is not None:
                # Indexed before (now changed): its old vectors go, or a shorter clip would keep stale frames.
                lib.delete_vectors([p.row.id])
            if n:
                rows = p.images
                lib.store.upsert(
                    lib.image_collection,
                    ids=[vector_id(p.row.id, seq) for seq, _, _, _ in rows],
                    file_ids=[p.row.id] * n,
                    ts=[t for _, t, _, _ in rows],
                    kinds=[k for _, _, _, k in rows],
                    vectors=vectors[offset : offset + n],
                )
                offset += n
            if p.extra is not None:
                p.extra(lib, p)
            model = lib.settings.image_text_model if n else lib.settings.audio_model
            an = embedding_for(p.row.kind)
            # One commit: the row is indexed exactly when its embedding analysis is done.
            with lib.catalog.transaction():
                lib.catalog.mark_indexed(p.row.id, digest=p.digest, model=model, duration=p.duration)
                if an is not None:
                    analyses.record(lib.catalog, p.row.id, an.name, an.version, analyses.DONE)
            report.indexed += 1
            prog.done += 1
        except Exception as exc:
            # Whatever one file raises (a store refusing its vectors, a model bug on odd input) is that
            # file's failure with its reason; the files behind it go on. Left pending, it would crash
            # every later run at the same place.
            why = str(exc) if isinstance(exc, LookalikeError) else f"{exc.__class__.__name__}: {exc}"
            _mark_failed(lib, p.row, why, p.digest)
            report.failed += 1
            report.failures.append((p.row.path, why))
            prog.failed += 1
