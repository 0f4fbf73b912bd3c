"""The metadata pass (capture time, camera, GPS → place) in files/s, beside reading EXIF alone, and the
query parser's cost per query.

Rows:

* ``exif alone``: Pillow opens each photo and parses its EXIF (the floor: what any header read costs);
* ``extract``: engine.media.metadata.read_metadata (EXIF + GPS IFD + offsets, mtime fallback);
* ``pass``: engine.indexing.analyzers.metadata.analyze_rows in batches of 64 (extract, one gazetteer
  query per batch, one catalog transaction per batch);
* ``runner``: the product path, run_pending_analyses(only="metadata") over a library whose files are
  indexed (one file per analyze call and per transaction, its state written per file);
* ``gazetteer load``: the GeoNames k-d tree (engine.media.places) built on first use, in a fresh process.

Two photo sets: the photos in shared/assets/data as they are (they carry no EXIF: every file takes the
mtime fallback), and the same photos rewritten with EXIF dates, offsets, camera and GPS positions
spread over Europe (every file goes through the gazetteer).

Queries: parse_query over a fixed mix of dates, places, Spanish and plain words, with and without a
library whose places the parser matches. Filters: the file_meta queries behind a date or place filter,
the place list and the year histogram over a synthetic catalog (``--library-rows``, default 100k).

    python bench/bench_metadata.py [--photos 937] [--workdir DIR]

Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ASSETS = Path(__file__).resolve().parent.parent.parent / "shared" / "assets" / "data"

QUERIES = [
    "beach",
    "a red car",
    "2019",
    "beach 2019",
    "July 2023",
    "Porto",
    "beach in Porto July 2023",
    "playa en Oporto agosto de 2020",
    "summer 2021",
    "since 2020",
    "la semana pasada",
    "Christmas 2021",
    "Navidad 2021 en Viena",
    "dogs that may bark",
    "Rome 2018",
    "castles in germany",
]


def load_avg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def source_photos(limit: int) -> list[Path]:
    files = sorted(p for p in ASSETS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return files[:limit]


def with_exif(files: list[Path], dest: Path) -> list[Path]:
    """Copies of ``files`` rewritten with EXIF dates, offsets, a camera and GPS around Europe."""
    from fractions import Fraction

    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(files):
        lat, lon = 36.0 + (i * 0.37) % 22.0, -9.0 + (i * 0.53) % 33.0

        def dms(v: float) -> tuple[Fraction, Fraction, Fraction]:
            v = abs(v)
            d, m = int(v), int((v - int(v)) * 60)
            return Fraction(d), Fraction(m), Fraction(round(((v - d) * 60 - m) * 60 * 100), 100)

        with Image.open(f) as im:
            img = im.convert("RGB")
        exif = Image.Exif()
        exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 5D"
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = f"{2015 + i % 10}:{1 + i % 12:02d}:{1 + i % 28:02d} 12:00:00"
        sub[0x9011] = "+01:00"
        g = exif.get_ifd(0x8825)
        g[1], g[2], g[3], g[4] = "N", dms(lat), ("E" if lon >= 0 else "W"), dms(lon)
        p = dest / f"exif_{i:05d}.jpg"
        img.save(p, "JPEG", quality=90, exif=exif)
        out.append(p)
    return out


def exif_alone(files: list[Path]) -> float:
    from PIL import Image

    t = time.perf_counter()
    for f in files:
        with Image.open(f) as im:
            ex = im.getexif()
            ex.get_ifd(0x8769)
            ex.get_ifd(0x8825)
    return len(files) / (time.perf_counter() - t)


def extract_rate(files: list[Path]) -> float:
    from engine.media.metadata import read_metadata

    t = time.perf_counter()
    for f in files:
        read_metadata(f, "photo")
    return len(files) / (time.perf_counter() - t)


def make_library(home: Path, files: list[Path]):  # type: ignore[no-untyped-def]
    from engine.library import Library
    from engine.storage.settings import Settings

    settings = Settings.load(home)
    lib = Library(settings)
    ids = lib.catalog.add_many([(str(f), f.stat().st_size, f.stat().st_mtime, "photo") for f in files])
    lib.catalog.set_state(ids, "indexed")
    return lib


def pass_rate(home: Path, files: list[Path]) -> float:
    from engine.indexing.analyzers.metadata import analyze_rows
    from engine.media.places import reverse

    reverse(41.0, -8.0)  # the gazetteer load is measured on its own
    lib = make_library(home, files)
    try:
        rows = list(lib.catalog.iter_all())
        t = time.perf_counter()
        for i in range(0, len(rows), 64):
            analyze_rows(lib, rows[i : i + 64])
        return len(rows) / (time.perf_counter() - t)
    finally:
        lib.close()


def runner_rate(home: Path, files: list[Path]) -> float:
    from engine.indexing.analysis import run_pending_analyses

    lib = make_library(home, files)
    try:
        t = time.perf_counter()
        report = run_pending_analyses(lib, only="metadata")
        dt = time.perf_counter() - t
        assert report.done == len(files), report
        return len(files) / dt
    finally:
        lib.close()


def gazetteer_load() -> float:
    code = (
        "import time; t=time.perf_counter(); from engine.media.places import reverse; reverse(41.1,-8.6); "
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    return float(out.stdout.strip().splitlines()[-1])


def parser_cost(home: Path | None) -> tuple[float, float]:
    """(µs per query without a library, µs per query with the library of ``home``)."""
    from engine.search.query import parse_query

    for q in QUERIES:
        parse_query(q, None)  # load tables and plug-ins
    reps = 50
    t = time.perf_counter()
    for _ in range(reps):
        for q in QUERIES:
            parse_query(q, None)
    bare = (time.perf_counter() - t) / (reps * len(QUERIES)) * 1e6
    with_lib = float("nan")
    if home is not None:
        from engine.library import Library
        from engine.storage.settings import Settings

        lib = Library(Settings.load(home))
        try:
            for q in QUERIES:
                parse_query(q, lib)
            t = time.perf_counter()
            for _ in range(reps):
                for q in QUERIES:
                    parse_query(q, lib)
            with_lib = (time.perf_counter() - t) / (reps * len(QUERIES)) * 1e6
        finally:
            lib.close()
    return bare, with_lib


def filter_costs(home: Path, n: int) -> dict[str, float]:
    """ms per query of the date/place filters and the place list over a synthetic library of ``n`` files
    (dates over 10 years, 200 cities in 20 countries)."""
    from engine.media.metadata import MediaMeta
    from engine.media.places import Place
    from engine.storage import metadata as sm
    from engine.storage.catalog import Catalog

    c = Catalog(home / "catalog.sqlite")
    try:
        ids = c.add_many([(f"/lib/{i // 1000}/{i}.jpg", 1, 1.0, "photo") for i in range(n)])
        c.set_state(ids, "indexed")
        rows = []
        for k, fid in enumerate(ids):
            local = f"{2015 + k % 10}-{1 + k % 12:02d}-{1 + k % 28:02d}T12:00:00"
            city = k % 200
            rows.append(
                (
                    fid,
                    MediaMeta(local=local, time_source="exif"),
                    Place(f"City{city}", f"Region{city // 5}", f"C{city // 10}", f"Country{city // 10}"),
                )
            )
        for i in range(0, len(rows), 5000):
            sm.put_many(c, rows[i : i + 5000])
        cases = {
            "year": sm.Filter(ranges=(("2019-01-01T00:00:00", "2020-01-01T00:00:00"),)),
            "month": sm.Filter(ranges=(("2019-07-01T00:00:00", "2019-08-01T00:00:00"),)),
            "city": sm.Filter(places=((sm.CITY, "City7", "C0"),)),
            "country+year": sm.Filter(
                ranges=(("2019-01-01T00:00:00", "2020-01-01T00:00:00"),), places=((sm.COUNTRY, "C3", "C3"),)
            ),
        }
        out: dict[str, float] = {}
        for name, f in cases.items():
            sm.matching(c, f)
            t = time.perf_counter()
            for _ in range(5):
                sm.matching(c, f)
            out[f"matching_{name}_ms"] = round((time.perf_counter() - t) / 5 * 1e3, 2)
        t = time.perf_counter()
        sm.places(c)
        out["places_ms"] = round((time.perf_counter() - t) * 1e3, 2)
        t = time.perf_counter()
        sm.histogram(c, "year")
        out["histogram_year_ms"] = round((time.perf_counter() - t) * 1e3, 2)
        return out
    finally:
        c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=937)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument(
        "--library-rows", type=int, default=100_000, help="synthetic library for the filter costs"
    )
    args = ap.parse_args()
    if not ASSETS.is_dir():
        sys.exit(f"no photo set at {ASSETS}")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-metadata-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["LOOKALIKE_HOME"] = str(work / "home-unused")
    print(f"load average before: {load_avg()}  (cores: {os.cpu_count()})")
    plain = source_photos(args.photos)
    print(f"writing {len(plain)} EXIF+GPS copies…", file=sys.stderr)
    exif_files = with_exif(plain, work / "exif")
    res: dict[str, object] = {"photos": len(plain), "load_before": load_avg()}
    res["gazetteer_load_s"] = round(gazetteer_load(), 3)
    for name, files in (("plain", plain), ("exif_gps", exif_files)):
        exif_alone(files[:50])  # warm the page cache
        r = {
            "exif_alone_fps": round(exif_alone(files), 1),
            "extract_fps": round(extract_rate(files), 1),
            "pass_fps": round(pass_rate(work / f"home-pass-{name}", files), 1),
            "runner_fps": round(runner_rate(work / f"home-run-{name}", files), 1),
        }
        res[name] = r
        print(
            f"{name:9}  exif alone {r['exif_alone_fps']:8.1f}/s  extract {r['extract_fps']:8.1f}/s  "
            f"pass {r['pass_fps']:8.1f}/s  runner {r['runner_fps']:8.1f}/s"
        )
    bare, with_lib = parser_cost(work / "home-pass-exif_gps")
    res["parse_us_no_library"] = round(bare, 1)
    res["parse_us_with_library"] = round(with_lib, 1)
    print(f"gazetteer load (fresh process, import + k-d tree): {res['gazetteer_load_s']} s")
    print(f"parse_query per query: {bare:.0f} µs without a library, {with_lib:.0f} µs with its places")
    costs = filter_costs(Path(tempfile.mkdtemp(dir=work)), args.library_rows)
    res[f"filters_{args.library_rows}"] = costs
    print(f"filters over {args.library_rows} files (ms): " + ", ".join(f"{k} {v}" for k, v in costs.items()))
    res["load_after"] = load_avg()
    print(f"load average after: {res['load_after']}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
