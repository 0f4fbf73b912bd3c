"""Fitted text→image score ranges (engine/data/score_ranges.toml, bench/fit_score_range.py): the per-model
entry wins over the default, a broken entry is ignored, and the visual retriever never calls a hit good
below the fitted floor."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from engine.search import score_range
from engine.search.query import ParsedQuery
from engine.search.results import Reason, match_from_cosine
from engine.search.retrievers import visual
from engine.search.retrievers.base import Candidate


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "score_ranges.toml"
    monkeypatch.setattr(score_range, "RANGES_FILE", path)
    score_range.reload()
    yield path
    score_range.reload()


def test_a_model_entry_wins_and_a_broken_one_is_ignored(table: Path) -> None:
    table.write_text(
        "[text_image.default]\nlow = 0.1\nhigh = 0.35\n\n"
        '[text_image."m-fitted"]\nlow = 0.2\nhigh = 0.3\nfloor = 0.25\nsource = "fitted"\n\n'
        '[text_image."m-broken"]\nlow = 0.3\nhigh = 0.3\n',
        encoding="utf-8",
    )
    assert score_range.text_image_range("m-fitted") == score_range.ScoreRange(0.2, 0.3, 0.25, "fitted")
    assert score_range.text_image_range("m-broken").low == 0.1  # high == low: the default instead
    assert score_range.text_image_range("unknown").floor is None
    assert match_from_cosine(0.25, "m-fitted") == pytest.approx(0.5)
    assert match_from_cosine(0.225) == pytest.approx(0.5)  # the default range


def test_no_table_means_the_built_in_guess(table: Path) -> None:
    r = score_range.text_image_range("anything")
    assert (r.low, r.high, r.floor) == (score_range.GUESS_LOW, score_range.GUESS_HIGH, None)


def test_the_visual_retriever_calls_nothing_below_the_floor_good(table: Path, monkeypatch) -> None:
    table.write_text('[text_image."m"]\nlow = 0.1\nhigh = 0.4\nfloor = 0.3\n', encoding="utf-8")

    def found(*args: object, **kwargs: object) -> list[Candidate]:
        out = []
        for fid, score, good in ((1, 0.35, True), (2, 0.28, True), (3, 0.20, False)):
            reason = Reason("visual", score, {})
            reason.good = good  # as the per-query cutoff (visual.judge) leaves them
            out.append(Candidate(fid, score, reasons=[reason], good=good))
        return out

    monkeypatch.setattr(visual, "vector_candidates", found)
    encoder = SimpleNamespace(encode_texts=lambda texts: np.ones((len(texts), 4), np.float32))
    lib: Any = SimpleNamespace(
        settings=SimpleNamespace(image_text_model="m"),
        image_text_encoder=lambda: encoder,
        image_collection="c",
    )
    out = visual.VisualRetriever().retrieve(
        lib, ParsedQuery("a dog", text="a dog"), limit=9, kinds=None, folder=None
    )
    assert [(c.file_id, c.good) for c in out] == [(1, True), (2, False), (3, False)]
    assert [r.good for c in out for r in c.reasons] == [True, False, False]

    lib.settings.image_text_model = "other"  # no fitted floor: the cutoff's verdict stands
    out = visual.VisualRetriever().retrieve(
        lib, ParsedQuery("a dog", text="a dog"), limit=9, kinds=None, folder=None
    )
    assert [c.good for c in out] == [True, True, False]


def test_a_search_reads_the_range_of_the_model_the_library_uses(table: Path) -> None:
    """The tiles' match percentages come from the range fitted for the library's image-text model."""
    from engine.search import ranking

    table.write_text(
        "[text_image.default]\nlow = 0.1\nhigh = 0.35\n\n"
        '[text_image."m-fitted"]\nlow = 0.2\nhigh = 0.3\n',
        encoding="utf-8",
    )
    reason = Reason("visual", 0.25, {})
    c = Candidate(1, 0.25, reasons=[reason])
    assert ranking._match(reason, c, "m-fitted") == pytest.approx(0.5)
    assert ranking._match(reason, c, "m-other") == pytest.approx(0.6)  # the default range
