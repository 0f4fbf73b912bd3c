"""Dates in the search box: "2019", "July 2023", "2023-07", "agosto de 2020", "summer 2021", "2019-2021",
"since 2020", "antes de 2018", "yesterday", "la semana pasada", "Christmas 2021", "Navidad 2021".

The words are data: every ``engine/data/dates_*.toml`` adds its months, seasons, named days, relative
dates and range words (see dates_en.toml for the format), so another language is a table away. Words are
compared case- and accent-insensitively (``otono`` finds ``otoño``).

A date is a range of local wall-clock time, [start, end), the calendar where the photo was taken.

How ambiguity is decided (the rules tests/engine/test_understand_dates.py pins down):

* A month name is a month only next to a year or a day number: "May 2023", "5 May 2023", "May 5, 2023".
  "May", "march" or "dec" alone, or "may 5" without a year, stay words of the visual query.
* A season or a named day needs a year ("summer 2021", "Christmas 2021"), or a relative word
  ("last summer", "el verano pasado"): "summer" or "christmas" alone describe the picture. Seasons
  are meteorological and follow the hemisphere of each photo: summer 2021 is June to August 2021 north
  of the equator, December 2020 to February 2021 south of it (a season across New Year is the one that
  holds January of the year typed).
* A four-digit number from 1900 to next year is a year. When it is the whole query, or comes with a date
  word ("in 2019", "since 2019", "2019-2021"), it is always a date; a bare year inside longer text
  ("1984 poster", "beach 2019") is *weak*: the caller keeps it as a date only when the library has files
  from that year, else it stays text.
* Relative dates ("yesterday", "last week") are always dates; a week runs Monday to Sunday.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.search.query import fold

DATA_DIR = Path(__file__).resolve().parents[2] / "data"

_TOKEN = re.compile(r"\w+(?:['’]\w+)?|[-–—/,.]", re.UNICODE)


@dataclass(frozen=True)
class DateRange:
    """[start, end) in local wall-clock time; None is open-ended."""

    start: datetime | None
    end: datetime | None
    #: For a season: the same season south of the equator (summer 2021 there is December 2020 to
    #: February 2021), which applies to files taken at a negative latitude.
    south: tuple[datetime, datetime] | None = None

    def parts(self) -> list[tuple[str | None, ...]]:
        """What the file_meta filter takes: [(start, end)], or for a season [(start, end, "N"),
        (south start, south end, "S")]: the northern months for files north of the equator or without
        a position, the southern ones for files south of it."""
        if self.south is None:
            return [self.iso()]
        return [(*self.iso(), "N"), (self.south[0].isoformat(), self.south[1].isoformat(), "S")]

    def iso(self) -> tuple[str | None, str | None]:
        """The bounds as the ISO text the file_meta table compares."""
        return (
            self.start.isoformat() if self.start else None,
            self.end.isoformat() if self.end else None,
        )

    def describe(self) -> str:
        """ "2023-07-01 – 2023-07-31", "from 2020-01-01", "before 2018-01-01": the range in plain dates."""
        if self.start and self.end:
            last = self.end - timedelta(seconds=1)
            if last.date() == self.start.date():
                return self.start.date().isoformat()
            return f"{self.start.date().isoformat()} – {last.date().isoformat()}"
        if self.start:
            return f"from {self.start.date().isoformat()}"
        if self.end:
            return f"before {self.end.date().isoformat()}"
        return "any time"


@dataclass(frozen=True)
class DateMatch:
    """One date found in the query: the fragment as typed (connector words included, to take out of the
    text), the label for a chip (the date words without the connectors), and the range."""

    fragment: str
    label: str
    range: DateRange
    #: A bare year inside longer text: a date only if the library has files from then (module doc).
    weak: bool = False
    #: Where ``fragment`` is in the text (character offsets).
    span: tuple[int, int] = (0, 0)


# -- the word tables ---------------------------------------------------------------------------------


@dataclass
class Lexicon:
    months: dict[str, int]
    seasons: dict[str, tuple[int, int]]
    named: dict[tuple[str, ...], dict[str, Any]]
    relative: dict[tuple[str, ...], tuple[str, int]]
    season_last_before: set[str]
    season_last_after: set[str]
    range_from: dict[tuple[str, ...], str]
    range_until: dict[tuple[str, ...], str]
    between: set[str]
    joiners: set[str]
    connectors: set[str]
    articles: set[str]
    inner: set[str]
    fillers: set[str]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(fold(t) for t in _TOKEN.findall(text))


@functools.lru_cache(maxsize=4)
def lexicon(data_dir: Path = DATA_DIR) -> Lexicon:
    """Every dates_*.toml in ``data_dir`` merged into one table (read once). Raises ValueError for a
    malformed table, naming the file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    lx = Lexicon({}, {}, {}, {}, set(), set(), {}, {}, set(), set(), set(), set(), set(), set())
    for path in sorted(data_dir.glob("dates_*.toml")):
        try:
            t = tomllib.loads(path.read_text(encoding="utf-8"))
            for k, v in t.get("months", {}).items():
                lx.months[fold(k)] = int(v)
            for k, v in t.get("seasons", {}).items():
                lx.seasons[fold(k)] = (int(v[0]), int(v[1]))
            for k, v in t.get("named_days", {}).items():
                lx.named[_phrase(k)] = dict(v)
            for k, v in t.get("relative", {}).items():
                unit, _, n = str(v).partition(":")
                if unit not in ("day", "week", "month", "year"):
                    raise ValueError(f"relative {k!r}: unknown unit {unit!r}")
                lx.relative[_phrase(k)] = (unit, int(n))
            rs = t.get("relative_season", {})
            lx.season_last_before |= {fold(w) for w in rs.get("before", [])}
            lx.season_last_after |= {fold(w) for w in rs.get("after", [])}
            r = t.get("ranges", {})
            lx.range_from.update({_phrase(k): v for k, v in r.get("from", {}).items()})
            lx.range_until.update({_phrase(k): v for k, v in r.get("until", {}).items()})
            lx.between |= {fold(w) for w in r.get("between", [])}
            lx.joiners |= {fold(w) for w in r.get("joiners", [])}
            w = t.get("words", {})
            lx.connectors |= {fold(x) for x in w.get("connectors", [])}
            lx.articles |= {fold(x) for x in w.get("articles", [])}
            lx.inner |= {fold(x) for x in w.get("inner", [])}
            lx.fillers |= {fold(x) for x in w.get("fillers", [])}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
    return lx


# -- calendar helpers --------------------------------------------------------------------------------


def easter(year: int) -> date:
    """Western (Gregorian) Easter Sunday: the anonymous Gregorian algorithm."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l_) // 451
    month = (h + l_ - 7 * m + 114) // 31
    day = (h + l_ - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _day(d: date, days: int = 1) -> DateRange:
    start = datetime(d.year, d.month, d.day)
    return DateRange(start, start + timedelta(days=days))


def _month(year: int, month: int, months: int = 1) -> DateRange:
    end_m = month - 1 + months
    return DateRange(datetime(year, month, 1), datetime(year + end_m // 12, end_m % 12 + 1, 1))


def _year(year: int) -> DateRange:
    return DateRange(datetime(year, 1, 1), datetime(year + 1, 1, 1))


def _season_span(year: int, first: int, last: int) -> DateRange:
    """The months first..last of ``year``; a season across New Year (December to February) is the one
    that holds January of ``year``: winter 2021 is December 2020 to February 2021."""
    months = (last - first) % 12 + 1
    return _month(year - 1 if first > last else year, first, months)


def _opposite(first: int, last: int) -> tuple[int, int]:
    return (first + 5) % 12 + 1, (last + 5) % 12 + 1


def _both(north: DateRange, south: DateRange) -> DateRange:
    assert south.start is not None and south.end is not None
    return DateRange(north.start, north.end, (south.start, south.end))


def _season(year: int, first: int, last: int) -> DateRange:
    """A season of ``year`` in both hemispheres (the table's months are the northern ones)."""
    return _both(_season_span(year, first, last), _season_span(year, *_opposite(first, last)))


def _named(year: int, spec: dict[str, Any]) -> DateRange | None:
    try:
        if "easter" in spec:
            center = easter(year) + timedelta(days=int(spec["easter"]))
        else:
            mm, dd = (int(x) for x in str(spec["date"]).split("-"))
            center = date(year, mm, dd)
    except (ValueError, KeyError):
        return None
    before, after = int(spec.get("before", 0)), int(spec.get("after", 0))
    return _day(center - timedelta(days=before), before + after + 1)


def _relative(unit: str, n: int, today: date) -> DateRange:
    if unit == "day":
        return _day(today + timedelta(days=n))
    if unit == "week":
        monday = today - timedelta(days=today.weekday()) + timedelta(weeks=n)
        return _day(monday, 7)
    if unit == "month":
        total = today.year * 12 + today.month - 1 + n
        return _month(total // 12, total % 12 + 1)
    return _year(today.year + n)


def _last_season(first: int, last: int, today: date) -> DateRange:
    """The most recent season with these months that has begun (one under way counts: "last summer"
    typed in August means this summer's photos too, which is what people look for), in each hemisphere."""

    def latest(f: int, la: int) -> DateRange:
        for year in (today.year + 1, today.year, today.year - 1, today.year - 2):
            r = _season_span(year, f, la)
            if r.start is not None and r.start.date() <= today:
                return r
        return _season_span(today.year - 1, f, la)

    return _both(latest(first, last), latest(*_opposite(first, last)))


# -- the parser --------------------------------------------------------------------------------------


@dataclass
class _Tok:
    text: str
    folded: str
    start: int
    end: int


class _Parser:
    def __init__(self, text: str, today: date, lx: Lexicon) -> None:
        self.text = text
        self.today = today
        self.lx = lx
        self.toks = [_Tok(m.group(), fold(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        self.max_year = today.year + 1

    # token helpers
    def f(self, i: int) -> str:
        return self.toks[i].folded if 0 <= i < len(self.toks) else ""

    def phrase_at(self, i: int, table: dict[tuple[str, ...], Any]) -> tuple[Any, int] | None:
        """The longest phrase of ``table`` starting at token i: (value, index after it)."""
        for n in (4, 3, 2, 1):
            key = tuple(self.f(j) for j in range(i, i + n))
            if len(key) == n and all(key) and key in table:
                return table[key], i + n
        return None

    def year(self, i: int) -> int | None:
        t = self.f(i)
        if len(t) == 4 and t.isdigit() and 1900 <= int(t) <= self.max_year:
            return int(t)
        return None

    def daynum(self, i: int) -> int | None:
        t = self.f(i)
        m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th|º|o)?", t)
        if m and 1 <= int(m.group(1)) <= 31:
            return int(m.group(1))
        return None

    def skip_inner(self, i: int) -> int:
        """Step over one inner word ("of", "de", ",") when a date part follows it."""
        return i + 1 if self.f(i) in self.lx.inner else i

    # a point: one date, without range words
    def point(self, i: int) -> tuple[DateRange, int, bool] | None:
        """(range, index after, bare year?) of the date starting at token i."""
        lx = self.lx
        y = self.year(i)
        if y is not None:
            # ISO 2023-07 / 2023-07-14 / 2023/07
            if self.f(i + 1) in ("-", "/") and re.fullmatch(r"\d{2}", self.f(i + 2)):
                mm = int(self.f(i + 2))
                if 1 <= mm <= 12:
                    if self.f(i + 3) == self.f(i + 1) and re.fullmatch(r"\d{2}", self.f(i + 4)):
                        try:
                            return _day(date(y, mm, int(self.f(i + 4)))), i + 5, False
                        except ValueError:
                            pass
                    return _month(y, mm), i + 3, False
            return _year(y), i + 1, True
        rel = self.phrase_at(i, lx.relative)
        if rel is not None:
            (unit, n), j = rel
            return _relative(unit, n, self.today), j, False
        # "last summer"
        if self.f(i) in lx.season_last_before and self.f(i + 1) in lx.seasons:
            return _last_season(*lx.seasons[self.f(i + 1)], self.today), i + 2, False
        if self.f(i) in lx.seasons:
            first, last = lx.seasons[self.f(i)]
            j = self.skip_inner(i + 1)
            y = self.year(j)
            if y is not None:
                return _season(y, first, last), j + 1, False
            if self.f(i + 1) in lx.season_last_after:  # "verano pasado"
                return _last_season(first, last, self.today), i + 2, False
            return None
        named = self.phrase_at(i, lx.named)
        if named is not None:
            spec, j = named
            j2 = self.skip_inner(j)
            y = self.year(j2)
            if y is not None:
                r = _named(y, spec)
                if r is not None:
                    return r, j2 + 1, False
            return None
        d = self.daynum(i)
        if d is not None:  # 14 July 2023, 14 de julio de 2023, 14th of July 2023
            j = self.skip_inner(i + 1)
            if self.f(j) in lx.months:
                mm = lx.months[self.f(j)]
                k = self.skip_inner(j + 1)
                y = self.year(k)
                if y is not None:
                    try:
                        return _day(date(y, mm, d)), k + 1, False
                    except ValueError:
                        return None
            return None
        if self.f(i) in lx.months:
            mm = lx.months[self.f(i)]
            j = i + 1
            if self.f(j) == ".":  # "Jul. 2023"
                j += 1
            d = self.daynum(j)
            if d is not None:  # July 14 2023, July 14, 2023
                k = self.skip_inner(j + 1)
                y = self.year(k)
                if y is not None:
                    try:
                        return _day(date(y, mm, d)), k + 1, False
                    except ValueError:
                        return None
                return None
            k = self.skip_inner(j)
            y = self.year(k)
            if y is not None:
                return _month(y, mm), k + 1, False
        return None

    # an expression: a point, or a range of points
    def expr(self, i: int) -> tuple[DateRange, int, bool] | None:
        lx = self.lx
        frm = self.phrase_at(i, lx.range_from)
        until = self.phrase_at(i, lx.range_until)
        if self.f(i) in lx.between:
            a = self.point(i + 1)
            if a is not None and self.f(a[1]) in lx.joiners:
                b = self.point(a[1] + 1)
                if b is not None and _ordered(a[0], b[0]):
                    return DateRange(a[0].start, b[0].end), b[1], False
        if frm is not None:
            side, j = frm
            a = self.point(j)
            if a is not None:
                return DateRange(a[0].start if side == "start" else a[0].end, None), a[1], False
        if until is not None:
            side, j = until
            a = self.point(j)
            if a is not None:
                return DateRange(None, a[0].start if side == "start" else a[0].end), a[1], False
        a = self.point(i)
        if a is None:
            return None
        if self.f(a[1]) in lx.joiners:  # 2019-2021, July 2023 to August 2023
            b = self.point(a[1] + 1)
            if b is not None and _ordered(a[0], b[0]) and (a[2] == b[2]):
                return DateRange(a[0].start, b[0].end), b[1], False
        return a

    def find(self) -> list[DateMatch]:
        out: list[DateMatch] = []
        i = 0
        n_words = sum(1 for t in self.toks if t.folded[:1].isalnum())
        while i < len(self.toks):
            start = i
            lead = i
            # connector words before a date leave with it ("in", "de", "the summer of 2021")
            while self.f(lead) in self.lx.connectors and lead - start < 2:
                lead += 1
            found = self.expr(lead)
            if found is None and lead != i:
                found = self.expr(i)
                lead = i
            if found is None:
                i += 1
                continue
            rng, end, bare = found
            words_in = sum(1 for t in self.toks[start:end] if t.folded[:1].isalnum())
            # A bare year is weak inside longer text unless a preposition came with it ("in 2019"; an
            # article alone, "the 1984 poster", does not count).
            said = {t.folded for t in self.toks[start:lead]} - self.lx.articles
            weak = bare and not said and words_in < n_words
            fragment = self.text[self.toks[start].start : self.toks[end - 1].end]
            label = self.text[self.toks[lead].start : self.toks[end - 1].end]
            span = (self.toks[start].start, self.toks[end - 1].end)
            out.append(DateMatch(fragment, label, rng, weak, span))
            i = end
        return out


def _ordered(a: DateRange, b: DateRange) -> bool:
    return a.start is not None and b.end is not None and a.start < b.end


def find_dates(text: str, today: date | None = None, *, data_dir: Path = DATA_DIR) -> list[DateMatch]:
    """Every date in ``text``, left to right (see the module docstring for the rules). Never raises for
    any text; a malformed word table raises ValueError."""
    return _Parser(text, today or date.today(), lexicon(data_dir)).find()


def fillers(data_dir: Path = DATA_DIR) -> set[str]:
    """Words that say nothing once the dates and places are out ("photos", "fotos"), folded."""
    return lexicon(data_dir).fillers | lexicon(data_dir).connectors


def keep_weak(matches: list[DateMatch], has_files: Callable[[DateRange], bool]) -> list[DateMatch]:
    """The matches to use: strong ones always, weak ones only where ``has_files(range)`` says the library
    has files from then."""
    return [m for m in matches if not m.weak or has_files(m.range)]
