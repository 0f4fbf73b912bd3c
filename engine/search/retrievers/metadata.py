"""The "when" retriever: files by the date and place the search box understood (engine.search.understand).

* A query that is only dates and places ("Porto", "agosto 2020", "Rome 2018") has nothing else to rank
  by: this retriever lists the matching files newest first, every one a good match.
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
from engine.search.understand.filters import REASON, filter_of, metadata_reason
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
        alone = not query.text and not query.terms
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
                out.append(Candidate(fid, score, reasons=[metadata_reason(row, score)], good=alone))
        return out
