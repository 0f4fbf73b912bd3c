"""Taking a typed query apart: free text, quoted phrases, -word exclusions, and the understander hooks."""

from __future__ import annotations

from typing import Any

import pytest

from engine.search import query as query_mod
from engine.search.query import ParsedQuery, fold, parse_query


def test_words_phrases_and_exclusions() -> None:
    q = parse_query('receipt "free wifi" -blurry', understand=False)
    assert q.text == "receipt free wifi"
    assert q.words == ["receipt"] and q.phrases == ["free wifi"] and q.excluded == ["blurry"]
    assert q.terms == ["receipt", "free wifi"] and not q.empty


def test_curly_quotes_excluded_phrases_and_odd_input() -> None:
    q = parse_query("“open 24 hours” -\"no entry\" well-known - x", understand=False)
    assert q.phrases == ["open 24 hours"] and q.excluded == ["no entry"]
    assert q.words == ["well", "known", "x"]  # a hyphen inside a word is no exclusion, nor a lone "-"
    assert "-" in q.text
    unclosed = parse_query('"free wifi', understand=False)
    assert unclosed.phrases == [] and unclosed.words == ["free", "wifi"]
    assert parse_query('""  ', understand=False).empty
    only_minus = parse_query("-cat", understand=False)
    assert only_minus.excluded == ["cat"] and only_minus.text == "" and only_minus.empty
    assert parse_query("-IMG_0002", understand=False).excluded == ["IMG_0002"]  # kept whole


def test_underscores_split_words_as_in_file_names() -> None:
    assert parse_query("receipt_hotel", understand=False).words == ["receipt", "hotel"]


def test_fold_is_case_and_accent_insensitive() -> None:
    assert fold("Café ÉTÉ") == "cafe ete"
    assert fold("東京") == "東京"


def test_consume_moves_understood_words_out() -> None:
    q = parse_query("beach in Porto July 2023", understand=False)
    assert q.consume("in porto")
    assert q.text == "beach July 2023" and q.words == ["beach", "July", "2023"]
    assert not q.consume("Lisbon") and not q.consume("  ")
    assert q.consume("July 2023") and q.text == "beach" and q.words == ["beach"]


def test_understanders_run_in_order_and_a_broken_one_is_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Any] = []

    def broken(lib: Any, q: ParsedQuery) -> None:
        raise RuntimeError("bug in a plug-in")

    def year(lib: Any, q: ParsedQuery) -> None:
        seen.append(lib)
        if q.consume("2019"):
            q.filters["date"] = ("2019-01-01", "2020-01-01")
            q.understood.append(("date", "2019"))

    monkeypatch.setattr(query_mod, "UNDERSTANDERS", [broken, year])
    q = parse_query("Porto 2019")
    assert q.text == "Porto" and q.filters == {"date": ("2019-01-01", "2020-01-01")}
    assert q.understood == [("date", "2019")] and seen == [None]
    assert "bug in a plug-in" in caplog.text
    assert parse_query("Porto 2019", understand=False).text == "Porto 2019"


def test_understander_modules_load_once_and_a_missing_one_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(query_mod, "UNDERSTANDER_MODULES", ["engine.search.no_such_module"])
    monkeypatch.setattr(query_mod, "_loaded", set())
    parse_query("x")
    parse_query("y")
    assert sum("no_such_module" in r.getMessage() for r in caplog.records) == 1
