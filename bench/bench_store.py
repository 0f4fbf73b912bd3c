"""VectorStore on Milvus Lite: write rate, search latency and IVF recall against exact numpy search.

Vectors are 256-d (the image-text model's size), clustered like real embeddings (random centres
plus noise) so that IVF cells mean something. For each size it measures:

* upsert rate (the store's 2,000-row auto flush included) and the final flush;
* reopen: open + load in this process (the load reads every segment's index sidecar);
* search p50 of single queries and of one batch of 8, plain and grouped by file (4 vectors a file);
* recall@10 of the store's answers against exact cosine top-10 over the same vectors.

    python bench/bench_store.py [--sizes 10000 50000] [--queries 40]

Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.storage.store import VectorStore, vector_id  # noqa: E402

DIM = 256
FRAMES = 4  # vectors per file, like short clips


def clustered(rng: np.random.Generator, n: int, centres: int = 500) -> np.ndarray:
    c = rng.standard_normal((centres, DIM)).astype(np.float32)
    v = c[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def p50_ms(xs: list[float]) -> float:
    return float(np.median(xs) * 1000)


def bench(n: int, queries: int, work: Path, rng: np.random.Generator) -> dict[str, float]:
    vectors = clustered(rng, n)
    q = clustered(rng, queries)
    file_ids = np.arange(n) // FRAMES
    ids = [vector_id(int(f), i % FRAMES) for i, f in enumerate(file_ids)]
    path = work / f"db-{n}"
    out: dict[str, float] = {}

    with VectorStore.open("", lite_path=path) as s:
        s.ensure_collection("img", DIM)
        t = time.perf_counter()
        step = 1000  # an indexing batch window
        for a in range(0, n, step):
            b = min(n, a + step)
            s.upsert(
                "img", ids[a:b], file_ids[a:b], (np.arange(a, b) % FRAMES) * 2.0, [1] * (b - a), vectors[a:b]
            )
        s.flush()
        out[f"upsert_rows_per_s_{n}"] = n / (time.perf_counter() - t)

    t = time.perf_counter()
    s = VectorStore.open("", lite_path=path)
    s.ensure_collection("img", DIM)
    out[f"reopen_load_s_{n}"] = time.perf_counter() - t
    try:
        s.search("img", q[:1], 10)  # warm up
        single, grouped, hits_all = [], [], []
        for i in range(queries):
            t = time.perf_counter()
            hits_all.append(s.search("img", q[i : i + 1], 10)[0])
            single.append(time.perf_counter() - t)
            t = time.perf_counter()
            s.search("img", q[i : i + 1], 10, group_by_file=True)
            grouped.append(time.perf_counter() - t)
        t = time.perf_counter()
        s.search("img", q[:8], 10)
        batch8 = time.perf_counter() - t

        exact = np.argsort(-(q @ vectors.T), axis=1)[:, :10]
        recall = np.mean(
            [len({h.id for h in hits} & {ids[j] for j in exact[i]}) / 10 for i, hits in enumerate(hits_all)]
        )
    finally:
        s.close()
    out[f"search_p50_ms_{n}"] = p50_ms(single)
    out[f"search_grouped_p50_ms_{n}"] = p50_ms(grouped)
    out[f"search_batch8_ms_{n}"] = batch8 * 1000
    out[f"recall_at_10_{n}"] = float(recall)
    print(
        f"{n:>7} vectors: upsert {out[f'upsert_rows_per_s_{n}']:8.0f} rows/s | reopen+load "
        f"{out[f'reopen_load_s_{n}']:5.2f} s | search p50 {p50_ms(single):6.1f} ms, grouped "
        f"{p50_ms(grouped):6.1f} ms, batch of 8 {batch8 * 1000:6.1f} ms "
        f"({batch8 * 1000 / 8 / p50_ms(single):.2f}x a single per query) | recall@10 {recall:.3f}"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--queries", type=int, default=40)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    work = Path(tempfile.mkdtemp(prefix="lookalike-store-"))
    out: dict[str, float] = {}
    try:
        for n in args.sizes:
            out.update(bench(n, args.queries, work, rng))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: round(v, 3) for k, v in out.items()}))


if __name__ == "__main__":
    main()
