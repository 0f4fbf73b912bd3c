"""Stacks: near-duplicates in a result list collapse under one tile.

:func:`stack_results` runs last on a ranked list (text search, find-similar): a result whose duplicate
group (engine.storage.duplicates, filled by the duplicates analyzer) already has a better-ranked
member in the list moves under that member's ``stack``; so does a photo of a burst, a near-identical
shot taken within ``BURST_S`` seconds of a better-ranked one (capture times from the metadata
analyzer, hashes from the duplicates analyzer). The tile shown is the best-ranked of its stack.

Lookups only (one query for the groups, one for the hashes and one for the capture times of the
results), never a pass over the library. A library without these tables yet is returned unchanged.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.media.kinds import Kind

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.results import Result

log = logging.getLogger(__name__)

#: Shots taken this close together (seconds) whose pictures are near-identical form a burst.
BURST_S = 3.0
#: Hash distance (bits of 64, best orientation) under which two shots of a burst count as the same.
BURST_HASH = 14


def stack_results(lib: Library, results: Sequence[Result]) -> list[Result]:
    """``results`` with near-duplicates and bursts folded into their best-ranked member's ``stack``
    (order kept otherwise). Never raises for missing tables: the list then comes back as it was."""
    results = list(results)
    if len(results) < 2:
        return results
    try:
        head = _heads(lib, results)
    except sqlite3.Error as exc:  # tables not made yet (an old catalog, a read-only view)
        log.debug("stacks: no duplicate data: %s", exc)
        return results
    out: list[Result] = []
    by_id = {r.file_id: r for r in results}
    for r in results:
        h = head.get(r.file_id, r.file_id)
        if h == r.file_id:
            r.stack = []
            out.append(r)
        else:
            by_id[h].stack.append(r)
    return out


def _heads(lib: Library, results: list[Result]) -> dict[int, int]:
    """file id -> the file id of the tile it goes under (itself for a tile)."""
    from engine.storage.duplicates import DuplicateTables

    tables = DuplicateTables.of(lib.catalog)
    ids = [r.file_id for r in results]
    rank = {fid: i for i, fid in enumerate(ids)}
    parent = {fid: fid for fid in ids}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            # The better-ranked one heads the stack.
            if rank[rb] < rank[ra]:
                ra, rb = rb, ra
            parent[rb] = ra

    for fid, others in tables.group_map(ids).items():
        for o in others:
            if o in rank:
                union(fid, o)
    for a, b in _bursts(lib, tables, results):
        union(a, b)
    return {fid: find(fid) for fid in ids}


def _bursts(lib: Library, tables: object, results: list[Result]) -> list[tuple[int, int]]:
    """Pairs of photo results taken within BURST_S of each other with near-identical pictures."""
    from engine.media import hashes as H
    from engine.storage import metadata as store_meta
    from engine.storage.duplicates import DuplicateTables

    assert isinstance(tables, DuplicateTables)
    photos = [r.file_id for r in results if r.kind == Kind.PHOTO.value]
    if len(photos) < 2:
        return []
    try:
        metas = store_meta.get_many(lib.catalog, photos)
    except sqlite3.Error:
        return []
    timed = sorted(
        (float(m.utc), fid) for fid, m in metas.items() if m.utc is not None and m.time_source != "mtime"
    )
    if len(timed) < 2:
        return []
    hashes = tables.get_many(fid for _, fid in timed)
    pairs: list[tuple[int, int]] = []
    for i, (t, a) in enumerate(timed):
        ha = hashes.get(a)
        if ha is None or ha.data is None:
            continue
        pa = H.PhotoHashes.from_bytes(ha.data, ha.width or 0, ha.height or 0)
        for t2, b in timed[i + 1 :]:
            if t2 - t > BURST_S:
                break
            hb = hashes.get(b)
            if hb is None or hb.data is None:
                continue
            pb = H.PhotoHashes.from_bytes(hb.data, hb.width or 0, hb.height or 0)
            if H.compare(pa, pb).distance <= BURST_HASH:
                pairs.append((a, b))
    return pairs
