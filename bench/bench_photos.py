"""Photo indexing throughput on generated 12 MP JPEGs, beside its ceilings measured in the same run.

Ceilings: the decode stage alone (the same pool of decode workers, no model) and the encode stage alone
(the image encoder on ready pixels), and from those two the ceiling of both stages sharing the same
cores. The model is a random-weight copy of the UForm3 small image tower (same shape, so the same cost;
no real weights exist on this machine), run as the app runs it: the int8 copy the engine makes on the
CPU (``image_precision = "int8"``, the default; the time to make it is printed) and the published fp32
file. The int8 embeddings' cosine to fp32 is printed too.

    python bench/bench_photos.py [--photos 60] [--workdir DIR]

Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.media.images import load_photo  # noqa: E402
from engine.models.tiny import FULL_SIZE_IMAGE, UFORM_ID, write_tiny_uform  # noqa: E402
from engine.models.uform import UFormEncoder  # noqa: E402
from testkit.media import make_photo  # noqa: E402


def make_photos(folder: Path, n: int) -> list[Path]:
    """12 MP JPEGs with sensor-like noise: flat synthetic pictures compress (and decode) far faster than
    real photos, which would flatter the decode figures."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = []
    for i in range(min(n, 8)):
        arr = np.asarray(make_photo(i, (4000, 3000)), dtype=np.int16)
        arr += rng.integers(-12, 13, size=arr.shape, dtype=np.int16)
        base.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    paths = []
    for i in range(n):
        p = folder / f"IMG_{i:04d}.jpg"
        # Vary the bytes so no two files are identical (some pipelines skip duplicates).
        base[i % len(base)].rotate(i % 4 * 90 if i % 4 in (0, 2) else 0).save(p, quality=90 - i % 7)
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lookalike-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(4, os.cpu_count() or 2))
    from engine.models.device import inference_threads

    print(
        f"cores: {os.cpu_count()}, decode workers: {workers}, inference threads: {inference_threads()}, "
        f"photos: {args.photos} (12 MP JPEG)"
    )

    t = time.perf_counter()
    photos = make_photos(work / "pics", args.photos)
    print(f"generated photos in {time.perf_counter() - t:.1f} s")

    fp32_dir = work / "models" / UFORM_ID
    if not (fp32_dir / "manifest.json").exists():
        write_tiny_uform(fp32_dir, image_overrides=dict(FULL_SIZE_IMAGE, pooling="cls"))
    for stale in fp32_dir.glob("image_encoder.int8.*"):
        stale.unlink()  # make the int8 copy again, timed, as a first indexing run does

    # Decode stage alone (full decode vs reduced draft decode).
    from PIL import Image

    t = time.perf_counter()
    for p in photos[:8]:
        with Image.open(p) as im:
            im.convert("RGB")
    full_ms = (time.perf_counter() - t) / 8 * 1000
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(lambda p: load_photo(p, 224), photos))
    decode_rate = len(photos) / (time.perf_counter() - t)
    print(f"full decode, 1 core:              {full_ms:7.1f} ms/photo")
    print(f"reduced decode, {workers} workers:        {decode_rate:7.1f} photos/s")

    results: dict[str, float] = {"decode_only_per_s": decode_rate, "full_decode_ms": full_ms}
    threads = inference_threads()
    encoders = {}
    for label in ("fp32", "int8"):
        t = time.perf_counter()
        enc = encoders[label] = UFormEncoder(fp32_dir, UFORM_ID, precision=label)
        pixels = enc.preprocess(decoded[:32])
        enc.encode_pixels(pixels[:4])  # warm up (and, for int8, make the checked int8 copy)
        if label == "int8":
            assert enc.precision == "int8", "the int8 copy was refused"
            results["int8_made_s"] = time.perf_counter() - t
            print(f"int8 copy made and checked in {results['int8_made_s']:.1f} s (once per model)")
        t = time.perf_counter()
        for _ in range(2):
            enc.encode_pixels(pixels)
        encode_rate = 2 * len(pixels) / (time.perf_counter() - t)
        results[f"encode_only_{label}_per_s"] = encode_rate
        print(f"encode alone ({label}):              {encode_rate:7.1f} photos/s")

    fp32 = encoders["fp32"].encode_images(decoded[:16])
    int8 = encoders["int8"].encode_images(decoded[:16])
    cos = (fp32 * int8).sum(axis=1)
    results["int8_vs_fp32_cosine_min"] = float(cos.min())
    print(f"int8 vs fp32 cosine: min {cos.min():.4f}, mean {cos.mean():.4f} (random weights)")

    # End to end through the library: scan + decode pool + batched encode + store + catalog.
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.storage.settings import Settings

    for label in ("int8", "fp32"):
        home = work / f"home-{label}"
        shutil.rmtree(home, ignore_errors=True)
        (home / "models").mkdir(parents=True)
        shutil.copytree(fp32_dir, home / "models" / UFORM_ID)
        settings = Settings(home=home, image_precision=label)
        with Library(settings) as lib:
            lib.add_folder(work / "pics")
            scan(lib)
            _ = lib.store  # open the store before timing: it is opened once per session, not per photo
            t = time.perf_counter()
            report = index_pending(lib)
            rate = report.indexed / (time.perf_counter() - t)
        results[f"index_{label}_per_s"] = rate
        # The pipeline overlaps the stages (decode on the pool, encode on the model's threads), so it can
        # go no faster than the slower stage alone, nor than both stages' CPU time on these cores.
        encode_rate = results[f"encode_only_{label}_per_s"]
        slower = min(decode_rate, encode_rate)
        cores = os.cpu_count() or 1
        shared = cores / (min(workers, cores) / decode_rate + threads / encode_rate)
        ceiling = min(slower, shared)
        print(
            f"indexing end to end ({label}):      {rate:7.1f} photos/s  "
            f"({rate / slower:.0%} of the slower stage alone, {slower:.1f}/s; "
            f"{rate / ceiling:.0%} of both stages sharing {cores} cores, {ceiling:.1f}/s)"
        )
        results[f"index_{label}_ratio_to_slower_stage"] = rate / slower
        results[f"index_{label}_ratio_to_ceiling"] = rate / ceiling

    results["load_avg_1min"] = os.getloadavg()[0]
    print(json.dumps({k: round(v, 4) for k, v in results.items()}))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
