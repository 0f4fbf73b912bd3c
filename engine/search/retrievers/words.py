"""Words read in pictures: ``open 24`` finds the photo of the shop sign that says OPEN 24 HOURS, and the
video moment where a board says DEPARTURES.

Reads the texts index (engine.storage.texts, filled by the OCR analyzer): case- and accent-insensitive
words, words inside glued runs (OCR reads "SONYERICSSON"), one OCR slip in words of 6+ letters, CJK by a
few characters, quoted phrases as exact text. A file whose text holds every content word of the query
(and every phrase) is a good match; when no file holds them all, files holding some of them are
candidates the fusion may still place, but not good. Each candidate's reason carries the words as read
and their boxes (fractions of the picture, ``image_size`` [1, 1]) for the preview to outline.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from engine.search.query import fold
from engine.search.results import in_folder
from engine.search.retrievers.base import Candidate, Reason, Retriever
from engine.search.retrievers.names import STOP_WORDS
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery
    from engine.storage.texts import TextHit

#: A hit's reason shows at most this much of the line it was read in.
_CLIP = 60


def _cjk(term: str) -> bool:
    return any(ord(c) >= 0x2E80 for c in term)


def content_words(query: ParsedQuery) -> list[str]:
    """The loose words worth looking for in pictures: no stop words, no single Latin letters."""
    return [w for w in query.words if (len(w) > 1 or _cjk(w)) and fold(w) not in STOP_WORDS]


def search_words(lib: Library, text: str, limit: int = 50) -> list[TextHit]:
    """Files and moments whose text holds every word of ``text`` ("quoted" parts as phrases), best first
    (a plain function over the index for scripts and tests)."""
    from engine.search.query import parse_query
    from engine.storage.texts import TextIndex

    q = parse_query(text)
    return TextIndex(lib.catalog).search(content_words(q), q.phrases, limit)


def _clip(text: str) -> str:
    return text if len(text) <= _CLIP else text[: _CLIP - 1].rstrip() + "…"


class WordsRetriever(Retriever):
    """Words read in photos and video moments (see the module docstring)."""

    name = "text"
    group = "text"
    kinds = frozenset({"photo", "video"})
    lexical = True
    weight = 1.0

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        from engine.storage.texts import TextIndex

        words = content_words(query)
        phrases = list(query.phrases)
        if not words and not phrases:
            return []
        index = TextIndex(lib.catalog)
        n = max(limit * 4, 50)
        hits = [(h, True) for h in index.search(words, phrases, n)]
        terms = len(words) + len(phrases)
        if not hits and terms > 1:
            # No picture holds every word: those holding some are candidates, never good ones.
            seen: set[tuple[int, float]] = set()
            partial = [h for w in words for h in index.search([w], [], n)]
            partial += [h for p in phrases for h in index.search([], [p], n)]
            for h in sorted(partial, key=lambda h: -h.score):
                if (h.file_id, h.t) not in seen:
                    seen.add((h.file_id, h.t))
                    hits.append((h, False))
        rows = lib.catalog.get_many({h.file_id for h, _ in hits})
        out: dict[int, Candidate] = {}
        for h, good in hits:
            row = rows.get(h.file_id)
            if row is None or row.state != cat.INDEXED or (kinds and row.kind not in kinds):
                continue
            if not in_folder(row.path, folder) or (query.allowed is not None and row.id not in query.allowed):
                continue
            t = h.t if h.t >= 0 else None
            c = out.get(h.file_id)
            if c is not None:
                if t is not None and len(c.moments) < 5:
                    c.moments.append((t, h.score / terms))
                continue
            if len(out) >= limit:
                continue
            score = h.score / terms  # 1.0: every term a whole word, read with full confidence
            detail: dict[str, Any] = {
                "text": _clip(h.text),
                "matched": h.matched,
                "box": h.box,
                "boxes": h.boxes,
                "image_size": [1, 1],
            }
            # Plain words for the tile: a video's text is on screen, a photo's in the picture.
            where = "words on screen" if t is not None else "words in the picture"
            detail["label"] = f"{where}: “{_clip(' … '.join(dict.fromkeys(h.matched)) or h.text)}”"
            if t is not None:
                detail["t"] = t
            out[h.file_id] = Candidate(
                h.file_id, score, t, [], [Reason(self.name, score, detail, good=good)], good
            )
        return list(out.values())

    def having(self, lib: Library, terms: Sequence[str], file_ids: Collection[int]) -> set[int]:
        from engine.storage.texts import TextIndex

        if not file_ids:
            return set()
        return TextIndex(lib.catalog).files_with(terms, file_ids)
