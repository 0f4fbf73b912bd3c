"""Memory of the engine's service (what the app runs): resident set size idle and while indexing, at
library sizes of 10k and 100k items (and 500k vectors), beside the raw size of the vectors.

For each size a library is made with that many indexed catalog rows and their 256-d vectors (real-shaped,
see bench_lite_index.py); then a fresh process opens it as the service's core thread holds it (Library,
tiny test models), runs one text search (the encoder and the collection are loaded, as after a first
query) and waits: that is "idle". Then it scans and indexes a folder of 200 synthetic 640x480 photos
(scan + index_pending, the core thread's work; the slower analyzers are left out, since the made-up rows
have no files), sampling memory every 50 ms: "indexing" is the peak. The figures count the Python
process and, with the native Milvus Lite, its ``milvus`` server process (shared libraries included in
both, so the sum overstates a little).

    python bench/bench_memory.py [--sizes 10000 100000 500000] [--photos 200]

Target: idle at 100k items <= 600 MB. Prints one line per size and, last, one line of JSON.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

DIM = 256
TARGET_IDLE_MB_100K = 600


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def make_library(home: Path, n: int) -> None:
    """A library of ``n`` indexed photo rows with real-shaped vectors, and the tiny test models."""
    from bench_lite_index import realistic_vectors

    from engine.core.vectors import KIND_PHOTO
    from engine.library import Library
    from engine.models.tiny import UFORM_ID, write_tiny_models, write_tiny_uform
    from engine.storage.settings import Settings
    from engine.storage.store import vector_id

    settings = Settings(home=home)
    write_tiny_models(settings.models_dir, settings.model_ids())
    shutil.rmtree(settings.models_dir / UFORM_ID)
    write_tiny_uform(settings.models_dir / UFORM_ID, embedding_dim=DIM)  # the real model's 256-d
    settings.save()
    vectors = realistic_vectors(n)
    with Library(settings) as lib:
        name = lib.image_collection
        lib.store.ensure_collection(name, DIM)
        model = settings.image_text_model
        for start in range(0, n, 5000):
            stop = min(n, start + 5000)
            ids = lib.catalog.add_many(
                [(f"/elsewhere/{i:07d}.jpg", 1000, 1.0, "photo") for i in range(start, stop)]
            )
            lib.store.upsert(
                name, [vector_id(i, 0) for i in ids], ids, [0.0] * len(ids), [KIND_PHOTO] * len(ids),
                vectors[start:stop],
            )  # fmt: skip
            for i in ids:
                lib.catalog.mark_indexed(i, digest=None, model=model)
        lib.store.flush()


CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from bench_memory import rss_mb
from engine.indexing.pipeline import index_pending
from engine.indexing.scan import scan
from engine.library import Library
from engine.search.api import search_text

home, photos = Path(sys.argv[1]), Path(sys.argv[2])
lib = Library.open(home)
search_text(lib, "a dog on the beach", limit=20)  # store open, collection loaded, text encoder loaded
server = lib.store._native.pid if getattr(lib.store, "_native", None) is not None else 0
time.sleep(3)
idle_py, idle_srv = rss_mb(os.getpid()), rss_mb(server)
peak = [0.0, 0.0, 0.0]
done = threading.Event()
def sample():
    while not done.is_set():
        py, srv = rss_mb(os.getpid()), rss_mb(server)
        if py + srv > peak[0]:
            peak[:] = [py + srv, py, srv]
        time.sleep(0.05)
t = threading.Thread(target=sample, daemon=True)
t.start()
t0 = time.perf_counter()
scan(lib, [str(photos)])
report = index_pending(lib, flush=lib.store.flush)
index_s = time.perf_counter() - t0
done.set(); t.join()
lib.close()
print(json.dumps({"idle_py_mb": idle_py, "idle_server_mb": idle_srv, "index_peak_mb": peak[0],
                  "index_peak_py_mb": peak[1], "index_peak_server_mb": peak[2], "index_s": index_s}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 500_000])
    ap.add_argument("--photos", type=int, default=200)
    args = ap.parse_args()
    from engine.storage.milvus_lite import engine_name
    from testkit.media import make_library as make_photos

    work = Path(tempfile.mkdtemp(prefix="lookalike-memory-"))
    out: dict[str, float] = {}
    print(f"engine: {engine_name()}; load: {os.getloadavg()[0]:.2f}")
    try:
        for n in args.sizes:
            home = work / f"home-{n}"
            t = time.perf_counter()
            make_library(home, n)
            photos = work / f"photos-{n}"
            make_photos(photos, args.photos)
            made = time.perf_counter() - t
            env = dict(os.environ, LOOKALIKE_HOME=str(home), PYTHONPATH=str(HERE.parent))
            proc = subprocess.run(
                [sys.executable, "-c", CHILD, str(home), str(photos), str(HERE)],
                env=env, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            if proc.returncode != 0:
                print(proc.stderr[-3000:])
                raise SystemExit(f"child failed at {n}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            raw = n * DIM * 4 / 2**20
            idle = r["idle_py_mb"] + r["idle_server_mb"]
            print(
                f"{n:>7} items (made in {made:.0f} s): raw vectors {raw:6.0f} MB | idle {idle:6.0f} MB "
                f"(python {r['idle_py_mb']:.0f} + milvus {r['idle_server_mb']:.0f}) | indexing "
                f"{args.photos} photos peak {r['index_peak_mb']:6.0f} MB "
                f"(python {r['index_peak_py_mb']:.0f} + "
                f"milvus {r['index_peak_server_mb']:.0f}, {r['index_s']:.0f} s)"
                + (f" | target idle <= {TARGET_IDLE_MB_100K} MB" if n == 100_000 else "")
            )
            out.update({f"raw_mb_{n}": raw, f"idle_mb_{n}": idle, f"index_peak_mb_{n}": r["index_peak_mb"]})
            out[f"idle_server_mb_{n}"] = r["idle_server_mb"]
            shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: round(v, 1) for k, v in out.items()}))


if __name__ == "__main__":
    main()
