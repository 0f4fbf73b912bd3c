"""The ``file_meta`` side table: when and where each file was made, and the queries search needs.

One row per catalog file (the metadata analyzer writes it): capture time as an instant (``utc``) and as
the wall clock where it was taken (``local``, ISO text, which sorts and compares as dates do), where the
time came from (exif / container / tags / mtime), camera, position and its place names.

Date filters compare ``local``: "July 2023" is the July on the calendar of the place the photo was taken.
Rows of files that left the catalog or changed are removed through the catalog's on_remove / on_reset
hooks; every query also joins ``files`` and keeps indexed files only, so a stale row never surfaces.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from engine.storage.catalog import INDEXED, Catalog

#: Bumped when the table's meaning changes; rows of an older version are redone by the analyzer.
#: 2: a container's 1970-01-01 / 1904-01-01 creation time (no date set) is no capture date.
TABLE_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_meta (
    file_id INTEGER PRIMARY KEY,
    utc REAL,
    local TEXT,
    offset_min INTEGER,
    time_source TEXT NOT NULL,
    make TEXT,
    model TEXT,
    camera TEXT,
    lat REAL,
    lon REAL,
    city TEXT,
    region TEXT,
    cc TEXT,
    country TEXT,
    title TEXT,
    artist TEXT,
    version INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS file_meta_local ON file_meta(local);
CREATE INDEX IF NOT EXISTS file_meta_city ON file_meta(city);
CREATE INDEX IF NOT EXISTS file_meta_region ON file_meta(region);
CREATE INDEX IF NOT EXISTS file_meta_cc ON file_meta(cc);
CREATE INDEX IF NOT EXISTS file_meta_camera ON file_meta(camera)
"""

_COLS = (
    "file_id, utc, local, offset_min, time_source, make, model, camera, lat, lon, city, region, cc, country, "
    "title, artist"
)

CITY, REGION, COUNTRY = "city", "region", "country"


class MetaLike(Protocol):
    """What :func:`put_many` stores of a file's metadata (engine.media.metadata.MediaMeta has it; storage
    sits beside media in the layers, so it names the shape, not the class)."""

    utc: float | None
    local: str | None
    offset_min: int | None
    time_source: str
    make: str | None
    model: str | None
    lat: float | None
    lon: float | None
    title: str | None
    artist: str | None

    @property
    def camera(self) -> str | None: ...


class PlaceLike(Protocol):
    """What :func:`put_many` stores of a place (engine.media.places.Place has it)."""

    @property
    def city(self) -> str | None: ...
    @property
    def region(self) -> str | None: ...
    @property
    def cc(self) -> str | None: ...
    @property
    def country(self) -> str | None: ...


_LEVEL_COLUMN = {CITY: "city", REGION: "region", COUNTRY: "cc"}


@dataclass
class MetaRow:
    """One file's stored metadata (what engine.media.metadata.MediaMeta read) with its place names."""

    file_id: int
    utc: float | None
    local: str | None
    offset_min: int | None
    time_source: str
    make: str | None
    model: str | None
    camera: str | None
    lat: float | None
    lon: float | None
    city: str | None
    region: str | None
    cc: str | None
    country: str | None
    title: str | None
    artist: str | None

    @property
    def place_label(self) -> str | None:
        """'Porto, Portugal': the most specific name with its country (None without a place)."""
        parts = [p for p in (self.city or self.region, self.country) if p]
        return ", ".join(dict.fromkeys(parts)) or None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PlaceCount:
    """A place that occurs in the library, at one level, with how many files were made there."""

    level: str  # CITY, REGION or COUNTRY
    name: str  # the city or region name, or the country's name
    cc: str  # its country code (for a country, the key)
    region: str | None  # a city's region (to tell Valencia, Spain from Valencia, Venezuela)
    files: int


@dataclass(frozen=True)
class CameraCount:
    """A camera that occurs in the library (its EXIF make and model as stored, and the name people use
    for it, ``camera``), with how many files it made."""

    make: str | None
    model: str | None
    camera: str
    files: int


# -- connection ----------------------------------------------------------------------------------------

_ready: weakref.WeakKeyDictionary[Catalog, bool] = weakref.WeakKeyDictionary()
_versions: weakref.WeakKeyDictionary[Catalog, int] = weakref.WeakKeyDictionary()
_ready_lock = threading.Lock()


@contextmanager
def _tx(catalog: Catalog) -> Iterator[sqlite3.Connection]:
    """A write transaction on the catalog's connection (joins the caller's, e.g. a remove hook's)."""
    with catalog.transaction():
        yield catalog._db


def _read(catalog: Catalog, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
    ensure_table(catalog)
    return catalog.query(sql, tuple(args))


def ensure_table(catalog: Catalog) -> None:
    """Create the table and its indexes once per catalog (idempotent; cheap after the first call)."""
    if _ready.get(catalog):
        return
    with _ready_lock:
        if _ready.get(catalog):
            return
        with _tx(catalog) as db:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            # Rows left by files removed while no hook was registered (another process, an older
            # version): a reused file id must never inherit them.
            db.execute("DELETE FROM file_meta WHERE file_id NOT IN (SELECT id FROM files)")

        # A removed file's row goes with it; a changed file's row is stale (the analyzer redoes it).
        def drop(ids: list[int], cat: Catalog = catalog) -> None:
            forget(cat, ids)

        catalog.on_remove(drop)
        catalog.on_reset(drop)
        _ready[catalog] = True


def version(catalog: Catalog) -> int:
    """Bumped on every write through this module: caches of :func:`places` compare it."""
    return _versions.get(catalog, 0)


def _bump(catalog: Catalog) -> None:
    _versions[catalog] = _versions.get(catalog, 0) + 1


# -- writes -------------------------------------------------------------------------------------------


def put_many(catalog: Catalog, items: Iterable[tuple[int, MetaLike, PlaceLike | None]]) -> int:
    """Store (file_id, metadata, place) rows in one transaction, replacing earlier rows. Returns how many."""
    ensure_table(catalog)
    rows = [
        (
            fid,
            m.utc,
            m.local,
            m.offset_min,
            m.time_source,
            m.make,
            m.model,
            m.camera,
            m.lat,
            m.lon,
            place.city if place else None,
            place.region if place else None,
            place.cc if place else None,
            place.country if place else None,
            m.title,
            m.artist,
            TABLE_VERSION,
        )
        for fid, m, place in items
    ]
    if not rows:
        return 0
    with _tx(catalog) as db:
        db.executemany(
            f"INSERT OR REPLACE INTO file_meta({_COLS}, version) VALUES ({','.join('?' * 17)})", rows
        )
    _bump(catalog)
    return len(rows)


def put(catalog: Catalog, file_id: int, meta: MetaLike, place: PlaceLike | None) -> None:
    put_many(catalog, [(file_id, meta, place)])


def forget(catalog: Catalog, file_ids: Iterable[int]) -> None:
    """Delete the rows of these files (the catalog's on_remove hook calls this)."""
    ids = list(file_ids)
    if not ids:
        return
    ensure_table(catalog)
    with _tx(catalog) as db:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            db.execute(f"DELETE FROM file_meta WHERE file_id IN ({','.join('?' * len(chunk))})", chunk)
    _bump(catalog)


# -- reads --------------------------------------------------------------------------------------------


def get_many(catalog: Catalog, file_ids: Iterable[int]) -> dict[int, MetaRow]:
    ids = list(dict.fromkeys(file_ids))
    out: dict[int, MetaRow] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        for r in _read(
            catalog, f"SELECT {_COLS} FROM file_meta WHERE file_id IN ({','.join('?' * len(chunk))})", chunk
        ):
            out[r[0]] = MetaRow(*r)
    return out


def get(catalog: Catalog, file_id: int) -> MetaRow | None:
    return get_many(catalog, [file_id]).get(file_id)


def missing(catalog: Catalog, limit: int | None = None) -> list[int]:
    """Ids of files that have no row (or one of an older TABLE_VERSION): the backfill's work list."""
    sql = (
        "SELECT f.id FROM files f LEFT JOIN file_meta m ON m.file_id = f.id "
        "WHERE m.file_id IS NULL OR m.version < ? ORDER BY f.id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [r[0] for r in _read(catalog, sql, (TABLE_VERSION,))]


@dataclass(frozen=True)
class Filter:
    """Files made in any of ``ranges`` ([start, end) local time as ISO text; None is open-ended; a third
    item "N" or "S" keeps the range to files north of the equator or without a position, or to files
    south of it: the two halves of a season) and at
    any of ``places`` ((level, name, cc) triples): the ranges are one union, the places another, and a
    file must pass both. ``kinds`` and ``folder`` narrow further, as the search box's own filters do."""

    ranges: tuple[tuple[str | None, ...], ...] = ()
    places: tuple[tuple[str, str, str | None], ...] = ()
    #: Camera names (``file_meta.camera``, "Canon EOS 80D"): a file must be made by one of them.
    cameras: tuple[str, ...] = ()
    #: When True, modification-time dates never match a date filter.
    header_dates_only: bool = False
    kinds: tuple[str, ...] = ()
    folder: str | None = None

    @property
    def empty(self) -> bool:
        return not self.ranges and not self.places and not self.cameras


# The queries below say CROSS JOIN: it makes SQLite walk file_meta first, through its date or place
# index, and look each file up by id; left to itself it scans every indexed file through files_state
# (13-30 ms at 100k files, bench/bench_metadata.py).
def _where(f: Filter) -> tuple[str, list[Any]]:
    clauses, args = ["f.state = ?"], [INDEXED]
    if f.ranges:
        ors = []
        for start, end, *hemisphere in f.ranges:
            parts = ["m.local IS NOT NULL"]
            if hemisphere == ["N"]:
                parts.append("(m.lat IS NULL OR m.lat >= 0)")
            elif hemisphere == ["S"]:
                parts.append("m.lat < 0")
            if start is not None:
                parts.append("m.local >= ?")
                args.append(start)
            if end is not None:
                parts.append("m.local < ?")
                args.append(end)
            ors.append("(" + " AND ".join(parts) + ")")
        clauses.append("(" + " OR ".join(ors) + ")")
        if f.header_dates_only:
            clauses.append("m.time_source != 'mtime'")
    if f.places:
        ors = []
        for level, name, cc in f.places:
            if level == COUNTRY:
                ors.append("m.cc = ?")
                args.append(cc or name)
            else:
                col = _LEVEL_COLUMN[level]
                if cc:
                    ors.append(f"(m.{col} = ? AND m.cc = ?)")
                    args += [name, cc]
                else:
                    ors.append(f"m.{col} = ?")
                    args.append(name)
        clauses.append("(" + " OR ".join(ors) + ")")
    if f.cameras:
        clauses.append(f"m.camera IN ({','.join('?' * len(f.cameras))})")
        args += list(f.cameras)
    if f.kinds:
        clauses.append(f"f.kind IN ({','.join('?' * len(f.kinds))})")
        args += list(f.kinds)
    if f.folder:
        # A range on the UNIQUE path index, as Catalog.under does (paths may hold % and _).
        prefix = f.folder.rstrip(os.sep) + os.sep
        clauses.append("f.path >= ? AND f.path < ?")
        args += [prefix, prefix[:-1] + chr(ord(os.sep) + 1)]
    return " AND ".join(clauses), args


def matching(
    catalog: Catalog, f: Filter, *, newest_first: bool = True, limit: int | None = None
) -> list[int]:
    """Ids of indexed files that pass ``f``, by capture time (newest first unless told otherwise)."""
    where, args = _where(f)
    order = "DESC" if newest_first else "ASC"
    sql = (
        f"SELECT m.file_id FROM file_meta m CROSS JOIN files f ON f.id = m.file_id WHERE {where} "
        f"ORDER BY m.local {order}, m.file_id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [r[0] for r in _read(catalog, sql, args)]


def count_matching(catalog: Catalog, f: Filter) -> int:
    where, args = _where(f)
    sql = f"SELECT COUNT(*) FROM file_meta m CROSS JOIN files f ON f.id = m.file_id WHERE {where}"
    return int(_read(catalog, sql, args)[0][0])


def in_time_range(catalog: Catalog, start: str | None, end: str | None) -> list[int]:
    """Files made in [start, end) local time, newest first."""
    return matching(catalog, Filter(ranges=((start, end),)))


def in_place(catalog: Catalog, level: str, name: str, cc: str | None = None) -> list[int]:
    """Files made in a city, region or country (for a country, ``name`` may be the code), newest first."""
    return matching(catalog, Filter(places=((level, name, cc),)))


def places(catalog: Catalog) -> list[PlaceCount]:
    """Every city, region and country that occurs in the library, most files first."""
    out: list[PlaceCount] = []
    for city, region, cc, n in _read(
        catalog,
        "SELECT m.city, m.region, m.cc, COUNT(*) FROM file_meta m JOIN files f ON f.id = m.file_id "
        "WHERE m.cc IS NOT NULL AND f.state = ? GROUP BY m.city, m.region, m.cc",
        (INDEXED,),
    ):
        if city:
            out.append(PlaceCount(CITY, city, cc, region, n))
    regions: dict[tuple[str, str], int] = {}
    countries: dict[str, tuple[str, int]] = {}
    for region, cc, country, n in _read(
        catalog,
        "SELECT m.region, m.cc, m.country, COUNT(*) FROM file_meta m JOIN files f ON f.id = m.file_id "
        "WHERE m.cc IS NOT NULL AND f.state = ? GROUP BY m.region, m.cc",
        (INDEXED,),
    ):
        if region:
            regions[(region, cc)] = regions.get((region, cc), 0) + n
        name, total = countries.get(cc, (country or cc, 0))
        countries[cc] = (name, total + n)
    out += [PlaceCount(REGION, r, cc, None, n) for (r, cc), n in regions.items()]
    out += [PlaceCount(COUNTRY, name, cc, None, n) for cc, (name, n) in countries.items()]
    out.sort(key=lambda p: (-p.files, p.level, p.name))
    return out


def cameras(catalog: Catalog) -> list[CameraCount]:
    """Every camera that made an indexed file of the library, most files first."""
    rows = _read(
        catalog,
        "SELECT m.make, m.model, m.camera, COUNT(*) FROM file_meta m JOIN files f ON f.id = m.file_id "
        "WHERE m.camera IS NOT NULL AND f.state = ? GROUP BY m.make, m.model, m.camera",
        (INDEXED,),
    )
    out = [CameraCount(make, model, camera, n) for make, model, camera, n in rows]
    out.sort(key=lambda c: (-c.files, c.camera))
    return out


def histogram(
    catalog: Catalog, by: str = "month", *, header_dates_only: bool = False
) -> list[tuple[str, int]]:
    """(bucket, files) in date order: ``by`` is "year" ("2023"), "month" ("2023-07") or "day"."""
    width = {"year": 4, "month": 7, "day": 10}[by]
    extra = " AND m.time_source != 'mtime'" if header_dates_only else ""
    return [
        (b, n)
        for b, n in _read(
            catalog,
            f"SELECT substr(m.local, 1, {width}) AS b, COUNT(*) FROM file_meta m JOIN files f "
            f"ON f.id = m.file_id WHERE m.local IS NOT NULL AND f.state = ?{extra} GROUP BY b ORDER BY b",
            (INDEXED,),
        )
    ]


def date_bounds(catalog: Catalog) -> tuple[str | None, str | None]:
    """The earliest and latest local capture time in the library (None, None when empty)."""
    rows = _read(
        catalog,
        "SELECT MIN(m.local), MAX(m.local) FROM file_meta m JOIN files f ON f.id = m.file_id "
        "WHERE f.state = ?",
        (INDEXED,),
    )
    return rows[0][0], rows[0][1]
