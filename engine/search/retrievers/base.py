"""The retriever interface: one way of finding files for a query (vectors, words in pictures, names,
sound tags, metadata). engine.search.ranking runs every retriever that applies and fuses their lists.

A retriever returns :class:`Candidate` rows, best first, each with the :class:`Reason` that explains it
(which words matched where, which tags, the cosine). It says whether a candidate is a *good* match:
lexical retrievers (exact words in a name or read in a picture) always do; score-based ones decide
with their own adaptive cutoff (see engine.search.cutoff). The ranking keeps every reason on the result.

Adding one: subclass :class:`Retriever`, set ``name`` (the reason's label: "text", "names", "visual",
"sounds", …), ``group`` (what ``lookalike search --only`` calls it) and ``kinds``, and append an instance
to the list in engine/search/retrievers/__init__.py.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.search.results import Reason, in_folder
from engine.storage.catalog import INDEXED

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery
    from engine.storage.catalog import FileRow

__all__ = ["ALL_KINDS", "Candidate", "Reason", "Retriever", "admits"]

ALL_KINDS: frozenset[str] = frozenset({"photo", "video", "sound"})


@dataclass
class Candidate:
    """One file a retriever found."""

    file_id: int
    #: The retriever's own score, higher is better (a cosine, a tag score, a text-match strength).
    score: float
    #: Seconds into the file of the moment that matched (video frame, sound segment); None otherwise.
    t: float | None = None
    #: Other good moments of the file as (t, score), best first.
    moments: list[tuple[float, float]] = field(default_factory=list)
    #: Why it matched (usually one reason; the ranking adds the retriever's rank to each).
    reasons: list[Reason] = field(default_factory=list)
    #: The retriever vouches for it: an exact word, or a score above the query's adaptive cutoff.
    good: bool = False


def admits(
    row: FileRow | None,
    kinds: Sequence[str] | None,
    folder: str | None,
    allowed: Collection[int] | None,
) -> bool:
    """What every retriever checks of a catalog row before it offers the file: it exists and is indexed
    (the catalog, not a side table or the store, says what exists), is of ``kinds`` (None: any), inside
    ``folder`` (None: anywhere) and among ``allowed`` (None: no filter)."""
    return (
        row is not None
        and row.state == INDEXED
        and (not kinds or row.kind in kinds)
        and in_folder(row.path, folder)
        and (allowed is None or row.id in allowed)
    )


class Retriever:
    """Base class; subclasses set the class attributes and implement :meth:`retrieve`."""

    #: Label of its reasons ("text", "names", "visual", "sounds"); unique among retrievers.
    name: str = ""
    #: What ``--only`` calls it ("text", "visual", "names", "sounds"); several may share a group.
    group: str = ""
    #: Other names ``--only`` knows it by (the metadata retriever is also "date", "place", "camera").
    aliases: frozenset[str] = frozenset()
    #: The file kinds it can find; the ranking skips it when the query's kinds leave none of them.
    kinds: frozenset[str] = ALL_KINDS
    #: Exact-text retrievers: their hits are good by definition and they answer :meth:`having`.
    lexical: bool = False
    #: Its weight in reciprocal-rank fusion (engine.search.ranking).
    weight: float = 1.0

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        """Up to ``limit`` files for ``query``, best first, one candidate per file, only of ``kinds``
        (None: all it knows), only inside ``folder`` (None: anywhere), only among ``query.allowed``
        when that is set, and only files the catalog lists as indexed.

        Raises ModelMissingError when its model is not installed (the ranking reports that only when
        no other retriever found anything); any other failure is the retriever's bug.
        """
        raise NotImplementedError

    def having(self, lib: Library, terms: Sequence[str], file_ids: Collection[int]) -> set[int]:
        """Which of ``file_ids`` contain one of ``terms`` as this retriever reads files (for ``-word``
        exclusions). Retrievers that do not read text answer the empty set."""
        return set()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
