"""The facts about the native Milvus Lite (2.5.x) the store relies on, measured at one size through the
store (docs/architecture.md, "Milvus Lite 2.5.1"): open, fill, flush, close (exit) times with a large
collection under FLAT and under the store's cell layout, the files it keeps and their size per vector, the
server's memory per vector, and what a SIGKILL mid-write leaves (rows kept, time to open again and to the
first search).

    python bench/bench_lite_facts.py [--rows 100000]

Needs milvus-lite 2.5.x. Prints figures and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

DIM = 256


def _rss_mb(pid: int) -> float:
    from bench_memory import rss_mb

    return rss_mb(pid)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    import numpy as np
    from bench_lite_index import realistic_vectors

    from engine.storage import store_native
    from engine.storage.milvus_lite import engine_name
    from engine.storage.store import VectorStore

    if engine_name() != "lite2":
        sys.exit("needs milvus-lite 2.5.x")
    n = args.rows
    vecs = realistic_vectors(n)
    out: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix="lookalike-facts-"))
    try:
        for kind in ("FLAT", "CELLS"):  # CELLS: the store's cell layout (2.5.1 never builds IVF_FLAT)
            store_native.CELLS_MIN_ROWS = 10**12 if kind == "FLAT" else 0
            path = work / kind
            t = time.perf_counter()
            s = VectorStore.open("", lite_path=path)
            out[f"{kind}_open_empty_s"] = time.perf_counter() - t
            s.ensure_collection("v", DIM)
            t = time.perf_counter()
            for a in range(0, n, 5000):
                b = min(n, a + 5000)
                s.upsert("v", range(a, b), range(a, b), [0.0] * (b - a), [0] * (b - a), vecs[a:b])
            out[f"{kind}_upsert_s"] = time.perf_counter() - t
            t = time.perf_counter()
            s.flush()  # flush, count, index fitted to the size (the cell layout started here)
            s.wait_for_index()
            out[f"{kind}_flush_s"] = time.perf_counter() - t
            s.search("v", vecs[:1], 10)
            assert s._native is not None
            pid = s._native.pid
            out[f"{kind}_server_rss_mb"] = _rss_mb(pid)
            t = time.perf_counter()
            s.close()
            out[f"{kind}_close_s"] = time.perf_counter() - t
            files = {p.name: p.stat().st_size for p in path.iterdir() if p.is_file()}
            out[f"{kind}_disk_bytes_per_vector"] = sum(files.values()) / n
            print(f"{kind}: files {files}")
            t = time.perf_counter()
            with VectorStore.open("", lite_path=path) as s:
                out[f"{kind}_reopen_s"] = time.perf_counter() - t
                t1 = time.perf_counter()
                s.search("v", vecs[:1], 10)
                out[f"{kind}_first_search_after_reopen_s"] = time.perf_counter() - t1
                assert s.count("v") == n
                assert s._collections["v"].index_type == kind
        # Server memory per vector: the FLAT figure against an empty database's.
        with VectorStore.open("", lite_path=work / "empty") as s:
            s.ensure_collection("v", DIM)
            s.search("v", vecs[:1], 10)
            assert s._native is not None
            empty = _rss_mb(s._native.pid)
        out["server_rss_empty_mb"] = empty
        out["server_bytes_per_vector"] = (out["FLAT_server_rss_mb"] - empty) * 2**20 / n
        out["raw_bytes_per_vector"] = DIM * 4

        # A SIGKILL mid-write: every acknowledged write kept; then open and first-search times.
        kill = work / "kill"
        np.save(work / "v.npy", vecs)
        code = textwrap.dedent(f"""
            import os, signal, sys, numpy as np
            from pathlib import Path
            sys.path.insert(0, {str(HERE.parent)!r})
            from engine.storage.store import VectorStore
            v = np.load({str(work / "v.npy")!r})
            s = VectorStore.open("", lite_path=Path({str(kill)!r}))
            s.ensure_collection("v", {DIM})
            for a in range(0, {n}, 5000):
                ids = range(a, a + 5000)
                s.upsert("v", ids, ids, [0.0] * 5000, [0] * 5000, v[a : a + 5000])
                print(a + 5000, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1200)
        acked = int(proc.stdout.split()[-1])
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        t = time.perf_counter()
        with VectorStore.open("", lite_path=kill) as s:
            out["after_kill_open_s"] = time.perf_counter() - t
            t1 = time.perf_counter()
            s.search("v", vecs[:1], 10)
            out["after_kill_first_search_s"] = time.perf_counter() - t1
            out["after_kill_rows_lost"] = acked - s.count("v")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load {os.getloadavg()[0]:.2f}")
    for k, v in out.items():
        print(f"{k:>40}: {v:.3f}")
    print(json.dumps({k: round(v, 4) for k, v in out.items()}))


if __name__ == "__main__":
    main()
