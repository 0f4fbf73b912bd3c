"""One ranking: reciprocal-rank fusion tiered by good matches, the adaptive cutoff, exclusions and the
reasons every result carries. Pure fusion and cutoff checks first, then the real retrievers on tiny
random-weight image models, where the text retrievers must carry the answers."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.search import cutoff, ranking
from engine.search.query import ParsedQuery
from engine.search.results import Reason, Result
from engine.search.retrievers.base import Candidate, Retriever
from tests.media import make_library, save_photo


class Fixed(Retriever):
    """A retriever answering a fixed list (file id, score, good), like OCR words would."""

    def __init__(self, name: str, hits: list[tuple[int, float, bool]], *, lexical: bool = False, **kw: Any):
        self.name = self.group = name
        self.lexical = lexical
        self.hits = hits
        self.words: dict[int, str] = kw.get("words", {})
        self.calls: list[ParsedQuery] = []

    def retrieve(
        self, lib: Any, query: ParsedQuery, *, limit: int, kinds: Any, folder: Any
    ) -> list[Candidate]:
        self.calls.append(query)
        return [
            Candidate(fid, s, reasons=[Reason(self.name, s, {"text": self.words.get(fid, "")})], good=g)
            for fid, s, g in self.hits[:limit]
        ]

    def having(self, lib: Any, terms: Sequence[str], file_ids: Collection[int]) -> set[int]:
        return {f for f in file_ids if any(t.lower() in self.words.get(f, "").lower() for t in terms)}


# -- fusion, pure ----------------------------------------------------------------------------------------


def test_rrf_sums_agreement_and_good_matches_come_first() -> None:
    visual = Fixed("visual", [(1, 0.31, False), (2, 0.30, False), (3, 0.29, False)])
    words = Fixed("text", [(3, 1.0, True)], lexical=True)
    fused = ranking.fuse(
        [
            (visual, visual.retrieve(None, ParsedQuery("x"), limit=9, kinds=None, folder=None)),
            (words, words.retrieve(None, ParsedQuery("x"), limit=9, kinds=None, folder=None)),
        ]
    )
    assert [f.file_id for f in fused] == [3, 1, 2]  # the word beats the vaguely similar ones
    assert fused[0].score == pytest.approx(1 / 63 + 1 / 61)  # RRF: visual rank 3 + words rank 1
    # Its reasons: the good one first, each with its retriever's rank and score.
    assert [(r.retriever, r.rank, r.good) for _, _, r in fused[0].parts] == [
        ("text", 1, True),
        ("visual", 3, False),
    ]
    # Between two not-good files, the sum of ranks decides; the good tier is kept whole.
    assert fused[1].score > fused[2].score


def test_cut_keeps_good_ones_and_a_few_closest() -> None:
    many = [ranking._Fused(i, 1.0 / (60 + i), good=i < 3) for i in range(1, 40)]
    out = ranking.cut(many, limit=20)
    assert [f.good for f in out] == [True] * 2 + [False] * ranking.CLOSEST_AFTER_GOOD
    none_good = [ranking._Fused(i, 1.0 / (60 + i)) for i in range(1, 40)]
    assert len(ranking.cut(none_good, limit=20)) == ranking.CLOSEST_IF_NONE
    assert len(ranking.cut(none_good, limit=3)) == 3
    assert len(ranking.cut([ranking._Fused(i, 1.0, good=True) for i in range(50)], limit=20)) == 20


# -- the adaptive cutoff, pure ---------------------------------------------------------------------------


@pytest.mark.parametrize("n_files", [1_000, 10_000, 100_000])
def test_cutoff_finds_nothing_in_noise_whatever_the_library_size(n_files: int) -> None:
    """Nonsense queries: every score from the bulk. The best of 100k noise scores sits near 4.4 sigma; a
    fixed z would call it good, Benjamini-Hochberg does not (at most FDR of the trials)."""
    rng = np.random.default_rng(n_files)
    trials, false_good = 40, 0
    for _ in range(trials):
        scores = rng.normal(0.2, 0.03, n_files)
        null = cutoff.fit_null(rng.choice(scores, min(n_files, cutoff.SAMPLE_FILES), replace=False), n_files)
        top = np.sort(scores)[::-1][:50]
        false_good += cutoff.good_count(top, null) > 0
    assert false_good <= max(2, trials * cutoff.FDR * 1.5)


def test_cutoff_keeps_a_group_of_true_matches_whole() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    bulk = rng.normal(0.2, 0.03, n)
    matches = rng.normal(0.2 + 6 * 0.03, 0.01, 40)  # 40 photos of what the words name, ~6 sigma up
    scores = np.concatenate([bulk, matches])
    null = cutoff.fit_null(rng.choice(scores, cutoff.SAMPLE_FILES, replace=False), len(scores))
    top = np.sort(scores)[::-1][:100]
    k = cutoff.good_count(top, null)
    assert 36 <= k <= 45  # the group (give or take its weakest), not the bulk's best
    # The same scores shifted by a constant (another query, another model's scale): the same verdict.
    null2 = cutoff.fit_null(rng.choice(scores + 0.5, cutoff.SAMPLE_FILES, replace=False), len(scores))
    assert abs(cutoff.good_count(top + 0.5, null2) - k) <= 3


def test_cutoff_needs_a_sample() -> None:
    assert cutoff.fit_null(np.array([0.1, 0.2, 0.3]), 3) is None
    assert cutoff.good_count([0.9, 0.8], None) == 0
    flat = cutoff.fit_null(np.full(100, 0.25), 100)
    assert flat is not None and cutoff.good_count([0.25, 0.25], flat) == 0


# -- on a library with tiny random-weight models -----------------------------------------------------------


@pytest.fixture
def lib(home: Path, tmp_path: Path) -> Any:
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library

    photos = make_library(tmp_path / "pics", 60)
    save_photo(tmp_path / "pics" / "shop sign.jpg", 900, quality=90)
    library = Library.open(home)
    library.add_folder(tmp_path / "pics")
    scan(library)
    index_pending(library)
    library.photos = photos
    yield library
    library.close()


def _id(lib: Any, name: str) -> int:
    return next(r.id for r in lib.catalog.iter_all() if r.name == name)


def test_a_photo_with_the_typed_word_beats_what_only_looks_alike(lib: Any) -> None:
    from engine.search.retrievers import RETRIEVERS

    sign = _id(lib, "shop sign.jpg")
    words = Fixed("text", [(sign, 0.9, True)], lexical=True, words={sign: "OPEN 24 HOURS"})
    results = ranking.search(lib, "open 24 hours", retrievers=[*RETRIEVERS, words])
    assert results[0].file_id == sign and results[0].good is True
    assert results[0].reason == "words in the picture: “OPEN 24 HOURS”"
    assert {r.retriever for r in results[0].reasons} >= {"text"}
    # Random image weights: nothing else is a good match; a few closest follow, marked as such.
    assert all(r.good is False for r in results[1:]) and 1 <= len(results) - 1 <= ranking.CLOSEST_AFTER_GOOD
    assert all(r.reasons and r.reasons[0].retriever == "visual" for r in results[1:])
    assert all(r.reason == "closest, but not a good match" for r in results[1:])
    assert all("z" in r.reasons[0].detail for r in results[1:])
    # The words searched for ride along, so the preview can say what it looked like.
    assert all(r.reasons[0].detail["query"] == "open 24 hours" for r in results[1:])
    assert results[1].reasons[0].describe() == "looks a little like “open 24 hours” (weak match)"
    # JSON carries the same.
    doc = json.loads(json.dumps(results[0].to_json()))
    assert doc["good"] is True and doc["reason"] == "words in the picture: “OPEN 24 HOURS”"
    assert doc["reasons"][0]["retriever"] == "text" and doc["reasons"][0]["detail"]["text"] == "OPEN 24 HOURS"


def test_exclusions_drop_files_a_lexical_retriever_reads_the_word_in(lib: Any) -> None:
    sign = _id(lib, "shop sign.jpg")
    from engine.search.retrievers import RETRIEVERS

    visual = next(r for r in RETRIEVERS if r.name == "visual")
    everything = ranking.search(lib, "a street", retrievers=[visual], limit=60)
    words = Fixed("text", [], lexical=True, words={sign: "OPEN 24 HOURS", everything[0].file_id: "open"})
    out = ranking.search(lib, "a street -open", retrievers=[visual, words], limit=60)
    assert sign not in {r.file_id for r in out} and everything[0].file_id not in {r.file_id for r in out}
    assert words.calls[0].text == "a street" and words.calls[0].excluded == ["open"]


def test_only_and_kinds_choose_the_retrievers(lib: Any) -> None:
    a, b = Fixed("text", [(1, 1.0, True)], lexical=True), Fixed("visual", [(2, 0.3, False)])
    assert ranking.applicable([a, b], None, ["text"]) == [a]
    b.kinds = frozenset({"photo"})
    assert ranking.applicable([a, b], ["sound"], None) == [a]
    from engine.errors import LookalikeError

    with pytest.raises(LookalikeError, match="names"):
        ranking.search(lib, "x", only=["nonsense"])


def test_nonsense_on_random_weights_gives_no_good_match_and_few_closest(lib: Any) -> None:
    from engine.search.api import search_text

    results = search_text(lib, "quantum chromodynamics", limit=50)
    assert results and all(isinstance(r, Result) and r.good is False for r in results)
    assert len(results) == ranking.CLOSEST_IF_NONE


def test_find_similar_goes_through_the_same_result_type(lib: Any) -> None:
    from engine.search.api import search_similar
    from tests.media import recompressed_copy

    target = lib.photos[5]
    copy = recompressed_copy(target, target.parent.parent / "elsewhere" / "copy.jpg")
    results = search_similar(lib, copy, limit=10)
    assert results[0].path == str(target.resolve())
    top = results[0].reasons[0]
    assert top.retriever == "similar"
    assert results[0].reason == ("looks like the example" if top.good else "closest, but not a good match")
    assert "z" in results[0].reasons[0].detail  # random weights: how far it stands out means nothing
    assert isinstance(results[0].good, bool) and len(results) == 10  # marked, not cut
