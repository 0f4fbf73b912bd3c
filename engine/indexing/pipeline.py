"""Indexing pending files into the vector store.

Pipeline, three stages overlapped: a bounded look-ahead of decode jobs on a thread pool (decode and
preprocessing: the model never waits for I/O, and memory stays flat), batched image encoding on the
calling thread (which owns the image encoder), and the writes on a writer thread (:class:`_Writer`: the
store and catalog writes, and a sound's or soundtrack's streaming decode and model), in the crash-safe
write order: delete the file's old vectors, upsert the new ones by key, and only then mark the catalog
row indexed. A file that fails becomes a failed row with its reason; the rest of the folder keeps going.
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

#: Images per encoder call. Small: ONNX Runtime's int8 ViT costs the same or less per image at batch
#: 1-8 (23-26 ms here) as at 32 (29-47 ms, the batch no longer fits the cache), and a small batch lets
#: the decoders keep the next one ready while the encoder runs.
ENCODE_BATCH = 8
#: Files decoded ahead of the encoder: photos (one small image each) up to this many, so the pool keeps
#: decoding through a whole encoder call instead of stalling after a few files; other kinds (a clip's
#: moments, a sound's samples) at most :data:`_HEAVY_AHEAD_PER_WORKER` per worker, to keep memory flat.
PHOTO_LOOKAHEAD = 4 * ENCODE_BATCH
_HEAVY_AHEAD_PER_WORKER = 4
#: Encoded batches waiting for the writer thread.
WRITE_AHEAD = 2
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
    #: Runnable files never started because ``feed()`` said stop (they stay pending).
    unstarted: int = 0
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
    feed: Callable[[], bool] | None = None,
) -> IndexReport:
    """Index every pending row of the catalog (at most ``limit``). Returns a report; never raises for a
    bad file.

    ``cancel()`` is checked between files: on cancel, finished files stay indexed and the rest stay
    pending for the next run. Files whose model is not installed stay pending and are listed in
    ``report.waiting`` with the command that installs the model. ``rows``: index these pending rows
    instead (the service passes the batch it chose: fresh files first, none waiting for a model).
    ``flush``: what seals the store's writes (default ``lib.store.flush``; the service passes its own,
    which holds flushes to one per FLUSH_EVERY_S across its batches).
    ``feed()``: checked before each file's decode starts (after the first); once False, no further file
    is started but the files already decoding are finished (nothing done is thrown away, unlike
    ``cancel``), and the rest stay pending, counted in ``report.unstarted``. The service bounds a long
    batch in time with it.
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
    heavy_ahead = n_workers * _HEAVY_AHEAD_PER_WORKER
    lookahead = max(heavy_ahead, PHOTO_LOOKAHEAD)
    batch: list[Prepared] = []
    batch_images = 0
    last_flush = time.monotonic()
    with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="lookalike-decode") as pool:
        pending: deque[tuple[Future[Prepared], bool]] = deque()  # (job, heavy: not a photo)
        heavy_pending = 0
        it = iter(runnable)
        nxt: tuple[cat.FileRow, Preparer] | None = next(it, None)

        def refill() -> None:
            nonlocal nxt, heavy_pending
            while nxt is not None and len(pending) < lookahead and not cancel():
                if feed is not None and nxt is not runnable[0] and not feed():
                    return  # the first file always starts: a call that takes none could loop forever
                heavy = nxt[0].kind != Kind.PHOTO.value
                if heavy and heavy_pending >= heavy_ahead:
                    return  # wait for the clips ahead to be encoded before decoding more
                pending.append((pool.submit(_prepare, lib, nxt[0], nxt[1], cancel), heavy))
                heavy_pending += heavy
                nxt = next(it, None)

        refill()
        writer = _Writer(lib, report, prog, cancel)
        try:
            while pending:
                job, heavy = pending.popleft()
                prepared = job.result()
                heavy_pending -= heavy
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
                full = batch_images >= ENCODE_BATCH or len(batch) >= ENCODE_BATCH
                if batch and (full or not pending or cancel()):
                    writer.put(batch, _encode_batch(lib, batch))
                    batch, batch_images = [], 0
                    if time.monotonic() - last_flush > FLUSH_EVERY_S:
                        flush()
                        last_flush = time.monotonic()
                if progress:
                    progress(prog)
                if cancel():
                    report.cancelled = True
                    for f, _ in pending:
                        f.cancel()
                    break
            if batch:
                writer.put(batch, _encode_batch(lib, batch))
            if nxt is not None and not report.cancelled:
                report.unstarted = 1 + sum(1 for _ in it)
        except BaseException:
            writer.close(reraise=False)  # the error in hand is the one to report
            raise
        writer.close()
    flush()
    if progress:
        prog.phase = "cancelled" if report.cancelled else "done"
        progress(prog)
    report.seconds = time.monotonic() - started
    return report


def _encode_batch(lib: Library, batch: list[Prepared]) -> np.ndarray:
    """The image vectors of a batch's files, in order, encoded ENCODE_BATCH at a time (an empty array
    when none has images). Runs on the calling thread, which owns the image encoder."""
    pixels = [px for p in batch for (_, _, px, _) in p.images]
    if not pixels:
        return np.zeros((0, 0), dtype=np.float32)
    enc = lib.image_text_encoder()
    return np.concatenate(
        [
            enc.encode_pixels(np.stack(pixels[i : i + ENCODE_BATCH]).astype(np.float32))
            for i in range(0, len(pixels), ENCODE_BATCH)
        ]
    )


class _Writer:
    """Writes encoded batches (:func:`_write_batch`) on a thread of its own, in the order they come, so
    the encoder runs on while the store and the catalog take the last batch (a store call waits 5-20 ms
    on the store's process: a third of a photo's encoding), and a sound's or a clip soundtrack's extra
    work overlaps the next batch's images.

    At most :data:`WRITE_AHEAD` batches wait, so memory stays flat when writing is the slower side.
    :meth:`close` waits for every batch put; it re-raises what the writer hit outside any one file (a
    catalog that cannot record a failure), and from then on the writer drops what is put, so the
    encoder never blocks on a dead writer.
    """

    def __init__(self, lib: Library, report: IndexReport, prog: Progress, cancel: CancelFn) -> None:
        import queue
        import threading

        self._lib, self._report, self._prog, self._cancel = lib, report, prog, cancel
        self._queue: queue.Queue[tuple[list[Prepared], np.ndarray] | None] = queue.Queue(WRITE_AHEAD)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="lookalike-write", daemon=True)
        self._thread.start()

    def put(self, batch: list[Prepared], vectors: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((batch, vectors))

    def close(self, reraise: bool = True) -> None:
        self._queue.put(None)
        self._thread.join()
        if reraise and self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    _write_batch(self._lib, item[0], item[1], self._report, self._prog, self._cancel)
                except BaseException as exc:  # handed to the indexing thread by close()/put()
                    self._error = exc


def _write_batch(
    lib: Library,
    batch: list[Prepared],
    vectors: np.ndarray,
    report: IndexReport,
    prog: Progress,
    cancel: CancelFn = never,
) -> None:
    """Write an encoded batch (``vectors``: its files' image vectors, in order): old vectors out, new
    in, each file's extra work, rows indexed.

    The store is written once for the whole batch (one delete of the re-indexed files' old vectors, one
    upsert of every new vector: a store call costs 5-20 ms whatever its size, a third of what the
    encoder spends on a photo), then each file is finished in turn (its extra work, its row marked
    indexed), so the crash-safe order holds for every file: a row is marked indexed only after its
    vectors are stored. When a batched write fails, each file is written alone, so only the file the
    store refuses fails (with the store's reason) and the others are indexed.

    On ``cancel()``, files with extra work still to do (a sound's model, a clip's soundtrack) stay
    pending for the next run, so a cancel waits for the file in hand only; vectors already stored for
    them are found by no search until their row is indexed, and are replaced by key when redone.
    """
    if len(vectors):
        lib.store.ensure_collection(lib.image_collection, vectors.shape[1])
    offsets = np.cumsum([0] + [len(p.images) for p in batch])
    stored = False
    if len(batch) > 1:
        try:
            _store_vectors(lib, batch, [vectors[offsets[i] : offsets[i + 1]] for i in range(len(batch))])
            stored = True
        except Exception:  # redone file by file below, where a failure is charged to its own file
            stored = False
    for i, p in enumerate(batch):
        try:
            if p.extra is not None and cancel():
                report.cancelled = True  # left pending: the caller gives it back, not "model missing"
                continue
            if not stored:
                _store_vectors(lib, [p], [vectors[offsets[i] : offsets[i + 1]]])
            if p.extra is not None:
                p.extra(lib, p)
            model = lib.settings.image_text_model if p.images else lib.settings.audio_model
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


def _store_vectors(lib: Library, files: list[Prepared], vectors: list[np.ndarray]) -> None:
    """Write ``files``' image vectors (``vectors[i]`` for ``files[i]``) in one delete and one upsert:
    the old vectors of files indexed before go first (a shorter clip must not keep stale frames), then
    the new ones, by key. Raises what the store raises."""
    from engine.storage.store import vector_id

    # Indexed before (now changed): its old vectors go, in every collection.
    lib.delete_vectors([p.row.id for p in files if p.row.indexed_at is not None])
    rows = [(p.row.id, img) for p in files for img in p.images]
    if rows:
        lib.store.upsert(
            lib.image_collection,
            ids=[vector_id(fid, seq) for fid, (seq, _, _, _) in rows],
            file_ids=[fid for fid, _ in rows],
            ts=[t for _, (_, t, _, _) in rows],
            kinds=[k for _, (_, _, _, k) in rows],
            vectors=np.concatenate(vectors),
        )
