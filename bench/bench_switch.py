"""What a model switch costs, measured: the re-embedding stage against indexing from scratch with the
same model, and search latency before and during the switch.

Random weights of the real image towers (no real UForm weights exist here; a network's cost is its
shape): UForm3 english small's ViT-S/16 as the model in use, multilingual base's ViT-B/16 as the one
switched to, both through the real loader (the engine's checked int8 copy on the CPU). Photos: COCO-128
from ``../shared/assets`` when present, else synthetic 1600x1200 JPEGs.

1. index N photos with small (the library before the switch);
2. ``use_model(multilingual)``, then the re-embed stage alone, timed (photos/s), with text searches
   timed before the switch and half way through it (they must answer from the old vectors, as fast);
3. the ceiling: the same N photos indexed from scratch with multilingual in a fresh library.

    python bench/bench_switch.py [--photos 48] [--workdir DIR]

Prints a table and one line of JSON; the 1-minute load average is sampled around each part.
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

from engine.models.tiny import FULL_SIZE_IMAGE, write_tiny_uform  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "assets"
COCO = SHARED / "data" / "coco128_val2017"
SMALL = "uform3-image-text-english-small"
MULTI = "uform3-image-text-multilingual-base"
#: ViT-B/16 at 224 px, the multilingual base image tower as unum-cloud/uform's README names it.
VIT_B16 = dict(FULL_SIZE_IMAGE, dim=768, num_layers=12, num_heads=12, pooling="cls")


def load() -> float:
    return round(os.getloadavg()[0], 1)


def photos(work: Path, n: int) -> Path:
    folder = work / "photos"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    src = sorted(COCO.glob("*.jpg")) if COCO.is_dir() else []
    if src:
        for p in src[:n]:
            shutil.copy(p, folder / p.name)
    else:
        from testkit.media import save_photo

        for i in range(n):
            save_photo(folder / f"photo_{i:04d}.jpg", i, size=(1600, 1200))
    return folder


def models(work: Path) -> Path:
    from engine.models.tiny_variants import write_multilingual_tokenizer

    dest = work / "models"
    if not (dest / SMALL).is_dir():
        write_tiny_uform(dest / SMALL, image_overrides=dict(FULL_SIZE_IMAGE, pooling="cls"))
    if not (dest / MULTI).is_dir():
        write_tiny_uform(
            dest / MULTI, image_overrides=VIT_B16, model_id=MULTI, tokenizer=write_multilingual_tokenizer
        )
    return dest


def home(work: Path, name: str, models_dir: Path, model: str) -> Path:
    from engine.storage.settings import Settings

    h = work / name
    if h.exists():
        shutil.rmtree(h)
    (h / "models").mkdir(parents=True)
    for m in (SMALL, MULTI):
        shutil.copytree(models_dir / m, h / "models" / m)
    s = Settings(home=h, image_text_model=model, ocr=False, speech=False)
    s.save()
    return h


def index(h: Path, folder: Path) -> dict[str, Any]:
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library

    with Library.open(h) as lib:
        lib.add_folder(folder)
        scan(lib)
        lib.image_text_encoder().encode_pixels  # noqa: B018 - loaded before the clock starts
        _ = lib.store  # opened here, as `lookalike index` does, not by the first write
        before = load()
        t = time.perf_counter()
        r = index_pending(lib)
        s = time.perf_counter() - t
    return {
        "files": r.indexed,
        "seconds": round(s, 2),
        "rate": round(r.indexed / s, 2),
        "load": [before, load()],
    }


QUERIES = ["a dog on the beach", "a red car", "people at a party", "a bird in a tree", "food on a table"]


def search_ms(lib: Any, rounds: int = 4) -> float:
    from engine.search.api import search_text

    times = []
    for _ in range(rounds):
        for q in QUERIES:
            t = time.perf_counter()
            search_text(lib, q, limit=20)
            times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 1)


def switch(h: Path) -> dict[str, Any]:
    from engine.indexing import switches
    from engine.indexing.analysis import run_pending_analyses
    from engine.library import Library

    with Library.open(h) as lib:
        search_ms(lib, 1)  # warm
        before_ms = search_ms(lib)
        switches.use_model(lib, MULTI)
        lib.image_text_encoder(MULTI).encode_pixels  # noqa: B018
        total = switches.state(lib, "image-text").pending  # type: ignore[union-attr]
        before = load()
        t = time.perf_counter()
        first = run_pending_analyses(lib, only="reembed_image_text", limit=total // 2)
        mid = time.perf_counter()
        during_unflushed_ms = search_ms(lib)
        lib.store.flush()  # the service flushes every 2 s while it writes (StoreFlush)
        during_ms = search_ms(lib)
        answered_from = lib.image_collection
        resumed = time.perf_counter()
        rest = run_pending_analyses(lib, only="reembed_image_text")
        end = time.perf_counter()
        done = first.done + rest.done
        seconds = (mid - t) + (end - resumed)
        completed = lib.settings.image_text_model == MULTI and not lib.settings.next_image_text_model
        search_ms(lib, 1)  # the new model's text tower loads
        after_ms = search_ms(lib)
        left = [c for c in lib.store.collections() if c.startswith("image_text__")]
    return {
        "files": done,
        "seconds": round(seconds, 2),
        "rate": round(done / seconds, 2),
        "load": [before, load()],
        "search_p50_ms_before": before_ms,
        "search_p50_ms_during_unflushed": during_unflushed_ms,
        "search_p50_ms_during": during_ms,
        "search_p50_ms_after": after_ms,
        "searched_collection_during": answered_from,
        "completed": completed,
        "collections_after": left,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=48)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-switch-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = photos(work, args.photos)
    mdir = models(work)
    a = home(work, "switching", mdir, SMALL)
    small = index(a, folder)
    sw = switch(a)
    b = home(work, "fresh", mdir, MULTI)
    fresh = index(b, folder)
    out = {
        "photos": args.photos,
        "source": "coco128" if COCO.is_dir() else "synthetic 1600x1200",
        "cores": os.cpu_count(),
        "index_small": small,
        "reembed_to_multilingual": sw,
        "index_multilingual_from_scratch": fresh,
        "reembed_vs_scratch": round(sw["rate"] / fresh["rate"], 3),
    }
    print(f"{'what':<44} {'photos/s':>9} {'load':>10}")
    print(f"{'index with small (ViT-S/16)':<44} {small['rate']:>9} {str(small['load']):>10}")
    print(f"{'re-embed stage to multilingual (ViT-B/16)':<44} {sw['rate']:>9} {str(sw['load']):>10}")
    print(f"{'index with multilingual from scratch':<44} {fresh['rate']:>9} {str(fresh['load']):>10}")
    print(
        f"search p50 before {sw['search_p50_ms_before']} ms, during {sw['search_p50_ms_during']} ms "
        f"({sw['search_p50_ms_during_unflushed']} ms before the store's flush), "
        f"after {sw['search_p50_ms_after']} ms "
        f"(from {sw['searched_collection_during']}); completed {sw['completed']}, "
        f"collections after {sw['collections_after']}"
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
