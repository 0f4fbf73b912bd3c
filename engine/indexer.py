"""Scanning folders into the catalog, and indexing pending files into the vector store.

Pipeline: a bounded look-ahead of decode jobs on a thread pool (the model never waits for I/O, and
memory stays flat), batched encoding on the calling thread (which owns the encoders and the store),
then the crash-safe write order: delete the file's old vectors, upsert the new ones by key, and only
then mark the catalog row indexed. A file that fails becomes a failed row with its reason; the rest
of the folder keeps going.
"""

from __future__ import annotations

import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import catalog as cat
from engine.decode.images import load_photo, quick_hash
from engine.errors import DecodeError, LookalikeError, ModelMissingError
from engine.media import Kind, is_excluded, kind_of

if TYPE_CHECKING:
    from engine.library import Library

#: Vector kinds stored beside each vector, so searches can filter without the catalog.
KIND_PHOTO, KIND_FRAME, KIND_SOUND, KIND_SOUNDTRACK = 0, 1, 2, 3
ENCODE_BATCH = 32
FLUSH_EVERY_S = 2.0


# -- progress and cancellation ------------------------------------------------------------------------


@dataclass
class Progress:
    """A snapshot of long work, for a progress bar or a status line."""

    phase: str = "idle"
    total: int = 0
    done: int = 0
    failed: int = 0
    current: str = ""
    started_at: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return (self.done + self.failed) / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        left = self.total - self.done - self.failed
        return left / self.rate if self.rate > 0 else None


ProgressFn = Callable[[Progress], None]
CancelFn = Callable[[], bool]


def _never() -> bool:
    return False


# -- scanning ----------------------------------------------------------------------------------------


@dataclass
class ScanReport:
    seen: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    moved: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Library folders found missing (an unplugged drive): their rows are kept, in state offline.
    offline: list[str] = field(default_factory=list)
    cancelled: bool = False


def walk_media(
    root: Path, excludes: list[str], errors: list[tuple[str, str]] | None = None
) -> Iterator[tuple[str, os.stat_result, Kind]]:
    """Yield (path, stat, kind) for every media file under ``root``.

    Excluded names are skipped, symlinked folders are followed once (a loop is cut by remembering each
    folder's device and inode), unreadable folders are reported in ``errors`` and skipped.
    """
    seen_dirs: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            entries = list(os.scandir(d))
        except OSError as exc:
            if errors is not None:
                errors.append((d, f"cannot read folder: {exc.strerror or exc}"))
            continue
        for e in entries:
            if is_excluded(e.name, excludes):
                continue
            try:
                if e.is_dir(follow_symlinks=True):
                    stack.append(e.path)
                    continue
                kind = kind_of(e.name)
                if kind is None:
                    continue
                s = e.stat(follow_symlinks=True)
                if stat.S_ISREG(s.st_mode):
                    yield e.path, s, kind
            except OSError as exc:
                if errors is not None:
                    errors.append((e.path, f"cannot read: {exc.strerror or exc}"))


def _folder_online(root: Path, has_rows: bool) -> bool:
    """False for a missing folder, and for an empty one that has rows: what an unmounted drive's mount
    point looks like. Emptying it for real is seen file by file by the watcher instead."""
    try:
        with os.scandir(root) as it:
            return not has_rows or next(it, None) is not None
    except OSError:
        return False


def _restore_offline(catalog: cat.Catalog, known: dict[str, cat.FileRow]) -> None:
    """Rows of a folder that is back: offline becomes the state the row had, as far as its columns
    tell (an error means failed; a hash, model and time mean indexed; anything else is redone)."""
    back: dict[str, list[int]] = {}
    for r in known.values():
        if r.state == cat.OFFLINE:
            was_indexed = bool(r.hash and r.model and r.indexed_at)
            r.state = cat.FAILED if r.error else cat.INDEXED if was_indexed else cat.PENDING
            back.setdefault(r.state, []).append(r.id)
    for state, ids in back.items():
        catalog.set_state(ids, state)


def scan(lib: Library, folders: list[str] | None = None, *, cancel: CancelFn | None = None) -> ScanReport:
    """Bring the catalog in line with the disk for ``folders`` (default: the library's folders).

    New and changed files become pending rows; files gone from disk lose their rows and vectors, unless
    the same content reappears under another path (a move or rename), in which case the row is re-pointed
    and its vectors are kept. Only size and mtime are compared; content is hashed only to confirm a move.
    A missing folder (or an empty one that has rows: an unmounted drive) keeps its rows, marked offline,
    and they come back when the folder does. ``cancel()`` is checked while walking: a cancelled folder
    changes nothing and the report says ``cancelled``.
    """
    report = ScanReport()
    folders = folders if folders is not None else list(lib.settings.folders)
    catalog = lib.catalog
    cancel = cancel or _never
    for folder in folders:
        root = Path(folder)
        known = {r.path: r for r in catalog.under(str(root))}
        if not _folder_online(root, bool(known)):
            # An unplugged drive or a deleted folder: keep its entries, offline (searches skip them).
            catalog.set_state([r.id for r in known.values() if r.state != cat.OFFLINE], cat.OFFLINE)
            report.offline.append(folder)
            why = "is empty (drive not mounted?)" if root.is_dir() else "not found"
            report.unreadable.append((folder, f"folder {why}; its files are kept in the index, offline"))
            continue
        _restore_offline(catalog, known)
        new: list[tuple[str, os.stat_result, Kind]] = []
        changed: list[tuple[str, int, float, str]] = []
        for path, st, kind in walk_media(root, lib.settings.excludes, report.unreadable):
            report.seen += 1
            if report.seen % 1000 == 0 and cancel():
                report.cancelled = True
                return report
            row = known.pop(path, None)
            if row is None:
                new.append((path, st, kind))
            elif row.size != st.st_size or row.mtime != st.st_mtime:
                changed.append((path, st.st_size, st.st_mtime, kind.value))
        catalog.add_many(changed)
        report.changed += len(changed)
        gone = list(known.values())
        # Move detection: a new file with the size and content hash of a vanished indexed row.
        by_size: dict[int, list[cat.FileRow]] = {}
        for r in gone:
            if r.hash and r.state == cat.INDEXED:
                by_size.setdefault(r.size, []).append(r)
        added: list[tuple[str, int, float, str]] = []
        for path, st, kind in new:
            candidates = by_size.get(st.st_size)
            match = None
            if candidates:
                try:
                    digest = quick_hash(path)
                except OSError:
                    digest = None
                match = next((r for r in candidates if r.hash == digest), None)
            if match is not None:
                candidates.remove(match)  # type: ignore[union-attr]
                gone.remove(match)
                lib.delete_vectors(catalog.move(match.id, path, st.st_size, st.st_mtime))
                report.moved += 1
            else:
                added.append((path, st.st_size, st.st_mtime, kind.value))
        catalog.add_many(added)
        report.added += len(added)
        if gone:
            ids = [r.id for r in gone]
            lib.delete_vectors(ids)  # vectors first: a crash here leaves rows that the next scan removes
            catalog.remove(ids)
            report.removed += len(ids)
    return report


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


@dataclass
class Prepared:
    """What a decode job hands to the encoder thread for one file."""

    row: cat.FileRow
    digest: str | None = None
    error: str | None = None
    #: (seq, t, pixels, vector kind) for the image-text encoder: pixels preprocessed by the decode pool
    #: (``ImageTextEncoder.preprocess``), one (3, size, size) array per vector, kept as float16 while it
    #: waits (half the memory of a clip's moments; 1e-3 error, far below the 8-bit source's).
    images: list[tuple[int, float, Any, int]] = field(default_factory=list)
    #: Extra work for the sound/video pipelines (set by their preparers), run on the encoder thread.
    extra: Any = None
    duration: float | None = None


Preparer = Callable[["Library", cat.FileRow, CancelFn], Prepared]


def prepare_photo(lib: Library, row: cat.FileRow, cancel: CancelFn) -> Prepared:
    enc = lib.image_text_encoder()
    img = load_photo(row.path, min_side=enc.image_size)
    # Preprocessed here, on the decode pool, so the encoder thread only runs the model.
    return Prepared(row, images=[(0, 0.0, enc.preprocess([img])[0].astype(np.float16), KIND_PHOTO)])


def _preparer(kind: str) -> Preparer | None:
    if kind == Kind.PHOTO.value:
        return prepare_photo
    try:
        from engine import media_pipelines
    except ImportError:
        return None
    return media_pipelines.PREPARERS.get(kind)


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
    if kind in (Kind.PHOTO.value, Kind.VIDEO.value):
        return [lib.settings.image_text_model]
    if kind == Kind.SOUND.value:
        return [lib.settings.audio_model]
    return []


def index_pending(
    lib: Library,
    *,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
    workers: int | None = None,
    limit: int | None = None,
) -> IndexReport:
    """Index every pending row of the catalog. Returns a report; never raises for a bad file.

    ``cancel()`` is checked between files: on cancel, finished files stay indexed and the rest stay
    pending for the next run. Files whose model is not installed stay pending and are listed in
    ``report.waiting`` with the command that installs the model.
    """
    cancel = cancel or _never
    started = time.monotonic()
    report = IndexReport()
    rows = lib.catalog.in_state(cat.PENDING, limit=limit)
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
                lib.catalog.mark_failed(prepared.row.id, prepared.error, digest=prepared.digest)
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
                    lib.store.flush()
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
    lib.store.flush()
    if progress:
        prog.phase = "cancelled" if report.cancelled else "done"
        progress(prog)
    report.seconds = time.monotonic() - started
    return report


def _write_batch(lib: Library, batch: list[Prepared], report: IndexReport, prog: Progress) -> None:
    """Encode a batch's images together, then write each file: old vectors out, new in, row indexed."""
    from engine.store import vector_id

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
            lib.catalog.mark_indexed(p.row.id, digest=p.digest, model=model, duration=p.duration)
            report.indexed += 1
            prog.done += 1
        except LookalikeError as exc:
            lib.catalog.mark_failed(p.row.id, str(exc), digest=p.digest)
            report.failed += 1
            report.failures.append((p.row.path, str(exc)))
            prog.failed += 1
