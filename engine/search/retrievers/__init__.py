"""The retrievers the search box runs, in one list (see engine.search.retrievers.base for the interface).

To add one, import it here and append an instance to :data:`RETRIEVERS`; the ranking step
(engine.search.ranking) runs every retriever whose kinds and ``--only`` group apply, and fuses them.
Heavy libraries stay out of module level in retriever modules: this package is imported by every search.
"""

from __future__ import annotations

from engine.search.retrievers.base import Candidate, Reason, Retriever
from engine.search.retrievers.names import NamesRetriever
from engine.search.retrievers.sounds import SoundRetriever
from engine.search.retrievers.speech import SaidMeaningRetriever, SaidRetriever
from engine.search.retrievers.visual import VisualRetriever
from engine.search.retrievers.words import WordsRetriever

RETRIEVERS: list[Retriever] = [
    NamesRetriever(),
    WordsRetriever(),
    VisualRetriever(),
    SoundRetriever(),
    SaidRetriever(),
    SaidMeaningRetriever(),
]

__all__ = ["RETRIEVERS", "Candidate", "Reason", "Retriever"]
