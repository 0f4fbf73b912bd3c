"""The index of text read in pictures (engine.storage.texts): what a typed word finds, and what it must
not find. Edge cases from OCR and from typing: accents, case, CJK without spaces, prefixes, glued words,
one OCR slip, quoted phrases, video moments, and rows following their file out of the catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.storage.catalog import Catalog
from engine.storage.texts import PHOTO_T, TextIndex, TextRow, fold, squash, within_one_edit

BOX = ((0.1, 0.4), (0.9, 0.4), (0.9, 0.5), (0.1, 0.5))


@pytest.fixture()
def index(tmp_path: Path) -> tuple[Catalog, TextIndex, dict[str, int]]:
    cat = Catalog(tmp_path / "catalog.db")
    texts = {
        "cafe": ["Café de Flore"],
        "sony": ["SONYERICSSON", "GEMoney"],
        "jpm": ["J.P.Morgan"],
        "wifi": ["FREE WIFI", "OPEN 24 HOURS"],
        "scattered": ["free coffee", "the wifi is slow"],
        "beijing": ["北京烤鸭店"],
        "tokyo": ["ラーメン 東京"],
        "restaurant": ["RESTAURNT"],
        "short": ["STOP"],
        "strasse": ["Hauptstraße"],
    }
    ids = {}
    index = TextIndex(cat)
    for name, lines in texts.items():
        fid = cat.add(f"/photos/{name}.jpg", 1, 1.0, "photo")
        ids[name] = fid
        index.replace(fid, [TextRow(t, BOX, 0.9) for t in lines])
    return cat, index, ids


def found(index: TextIndex, words: list[str], phrases: list[str] = ()) -> list[int]:  # type: ignore[assignment]
    return [h.file_id for h in index.search(words, phrases)]


def test_normalisation() -> None:
    assert fold("CAFÉ Ñandú") == "cafe nandu"
    assert squash("J.P. Morgan") == "jpmorgan"
    assert fold("ＡＢＣ１２") == "abc12"  # full-width forms, common on CJK signs
    assert fold("が") == "が"  # Japanese voicing marks are not accents
    assert within_one_edit("restaurant", "restaurnt")
    assert within_one_edit("restaurant", "restauramt")
    assert within_one_edit("restaurant", "restaurants")
    assert not within_one_edit("restaurant", "restaurnat")


def test_case_and_accents(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["cafe"]) == [ids["cafe"]]
    assert found(ti, ["CAFÉ", "flore"]) == [ids["cafe"]]
    assert found(ti, ["flôre"]) == [ids["cafe"]]
    hit = ti.search(["cafe"])[0]
    assert hit.matched == ["Café"] and hit.text == "Café de Flore"


def test_words_inside_glued_runs(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["ericsson"]) == [ids["sony"]]
    assert found(ti, ["sony"]) == [ids["sony"]]
    assert found(ti, ["morgan"]) == [ids["jpm"]]
    hit = ti.search(["ericsson"])[0]
    assert hit.matched == ["ERICSSON"]
    # The box is the word's share of the line: right of the line's start.
    assert hit.box[0][0] > BOX[0][0] + 0.2 and hit.box[1][0] == pytest.approx(BOX[1][0], abs=0.05)


def test_a_whole_word_beats_a_run(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    ti = TextIndex(cat)
    inside, whole = cat.add("/a.jpg", 1, 1.0, "photo"), cat.add("/b.jpg", 1, 1.0, "photo")
    ti.replace(inside, [TextRow("BARBECUE", BOX, 0.9)])
    ti.replace(whole, [TextRow("CUE here", BOX, 0.9)])
    assert found(ti, ["cue"]) == [whole, inside]


def test_one_slip_in_long_words_only(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["restaurant"]) == [ids["restaurant"]]  # read RESTAURNT
    assert found(ti, ["ericssen"]) == [ids["sony"]]  # one letter off, inside a glued run
    assert found(ti, ["stap"]) == []  # 4 letters: too short to guess
    assert found(ti, ["restorunt"]) == []  # two slips: no
    exact = ti.search(["ericsson"])[0].score
    slipped = ti.search(["ericssen"])[0].score
    assert slipped < exact


def test_prefix_of_the_last_word(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["hou"]) == [ids["wifi"]]  # HOURS, being typed
    assert found(ti, ["open", "hou"]) == [ids["wifi"]]


def test_cjk(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["烤鸭"]) == [ids["beijing"]]  # two characters: LIKE
    assert found(ti, ["北京烤"]) == [ids["beijing"]]  # three: trigram
    assert found(ti, ["北"]) == [ids["beijing"]]
    assert found(ti, ["東京"]) == [ids["tokyo"]]
    assert found(ti, ["ラーメン"]) == [ids["tokyo"]]
    assert found(ti, ["上海"]) == []
    assert found(ti, [], ["烤鸭店"]) == [ids["beijing"]]


def test_quoted_phrase_is_exact(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, [], ["free wifi"]) == [ids["wifi"]]
    # Loose words may be on different lines of the same picture; a phrase may not.
    assert set(found(ti, ["free", "wifi"])) == {ids["wifi"], ids["scattered"]}
    assert found(ti, [], ["wifi free"]) == []
    assert found(ti, [], ["Free WiFi"]) == [ids["wifi"]]
    assert found(ti, [], ["open 24"]) == [ids["wifi"]]
    hit = ti.search([], ["free wifi"])[0]
    assert hit.matched == ["FREE WIFI"]


def test_every_term_must_match(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["sony", "gemoney"]) == [ids["sony"]]
    assert found(ti, ["sony", "flore"]) == []
    assert found(ti, ["xylophone"]) == []
    assert found(ti, ["%"]) == [] and found(ti, ['"']) == [] and found(ti, ["*"]) == []


def test_german_sharp_s(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert found(ti, ["hauptstrasse"]) == [ids["strasse"]]
    assert found(ti, ["straße"]) == [ids["strasse"]]


def test_video_moments_and_replacement(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    ti = TextIndex(cat)
    clip = cat.add("/v.mp4", 1, 1.0, "video")
    ti.replace(clip, [TextRow("GATE 12", BOX, 0.9, t=4.0), TextRow("DEPARTURES", BOX, 0.8, t=10.0)])
    hits = ti.search(["departures"])
    assert [(h.file_id, h.t) for h in hits] == [(clip, 10.0)]
    # Replacing one moment leaves the others; replacing the file is idempotent (a re-run after a kill).
    ti.replace(clip, [TextRow("ARRIVALS", BOX, 0.9)], t=10.0)
    assert found(ti, ["departures"]) == [] and found(ti, ["arrivals"]) == [clip]
    assert [r.t for r in ti.rows(clip)] == [4.0, 10.0]
    for _ in range(2):
        ti.replace(clip, [TextRow("GATE 12", BOX, 0.9, t=4.0)])
    assert len(ti.rows(clip)) == 1
    photo = cat.add("/p.jpg", 1, 1.0, "photo")
    ti.replace(photo, [TextRow("GATE 9", BOX, 0.9)])
    assert {(h.file_id, h.t) for h in ti.search(["gate"])} == {(clip, 4.0), (photo, PHOTO_T)}


def test_rows_follow_their_file(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.db")
    ti = TextIndex(cat)
    a, b = cat.add("/a.jpg", 1, 1.0, "photo"), cat.add("/b.jpg", 1, 1.0, "photo")
    ti.replace(a, [TextRow("BAKERY", BOX, 0.9)])
    ti.replace(b, [TextRow("BAKERY", BOX, 0.9)])
    cat.remove([a])
    assert found(ti, ["bakery"]) == [b]
    # b changes on disk: a rescan resets it, and what was read from the old content goes.
    cat.add("/b.jpg", 2, 2.0, "photo")
    assert found(ti, ["bakery"]) == [] and ti.count_files() == 0
    # A second index object on the same catalog sees the same rows.
    ti.replace(b, [TextRow("BAKERY", BOX, 0.9)])
    assert found(TextIndex(cat), ["bakery"]) == [b]


def test_files_with_for_exclusions(index) -> None:  # type: ignore[no-untyped-def]
    _, ti, ids = index
    assert ti.files_with(["wifi"]) == {ids["wifi"], ids["scattered"]}
    assert ti.files_with(["free wifi"]) == {ids["wifi"]}
    assert ti.files_with(["wifi"], [ids["cafe"], ids["wifi"]]) == {ids["wifi"]}
