"""Which index the native Milvus Lite (2.5.x) should use at which size: exact FLAT against the store's
cell layout (store_native: k-means cells, each a FLAT collection, ``nprobe`` of them searched) at several
``nprobe``, latency p50 / p95 and recall@10 against exact search, on real-shaped vectors; with
``--lite-ivf`` also 2.5.1's own IVF_FLAT, which it never builds (its recall does not move with nprobe).

Real-shaped: the centres are real embeddings (the all-MiniLM-L6-v2 model in /work/shared/assets/models
over the labels and captions of the shared photo and sound sets, a few thousand texts), projected to the
image space's 256 dimensions; around them photos are drawn in clusters of Zipf-distributed size (bursts
of similar shots) and video moments as short random walks (a clip's frames drift). Queries are held-out
points near the centres, as a text query lands near a group of photos. Uniform random vectors, IVF's
worst case, are measured beside them with ``--uniform``.

    python bench/bench_lite_index.py [--sizes 100000 500000] [--queries 200] [--cells 64] [--nprobe 8 10]
                                     [--lite-ivf] [--uniform]

Needs milvus-lite 2.5.x. Prints one line per (size, index) and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DIM = 256
ASSETS = Path(__file__).resolve().parents[2] / "shared" / "assets"
if not ASSETS.is_dir():
    ASSETS = Path("/work/shared/assets")


def _texts() -> list[str]:
    data = ASSETS / "data"
    words: set[str] = set()
    with open(data / "coco128_val2017" / "labels.csv") as f:
        for row in csv.DictReader(f):
            words.update(row["labels"].split(";"))
    with open(data / "caltech101_subset" / "labels.csv") as f:
        words.update(row["label"].replace("_", " ") for row in csv.DictReader(f))
    with open(data / "audioset_labels" / "class_labels_indices.csv") as f:
        words.update(row["display_name"] for row in csv.DictReader(f))
    captions = []
    with open(data / "skimage_clip_captions" / "captions.csv") as f:
        captions = [row["caption"] for row in csv.DictReader(f)]
    base = sorted(words)
    rng = np.random.default_rng(7)
    places = ["at the beach", "in the kitchen", "at night", "in the snow", "in a park", "on a street", ""]
    combos = [
        f"a photo of {base[i]} and {base[j]} {places[k]}".strip()
        for i, j, k in zip(
            rng.integers(0, len(base), 3000),
            rng.integers(0, len(base), 3000),
            rng.integers(0, len(places), 3000),
            strict=True,
        )
    ]
    return base + captions + combos


def real_centres(dim: int = DIM, cache: Path | None = None) -> np.ndarray:
    """Unit vectors: MiniLM embeddings of the shared sets' labels and captions, projected to ``dim``."""
    cache = cache or Path(tempfile.gettempdir()) / f"lookalike-real-centres-{dim}.npy"
    if cache.is_file():
        return np.load(cache)
    from engine.models.minilm import MiniLMEncoder

    enc = MiniLMEncoder.load(ASSETS / "models" / "all-MiniLM-L6-v2")
    emb = enc.encode(_texts(), batch_size=64).astype(np.float32)
    proj = np.linalg.qr(np.random.default_rng(11).standard_normal((emb.shape[1], emb.shape[1])))[0][:, :dim]
    c = emb @ proj.astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    np.save(cache, c)
    return c


def realistic_vectors(n: int, *, seed: int = 0, dim: int = DIM, video_share: float = 0.3) -> np.ndarray:
    """``n`` unit vectors shaped like a library: photo bursts around real centres, video frame walks."""
    rng = np.random.default_rng(seed)
    centres = real_centres(dim)
    out = np.empty((n, dim), dtype=np.float32)
    n_video = int(n * video_share)
    n_photo = n - n_video
    # Photos: each centre gets a Zipf share; each photo = centre + noise (cosine to it about 0.8).
    weights = 1.0 / np.arange(1, len(centres) + 1) ** 0.8
    which = rng.choice(len(centres), size=n_photo, p=weights / weights.sum())
    noise = rng.standard_normal((n_photo, dim)).astype(np.float32) * (0.75 / np.sqrt(dim))
    out[:n_photo] = centres[which] + noise
    # Video moments: walks of 40 frames starting near a centre, each step a small drift.
    pos = n_photo
    while pos < n:
        length = min(40, n - pos)
        start = centres[rng.integers(len(centres))] + rng.standard_normal(dim) * (0.6 / np.sqrt(dim))
        steps = np.cumsum(rng.standard_normal((length, dim)) * (0.12 / np.sqrt(dim)), axis=0)
        out[pos : pos + length] = start + steps
        pos += length
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out[rng.permutation(n)]


def realistic_queries(q: int, *, seed: int = 1, dim: int = DIM) -> np.ndarray:
    """Held-out query vectors near the centres (farther out than the photos: a text lands between)."""
    rng = np.random.default_rng(seed)
    centres = real_centres(dim)
    v = centres[rng.integers(len(centres), size=q)] + rng.standard_normal((q, dim)) * (1.0 / np.sqrt(dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def _fill(store: object, name: str, vecs: np.ndarray) -> None:
    n = len(vecs)
    step = 5000
    for s in range(0, n, step):
        e = min(n, s + step)
        store.upsert(name, range(s, e), range(s, e), [0.0] * (e - s), [0] * (e - s), vecs[s:e])  # type: ignore[attr-defined]
    store.flush()  # type: ignore[attr-defined]


def _lite_ivf(store: object, name: str, nlist: int) -> None:
    """Swap the collection's FLAT index for 2.5.1's own IVF_FLAT (to show what it does: it is never built)."""
    c = store._client  # type: ignore[attr-defined]
    c.release_collection(name)
    c.drop_index(name, "vector")
    params = c.prepare_index_params()
    params.add_index(
        field_name="vector", index_type="IVF_FLAT", metric_type="COSINE", params={"nlist": nlist}
    )
    c.create_index(name, params, sync=False)
    c.load_collection(name, timeout=900)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--limit", type=int, default=40, help="top-k asked (the search box asks 2 x 20)")
    ap.add_argument("--uniform", action="store_true", help="uniform random vectors (IVF's worst case)")
    ap.add_argument("--cells", type=int, nargs="+", default=[64], help="cells per layout")
    ap.add_argument("--nprobe", type=int, nargs="+", default=[6, 8, 10, 12, 16])
    ap.add_argument("--lite-ivf", action="store_true", help="also 2.5.1's own IVF_FLAT (nprobe 16 / 1024)")
    args = ap.parse_args()

    from engine.storage import store_native
    from engine.storage.milvus_lite import engine_name
    from engine.storage.store import VectorStore

    if engine_name() != "lite2":
        sys.exit("needs milvus-lite 2.5.x")
    out: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="lookalike-index-"))

    def measure(s: VectorStore, label: str, key: str, qs: np.ndarray, exact: np.ndarray) -> None:
        times, rec = [], []
        s.search("v", qs[:1], args.limit)
        for i, q in enumerate(qs):
            t = time.perf_counter()
            hits = s.search("v", q[None], args.limit)[0]
            times.append(time.perf_counter() - t)
            rec.append(len({h.file_id for h in hits[:10]} & set(exact[i].tolist())) / 10)
        p50, p95 = np.percentile(np.array(times) * 1e3, [50, 95])
        r = float(np.mean(rec))
        print(
            f"{len(vecs):>8} {label:<28} p50 {p50:6.1f} ms p95 {p95:6.1f} ms recall@10 {r:.4f} "
            f"(worst query {min(rec):.1f}; load {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        out[f"{key}_p50_ms"], out[f"{key}_p95_ms"], out[f"{key}_recall10"] = p50, p95, r

    try:
        for n in args.sizes:
            if args.uniform:
                rng = np.random.default_rng(0)
                vecs = rng.standard_normal((n, DIM)).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
                qs = rng.standard_normal((args.queries, DIM)).astype(np.float32)
                qs /= np.linalg.norm(qs, axis=1, keepdims=True)
            else:
                vecs, qs = realistic_vectors(n), realistic_queries(args.queries)
            exact = np.stack([np.argpartition(-(vecs @ q), 10)[:10] for q in qs])
            brute = []
            for q in qs:
                t = time.perf_counter()
                np.argpartition(-(vecs @ q), args.limit)[: args.limit]
                brute.append(time.perf_counter() - t)
            print(
                f"{n:>8} numpy brute force p50 {np.median(brute) * 1e3:6.1f} ms "
                f"(load {os.getloadavg()[0]:.1f})"
            )
            out[f"numpy_p50_ms_{n}"] = float(np.median(brute) * 1e3)
            # FLAT (exact), then 2.5.1's own IVF_FLAT on the same rows if asked.
            store_native.CELLS_MIN_ROWS = 10**12
            path = work / f"{n}-flat"
            t0 = time.perf_counter()
            with VectorStore.open("", lite_path=path) as s:
                s.ensure_collection("v", DIM)
                _fill(s, "v", vecs)
                print(f"{n:>8} filled in {time.perf_counter() - t0:.0f} s", flush=True)
                measure(s, "FLAT", f"flat_{n}", qs, exact)
                if args.lite_ivf:
                    _lite_ivf(s, "v", 1024)
                    for probe in (16, 1024):
                        ivf = {"nprobe": probe}
                        times, rec = [], []
                        for i, q in enumerate(qs):
                            t = time.perf_counter()
                            res = s._client.search(
                                "v",
                                data=[q],
                                limit=args.limit,
                                search_params={"metric_type": "COSINE", "params": ivf},
                            )
                            times.append(time.perf_counter() - t)
                            rec.append(len({int(h["id"]) for h in res[0][:10]} & set(exact[i].tolist())) / 10)
                        print(
                            f"{n:>8} Lite's IVF_FLAT nlist 1024 nprobe {probe:<5} p50 "
                            f"{np.median(times) * 1e3:6.1f} ms recall@10 {np.mean(rec):.4f}"
                        )
                        out[f"lite_ivf{probe}_{n}_recall10"] = float(np.mean(rec))
            shutil.rmtree(path, ignore_errors=True)
            # Our cells: the layout is made in the background once past the limit.
            store_native.CELLS_MIN_ROWS = 0
            for cells in args.cells:
                store_native.CELLS = cells
                path = work / f"{n}-cells{cells}"
                t0 = time.perf_counter()
                with VectorStore.open("", lite_path=path) as s:
                    s.ensure_collection("v", DIM)
                    _fill(s, "v", vecs)
                    s.wait_for_index()
                    print(
                        f"{n:>8} filled, {s.index_of('v')} made and filled in "
                        f"{time.perf_counter() - t0:.0f} s",
                        flush=True,
                    )
                    for probe in args.nprobe:
                        store_native.NPROBE = probe
                        measure(
                            s, f"CELLS {cells} nprobe {probe}", f"cells{cells}_nprobe{probe}_{n}", qs, exact
                        )
                shutil.rmtree(path, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: round(v, 4) for k, v in out.items()}))


if __name__ == "__main__":
    main()
