"""The "when" retriever: files by the date, place and camera the search box understood
(engine.search.understand).

* A query that is only dates, places and cameras ("Porto", "agosto 2020", "Rome 2018", "canon",
  "taken with pixel") has nothing else to rank by: this retriever lists the matching files newest
  first, every one a good match. So does ``--only date|place|camera`` (or ``--only when``): the words
  it cannot read are left to the finders that were not asked.
* A query with words as well ("beach July 2023") is ranked by the other retrievers, inside the files
  the filter allows (``query.allowed``). This retriever then only contributes each file's "when" reason
  (taken 2023-07-14 in Porto, Portugal with Canon EOS 5D): its fusion weight is tiny, so the date order
  never reorders what the pictures decide, and its candidates are never good by themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.search.retrievers.base import Candidate, Retriever
from engine.search.understand.filters import CAMERA, DATE, ONLY, PLACE, REASON, filter_of, metadata_reason
from engine.storage import metadata as sm

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery

#: With words in the query, reasons are given for at most this many of the allowed files (newest
#: first); engine.search.understand.search adds the reason to any result beyond them.
REASONS_CAP = 2000


class MetadataRetriever(Retriever):
    name = REASON
    group = "when"
    #: ``--only date`` / ``place`` / ``camera``: this retriever, for that part of the query.
    aliases = frozenset({"date", "place", "camera"})
    #: Ranks among the others only break exact ties (see the module docstring); alone, any weight
    #: gives its own order.
    weight = 0.001

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        resolved = str(Path(folder).expanduser().resolve()) if folder else None
        f = filter_of(query, kinds=kinds, folder=resolved)
        if f.empty:
            return []
        only = set(query.filters.get(ONLY) or ())
        asked = {"date": DATE, "place": PLACE, "camera": CAMERA, "when": None}
        if only and only <= set(asked):
            if "when" not in only and not any(asked[g] in query.filters for g in only):
                return []  # --only place, and the query names no place
            alone = True
        else:
            alone = not query.text and not query.terms
        camera_first = CAMERA in query.filters
        ids = sm.matching(lib.catalog, f, limit=limit if alone else REASONS_CAP)
        if query.allowed is not None:
            ids = [i for i in ids if i in query.allowed]
        rows = sm.get_many(lib.catalog, ids)
        # Alone, every file is a full match (the tiles say 100%), listed newest first by rank. With
        # words, 0: a result's match is then what the pictures (or names, text) say, never the date.
        score = 1.0 if alone else 0.0
        out = []
        for fid in ids:
            row = rows.get(fid)
            if row is not None:
                reason = metadata_reason(row, score, camera_first=camera_first)
                out.append(Candidate(fid, score, reasons=[reason], good=alone))
        return out
