"""The metadata analyzer: when and where each file was made (capture time, camera, GPS → place names).

It reads only the file's header (EXIF / container / tags; no decoding of pixels or samples) and the
offline gazetteer, so it is the cheapest analyzer and runs first after the embeddings. Files already in
the library are backfilled by the analysis runner without being embedded again: a file with no
``analyses`` row for "metadata" is pending for it.

A file whose header cannot be read still gets a row (its modification time, marked "mtime"), so date
filters treat it like any file without a capture date, and the analysis is recorded as failed with the
reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from engine.core.progress import CancelFn
from engine.errors import DecodeError
from engine.indexing.analyzers.base import Analyzer, Inputs, register
from engine.media.kinds import Kind
from engine.media.metadata import MediaMeta, mtime_meta, read_metadata
from engine.media.places import Place, reverse_many
from engine.storage import metadata as store_meta

if TYPE_CHECKING:
    from engine.library import Library
    from engine.storage.catalog import FileRow


def extract(row: FileRow) -> tuple[MediaMeta, str | None]:
    """The file's metadata, and the reason when its header could not be read (then: mtime only)."""
    try:
        return read_metadata(row.path, row.kind, row.mtime), None
    except DecodeError as exc:
        return mtime_meta(row.mtime), str(exc)
    except OSError as exc:  # vanished or unreadable since the scan
        return mtime_meta(row.mtime), f"cannot read the file: {exc.strerror or exc}"


def places_of(metas: Sequence[MediaMeta]) -> list[Place | None]:
    """The place of each metadata's position (None without one), in one gazetteer query."""
    where = [i for i, m in enumerate(metas) if m.lat is not None and m.lon is not None]
    out: list[Place | None] = [None] * len(metas)
    if where:
        found = reverse_many([(metas[i].lat, metas[i].lon) for i in where])  # type: ignore[misc]
        for i, place in zip(where, found, strict=True):
            out[i] = place
    return out


def analyze_rows(
    lib: Library, rows: Sequence[FileRow], *, cancel: Callable[[], bool] | None = None
) -> dict[int, str | None]:
    """Read and store the metadata of many files, geocoding them in one batch and writing them in one
    transaction. Returns {file id: None, or the reason its header could not be read (its row then holds
    the mtime fallback)} for the files it did; it stops early when ``cancel()`` says so."""
    metas: list[MediaMeta] = []
    outcome: dict[int, str | None] = {}
    done: list[FileRow] = []
    for row in rows:
        if cancel is not None and cancel():
            break
        meta, reason = extract(row)
        metas.append(meta)
        done.append(row)
        outcome[row.id] = reason
    store_meta.put_many(
        lib.catalog, [(r.id, m, p) for r, m, p in zip(done, metas, places_of(metas), strict=True)]
    )
    return outcome


class MetadataAnalyzer(Analyzer):
    name = "metadata"
    version = store_meta.TABLE_VERSION
    kinds = frozenset({Kind.PHOTO.value, Kind.VIDEO.value, Kind.SOUND.value})
    needs = "file"
    produces = "capture time (EXIF/container/tags or mtime), camera, GPS position and its place names"
    #: Just after the embeddings (0): a header read costs ~1 ms, so dates and places fill in first.
    priority: ClassVar[int] = 10
    label = "reading dates and places"
    #: One gazetteer query and one transaction per 64 files (bench/bench_metadata.py: runner row).
    batch_size: ClassVar[int] = 64

    def analyze(self, lib: Library, row: FileRow, inputs: Inputs) -> None:
        reason = analyze_rows(lib, [row]).get(row.id)
        if reason:
            raise DecodeError(reason)

    def analyze_many(
        self, lib: Library, rows: Sequence[FileRow], cancel: CancelFn
    ) -> Mapping[int, str | None]:
        return analyze_rows(lib, rows, cancel=cancel)


METADATA = register(MetadataAnalyzer())
