"""What the when-where understanding shares with its retriever: chip kinds, the filter a parsed query
stands for, the library's place and camera indexes and the "when" reason of a result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.search.query import ParsedQuery
from engine.search.results import Reason
from engine.search.understand.cameras import CameraIndex
from engine.search.understand.places import PlaceIndex
from engine.storage import metadata as sm

if TYPE_CHECKING:
    from engine.library import Library

DATE, PLACE, CAMERA, EMPTY = "date", "place", "camera", "empty"
#: ``q.filters`` key: the ``--only`` finders asked for (engine.search.understand.search puts them there),
#: so the metadata retriever knows when it answers alone.
ONLY = "only"
#: ``q.filters`` key: (kind, label, fragment) of every date and place understood, for removable chips.
FRAGMENTS = "when_where_fragments"
#: The reason label of the metadata retriever (engine.search.retrievers.metadata).
REASON = "when"

_MEMO_KEY = "when_where.places"
_CAMERAS_MEMO_KEY = "when_where.cameras"


def place_index(lib: Library) -> PlaceIndex:
    """The library's places ready for matching, rebuilt when the metadata table changed."""
    version = sm.version(lib.catalog)
    memo = lib.memo.get(_MEMO_KEY)
    if memo is None or memo[0] != version:
        memo = (version, PlaceIndex(sm.places(lib.catalog)))
        lib.memo[_MEMO_KEY] = memo
    return memo[1]


def camera_index(lib: Library) -> CameraIndex:
    """The library's cameras ready for matching, rebuilt when the metadata table changed."""
    version = sm.version(lib.catalog)
    memo = lib.memo.get(_CAMERAS_MEMO_KEY)
    if memo is None or memo[0] != version:
        memo = (version, CameraIndex(sm.cameras(lib.catalog)))
        lib.memo[_CAMERAS_MEMO_KEY] = memo
    return memo[1]


def filter_of(q: ParsedQuery, *, kinds: Sequence[str] | None = None, folder: str | None = None) -> sm.Filter:
    return sm.Filter(
        ranges=tuple(tuple(r) for r in q.filters.get(DATE, ())),
        places=tuple((p[0], p[1], p[2]) for p in q.filters.get(PLACE, ())),
        cameras=tuple(q.filters.get(CAMERA, ())),
        kinds=tuple(kinds or ()),
        folder=folder,
    )


def metadata_reason(row: sm.MetaRow, score: float = 0.0, *, camera_first: bool = False) -> Reason:
    """A "when" reason for a result: when, where and with what it was taken. ``camera_first`` (the
    query named a camera) says that alone: "camera: Canon EOS 80D" (its date and place stay in ``detail``)."""
    detail: dict[str, Any] = {"time_source": row.time_source}
    parts = []
    if camera_first and row.camera:
        # The query named the camera: that is the reason (the date and place stay in the detail).
        parts.append(f"camera: {row.camera}")
    if row.local:
        detail["date"] = row.local
        day = row.local[:10]
        verb = {"mtime": "modified", "tags": "recorded"}.get(row.time_source, "taken")
        parts.append(f"{verb} {day}")
    place = row.place_label
    if place is not None:
        detail["place"] = place
        detail.update({"city": row.city, "region": row.region, "country": row.country, "cc": row.cc})
        parts.append(f"in {place}")
    if row.camera:
        detail["camera"] = row.camera
        if not camera_first:
            parts.append(f"with {row.camera}")
    if row.title or row.artist:  # a sound's (or clip's) tags
        detail.update({k: v for k, v in (("title", row.title), ("artist", row.artist)) if v})
        tagged = f"“{row.title}”" if row.title else ""
        parts.append(" ".join(x for x in (tagged, f"by {row.artist}" if row.artist else "") if x))
    label = parts[0] if camera_first and row.camera else " ".join(parts)
    detail["label"] = label or "no date or place recorded"
    return Reason(REASON, score, detail)
