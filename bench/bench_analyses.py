"""What per-analyzer state costs in the catalog: the queries the pipeline, the runner, the service and
``lookalike status`` make, on a catalog of N indexed photos (default 100,000) with two analyzers done.

    python bench/bench_analyses.py [--files 100000]

Prints one line per query (median of 5 runs) and, last, a JSON line with the same figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.storage import analyses  # noqa: E402
from engine.storage.catalog import Catalog  # noqa: E402


def _median_ms(fn: Callable[[], object], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=100_000)
    n = ap.parse_args().files
    with tempfile.TemporaryDirectory() as tmp:
        cat = Catalog(Path(tmp) / "catalog.sqlite")
        ids = cat.add_many([(f"/lib/d{i // 1000}/p{i}.jpg", 1000 + i, 1.0, "photo") for i in range(n)])
        with cat.transaction():
            cat.execute("UPDATE files SET state='indexed'")
            for fid in ids:
                analyses.record(cat, fid, "photo_embedding", 1, analyses.DONE)
                analyses.record(cat, fid, "metadata", 1, analyses.DONE)

        # The pipeline's per-file write: the row indexed and its embedding done, in one commit.
        fresh = cat.add_many([(f"/new/p{i}.jpg", 1, 1.0, "photo") for i in range(2000)])
        t0 = time.perf_counter()
        for fid in fresh[:1000]:
            cat.mark_indexed(fid, digest="x", model="m")
        alone = (time.perf_counter() - t0) / 1000 * 1e6
        t0 = time.perf_counter()
        for fid in fresh[1000:]:
            with cat.transaction():
                cat.mark_indexed(fid, digest="x", model="m")
                analyses.record(cat, fid, "photo_embedding", 1, analyses.DONE)
        both = (time.perf_counter() - t0) / 1000 * 1e6

        photo = {"photo"}
        figures = {
            "mark_indexed_us": alone,
            "mark_indexed_with_analysis_us": both,
            "requeue_outdated_none_ms": _median_ms(
                lambda: analyses.requeue_outdated(cat, "photo_embedding", 1, photo)
            ),
            "counts_embedding_ms": _median_ms(
                lambda: analyses.counts(cat, "photo_embedding", 1, photo, embedding=True)
            ),
            "counts_slow_all_done_ms": _median_ms(lambda: analyses.counts(cat, "metadata", 1, photo)),
            "pending_rows_all_done_ms": _median_ms(
                lambda: analyses.pending_rows(cat, "metadata", 1, photo, limit=8)
            ),
            "pending_rows_none_done_ms": _median_ms(
                lambda: analyses.pending_rows(cat, "ocr", 1, photo, limit=8)
            ),
        }
        cat.close()
    print(f"{n:,} indexed photos, two analyzers done on all of them")
    for k, v in figures.items():
        unit = "us" if k.endswith("_us") else "ms"
        print(f"  {k[: -len(unit) - 1]:<32} {v:8.2f} {unit}")
    print(json.dumps({"files": n, **{k: round(v, 3) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
