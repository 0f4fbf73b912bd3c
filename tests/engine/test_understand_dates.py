"""The search box's date and place words: a table of query strings → parsed filters (English, Spanish,
and the ambiguous ones), without a library (dates) and with a library's places."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.search.query import parse_query
from engine.search.understand import understand_when_where
from engine.search.understand.dates import easter, find_dates, lexicon
from engine.search.understand.places import PlaceIndex
from engine.storage.metadata import CITY, COUNTRY, REGION, PlaceCount

TODAY = date(2026, 12, 1)  # a Tuesday

# query → [(label, first day, last day)] ; None bounds are open-ended
DATES: list[tuple[str, list[tuple[str, str | None, str | None]]]] = [
    ("2019", [("2019", "2019-01-01", "2019-12-31")]),
    ("July 2023", [("July 2023", "2023-07-01", "2023-07-31")]),
    ("beach july 2023", [("july 2023", "2023-07-01", "2023-07-31")]),
    ("2023-07", [("2023-07", "2023-07-01", "2023-07-31")]),
    ("2023-07-14", [("2023-07-14", "2023-07-14", "2023-07-14")]),
    ("Jul. 2023", [("Jul. 2023", "2023-07-01", "2023-07-31")]),
    ("July of 2023", [("July of 2023", "2023-07-01", "2023-07-31")]),
    ("14 July 2023", [("14 July 2023", "2023-07-14", "2023-07-14")]),
    ("July 14, 2023", [("July 14, 2023", "2023-07-14", "2023-07-14")]),
    ("summer 2021", [("summer 2021", "2021-06-01", "2021-08-31")]),
    ("winter 2021", [("winter 2021", "2020-12-01", "2021-02-28")]),  # the winter holding January 2021
    ("in the summer of 2021", [("summer of 2021", "2021-06-01", "2021-08-31")]),
    ("2019-2021", [("2019-2021", "2019-01-01", "2021-12-31")]),
    ("between 2019 and 2021", [("between 2019 and 2021", "2019-01-01", "2021-12-31")]),
    ("from 2019 to 2021", [("2019 to 2021", "2019-01-01", "2021-12-31")]),
    ("since 2020", [("since 2020", "2020-01-01", None)]),
    ("after 2018", [("after 2018", "2019-01-01", None)]),
    ("before 2018", [("before 2018", None, "2017-12-31")]),
    ("until 2018", [("until 2018", None, "2018-12-31")]),
    ("yesterday", [("yesterday", "2026-11-30", "2026-11-30")]),
    ("last week", [("last week", "2026-11-23", "2026-11-29")]),
    ("last month", [("last month", "2026-11-01", "2026-11-30")]),
    ("last year", [("last year", "2025-01-01", "2025-12-31")]),
    ("last summer", [("last summer", "2026-06-01", "2026-08-31")]),
    ("Christmas 2021", [("Christmas 2021", "2021-12-24", "2021-12-26")]),
    ("easter 2024", [("easter 2024", "2024-03-29", "2024-04-01")]),
    ("new year's eve 2019", [("new year's eve 2019", "2019-12-31", "2019-12-31")]),
    # Spanish
    ("agosto 2020", [("agosto 2020", "2020-08-01", "2020-08-31")]),
    ("agosto de 2020", [("agosto de 2020", "2020-08-01", "2020-08-31")]),
    ("14 de julio de 2023", [("14 de julio de 2023", "2023-07-14", "2023-07-14")]),
    ("verano 2021", [("verano 2021", "2021-06-01", "2021-08-31")]),
    ("verano del 2021", [("verano del 2021", "2021-06-01", "2021-08-31")]),
    ("otoño 2020", [("otoño 2020", "2020-09-01", "2020-11-30")]),
    ("otono 2020", [("otono 2020", "2020-09-01", "2020-11-30")]),
    ("desde 2020", [("desde 2020", "2020-01-01", None)]),
    ("antes de 2018", [("antes de 2018", None, "2017-12-31")]),
    ("hasta 2018", [("hasta 2018", None, "2018-12-31")]),
    ("entre 2019 y 2021", [("entre 2019 y 2021", "2019-01-01", "2021-12-31")]),
    ("de 2019 a 2021", [("2019 a 2021", "2019-01-01", "2021-12-31")]),
    ("ayer", [("ayer", "2026-11-30", "2026-11-30")]),
    ("la semana pasada", [("semana pasada", "2026-11-23", "2026-11-29")]),
    ("el año pasado", [("año pasado", "2025-01-01", "2025-12-31")]),
    ("el verano pasado", [("verano pasado", "2026-06-01", "2026-08-31")]),
    ("Navidad 2021", [("Navidad 2021", "2021-12-24", "2021-12-26")]),
    ("semana santa 2023", [("semana santa 2023", "2023-04-02", "2023-04-09")]),
    # Ambiguous: a month or a season or a feast alone is a word of the picture.
    ("may 2023", [("may 2023", "2023-05-01", "2023-05-31")]),
    ("May 5, 2023", [("May 5, 2023", "2023-05-05", "2023-05-05")]),
    ("dogs that may bark", []),
    ("may 5", []),
    ("protest march", []),
    ("summer", []),
    ("christmas tree", []),
    ("blade runner 2049", []),  # beyond next year: not a year of photos
    ("route 66", []),
    ("IMG2019", []),  # part of a word
]


def _day(dt) -> str | None:  # type: ignore[no-untyped-def]
    return dt.date().isoformat() if dt else None


@pytest.mark.parametrize(("text", "expected"), DATES, ids=[t for t, _ in DATES])
def test_date_table(text: str, expected: list[tuple[str, str | None, str | None]]) -> None:
    from datetime import timedelta

    found = find_dates(text, TODAY)
    got = [
        (m.label, _day(m.range.start), _day(m.range.end - timedelta(seconds=1)) if m.range.end else None)
        for m in found
    ]
    assert got == expected


def test_seasons_follow_the_hemisphere() -> None:
    (summer,) = find_dates("summer 2021", TODAY)
    assert summer.range.parts() == [
        ("2021-06-01T00:00:00", "2021-09-01T00:00:00", "N"),
        ("2020-12-01T00:00:00", "2021-03-01T00:00:00", "S"),
    ]
    (invierno,) = find_dates("invierno 2021", TODAY)
    assert invierno.range.parts()[1] == ("2021-06-01T00:00:00", "2021-09-01T00:00:00", "S")


def test_a_bare_year_in_longer_text_is_weak_and_the_whole_query_is_not() -> None:
    assert [m.weak for m in find_dates("2019", TODAY)] == [False]
    assert [m.weak for m in find_dates("beach 2019", TODAY)] == [True]
    assert [m.weak for m in find_dates("1984 poster", TODAY)] == [True]
    assert [m.weak for m in find_dates("beach in 2019", TODAY)] == [False]
    assert [m.weak for m in find_dates("the 1984 poster", TODAY)] == [True]
    assert [m.weak for m in find_dates("fotos de 2019", TODAY)] == [False]
    assert [m.weak for m in find_dates("beach 2019-2020", TODAY)] == [False]


def test_without_a_library_weak_years_stay_words() -> None:
    q = parse_query("1984 poster", None)
    assert q.text == "1984 poster" and "date" not in q.filters
    q = parse_query("beach in July 2023", None)
    assert q.text == "beach" and q.filters["date"] == [("2023-07-01T00:00:00", "2023-08-01T00:00:00")]
    assert q.understood == [("date", "July 2023")]


def test_quoted_words_are_exact_text_never_dates() -> None:
    q = parse_query('"summer 2021" poster', None)
    assert q.text == "summer 2021 poster" and "date" not in q.filters
    q = parse_query('"open" July 2023', None)
    assert q.text == "open" and q.understood == [("date", "July 2023")]


def test_filler_words_go_when_only_a_date_is_left() -> None:
    q = parse_query("photos from 2019", None)
    assert q.text == "" and q.words == [] and q.filters["date"]
    q = parse_query("fotos de agosto 2020", None)
    assert q.text == "" and q.understood == [("date", "agosto 2020")]


def test_easter() -> None:
    assert [easter(y) for y in (2019, 2023, 2024, 2025)] == [
        date(2019, 4, 21),
        date(2023, 4, 9),
        date(2024, 3, 31),
        date(2025, 4, 20),
    ]


def test_another_language_is_a_table_away(tmp_path: Path) -> None:
    import shutil

    from engine.search.understand.dates import DATA_DIR

    for f in DATA_DIR.glob("dates_*.toml"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "dates_pt.toml").write_text(
        'lang = "pt"\n[months]\nagosto = 8\njulho = 7\n[words]\ninner = ["de"]\n', encoding="utf-8"
    )
    lexicon.cache_clear()
    found = find_dates("julho de 2023", TODAY, data_dir=tmp_path)
    assert [(m.range.start.date().isoformat() if m.range.start else None) for m in found] == ["2023-07-01"]


# -- places -----------------------------------------------------------------------------------------

LIBRARY_PLACES = [
    PlaceCount(CITY, "Porto", "PT", "Porto", 3),
    PlaceCount(REGION, "Porto", "PT", None, 3),
    PlaceCount(CITY, "Lisbon", "PT", "Lisbon", 2),
    PlaceCount(COUNTRY, "Portugal", "PT", None, 5),
    PlaceCount(CITY, "Vienna", "AT", "Vienna", 1),
    PlaceCount(COUNTRY, "Austria", "AT", None, 1),
    PlaceCount(CITY, "Munich", "DE", "Bavaria", 1),
    PlaceCount(REGION, "Bavaria", "DE", None, 1),
    PlaceCount(COUNTRY, "Germany", "DE", None, 1),
    PlaceCount(CITY, "New York City", "US", "New York", 1),
    PlaceCount(COUNTRY, "United States", "US", None, 1),
]

PLACES = [
    ("Porto", "", [("Porto", {("city", "Porto", "PT"), ("region", "Porto", "PT")})]),
    ("beach in Porto", "beach", [("Porto", {("city", "Porto", "PT"), ("region", "Porto", "PT")})]),
    ("playa en Oporto", "playa", [("Porto", {("city", "Porto", "PT"), ("region", "Porto", "PT")})]),
    ("Viena", "", [("Vienna", {("city", "Vienna", "AT")})]),
    ("fotos de Lisboa", "", [("Lisbon", {("city", "Lisbon", "PT")})]),
    ("Alemania", "", [("Germany", {("country", "Germany", "DE")})]),
    ("castles in germany", "castles", [("Germany", {("country", "Germany", "DE")})]),
    ("Baviera", "", [("Bavaria", {("region", "Bavaria", "DE")})]),
    ("múnich", "", [("Munich", {("city", "Munich", "DE")})]),
    ("new york", "", [("New York City", {("city", "New York City", "US")})]),
    ("Estados Unidos", "", [("United States", {("country", "United States", "US")})]),
    ("USA", "", [("United States", {("country", "United States", "US")})]),
    # Not in this library: stays a picture of it.
    ("London", "London", []),
    ("Londres", "Londres", []),
    ("a red car", "a red car", []),
]


@pytest.mark.parametrize(("text", "rest", "expected"), PLACES, ids=[t for t, _, _ in PLACES])
def test_place_table(text: str, rest: str, expected: list[tuple[str, set]]) -> None:
    index = PlaceIndex(LIBRARY_PLACES)
    found = index.find(text)
    assert [(m.label, set(m.places)) for m in found] == expected
    q = parse_query(text, None, understand=False)
    for m in found:
        q.consume(m.fragment)
    from engine.search.understand.dates import fillers

    left = [w for w in q.text.split() if w.casefold() not in fillers()]
    assert " ".join(left) == rest


class _Lib:
    """Enough of a Library for the understander: a catalog with places and dates."""

    def __init__(self, catalog) -> None:  # type: ignore[no-untyped-def]
        self.catalog = catalog
        self.memo: dict = {}


def test_understander_with_a_library(tmp_path: Path) -> None:
    from engine.media.metadata import MediaMeta
    from engine.media.places import Place
    from engine.storage import metadata as sm
    from engine.storage.catalog import Catalog

    c = Catalog(tmp_path / "catalog.sqlite")
    a, b = c.add("/p/a.jpg", 1, 1.0, "photo"), c.add("/p/b.jpg", 1, 1.0, "photo")
    c.set_state([a, b], "indexed")
    sm.put_many(
        c,
        [
            (
                a,
                MediaMeta(local="2019-07-01T10:00:00", time_source="exif"),
                Place("Rome", "Lazio", "IT", "Italy"),
            ),
            (
                b,
                MediaMeta(local="2023-07-01T10:00:00", time_source="exif"),
                Place("Porto", "Porto", "PT", "Portugal"),
            ),
        ],
    )
    lib = _Lib(c)
    # A weak year is a date only when the library has files from then.
    q = parse_query("beach 2019", None, understand=False)
    understand_when_where(lib, q, today=TODAY)  # type: ignore[arg-type]
    assert q.text == "beach" and q.understood == [("date", "2019")]
    q = parse_query("1984 poster", None, understand=False)
    understand_when_where(lib, q, today=TODAY)  # type: ignore[arg-type]
    assert q.text == "1984 poster" and not q.understood
    # A place with a year; Spanish.
    q = parse_query("Roma 2019", None, understand=False)
    understand_when_where(lib, q, today=TODAY)  # type: ignore[arg-type]
    assert q.text == "" and q.understood == [("date", "2019"), ("place", "Rome")]
    assert q.filters["place"] == [("city", "Rome", "IT")]
    q = parse_query("Italia", None, understand=False)
    understand_when_where(lib, q, today=TODAY)  # type: ignore[arg-type]
    assert q.filters["place"] == [("country", "Italy", "IT")]
    c.close()
