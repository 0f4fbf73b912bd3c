"""What was said: typed words find the moment a sound or video says them (full text over transcript
segments), and their meaning finds it too (MiniLM vectors of the segments: "when we talked about the
flight to Tokyo" finds "…book the flight to Tokyo on Friday…").

Two retrievers, so the ranking can weigh exact words above a paraphrase: ``said`` (lexical: every word
or phrase is in the segment) and ``said-meaning`` (a cosine between the query and the segment, good
above :data:`GOOD_COSINE`). Both give the segment's start as the moment and its words as the reason.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from engine.core.vectors import KIND_SPEECH
from engine.media.kinds import Kind
from engine.search.retrievers.base import Candidate, Reason, Retriever, admits

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery
    from engine.storage.transcripts import SpokenSegment

#: all-MiniLM-L6-v2 cosines between a question and a sentence that answers it are typically 0.45–0.8;
#: unrelated sentences sit at 0–0.25 (measured on the paraphrase test in tests/engine/test_speech.py
#: with the real model). A fixed floor is right here: the scale is the same for every query.
GOOD_COSINE = 0.45
_KINDS = frozenset({Kind.SOUND.value, Kind.VIDEO.value})


def _detail(seg: SpokenSegment) -> dict:
    return {
        "said": seg.text,
        "seq": seg.seq,
        "start": seg.start,
        "end": seg.end,
        "label": f"said: “{_clip(seg.text)}”",
    }


def _add_context(lib: Library, found: list[Candidate]) -> None:
    """The segments just before and after each matched one, so the preview can show the words around
    the moment (one catalog query for the page)."""
    from engine.storage import transcripts

    said = [(c, r) for c in found for r in c.reasons if "said" in r.detail]
    keys = [(c.file_id, r.detail["seq"] + d) for c, r in said for d in (-1, 1)]
    near = transcripts.segments(lib.catalog, keys)
    for c, r in said:
        before = near.get((c.file_id, r.detail["seq"] - 1))
        after = near.get((c.file_id, r.detail["seq"] + 1))
        r.detail["before"] = before.text if before else ""
        r.detail["after"] = after.text if after else ""


def _clip(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


class SaidRetriever(Retriever):
    """Exact words in what was said."""

    name = "said"
    group = "speech"
    kinds = _KINDS
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
        from engine.storage import transcripts

        if not query.terms:
            return []
        hits = transcripts.search(lib.catalog, query.words, query.phrases, limit=max(limit * 4, 50))
        rows = lib.catalog.get_many(h.segment.file_id for h in hits)
        out: dict[int, Candidate] = {}
        for h in hits:
            seg = h.segment
            if not admits(rows.get(seg.file_id), kinds, folder, query.allowed):
                continue
            c = out.get(seg.file_id)
            if c is None:
                if len(out) >= limit:
                    continue
                reason = Reason(self.name, h.score, {**_detail(seg), "matched": query.terms}, good=True)
                out[seg.file_id] = Candidate(seg.file_id, h.score, seg.start, [], [reason], True)
            elif len(c.moments) < 5:
                c.moments.append((seg.start, h.score))
        _add_context(lib, list(out.values()))
        return list(out.values())

    def having(self, lib: Library, terms: Sequence[str], file_ids: Collection[int]) -> set[int]:
        from engine.storage import transcripts

        return transcripts.files_with_words(lib.catalog, terms, list(file_ids))


class SaidMeaningRetriever(Retriever):
    """The meaning of what was said, through MiniLM vectors of the segments."""

    name = "said-meaning"
    group = "speech"
    kinds = _KINDS
    weight = 0.8

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        from engine.storage import transcripts

        text = query.text or " ".join(query.terms)
        collection = lib.speech_collection
        if not text.strip() or not lib.model_ready(lib.settings.text_model):
            return []
        store = lib.store
        if not store.has_collection(collection):
            return []
        vec = lib.text_encoder().encode([text])[0]
        n = min(max(limit * 8, 64), 16_384)
        hits = store.search(collection, vec[None, :], n, kinds=[KIND_SPEECH])[0]
        rows = lib.catalog.get_many(h.file_id for h in hits)
        segs = transcripts.segments(lib.catalog, [(h.file_id, h.id & 0xFFFF) for h in hits])
        out: dict[int, Candidate] = {}
        for h in hits:
            seg = segs.get((h.file_id, h.id & 0xFFFF))
            if seg is None or not admits(rows.get(h.file_id), kinds, folder, query.allowed):
                continue
            score = float(h.score)
            c = out.get(h.file_id)
            if c is None:
                if len(out) >= limit:
                    continue
                good = score >= GOOD_COSINE
                reason = Reason(self.name, score, _detail(seg), good=good)
                out[h.file_id] = Candidate(h.file_id, score, seg.start, [], [reason], good)
            elif len(c.moments) < 5:
                c.moments.append((seg.start, score))
        _add_context(lib, list(out.values()))
        return list(out.values())
