"""Photos/s indexed through the indexing service (the app's path) beside ``lookalike index`` (the CLI's
path: one ``index_pending`` call over every pending file), on the same real photos, interleaved.

Real photos: the first ``--photos`` JPEGs of COCO-128 and then Caltech-101 under
/work/shared/assets/data (copied to a temp folder). Model: a random-weight copy of the UForm3 small image
tower (real shape, so real cost), int8 as the app runs it; ``--tiny`` uses the tests' tiny model instead,
where encoding is nearly free and the per-batch cost of the service shows alone.

Each round runs, back to back on fresh libraries (each warmed by one photo indexed: a fresh library's
first store write comes once a library): the CLI path, the service with count-bounded 16-file batches
(what the app did before: ``batch_size=16, batch_seconds=0``) and the service as the app now runs it
(its defaults). The service's clock runs from ``start()`` (the folder was scanned before, so its startup
scan finds nothing new) until no photo row is pending. The service's threads run at the CLI's priority
unless ``--nice`` (the app runs them at nice 10, which on busy shared cores measures the neighbours).

    python bench/bench_service_index.py [--photos 150] [--rounds 3] [--tiny] [--nice]

Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.models.tiny import FULL_SIZE_IMAGE, UFORM_ID, write_tiny_uform  # noqa: E402

ASSETS = Path(os.environ.get("LOOKALIKE_ASSETS", "/work/shared/assets")) / "data"


def copy_photos(dest: Path, n: int) -> int:
    """Copy up to ``n`` real JPEGs (COCO-128 first, then Caltech-101) into ``dest``; returns how many."""
    dest.mkdir(parents=True, exist_ok=True)
    srcs = sorted((ASSETS / "coco128_val2017").rglob("*.jpg")) + sorted(
        (ASSETS / "caltech101_subset").rglob("*.jpg")
    )
    for i, src in enumerate(srcs[:n]):
        shutil.copyfile(src, dest / f"{i:04d}_{src.name}")
    return min(n, len(srcs))


def fresh_library(work: Path, model_dir: Path, label: str) -> Any:
    """A new library over ``work/pics``, scanned, its store open, its encoder loaded and one photo
    indexed (all before any clock)."""
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.storage.settings import Settings

    home = work / f"home-{label}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "models").mkdir(parents=True)
    shutil.copytree(model_dir, home / "models" / UFORM_ID)
    lib = Library(Settings(home=home, image_precision="int8"))
    lib.__enter__()
    lib.add_folder(work / "pics")
    scan(lib)
    _ = lib.store
    assert index_pending(lib, limit=1).indexed == 1
    return lib


def pending(lib: Any) -> int:
    return int(lib.catalog.counts().get(("photo", "pending"), 0))


def cli_path(lib: Any) -> float:
    from engine.indexing.pipeline import index_pending

    n = pending(lib)
    t = time.perf_counter()
    report = index_pending(lib)
    rate = report.indexed / (time.perf_counter() - t)
    assert report.indexed == n and not report.failed, report.failures
    return rate


def service_path(lib: Any, **kw: Any) -> tuple[float, int]:
    """(photos/s, indexing batches run) through the service until nothing is pending."""
    from engine.service.batches import Batches
    from engine.service.core import Service

    n = pending(lib)
    calls = [0]
    real = Batches.index

    def counted(self: Batches) -> bool:
        ran = real(self)
        calls[0] += ran
        return ran

    Batches.index = counted  # type: ignore[method-assign]
    try:
        svc = Service(lib, watch=False, **kw)
        t = time.perf_counter()
        svc.start()
        while pending(lib):
            time.sleep(0.01)
        rate = n / (time.perf_counter() - t)
        svc.stop()
    finally:
        Batches.index = real  # type: ignore[method-assign]
    return rate, calls[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tiny", action="store_true", help="the tests' tiny model instead of the real shape")
    ap.add_argument("--nice", action="store_true", help="run the service at nice 10, as the app does")
    args = ap.parse_args()
    import engine.service.core as core

    if not args.nice:
        core.BACKGROUND_NICE = 0  # type: ignore[misc]
    work = Path(tempfile.mkdtemp(prefix="lookalike-bench-svc-"))
    try:
        n = copy_photos(work / "pics", args.photos)
        if n < 2:
            sys.exit(f"no photos under {ASSETS}")
        model_dir = work / "model"
        overrides = None if args.tiny else dict(FULL_SIZE_IMAGE, pooling="cls")
        write_tiny_uform(model_dir, image_overrides=overrides)
        print(f"{n} real photos, model: {'tiny' if args.tiny else 'UForm3 ViT-S/16 shape'}, int8, "
              f"service nice {core.BACKGROUND_NICE}, cores {os.cpu_count()}")
        rows: dict[str, list[float]] = {"cli": [], "service_16": [], "service": []}
        loads: list[float] = []
        for rnd in range(args.rounds):
            loads.append(os.getloadavg()[0])
            for name in rows:
                lib = fresh_library(work, model_dir, name)
                try:
                    if name == "cli":
                        rate, calls = cli_path(lib), 1
                    elif name == "service_16":
                        rate, calls = service_path(lib, batch_size=16, batch_seconds=0)
                    else:
                        rate, calls = service_path(lib)
                finally:
                    lib.__exit__(None, None, None)
                rows[name].append(rate)
                print(f"round {rnd + 1} {name:11s} {rate:6.1f} photos/s  ({calls} call(s))")
            print(
                f"round {rnd + 1}: service {rows['service'][-1] / rows['cli'][-1]:.0%} of the CLI, "
                f"16-file batches {rows['service_16'][-1] / rows['cli'][-1]:.0%}; "
                f"load {loads[-1]:.1f} -> {os.getloadavg()[0]:.1f}"
            )
        med = {k: statistics.median(v) for k, v in rows.items()}
        ratio = statistics.median(s / c for s, c in zip(rows["service"], rows["cli"], strict=True))
        ratio16 = statistics.median(s / c for s, c in zip(rows["service_16"], rows["cli"], strict=True))
        print(
            f"median: CLI {med['cli']:.1f}/s (the ceiling), service {med['service']:.1f}/s ({ratio:.0%}), "
            f"16-file batches {med['service_16']:.1f}/s ({ratio16:.0%})"
        )
        out = {f"{k}_per_s": round(v, 2) for k, v in med.items()}
        out |= {"service_ratio": round(ratio, 3), "service_16_ratio": round(ratio16, 3)}
        out |= {"load_min": min(loads), "load_max": max(loads), "photos": n}
        print(json.dumps(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
