"""Duplicate finding's side tables in the catalog: per-file hashes, a band index over them, the pairs
found, the groups they make, and the user's "not duplicates" decisions.

Tables (created with ``CREATE TABLE IF NOT EXISTS`` through the catalog's connection):

* ``dupe_hashes``: one row per hashed file: its kind, full content hash, pixel size, capture time, an
  "edited copy" flag, and the perceptual data (photo hashes, video moment hashes, sound fingerprint)
  as blobs.
* ``dupe_bands``: the multi-index over 64-bit hashes, one row per (band, value, file). Video moments
  split each hash into four 16-bit bands; photos into three long keys of 20 bits (:func:`chunks_of`),
  each looked up with its 1-bit neighbours. The keys take a pHash's bits lowest frequencies first (the
  DC bit, always set, left out): an edit flips mostly the small high-frequency coefficients, so a copy
  keeps a key within a bit of its original's. A new file meets only the files sharing a key with it:
  with 20-bit keys a stranger shares one by chance 16 times less often than with 16-bit bands (on real
  photos, 1.3 % of strangers against 17 %), so the rows a new photo reads stay small as the library
  grows.
* ``dupe_pairs``: the pairs the matcher accepted (a < b), with their distance and how they matched.
* ``dupe_groups``: file -> group (the connected parts of the pairs, split where the user said "not
  duplicates"); kept up to date each time a file is grouped, so listing and stacking are lookups.
* ``dupe_not``: pairs the user marked "not duplicates"; kept forever, so they are never shown again.

Rows of a file removed from the catalog are dropped through ``catalog.on_remove`` where the catalog
has that hook; the readers here also join on ``files`` so a stale row never shows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from engine.storage.catalog import Catalog

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dupe_hashes (
    file_id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    full_hash TEXT,
    width INTEGER,
    height INTEGER,
    taken REAL,
    edited INTEGER NOT NULL DEFAULT 0,
    data BLOB
);
CREATE TABLE IF NOT EXISTS dupe_bands (
    band INTEGER NOT NULL, value INTEGER NOT NULL, file_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS dupe_bands_key ON dupe_bands(band, value);
CREATE INDEX IF NOT EXISTS dupe_bands_file ON dupe_bands(file_id);
CREATE INDEX IF NOT EXISTS dupe_hashes_full ON dupe_hashes(full_hash);
CREATE TABLE IF NOT EXISTS dupe_pairs (
    a INTEGER NOT NULL, b INTEGER NOT NULL, kind TEXT NOT NULL, distance REAL NOT NULL, via TEXT NOT NULL,
    PRIMARY KEY (a, b)
);
CREATE INDEX IF NOT EXISTS dupe_pairs_b ON dupe_pairs(b);
CREATE TABLE IF NOT EXISTS dupe_groups (file_id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS dupe_groups_group ON dupe_groups(group_id);
CREATE TABLE IF NOT EXISTS dupe_not (a INTEGER NOT NULL, b INTEGER NOT NULL, PRIMARY KEY (a, b));
"""

BANDS = 4
_BAND_BITS = 16
_MASK = (1 << _BAND_BITS) - 1
#: Long keys (photos): the key widths and the first band number they use
#: (``LONG_BASE + table * len(CHUNKS) + chunk``; below it are the 16-bit bands).
CHUNKS = (20, 20, 20)
LONG_BASE = 64
#: The bits of a 64-bit pHash (bit 63 - (8u + v) holds DCT coefficient (u, v)), lowest frequency first
#: (u + v, then the larger of the two), without the DC coefficient: the order the long keys take them in.
_FREQ_ORDER = sorted(range(1, 64), key=lambda i: (i // 8 + i % 8, max(i // 8, i % 8), i))
_KEY_BITS = [
    [63 - i for i in _FREQ_ORDER[sum(CHUNKS[:c]) : sum(CHUNKS[: c + 1])]] for c in range(len(CHUNKS))
]


@dataclass
class HashRow:
    file_id: int
    kind: str
    version: int
    full_hash: str | None
    width: int | None
    height: int | None
    taken: float | None
    edited: bool
    data: bytes | None


def bands_of(h: int) -> list[int]:
    """The four 16-bit bands of a 64-bit hash, high to low."""
    return [(h >> (_BAND_BITS * (BANDS - 1 - i))) & _MASK for i in range(BANDS)]


def chunks_of(h: int) -> list[int]:
    """The long keys of a 64-bit pHash: its bits lowest frequency first, cut into CHUNKS."""
    out = []
    for positions in _KEY_BITS:
        v = 0
        for pos in positions:
            v = (v << 1) | ((h >> pos) & 1)
        out.append(v)
    return out


def _neighbours(value: int, radius: int, bits: int = _BAND_BITS) -> list[int]:
    out = [value]
    if radius >= 1:
        out += [value ^ (1 << i) for i in range(bits)]
    return out


def _keys_of(h: int, table: int, long: bool) -> list[tuple[int, int]]:
    """(band number, value) index entries of one hash in band table ``table``."""
    if long:
        base = LONG_BASE + table * len(CHUNKS)
        return [(base + i, v) for i, v in enumerate(chunks_of(h))]
    return [(table * BANDS + band, v) for band, v in enumerate(bands_of(h))]


class DuplicateTables:
    """The side tables, on a catalog's connection. Thread-safe as the catalog is (its lock)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        # Removed files leave the groups; changed files are hashed again (their old hashes are stale).
        catalog.on_remove(self.forget)
        catalog.on_reset(self.forget)

    @classmethod
    def of(cls, catalog: Catalog) -> DuplicateTables:
        """The tables of ``catalog``, made once per catalog object (the schema check is not free)."""
        tables = getattr(catalog, "_duplicate_tables", None)
        if tables is None:
            tables = cls(catalog)
            catalog._duplicate_tables = tables  # type: ignore[attr-defined]
        return tables

    # -- connection ----------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self.catalog.transaction():
            yield self.catalog._db

    def _query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return self.catalog.query(sql, args)

    # -- hashes ----------------------------------------------------------------------------------------

    def put(
        self, row: HashRow, index_hashes: Iterable[int] = (), *, table: int = 0, long: bool = False
    ) -> None:
        """Store (replace) a file's hashes and its band index entries, in band table ``table`` (bands
        ``table * BANDS`` onwards, or long keys, :func:`chunks_of`, when ``long``): photo frames, photo
        windows and video moments each have their own, so a lookup meets only the hashes it can match."""
        with self._tx() as db:
            db.execute("DELETE FROM dupe_bands WHERE file_id=?", (row.file_id,))
            db.execute(
                "INSERT OR REPLACE INTO dupe_hashes(file_id, kind, version, full_hash, width, height, taken, "
                "edited, data) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    row.file_id,
                    row.kind,
                    row.version,
                    row.full_hash,
                    row.width,
                    row.height,
                    row.taken,
                    int(row.edited),
                    row.data,
                ),
            )
            rows = {(b, v, row.file_id) for h in index_hashes for b, v in _keys_of(h, table, long)}
            db.executemany("INSERT INTO dupe_bands(band, value, file_id) VALUES (?,?,?)", sorted(rows))

    def get(self, file_id: int) -> HashRow | None:
        rows = self.get_many([file_id])
        return rows.get(file_id)

    def get_many(self, file_ids: Iterable[int]) -> dict[int, HashRow]:
        ids = list(dict.fromkeys(int(i) for i in file_ids))
        out: dict[int, HashRow] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._query(
                "SELECT file_id, kind, version, full_hash, width, height, taken, edited, data "
                f"FROM dupe_hashes WHERE file_id IN ({marks})",
                chunk,
            ):
                out[r[0]] = HashRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8])
        return out

    def with_full_hash(self, digest: str) -> list[int]:
        return [r[0] for r in self._query("SELECT file_id FROM dupe_hashes WHERE full_hash=?", (digest,))]

    def add_index(
        self, file_id: int, index_hashes: Iterable[int], *, table: int, long: bool = False
    ) -> None:
        """Add band entries for more hashes of a file already stored (another band table)."""
        rows = {(band, value, file_id) for h in index_hashes for band, value in _keys_of(h, table, long)}
        with self._tx() as db:
            db.executemany("INSERT INTO dupe_bands(band, value, file_id) VALUES (?,?,?)", sorted(rows))

    def drop_bands(self, bands: Iterable[int]) -> None:
        """Delete every index entry under these band numbers (an index laid out anew)."""
        with self._tx() as db:
            db.executemany("DELETE FROM dupe_bands WHERE band=?", [(int(b),) for b in bands])

    def has_band(self, band: int) -> bool:
        return bool(self._query("SELECT 1 FROM dupe_bands WHERE band=? LIMIT 1", (band,)))

    def candidates(
        self,
        probes: Iterable[int],
        *,
        radius: int = 0,
        kind: str | None = None,
        table: int = 0,
        long: bool = False,
    ) -> dict[int, int]:
        """Files sharing a key of table ``table`` (within ``radius`` bits) with any probe hash:
        file id -> keys shared."""
        keys: dict[int, set[int]] = {}
        for h in probes:
            for i, (band, value) in enumerate(_keys_of(int(h), table, long)):
                width = CHUNKS[i] if long else _BAND_BITS
                keys.setdefault(band, set()).update(_neighbours(value, radius, width))
        hits: dict[int, int] = {}
        for band, values in keys.items():
            for fid, n in self.lookup_keys(band, values).items():
                hits[fid] = hits.get(fid, 0) + n
        if kind is not None and hits:
            kinds = {f: r.kind for f, r in self.get_many(hits).items()}
            hits = {f: n for f, n in hits.items() if kinds.get(f) == kind}
        return hits

    def put_keys(self, file_id: int, band: int, values: Iterable[int]) -> None:
        """Index exact keys (a sound's sampled sub-fingerprints) under ``band`` (>= BANDS)."""
        rows = sorted({(band, int(v), file_id) for v in values})
        with self._tx() as db:
            db.executemany("INSERT INTO dupe_bands(band, value, file_id) VALUES (?,?,?)", rows)

    def lookup_keys(self, band: int, values: Iterable[int]) -> dict[int, int]:
        """Files holding any of these exact keys under ``band``: file id -> keys shared."""
        vals = sorted({int(v) for v in values})
        hits: dict[int, int] = {}
        for i in range(0, len(vals), 900):
            chunk = vals[i : i + 900]
            marks = ",".join("?" * len(chunk))
            for (fid,) in self._query(
                f"SELECT file_id FROM dupe_bands WHERE band=? AND value IN ({marks})", [band, *chunk]
            ):
                hits[fid] = hits.get(fid, 0) + 1
        return hits

    def hashed_ids(self, kind: str | None = None) -> set[int]:
        if kind is None:
            return {r[0] for r in self._query("SELECT file_id FROM dupe_hashes")}
        return {r[0] for r in self._query("SELECT file_id FROM dupe_hashes WHERE kind=?", (kind,))}

    # -- pairs and groups ---------------------------------------------------------------------------

    def add_pairs(self, pairs: Iterable[tuple[int, int, str, float, str]]) -> None:
        """Record accepted pairs (a, b, kind, distance, via); order of a and b does not matter."""
        rows = [(min(a, b), max(a, b), k, float(d), v) for a, b, k, d, v in pairs if a != b]
        if rows:
            with self._tx() as db:
                db.executemany(
                    "INSERT OR REPLACE INTO dupe_pairs(a, b, kind, distance, via) VALUES (?,?,?,?,?)", rows
                )

    def pairs_of(self, file_ids: Iterable[int]) -> list[tuple[int, int, float]]:
        ids = list(dict.fromkeys(file_ids))
        out: set[tuple[int, int, float]] = set()
        for i in range(0, len(ids), 400):
            chunk = ids[i : i + 400]
            marks = ",".join("?" * len(chunk))
            for a, b, d in self._query(
                f"SELECT a, b, distance FROM dupe_pairs WHERE a IN ({marks}) OR b IN ({marks})", chunk + chunk
            ):
                out.add((a, b, d))
        return sorted(out)

    def not_duplicates(self, a: int, b: int) -> None:
        """Remember that ``a`` and ``b`` are not duplicates, and regroup them."""
        if a == b:
            return
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO dupe_not(a, b) VALUES (?, ?)", (min(a, b), max(a, b)))
        self.regroup([a, b])

    def not_pairs(self, file_ids: Iterable[int]) -> set[tuple[int, int]]:
        ids = list(dict.fromkeys(file_ids))
        out: set[tuple[int, int]] = set()
        for i in range(0, len(ids), 400):
            chunk = ids[i : i + 400]
            marks = ",".join("?" * len(chunk))
            out.update(
                (a, b)
                for a, b in self._query(
                    f"SELECT a, b FROM dupe_not WHERE a IN ({marks}) OR b IN ({marks})", chunk + chunk
                )
            )
        return out

    def component(self, start: Iterable[int]) -> set[int]:
        """Every file linked to ``start`` through accepted pairs (a breadth-first walk of the pairs)."""
        seen = set(start)
        frontier = list(seen)
        while frontier:
            nxt: list[int] = []
            for a, b, _ in self.pairs_of(frontier):
                for f in (a, b):
                    if f not in seen:
                        seen.add(f)
                        nxt.append(f)
            frontier = nxt
        return seen

    def regroup(self, start: Iterable[int]) -> None:
        """Recompute the groups of the files linked to ``start``: union of the accepted pairs, closest
        first, never joining two parts that hold a "not duplicates" pair between them."""
        files = self.component(start)
        pairs = sorted(self.pairs_of(files), key=lambda p: p[2])
        forbidden = self.not_pairs(files)
        parent = {f: f for f in files}
        members = {f: {f} for f in files}

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b, _ in pairs:
            ra, rb = find(a), find(b)
            if ra == rb:
                continue
            if any((min(x, y), max(x, y)) in forbidden for x in members[ra] for y in members[rb]):
                continue
            if len(members[ra]) < len(members[rb]):
                ra, rb = rb, ra
            parent[rb] = ra
            members[ra] |= members.pop(rb)
        with self._tx() as db:
            ids = sorted(files)
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                db.execute(f"DELETE FROM dupe_groups WHERE file_id IN ({','.join('?' * len(chunk))})", chunk)
            rows = []
            for group in members.values():
                if len(group) > 1:
                    gid = min(group)
                    rows += [(f, gid) for f in group]
            db.executemany("INSERT INTO dupe_groups(file_id, group_id) VALUES (?, ?)", rows)

    def groups(self, kind: str | None = None) -> list[list[int]]:
        """Every group of two or more files still in the catalog, as lists of file ids (biggest first)."""
        sql = (
            "SELECT g.group_id, g.file_id FROM dupe_groups g JOIN files f ON f.id = g.file_id "
            "JOIN dupe_hashes h ON h.file_id = g.file_id"
        )
        args: tuple = ()
        if kind is not None:
            sql += " WHERE h.kind=?"
            args = (kind,)
        by_group: dict[int, list[int]] = {}
        for gid, fid in self._query(sql + " ORDER BY g.group_id, g.file_id", args):
            by_group.setdefault(gid, []).append(fid)
        out = [g for g in by_group.values() if len(g) > 1]
        out.sort(key=lambda g: (-len(g), g[0]))
        return out

    def group_map(self, file_ids: Iterable[int]) -> dict[int, list[int]]:
        """file id -> the other members of its group (only files that are in a group)."""
        ids = list(dict.fromkeys(file_ids))
        gids: dict[int, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            gids.update(
                self._query(f"SELECT file_id, group_id FROM dupe_groups WHERE file_id IN ({marks})", chunk)
            )
        if not gids:
            return {}
        members: dict[int, list[int]] = {}
        wanted = sorted(set(gids.values()))
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for gid, fid in self._query(
                f"SELECT g.group_id, g.file_id FROM dupe_groups g JOIN files f ON f.id = g.file_id "
                f"WHERE g.group_id IN ({marks})",
                chunk,
            ):
                members.setdefault(gid, []).append(fid)
        return {f: [m for m in members.get(g, []) if m != f] for f, g in gids.items()}

    # -- removal ---------------------------------------------------------------------------------------

    def forget(self, file_ids: Iterable[int]) -> None:
        """Drop every row of these files (removed from the catalog, or changed and to be hashed again).
        Their "not duplicates" decisions stay: a file id is never reused for another file."""
        ids = [int(i) for i in file_ids]
        if not ids:
            return
        others: set[int] = set()
        for a, b, _ in self.pairs_of(ids):
            others.update((a, b))
        with self._tx() as db:
            for i in range(0, len(ids), 400):
                chunk = ids[i : i + 400]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM dupe_hashes WHERE file_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM dupe_bands WHERE file_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM dupe_pairs WHERE a IN ({marks}) OR b IN ({marks})", chunk + chunk)
                db.execute(f"DELETE FROM dupe_groups WHERE file_id IN ({marks})", chunk)
        rest = others - set(ids)
        if rest:
            self.regroup(rest)


def pack_u64(values: Sequence[int] | np.ndarray) -> bytes:
    return np.asarray(values, dtype=np.uint64).astype("<u8").tobytes()


def unpack_u64(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u8").astype(np.uint64)


# -- groups as the user sees them --------------------------------------------------------------------


@dataclass
class GroupFile:
    """One file of a duplicate group, with what the user needs to choose which to keep."""

    file_id: int
    path: str
    kind: str
    size: int
    width: int | None
    height: int | None
    #: Capture time (UTC seconds) from the metadata analyzer, else the file's modification time.
    taken: float
    #: True when ``taken`` is a real capture time (EXIF / container), not the modification time.
    captured: bool
    edited: bool
    duration: float | None
    keep: bool = False

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "keep": self.keep,
            "file_id": self.file_id,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "taken": self.taken,
            "captured": self.captured,
            "edited": self.edited,
            "duration": self.duration,
        }


@dataclass
class Group:
    kind: str
    files: list[GroupFile]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "files": [f.to_json() for f in self.files]}

    @property
    def kept(self) -> GroupFile:
        return next(f for f in self.files if f.keep)

    @property
    def others(self) -> list[GroupFile]:
        return [f for f in self.files if not f.keep]


def suggest_keep(files: list[GroupFile]) -> GroupFile:
    """The copy to keep: the largest resolution, then not an edited copy, then the oldest capture, then
    the biggest file (least recompressed), then the shortest path (the original's folder, usually)."""
    return min(
        files,
        key=lambda f: (-f.pixels, f.edited, f.taken, -f.size, len(f.path), f.path),
    )


def list_groups(catalog: Catalog, kind: str | None = None) -> list[Group]:
    """Every duplicate group (optionally of one kind), biggest first, each with a suggested keeper
    marked ``keep`` and listed first. Files gone from the catalog are left out."""
    from engine.storage import metadata as store_meta

    tables = DuplicateTables.of(catalog)
    ids = tables.groups(kind)
    flat = [f for g in ids for f in g]
    rows = catalog.get_many(flat)
    hashes = tables.get_many(flat)
    try:
        metas = store_meta.get_many(catalog, flat)
    except sqlite3.Error:  # no metadata table yet: modification times only
        metas = {}
    out: list[Group] = []
    for g in ids:
        files: list[GroupFile] = []
        for fid in g:
            row, h = rows.get(fid), hashes.get(fid)
            if row is None or h is None:
                continue
            meta = metas.get(fid)
            captured = meta is not None and meta.utc is not None and meta.time_source != "mtime"
            taken = float(meta.utc) if captured and meta is not None and meta.utc is not None else row.mtime
            files.append(
                GroupFile(
                    fid,
                    row.path,
                    h.kind,
                    row.size,
                    h.width,
                    h.height,
                    taken,
                    captured,
                    h.edited,
                    row.duration,
                )  # fmt: skip
            )
        if len(files) < 2:
            continue
        best = suggest_keep(files)
        best.keep = True
        files.sort(key=lambda f: (not f.keep, f.path))
        out.append(Group(files[0].kind, files))
    return out


def trash_files(lib: Any, file_ids: list[int]) -> tuple[list[str], list[tuple[str, str]]]:
    """Move files of ``lib`` (an open, exclusive engine.library.Library) to the OS trash (send2trash,
    never a deletion) and drop them from the library: vectors, catalog rows, and through the catalog's
    removal hook their duplicate rows. Returns (trashed paths, failures as (path, reason)); a file that
    cannot be trashed stays where it is and in the library."""
    from send2trash import send2trash

    rows = lib.catalog.get_many(file_ids)
    done: list[int] = []
    paths: list[str] = []
    failures: list[tuple[str, str]] = []
    for fid in file_ids:
        row = rows.get(fid)
        if row is None:
            continue
        try:
            send2trash(row.path)
        except Exception as exc:  # send2trash raises OSError or its own TrashPermissionError
            failures.append((row.path, str(exc) or exc.__class__.__name__))
            continue
        done.append(fid)
        paths.append(row.path)
    if done:
        lib.delete_vectors(done)
        lib.catalog.remove(done)
    return paths, failures


def mark_group_not_duplicates(catalog: Catalog, file_ids: Sequence[int]) -> None:
    """Every pair of these files is "not duplicates" (the user's verdict on a whole group)."""
    tables = DuplicateTables.of(catalog)
    ids = sorted(set(file_ids))
    with tables._tx() as db:
        db.executemany(
            "INSERT OR IGNORE INTO dupe_not(a, b) VALUES (?, ?)",
            [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]],
        )
    tables.regroup(ids)
