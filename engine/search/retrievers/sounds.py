"""Words → sounds (and video soundtracks) through their AudioSet tags (engine.search.sounds)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from engine.media.kinds import Kind
from engine.search.retrievers.base import Candidate, Reason, Retriever
from engine.search.sounds import sound_matches

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery

#: A tag score is already a probability-like number in [0, 1] (engine.search.sound_tags): "PANNs gives
#: at least a one-in-four chance that the sound holds what the words name" is a good match. Unlike a
#: cosine it means the same in every query, so a fixed floor is right here.
GOOD_TAG_SCORE = 0.25


class SoundRetriever(Retriever):
    name = "sounds"
    group = "sounds"
    kinds = frozenset({Kind.SOUND.value, Kind.VIDEO.value})

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        if not query.text:
            return []
        found, tags = sound_matches(lib, query.text, limit=limit, folder=folder)
        out = []
        for r in found:
            if kinds and r.kind not in kinds:
                continue
            if query.allowed is not None and r.file_id not in query.allowed:
                continue
            good = r.score >= GOOD_TAG_SCORE
            reason = Reason(self.name, r.score, {"tags": tags}, good=good)
            out.append(Candidate(r.file_id, r.score, None, [], [reason], good))
        return out
