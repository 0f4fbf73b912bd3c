"""What one ranking costs: query latency with every retriever fused, beside the vector search alone, at
10k and 100k photos; and (``--cutoff``) how the adaptive cutoff judges noise and planted matches.

Latency. The library is n photos with random unit vectors of the real model's 256 dimensions, in
folders named by events and with camera or word file names (see :func:`fill`; ``--dense`` names every
file from the query words, the names retriever's worst case). Per query (three random everyday words):

* vector only: encode the text, search the store, look the rows up in the catalog (the search box's
  path before fusion);
* fused: ``search_text`` as the product runs it: every registered retriever, the adaptive cutoff on the
  visual list, reciprocal-rank fusion, exclusions, results with reasons;
* its parts: the names retriever alone, the cutoff's scoring of the library sample, and fusion + cut.

The issue's target: fusion adds at most 10 ms at p50 over the vector search.

Cutoff (``--cutoff``): pure-noise score sets (what a nonsense query gives) and noise plus 40 planted
matches 6 sigma up, at 1k / 10k / 100k files, with the product's sample size: the share of noise
queries that get any "good" result (should be about the FDR, 5 %, or less) and how many planted matches
are kept. Normal bulks and, to show the limit, heavier-tailed ones.

    python bench/bench_fusion.py [--sizes 10000 100000] [--queries 50] [--dense] [--cutoff]

Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.library import Library  # noqa: E402
from engine.models.tiny import UFORM_ID, write_tiny_uform  # noqa: E402
from engine.search import cutoff, ranking  # noqa: E402
from engine.search.api import search_text  # noqa: E402
from engine.search.query import parse_query  # noqa: E402
from engine.search.retrievers import RETRIEVERS  # noqa: E402
from engine.search.retrievers.names import NamesRetriever  # noqa: E402
from engine.search.retrievers.visual import VisualRetriever, judge  # noqa: E402
from engine.storage.settings import Settings  # noqa: E402

DIM = 256
WORDS = [
    "red",
    "car",
    "dog",
    "beach",
    "sunset",
    "cat",
    "party",
    "cake",
    "tree",
    "house",
    "night",
    "street",
    "bird",
    "flower",
    "receipt",
    "hotel",
    "porto",
    "lisbon",
    "trip",
    "wedding",
    "snow",
    "mountain",
    "river",
    "bike",
    "train",
    "boat",
    "garden",
    "kitchen",
    "school",
    "concert",
    "market",
]


def fill(lib: Library, n: int, rng: np.random.Generator, *, dense: bool) -> None:
    """n indexed photos with random unit vectors, in folders and with file names.

    Realistic (default): camera names (``IMG_0001234.jpg``) for 95 % of the files and two words for
    the rest, in 2,000 folders named by an event and a year, from a vocabulary of 3,000 words, so a
    query word is in a few names and folders. ``dense``: every file and folder named from the 30 words
    the queries use (a word is then in thousands of names: the names retriever's worst case).
    """
    from engine.core.vectors import KIND_PHOTO
    from engine.storage.store import vector_id

    cat = lib.catalog
    root = "/photos"
    lib.settings.folders = [root]
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lib.store.ensure_collection(lib.image_collection, DIM)
    vocab = WORDS if dense else WORDS + [f"w{i:04d}" for i in range(3000 - len(WORDS))]
    n_folders = 1000 if dense else 2000
    folders = [f"{root}/{rng.choice(vocab)} {2000 + i % 25}" for i in range(n_folders)]
    step = 5000
    for start in range(0, n, step):
        stop = min(n, start + step)
        items = []
        for i in range(start, stop):
            if dense or rng.random() < 0.05:
                a, b = rng.choice(vocab, 2)
                name = f"{a}_{b}_{i:07d}.jpg"
            else:
                name = f"IMG_{i:07d}.jpg"
            items.append((f"{folders[i % len(folders)]}/{name}", 1000, 1.0, "photo"))
        ids = cat.add_many(items)
        lib.store.upsert(
            lib.image_collection,
            ids=[vector_id(i, 0) for i in ids],
            file_ids=ids,
            ts=[0.0] * len(ids),
            kinds=[KIND_PHOTO] * len(ids),
            vectors=vectors[start:stop],
        )
        for i in ids:
            cat.mark_indexed(i, digest=None, model=UFORM_ID)
    lib.store.flush()


def vector_only(lib: Library, text: str) -> None:
    """The search box's path before fusion: encode, search the store, look the rows up."""
    qv = lib.image_text_encoder().encode_texts([text])[0]
    hits = lib.store.search(lib.image_collection, qv[None, :], 20, group_by_file=True)[0]
    lib.catalog.get_many(h.file_id for h in hits)


def fused_search(lib: Library, text: str) -> None:
    search_text(lib, text, limit=20)


def p50(xs: list[float]) -> float:
    return float(np.percentile(np.array(xs) * 1000, 50))


def p95(xs: list[float]) -> float:
    return float(np.percentile(np.array(xs) * 1000, 95))


def latency(sizes: list[int], queries: int, out: dict[str, float], *, dense: bool) -> None:
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="lookalike-fusion-"))
    model = work / "models" / UFORM_ID
    write_tiny_uform(model, embedding_dim=DIM)
    try:
        for n in sizes:
            home = work / f"home-{n}"
            (home / "models").mkdir(parents=True)
            shutil.copytree(model, home / "models" / UFORM_ID)
            with Library(Settings(home=home)) as lib:
                t = time.perf_counter()
                fill(lib, n, rng, dense=dense)
                print(f"{n} photos stored in {time.perf_counter() - t:.1f} s")
                enc = lib.image_text_encoder()
                names, visual = NamesRetriever(), VisualRetriever()
                search_text(lib, "warm up", limit=20)  # loads the collection, the sample, the folders
                keys = ("vector", "fused", "core", "parse", "names", "cutoff", "fuse")
                rows: dict[str, list[float]] = {k: [] for k in keys}
                each: dict[str, list[float]] = {r.name: [] for r in RETRIEVERS}
                core = [r for r in RETRIEVERS if r.name in ("names", "visual", "sounds")]
                for _ in range(queries):
                    text = " ".join(rng.choice(WORDS, 3))

                    # Alternate which runs first, so neither always finds the other's caches warm.
                    pair = [("vector", vector_only), ("fused", fused_search)]
                    for key, fn in pair if len(rows["vector"]) % 2 else pair[::-1]:
                        t = time.perf_counter()
                        fn(lib, text)
                        rows[key].append(time.perf_counter() - t)
                    qv = enc.encode_texts([text])[0]

                    t = time.perf_counter()
                    ranking.search(lib, parse_query(text, understand=False), limit=20, retrievers=core)
                    rows["core"].append(time.perf_counter() - t)

                    t = time.perf_counter()
                    q = parse_query(text, lib)
                    rows["parse"].append(time.perf_counter() - t)
                    for r in RETRIEVERS:
                        t = time.perf_counter()
                        r.retrieve(lib, q, limit=20, kinds=None, folder=None)
                        each[r.name].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    named = names.retrieve(lib, q, limit=20, kinds=None, folder=None)
                    rows["names"].append(time.perf_counter() - t)
                    looks = visual.retrieve(lib, q, limit=20, kinds=None, folder=None)
                    t = time.perf_counter()
                    judge(lib, lib.image_collection, qv, looks, None)
                    rows["cutoff"].append(time.perf_counter() - t)
                    t = time.perf_counter()
                    ranking.to_results(lib, ranking.cut(ranking.fuse([(names, named), (visual, looks)]), 20))
                    rows["fuse"].append(time.perf_counter() - t)
                for k, xs in rows.items():
                    out[f"{k}_p50_ms_{n}"] = p50(xs)
                    out[f"{k}_p95_ms_{n}"] = p95(xs)
                added = p50(rows["fused"]) - p50(rows["vector"])
                out[f"fusion_adds_p50_ms_{n}"] = added
                vec, fused = rows["vector"], rows["fused"]
                print(
                    f"{n:>7} photos: vector only p50 {p50(vec):6.1f} ms (p95 {p95(vec):.1f}) | "
                    f"fused search_text p50 {p50(fused):6.1f} ms (p95 {p95(fused):.1f}) | "
                    f"fusion adds {added:+.1f} ms at p50 (target <= 10)"
                )
                print(
                    f"{'':>15}parts, p50: names retriever {p50(rows['names']):.2f} ms, "
                    f"cutoff (sample scoring) {p50(rows['cutoff']):.2f} ms, "
                    f"fuse + cut + results {p50(rows['fuse']):.2f} ms; "
                )
                core_p50, parse_p50 = p50(rows["core"]), p50(rows["parse"])
                out[f"core_adds_p50_ms_{n}"] = core_p50 - p50(vec)
                print(
                    f"{'':>15}names + visual + sounds only, no query understanding: p50 {core_p50:.1f} ms "
                    f"(adds {core_p50 - p50(vec):+.1f}); parse with understanders {parse_p50:.2f} ms; "
                    "each registered retriever, p50: "
                    + ", ".join(f"{k} {p50(v):.2f} ms" for k, v in each.items())
                )
                for k, v in each.items():
                    out[f"retriever_{k}_p50_ms_{n}"] = p50(v)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bulk(rng: np.random.Generator, dist: str, n: int) -> np.ndarray:
    if dist == "normal":
        return rng.normal(0.2, 0.03, n)
    if dist == "t10":
        return 0.2 + 0.03 * rng.standard_t(10, n)
    return 0.2 + 0.03 * rng.gamma(8, 1, n) / math.sqrt(8)  # right-skewed


def cutoff_table(out: dict[str, float], trials: int = 200) -> None:
    print(
        f"adaptive cutoff: FDR {cutoff.FDR}, sample {cutoff.SAMPLE_FILES} files, scale x{cutoff.SCALE_MARGIN}"
    )
    for dist in ("normal", "t10", "gamma"):
        for n in (1_000, 10_000, 100_000):
            rng = np.random.default_rng(n)
            noise_good = 0
            for _ in range(trials):
                scores = _bulk(rng, dist, n)
                sample = rng.choice(scores, min(n, cutoff.SAMPLE_FILES), replace=False)
                top = np.sort(scores)[::-1][:50]
                noise_good += cutoff.good_count(top, cutoff.fit_null(sample, n)) > 0
            kept = []
            for _ in range(30):
                scores = np.concatenate([_bulk(rng, dist, n), rng.normal(0.2 + 6 * 0.03, 0.01, 40)])
                sample = rng.choice(scores, min(len(scores), cutoff.SAMPLE_FILES), replace=False)
                top = np.sort(scores)[::-1][:100]
                kept.append(cutoff.good_count(top, cutoff.fit_null(sample, len(scores))))
            share = noise_good / trials
            out[f"cutoff_noise_good_{dist}_{n}"] = share
            out[f"cutoff_planted_kept_{dist}_{n}"] = float(np.median(kept))
            print(
                f"  {dist:>6} bulk, {n:>7} files: noise queries with a 'good' result {100 * share:5.1f} % | "
                f"of 40 planted matches kept: median {np.median(kept):.0f} (min {min(kept)}, max {max(kept)})"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--cutoff", action="store_true", help="the cutoff's noise/planted table instead")
    ap.add_argument("--dense", action="store_true", help="every name from the query words (worst case)")
    args = ap.parse_args()
    out: dict[str, float] = {"load_1min_before": os.getloadavg()[0], "cpus": float(os.cpu_count() or 0)}
    if args.cutoff:
        cutoff_table(out)
    else:
        latency(args.sizes, args.queries, out, dense=args.dense)
    out["load_1min_after"] = os.getloadavg()[0]
    before, after = out["load_1min_before"], out["load_1min_after"]
    print(f"machine load (1-min average) before {before:.1f}, after {after:.1f}")
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))


if __name__ == "__main__":
    main()
