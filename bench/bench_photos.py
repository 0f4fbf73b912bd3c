"""Photo indexing throughput on generated 12 MP JPEGs, beside its ceilings measured in the same run.

Ceilings: the decode stage alone (the same pool of decode workers, no model) and the encode stage alone
(the image encoder on ready pixels), and from those two the ceiling of both stages sharing the same
cores. The model is a random-weight copy of the UForm3 small image tower (same shape, so the same cost;
no real weights exist on this machine), run as the app runs it: the int8 copy the engine makes on the
CPU (``image_precision = "int8"``, the default; the time to make it is printed) and the published fp32
file. The int8 embeddings' cosine to fp32 is printed too.

    python bench/bench_photos.py [--photos 60] [--rounds 3] [--workdir DIR] [--no-fp32]

The cores are shared with other work, so a ceiling measured a minute before the figure it bounds may
describe another machine. ``--rounds N`` measures the int8 path N times as one round each of decode
alone, encode alone and indexing, back to back, and prints each round's ratio and their median. The
library run loads the encoder before its clock starts, as it opens the store (once per session, not per
photo); the load is timed and printed apart.

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


#: CPU milliseconds per photo of the last measurement of each stage ("decode", "encode", "index",
#: "store": the store's own process while indexing). CPU time is what other work on shared cores
#: disturbs least: the library spending no more CPU per photo than the stages alone means the rest of
#: its gap to the ceiling is waiting (the stages not overlapping, or the cores not being ours).
CPU_MS: dict[str, float] = {}


def children_cpu_s() -> float:
    """CPU seconds of this process's child processes so far (the store's server), from /proc; 0 where
    there is no /proc."""
    total, me, tick = 0.0, os.getpid(), os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    proc = Path("/proc")
    if not proc.is_dir():
        return 0.0
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == me:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def decode_alone(photos: list[Path], workers: int) -> float:
    """Photos/s of the decode stage alone: the reduced decode on a pool of ``workers``."""
    t, c = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda p: load_photo(p, 224), photos))
    CPU_MS["decode"] = (time.process_time() - c) / len(photos) * 1000
    return len(photos) / (time.perf_counter() - t)


def encode_alone(enc: UFormEncoder, pixels: np.ndarray) -> float:
    """Photos/s of the encode stage alone: the encoder on ready pixels, in batches of 8, its fastest
    here (int8 ViT-S: 23-26 ms an image at batch 1-8, 29-47 ms at 32)."""
    t, c = time.perf_counter(), time.process_time()
    for _ in range(2):
        for i in range(0, len(pixels), 8):
            enc.encode_pixels(pixels[i : i + 8])
    CPU_MS["encode"] = (time.process_time() - c) / (2 * len(pixels)) * 1000
    return 2 * len(pixels) / (time.perf_counter() - t)


def bare_pipeline(photos: list[Path], workers: int, enc: UFormEncoder) -> float:
    """Photos/s of the two stages overlapped and nothing else: the decode pool (decode + preprocess, 32
    ahead) feeding the encoder in batches of 8 on this thread; no hashing, store or catalog. What the
    library could reach on these cores as they are (two busy threads on two cores run slower than
    either alone: shared caches, memory and, in a VM, perhaps shared physical cores)."""
    from collections import deque

    def prep(p: Path) -> np.ndarray:
        return enc.preprocess([load_photo(p, 224)])[0]

    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        it = iter(photos)
        ahead: deque = deque(pool.submit(prep, p) for p, _ in zip(it, range(32), strict=False))
        batch: list[np.ndarray] = []
        while ahead:
            batch.append(ahead.popleft().result())
            nxt = next(it, None)
            if nxt is not None:
                ahead.append(pool.submit(prep, nxt))
            if len(batch) == 8 or not ahead:
                enc.encode_pixels(np.stack(batch))
                batch = []
    return len(photos) / (time.perf_counter() - t)


def index_library(work: Path, model_dir: Path, label: str, results: dict[str, float]) -> float:
    """Photos/s indexing ``work/pics`` into a fresh library: the pipeline's time only. Before the clock:
    the scan, the store's open and the encoder's load (once a session; the load is recorded in
    ``results``), and one photo indexed (a fresh library's first store write, ~0.4 s, comes once a
    library)."""
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.storage.settings import Settings

    home = work / f"home-{label}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "models").mkdir(parents=True)
    shutil.copytree(model_dir, home / "models" / UFORM_ID)
    settings = Settings(home=home, image_precision=label)
    with Library(settings) as lib:
        lib.add_folder(work / "pics")
        scan(lib)
        _ = lib.store  # opened once per session, not per photo
        t = time.perf_counter()
        lib.image_text_encoder().encode_images([load_photo(next((work / "pics").iterdir()), 224)])
        results[f"encoder_load_{label}_s"] = time.perf_counter() - t
        assert index_pending(lib, limit=1).indexed == 1
        t, c, k = time.perf_counter(), time.process_time(), children_cpu_s()
        report = index_pending(lib)
        rate = report.indexed / (time.perf_counter() - t)
        assert report.indexed and not report.failed, report.failures
        CPU_MS["index"] = (time.process_time() - c) / report.indexed * 1000
        CPU_MS["store"] = (children_cpu_s() - k) / report.indexed * 1000
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=1, help="rounds of decode, encode, index (int8)")
    ap.add_argument("--no-fp32", action="store_true", help="leave out the fp32 library run")
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
    decode_rate = decode_alone(photos, workers)
    decoded = [load_photo(p, 224) for p in photos[:32]]
    pixels_int8 = None
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
        encode_rate = encode_alone(enc, pixels)
        if label == "int8":
            pixels_int8 = pixels
        results[f"encode_only_{label}_per_s"] = encode_rate
        print(f"encode alone ({label}):              {encode_rate:7.1f} photos/s")

    fp32 = encoders["fp32"].encode_images(decoded[:16])
    int8 = encoders["int8"].encode_images(decoded[:16])
    cos = (fp32 * int8).sum(axis=1)
    results["int8_vs_fp32_cosine_min"] = float(cos.min())
    print(f"int8 vs fp32 cosine: min {cos.min():.4f}, mean {cos.mean():.4f} (random weights)")

    # End to end through the library: scan + decode pool + batched encode + store + catalog.
    cores = os.cpu_count() or 1

    def ceiling_of(decode_rate: float, encode_rate: float) -> tuple[float, float]:
        """(slower stage alone, ceiling): the pipeline overlaps the stages (decode on the pool, encode
        on the model's threads), so it can go no faster than the slower stage alone, nor than both
        stages' CPU time on these cores."""
        slower = min(decode_rate, encode_rate)
        shared = cores / (min(workers, cores) / decode_rate + threads / encode_rate)
        return slower, min(slower, shared)

    def report_index(label: str, rate: float, decode_rate: float, encode_rate: float, tag: str) -> float:
        slower, ceiling = ceiling_of(decode_rate, encode_rate)
        print(
            f"indexing end to end ({label}):      {rate:7.1f} photos/s  "
            f"({rate / slower:.0%} of the slower stage alone, {slower:.1f}/s; "
            f"{rate / ceiling:.0%} of both stages sharing {cores} cores, {ceiling:.1f}/s){tag}"
        )
        return rate / ceiling

    int8_rates, int8_ratios, cpu_ratios, bare_ratios = [], [], [], []
    for rnd in range(max(1, args.rounds)):
        tag = ""
        if rnd:  # the stages again, right before the run they bound
            decode_rate = decode_alone(photos, workers)
            assert pixels_int8 is not None
            encode_rate = encode_alone(encoders["int8"], pixels_int8)
            tag = f"  [round {rnd + 1}: decode {decode_rate:.1f}/s, encode {encode_rate:.1f}/s]"
        else:
            encode_rate = results["encode_only_int8_per_s"]
        bare = bare_pipeline(photos, workers, encoders["int8"])
        rate = index_library(work, fp32_dir, "int8", results)
        int8_rates.append(rate)
        bare_ratios.append(rate / bare)
        int8_ratios.append(report_index("int8", rate, decode_rate, encode_rate, tag))
        print(
            f"    bare pipeline (the two stages overlapped, nothing else): {bare:.1f} photos/s; "
            f"the library is {rate / bare:.0%} of it"
        )
        stages_ms = CPU_MS["decode"] + CPU_MS["encode"]
        lib_ms = CPU_MS["index"] + CPU_MS["store"]
        cpu_ratios.append(stages_ms / lib_ms)
        print(
            f"    CPU per photo: library {CPU_MS['index']:.1f} ms (+{CPU_MS['store']:.1f} ms in the store's "
            f"process) vs decode {CPU_MS['decode']:.1f} + encode {CPU_MS['encode']:.1f} alone = "
            f"{stages_ms:.1f} ms: {stages_ms / lib_ms:.0%}; load {os.getloadavg()[0]:.1f}"
        )
    results["index_int8_per_s"] = float(np.median(int8_rates))
    results["index_int8_ratio_to_ceiling"] = float(np.median(int8_ratios))
    results["index_int8_ratio_to_ceiling_min"] = float(min(int8_ratios))
    results["index_int8_cpu_ratio"] = float(np.median(cpu_ratios))
    results["index_int8_ratio_to_bare_pipeline"] = float(np.median(bare_ratios))
    if len(int8_ratios) > 1:
        print(
            f"int8 over {len(int8_ratios)} rounds: median {np.median(int8_ratios):.0%} of the ceiling "
            f"(rounds: {', '.join(f'{r:.0%}' for r in int8_ratios)})"
        )
    if not args.no_fp32:
        rate = index_library(work, fp32_dir, "fp32", results)
        results["index_fp32_per_s"] = rate
        results["index_fp32_ratio_to_ceiling"] = report_index(
            "fp32", rate, results["decode_only_per_s"], results["encode_only_fp32_per_s"], ""
        )

    results["load_avg_1min"] = os.getloadavg()[0]
    print(json.dumps({k: round(v, 4) for k, v in results.items()}))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
