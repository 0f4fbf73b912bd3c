"""When and where in the search box: dates and places taken out of the query and turned into filters.

Importing this package plugs it into the search (engine.search.query): :func:`understand_when_where`
joins ``UNDERSTANDERS`` and :func:`allowed_files` joins ``FILTERS``. For "beach in Porto July 2023":

* ``q.text`` becomes "beach" (what the image model sees);
* ``q.filters["date"]`` = [("2023-07-01T00:00:00", "2023-08-01T00:00:00")] (a union of local-time ranges);
* ``q.filters["place"]`` = [("city", "Porto", "PT"), ("region", "Porto", "PT")] (a union of places);
* ``q.understood`` gets ("date", "July 2023") and ("place", "Porto") chips;
* the files allowed are those made in July 2023 *and* in Porto (engine.storage.metadata.matching).

Cameras the library has photos from are understood the same way ("canon", "taken with pixel": a
("camera", "Canon") chip and ``q.filters["camera"]`` = the camera names; engine.search.understand.cameras).

When no file passes, ``q.understood`` gets an ("empty", "No photos from July 2023 in Porto") chip,
which the CLI prints and the app shows; the search returns nothing rather than unrelated pictures.

:func:`search` is the entry point for callers with explicit filters (``--after``, ``--before``,
``--place``, the app's date and place boxes) and a sort order; it returns the understanding with the
results, each carrying the metadata that matched as a "when" reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from engine.errors import LookalikeError
from engine.search import query as query_mod
from engine.search.query import ParsedQuery, fold, parse_query
from engine.search.results import Result
from engine.search.understand.cameras import CameraIndex
from engine.search.understand.dates import DateRange, fillers, find_dates, keep_weak
from engine.search.understand.filters import (
    CAMERA,
    DATE,
    EMPTY,
    FRAGMENTS,
    ONLY,
    PLACE,
    REASON,
    camera_index,
    filter_of,
    metadata_reason,
    place_index,
)
from engine.search.understand.places import PlaceIndex
from engine.storage import metadata as sm

if TYPE_CHECKING:
    from engine.library import Library


def _has_files(lib: Library, r: DateRange) -> bool:
    return sm.count_matching(lib.catalog, sm.Filter(ranges=(r.iso(),))) > 0


def understand_when_where(lib: Library | None, q: ParsedQuery, *, today: date | None = None) -> None:
    """The UNDERSTANDERS step: move dates and the library's places from ``q.text`` into ``q.filters``.

    Without a library only dates are understood, and weak bare years stay text (nothing can say whether
    the library has files from then)."""
    if lib is None:
        understand_text(q, places=None, has_files=None, today=today)
    else:
        understand_text(q, places=place_index(lib), has_files=lambda r: _has_files(lib, r), today=today)


def understand_text(
    q: ParsedQuery,
    *,
    places: PlaceIndex | None,
    has_files: Callable[[DateRange], bool] | None,
    today: date | None = None,
) -> None:
    """:func:`understand_when_where` given what it needs of a library: its place index, and whether it
    has files in a date range (for weak years; None: weak years stay text). The app runs this on the GUI
    thread with a :class:`LibrarySummary`, so the chips follow the typing without asking the engine."""
    text = q.text
    if not text:
        return
    # Quoted phrases mean exact text ("Porto 2019" on a poster): nothing inside them is a date or place.
    quoted = _spans_of(text, q.phrases)
    found = [m for m in find_dates(text, today) if not _overlaps(m.span, quoted)]
    found = keep_weak(found, has_files) if has_files is not None else [m for m in found if not m.weak]
    taken = quoted + [m.span for m in found]
    named = places.find(text, taken) if places is not None and len(places) else []
    if not found and not named:
        return
    fragments = q.filters.setdefault(FRAGMENTS, [])
    for m in found:
        q.consume(m.fragment)
        q.filters.setdefault(DATE, []).extend(m.range.parts())
        q.understood.append((DATE, m.label))
        fragments.append((DATE, m.label, m.fragment))
    for p in named:
        q.consume(p.fragment)
        q.filters.setdefault(PLACE, []).extend(p.places)
        q.understood.append((PLACE, p.label))
        fragments.append((PLACE, p.label, p.fragment))
    _drop_fillers(q)


def _drop_fillers(q: ParsedQuery) -> None:
    # "photos from 2019", "fotos de Oporto": what is left says nothing to the image model.
    useless = fillers()
    if q.text and all(fold(w) in useless for w in q.text.split()):
        q.text = ""
        q.words = []


def understand_cameras(lib: Library | None, q: ParsedQuery) -> None:
    """The UNDERSTANDERS step for cameras: a make or model the library has photos from leaves the text
    for ``q.filters["camera"]`` (see engine.search.understand.cameras). Without a library, nothing."""
    if lib is not None:
        understand_camera_text(q, camera_index(lib))


def understand_camera_text(q: ParsedQuery, cameras: CameraIndex | None) -> None:
    """:func:`understand_cameras` given the library's camera index (the app's :class:`LibrarySummary`
    has one, for the chips while typing)."""
    if not q.text or cameras is None or not len(cameras):
        return
    found = cameras.find(q.text, _spans_of(q.text, q.phrases))
    if not found:
        return
    fragments = q.filters.setdefault(FRAGMENTS, [])
    for m in found:
        q.consume(m.fragment)
        q.filters.setdefault(CAMERA, []).extend(c for c in m.cameras if c not in q.filters.get(CAMERA, ()))
        q.understood.append((CAMERA, m.label))
        fragments.append((CAMERA, m.label, m.fragment))
    _drop_fillers(q)


def _spans_of(text: str, phrases: Sequence[str]) -> list[tuple[int, int]]:
    spans = []
    low = text.casefold()
    for phrase in phrases:
        start = low.find(phrase.casefold())
        while start >= 0:
            spans.append((start, start + len(phrase)))
            start = low.find(phrase.casefold(), start + 1)
    return spans


def _overlaps(span: tuple[int, int], spans: Sequence[tuple[int, int]]) -> bool:
    return any(span[0] < e and s < span[1] for s, e in spans)


@dataclass
class LibrarySummary:
    """What the app keeps of the library to understand queries on the GUI thread: its places and the
    years it has files from. Made on the engine thread by :func:`library_summary` (cheap: two grouped
    queries), refreshed after indexing."""

    places: list[sm.PlaceCount] = field(default_factory=list)
    years: set[int] = field(default_factory=set)
    cameras: list[sm.CameraCount] = field(default_factory=list)
    _index: PlaceIndex | None = None
    _camera_index: CameraIndex | None = None

    @property
    def index(self) -> PlaceIndex:
        if self._index is None:
            self._index = PlaceIndex(self.places)
        return self._index

    @property
    def camera_index(self) -> CameraIndex:
        if self._camera_index is None:
            self._camera_index = CameraIndex(self.cameras)
        return self._camera_index

    def has_files(self, r: DateRange) -> bool:
        if r.start is None or r.end is None:
            return bool(self.years)
        return any(
            r.start.year <= y <= (r.end.year - (r.end.month == 1 and r.end.day == 1)) for y in self.years
        )

    def place_names(self) -> list[str]:
        """Names for the app's place box: countries, then regions and cities, most files first."""
        order = {sm.COUNTRY: 0, sm.CITY: 1, sm.REGION: 2}
        return list(
            dict.fromkeys(p.name for p in sorted(self.places, key=lambda p: (order[p.level], -p.files)))
        )


def library_summary(lib: Library) -> LibrarySummary:
    """The :class:`LibrarySummary` of ``lib`` (run it on the engine thread)."""
    years = {int(b) for b, _ in sm.histogram(lib.catalog, "year") if b and b.isdigit()}
    summary = LibrarySummary(sm.places(lib.catalog), years, sm.cameras(lib.catalog))
    _ = summary.index  # built here, on the engine thread: the GUI thread never imports pycountry
    _ = summary.camera_index
    return summary


def explain_offline(
    text: str,
    summary: LibrarySummary | None,
    *,
    after: str | None = None,
    before: str | None = None,
    place: str | None = None,
) -> Understood:
    """What the box makes of ``text`` and the explicit filters, from a :class:`LibrarySummary` (no
    engine call; the "nothing matches" chip comes with the answer, not from here). Raises nothing for any
    text; a date the box cannot read in ``after``/``before`` gives an ("error", reason) chip."""
    q = parse_query(text or "", None, understand=False)
    understand_text(
        q,
        places=summary.index if summary is not None else None,
        has_files=summary.has_files if summary is not None else None,
    )
    understand_camera_text(q, summary.camera_index if summary is not None else None)
    try:
        _add_explicit(
            q, summary.index if summary is not None else None, after=after, before=before, place=place
        )
    except LookalikeError as exc:
        q.understood.append(("error", str(exc)))
    return Understood.of(q)


def allowed_files(lib: Library, q: ParsedQuery) -> set[int] | None:
    """The FILTERS step: the files made at the query's dates and places (None without either). Adds
    the "nothing matches" chip when none is."""
    f = filter_of(q)
    if f.empty:
        return None
    ids = set(sm.matching(lib.catalog, f))
    if not ids and not any(kind == EMPTY for kind, _ in q.understood):
        q.understood.append((EMPTY, nothing_message(q)))
    return ids


#: What a search for these kinds of file finds, in words ("No videos from 2019 ...").
_KIND_NOUNS = {"photo": "photos", "video": "videos", "sound": "sounds"}


def nothing_message(q: ParsedQuery, kinds: Sequence[str] | None = None) -> str:
    """'No photos from July 2023 in Porto' — what the chips say when the filters leave nothing
    (``kinds``: the kinds searched, "No videos taken with Canon")."""
    dates = [label for kind, label in q.understood if kind == DATE]
    places = [label for kind, label in q.understood if kind == PLACE]
    cameras = [label for kind, label in q.understood if kind == CAMERA]
    nouns = [_KIND_NOUNS[k] for k in kinds or () if k in _KIND_NOUNS]
    msg = "No " + (" or ".join(nouns) if nouns and len(nouns) < len(_KIND_NOUNS) else "photos")
    if dates:
        # The date boxes' labels carry their own word ("from 2020", "before 2021").
        msg += " " + " or ".join(d if d.startswith(("from ", "before ")) else f"from {d}" for d in dates)
    if places:
        msg += " in " + " or ".join(places)
    if cameras:
        msg += " taken with " + " or ".join(cameras)
    return msg + " in this library"


#: ``--only`` names the metadata retriever answers to, and the filters each stands for.
ONLY_FINDERS = {"date": (DATE,), "place": (PLACE,), "camera": (CAMERA,), "when": (DATE, PLACE, CAMERA)}


def only_message(q: ParsedQuery, asked: Sequence[str]) -> str:
    """What ``--only date|place|camera|when`` says when the query names none of those: "“beach” names
    no place this library has files from"."""
    kinds = list(dict.fromkeys(k for g in asked for k in ONLY_FINDERS[g]))
    what = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    where = "" if kinds == [DATE] else " this library has files from"
    hint = " (try 2019, July 2023 or last summer)" if DATE in kinds else ""
    return f"“{q.raw.strip()}” names no {what}{where}{hint}"


# -- explicit filters, sorting, reasons ----------------------------------------------------------------


def parse_day(text: str) -> str:
    """The start of a date typed as the box takes it ('2023', '2023-07', '2023-07-14', 'July 2023',
    'agosto 2020') as ISO local time. ``--after X`` keeps files from the start of X on (X included);
    ``--before X`` keeps files before the start of X. Raises LookalikeError for text that is no date."""
    found = find_dates(text.strip())
    if len(found) != 1 or found[0].range.start is None:
        raise LookalikeError(f"Not a date: {text!r} (try 2023, 2023-07 or 2023-07-14)")
    return found[0].range.start.isoformat()


def add_explicit(
    lib: Library,
    q: ParsedQuery,
    *,
    after: str | None = None,
    before: str | None = None,
    place: str | None = None,
) -> None:
    """Add the filters given outside the text (``--after 2020``, ``--before 2021-07``, ``--place Porto``,
    the app's boxes) to ``q``, with their chips. ``after`` is inclusive of that day/month/year, ``before``
    exclusive. Raises LookalikeError for a date it cannot read; a place the library has no photos of
    leaves nothing (with the chip that says so)."""
    _add_explicit(q, place_index(lib) if place else None, after=after, before=before, place=place)


def _add_explicit(
    q: ParsedQuery,
    index: PlaceIndex | None,
    *,
    after: str | None = None,
    before: str | None = None,
    place: str | None = None,
) -> None:
    fragments = q.filters.setdefault(FRAGMENTS, [])
    if after or before:
        start = parse_day(after) if after else None
        end = parse_day(before) if before else None
        q.filters.setdefault(DATE, []).append((start, end))
        label = " ".join(([f"from {after}"] if after else []) + ([f"before {before}"] if before else []))
        q.understood.append((DATE, label))
        fragments.append((DATE, label, None))  # None: from a filter box, not from the text
    if place:
        found = index.find(place) if index is not None else []
        if found:
            for p in found:
                q.filters.setdefault(PLACE, []).extend(p.places)
                q.understood.append((PLACE, p.label))
                fragments.append((PLACE, p.label, None))
        else:
            # No file was made there: a place filter that allows nothing, said plainly.
            q.filters.setdefault(PLACE, []).append((sm.CITY, place, None))
            q.understood.append((PLACE, place))
            fragments.append((PLACE, place, None))


def add_reasons(lib: Library, results: list[Result], *, camera_first: bool = False) -> None:
    """Give every result without one a "when" reason (its date, place, camera), last among its reasons
    (``camera_first``: the query named a camera, so the reason leads with it)."""
    need = [r for r in results if not any(x.retriever == REASON for x in r.reasons)]
    rows = sm.get_many(lib.catalog, [r.file_id for r in need])
    for r in need:
        row = rows.get(r.file_id)
        if row is not None:
            r.reasons.append(metadata_reason(row, camera_first=camera_first))


def sort_by_date(lib: Library, results: list[Result], *, newest_first: bool = True) -> list[Result]:
    """``results`` by capture time (a file without a row by its modification time)."""
    rows = sm.get_many(lib.catalog, [r.file_id for r in results])

    def key(r: Result) -> str:
        row = rows.get(r.file_id)
        return row.local if row is not None and row.local else datetime.fromtimestamp(r.mtime).isoformat()

    return sorted(results, key=key, reverse=newest_first)


@dataclass
class Understood:
    """What a search understood, for ``--explain``, ``--json`` and the app's chips."""

    raw: str
    text: str
    chips: list[tuple[str, str]] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)

    #: (kind, label, fragment typed in the text or None for a filter box), for removable chips.
    fragments: list[tuple[str, str, str | None]] = field(default_factory=list)

    @classmethod
    def of(cls, q: ParsedQuery) -> Understood:
        return cls(q.raw, q.text, list(q.understood), dict(q.filters), list(q.filters.get(FRAGMENTS, [])))

    @property
    def nothing(self) -> str | None:
        """The "nothing matches" message, when the filters left nothing."""
        return next((label for kind, label in self.chips if kind == EMPTY), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "raw": self.raw,
            "text": self.text,
            "chips": [{"kind": k, "label": v} for k, v in self.chips],
            "filters": {k: v for k, v in self.filters.items() if k in (DATE, PLACE, CAMERA)},
        }

    def describe(self) -> str:
        """One line for people: 📅 July 2023 · 📍 Porto · "beach"."""
        icons = {DATE: "📅", PLACE: "📍", CAMERA: "📷"}
        parts = [f"{icons[k]} {v}" for k, v in self.chips if k in icons]
        parts += [f"{k}: {v}" for k, v in self.chips if k not in icons and k != EMPTY]
        if self.text:
            parts.append(f'"{self.text}"')
        return " · ".join(parts) or "(nothing)"


def search(
    lib: Library,
    text: str,
    *,
    limit: int = 20,
    kinds: Sequence[str] | None = None,
    folder: str | None = None,
    only: Sequence[str] | None = None,
    after: str | None = None,
    before: str | None = None,
    place: str | None = None,
    sort: str = "relevance",
    **ranking_kw: Any,
) -> tuple[list[Result], Understood]:
    """The search box with its date and place filters: (results, what was understood).

    ``sort`` "date" lists the results newest first; "relevance" keeps the ranking's order, except that
    a query that is only dates and places is listed by date anyway (there is nothing else to rank by).
    Raises LookalikeError for an unreadable ``after``/``before`` date, ModelMissingError as search_text.
    """
    from engine.search import ranking

    if sort not in ("date", "relevance"):
        raise LookalikeError(f"sort is 'date' or 'relevance', not {sort!r}")
    q = parse_query(text or "", lib)
    add_explicit(lib, q, after=after, before=before, place=place)
    understood = Understood.of(q)
    if q.empty:
        return [], understood
    if only:
        asked = [g for g in only if g in ONLY_FINDERS]
        named = any(k in q.filters for g in asked for k in ONLY_FINDERS[g])
        if asked and len(asked) == len(only) and not named:
            # Only the date / place / camera finder, and the query names none: say so, find nothing.
            q.understood.append((EMPTY, only_message(q, asked)))
            return [], Understood.of(q)
        q.filters[ONLY] = list(only)  # the metadata retriever answers alone when only it was asked
    # Options the ranking has grown since (the app's ``closest``) pass through when it takes them.
    accepted = inspect.signature(ranking.search).parameters
    extra = {k: v for k, v in ranking_kw.items() if k in accepted}
    results = ranking.search(lib, q, limit=limit, kinds=kinds, folder=folder, only=only, **extra)
    filtered = DATE in q.filters or PLACE in q.filters or CAMERA in q.filters
    said = any(k == EMPTY for k, _ in q.understood)
    if not results and filtered and not q.text and not q.terms and not said:
        # Files pass the filters, but none of the kinds or folder asked for ("canon --kind video").
        q.understood.append((EMPTY, nothing_message(q, kinds)))
    understood = Understood.of(q)  # the filter step may have added the "nothing" chip
    if DATE in q.filters or PLACE in q.filters or CAMERA in q.filters:
        add_reasons(lib, results, camera_first=CAMERA in q.filters)
    if sort == "date":
        results = sort_by_date(lib, results)
    # duplicates engineer: near-duplicates and bursts fold into one result (engine/search/stacks.py).
    from engine.search.stacks import stack_results

    return stack_results(lib, results), understood


def search_results(lib: Library, text: str, **kw: Any) -> list[Result]:
    """:func:`search` without the understanding (what the app's search controller runs on the engine
    thread when a date, place or sort box is set)."""
    return search(lib, text, **kw)[0]


def explain(lib: Library | None, text: str) -> Understood:
    """What the box makes of ``text`` without searching (the app's chips while typing)."""
    return Understood.of(parse_query(text, lib))


def _register() -> None:
    """Join the query hooks and the retrievers, once (this module is imported on the first parse)."""
    from engine.search.retrievers import RETRIEVERS
    from engine.search.retrievers.metadata import MetadataRetriever

    if understand_when_where not in query_mod.UNDERSTANDERS:
        query_mod.UNDERSTANDERS.append(understand_when_where)
    if understand_cameras not in query_mod.UNDERSTANDERS:
        query_mod.UNDERSTANDERS.append(understand_cameras)
    if allowed_files not in query_mod.FILTERS:
        query_mod.FILTERS.append(allowed_files)
    if not any(isinstance(r, MetadataRetriever) for r in RETRIEVERS):
        RETRIEVERS.append(MetadataRetriever())


_register()

__all__ = [
    "CAMERA",
    "DATE",
    "EMPTY",
    "PLACE",
    "REASON",
    "Understood",
    "add_explicit",
    "allowed_files",
    "explain",
    "search",
    "search_results",
    "LibrarySummary",
    "explain_offline",
    "library_summary",
    "sort_by_date",
    "understand_cameras",
    "understand_when_where",
]
