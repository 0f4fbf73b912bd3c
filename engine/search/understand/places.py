"""Places in the search box: a city, region or country *that occurs in the library*.

"Vienna" filters only when the library has files taken in Vienna; otherwise it stays part of the visual
query (a picture of Vienna). The names come from the library itself (the gazetteer names the metadata
analyzer stored), every country's English, common, official and translated names (pycountry's ISO 3166
translations), and the tables ``engine/data/places_*.toml`` of exonyms the gazetteer lacks
(Oporto → Porto, Viena → Vienna, Alemania → DE). Matching is case- and accent-insensitive, longest
name first, and takes a preposition before the name with it ("en Oporto", "in Porto").

Known trade-off: a town named like a word ("Nice", "Bath") filters when the library has photos there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from engine.media.places import country_aliases
from engine.search.query import fold
from engine.storage.metadata import CITY, COUNTRY, REGION, PlaceCount

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
_TOKEN = re.compile(r"\w+(?:['’.]\w+)*\.?|[-–—/,]", re.UNICODE)
_LONGEST = 6
#: Languages whose pycountry translations name countries (a table is a language's other half).
LANGUAGES = ("es",)

PlaceKey = tuple[str, str, "str | None"]  # (level, name, cc)


@dataclass(frozen=True)
class PlaceMatch:
    """A place found in the query: the fragment as typed (with its preposition), the chip label (the
    library's name for it) and the places it stands for (a name can be a city and a region at once)."""

    fragment: str
    label: str
    places: tuple[PlaceKey, ...]


@dataclass(frozen=True)
class Aliases:
    cities: dict[str, str]  # folded alias → gazetteer name
    regions: dict[str, str]
    countries: dict[str, str]  # folded alias → country code
    prepositions: frozenset[tuple[str, ...]]


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(fold(t).rstrip(".") for t in _TOKEN.findall(text))


@functools.lru_cache(maxsize=4)
def aliases(data_dir: Path = DATA_DIR) -> Aliases:
    """Every places_*.toml in ``data_dir`` merged (read once). Raises ValueError naming a bad file."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    cities: dict[str, str] = {}
    regions: dict[str, str] = {}
    countries: dict[str, str] = {}
    preps: set[tuple[str, ...]] = set()
    for path in sorted(data_dir.glob("places_*.toml")):
        try:
            t = tomllib.loads(path.read_text(encoding="utf-8"))
            for section, into in (("cities", cities), ("regions", regions), ("countries", countries)):
                for k, v in t.get(section, {}).items():
                    into[" ".join(_phrase(k))] = str(v).upper() if section == "countries" else str(v)
            preps |= {_phrase(p) for p in t.get("prepositions", [])}
        except (tomllib.TOMLDecodeError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path.name}: {exc}") from exc
    return Aliases(cities, regions, countries, frozenset(preps))


class PlaceIndex:
    """The names of the places in one library, ready to be found in queries."""

    def __init__(self, places: list[PlaceCount], data_dir: Path = DATA_DIR) -> None:
        al = aliases(data_dir)
        self.prepositions = al.prepositions
        #: folded name phrase → [(level, name, cc)], plus the label to show.
        self.names: dict[tuple[str, ...], list[PlaceKey]] = {}
        self.labels: dict[PlaceKey, str] = {}
        # An exonym names whatever carries that name: Oporto is the city and the district of Porto.
        by_canonical: dict[str, list[str]] = {}
        for alias, name in [*al.cities.items(), *al.regions.items()]:
            by_canonical.setdefault(fold(name), []).append(alias)
        by_cc: dict[str, list[str]] = {}
        for alias, cc in al.countries.items():
            by_cc.setdefault(cc, []).append(alias)
        for p in places:
            if p.level == COUNTRY:
                key: PlaceKey = (COUNTRY, p.name, p.cc)
                spoken = [*country_aliases(p.cc, LANGUAGES), p.name, p.cc if len(p.cc) > 2 else ""]
                spoken += by_cc.get(p.cc, [])
            else:
                key = (p.level, p.name, p.cc)
                spoken = [p.name, *by_canonical.get(fold(p.name), [])]
            self.labels[key] = p.name
            for s in spoken:
                phrase = _phrase(s) if s else ()
                if phrase and key not in self.names.setdefault(phrase, []):
                    self.names[phrase].append(key)

    def __len__(self) -> int:
        return len(self.labels)

    def find(self, text: str, taken: list[tuple[int, int]] | None = None) -> list[PlaceMatch]:
        """Places named in ``text``, left to right, skipping the character spans in ``taken`` (the
        dates already found there)."""
        toks = [(m.group(), fold(m.group()).rstrip("."), m.start(), m.end()) for m in _TOKEN.finditer(text)]
        folded = [t[1] for t in toks]
        taken = taken or []

        def free(a: int, b: int) -> bool:
            return not any(a < e and s < b for s, e in taken)

        out: list[PlaceMatch] = []
        last_end = 0  # a preposition already taken by the previous place stays with it
        i = 0
        while i < len(toks):
            hit = None
            for n in range(min(_LONGEST, len(toks) - i), 0, -1):
                key = tuple(folded[i : i + n])
                if key in self.names and free(toks[i][2], toks[i + n - 1][3]):
                    hit = (n, self.names[key])
                    break
            if hit is None:
                i += 1
                continue
            n, keys = hit
            start = i
            for prep in sorted(self.prepositions, key=len, reverse=True):
                k = len(prep)
                if (
                    i - k >= 0
                    and tuple(folded[i - k : i]) == prep
                    and free(toks[i - k][2], toks[i][2])
                    and toks[i - k][2] >= last_end
                ):
                    start = i - k
                    break
            fragment = text[toks[start][2] : toks[i + n - 1][3]]
            # A city first, then a region, then a country: the label is the most specific name.
            order = {CITY: 0, REGION: 1, COUNTRY: 2}
            keys = sorted(keys, key=lambda k: order[k[0]])
            out.append(PlaceMatch(fragment, self.labels[keys[0]], tuple(keys)))
            last_end = toks[i + n - 1][3]
            i += n
        return out
