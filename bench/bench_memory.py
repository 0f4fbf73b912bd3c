"""Memory of the app and of the engine's service: resident set size idle and while indexing, at library
sizes of 10k and 100k items (and 500k vectors), beside the raw size of the vectors.

For each size a library is made with that many indexed catalog rows and their 256-d vectors (real-shaped,
see bench_lite_index.py) and the tiny test models. Two figures per size, each the Python process plus,
with the native Milvus Lite, its ``milvus`` server process (shared libraries counted in both, so the sum
overstates a little):

- **the app** (``lookalike``, offscreen, as a launcher starts it): "idle" is 5 s after the library has
  opened (the app's warm-up has loaded the image-text model and the collection and run a first search);
  "indexing" is the peak, sampled every 50 ms, of a second launch that finds a folder of 200 synthetic
  640x480 photos added to the library and indexes them (embedding, then the slower analyzers) until
  the catalog has none pending.
- **the engine alone** (no Qt): a fresh process opens the library as the service's core thread holds
  it, runs one text search and waits ("idle"), then scans and indexes the same photos (scan +
  index_pending: the core thread's work) while sampling ("indexing" is the peak).

    python bench/bench_memory.py [--sizes 10000 100000 500000] [--photos 200] [--no-app] [--no-engine]

Target: the app idle at 100k items <= 600 MB. Prints one line per size and figure and, last, one line
of JSON.
"""

from __future__ import annotations

import argparse
import itertools
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
#: How long after the library opened the app's idle memory is read (its warm-up is done by then).
APP_IDLE_S = 5.0


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the app's ``milvus`` server)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def tree_rss(pid: int) -> tuple[float, float]:
    """(RSS of ``pid``, RSS of its children) in MB."""
    return rss_mb(pid), sum(rss_mb(c) for c in children(pid))


def pending(home: Path) -> int:
    """Files the catalog still has pending (read-only, beside the app that holds the library)."""
    import sqlite3

    con = sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT COUNT(*) FROM files WHERE state='pending'").fetchone()[0])
    finally:
        con.close()


def measure_app(home: Path, photos: Path, work: Path) -> dict[str, float]:
    """The app's RSS (python + milvus) idle after opening the library, then its peak while it indexes
    ``photos`` (added to the library between two launches)."""
    from engine.library import Library
    from engine.storage.settings import Settings
    from testkit.app_runner import ProbeLog, app_env, stop_app

    probe = ProbeLog(work / f"probe-{home.name}.jsonl")
    user = work / "user"  # the app's own files (config, runtime folder) stay in the scratch folder
    (user / "run").mkdir(parents=True, mode=0o700, exist_ok=True)
    env = app_env(home, probe)
    env.update(HOME=str(user), XDG_RUNTIME_DIR=str(user / "run"), XDG_CONFIG_HOME=str(user / ".config"))
    cmd = [sys.executable, "-m", "desktop.launcher"]

    def launch() -> subprocess.Popen:
        return subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    app = launch()
    try:
        probe.wait_for(lambda e: e["event"] == "opened" and e["pid"] == app.pid, 300, app)
        time.sleep(APP_IDLE_S)
        idle_py, idle_srv = tree_rss(app.pid)
    finally:
        stop_app(app)
    with Library(Settings.load(home)) as lib:
        lib.add_folder(photos)
    app = launch()
    peak = [0.0, 0.0, 0.0]
    t0 = time.perf_counter()
    try:
        probe.wait_for(lambda e: e["event"] == "opened" and e["pid"] == app.pid, 300, app)
        deadline = time.monotonic() + 1800
        for i in itertools.count():
            py, srv = tree_rss(app.pid)
            if py + srv > peak[0]:
                peak[:] = [py + srv, py, srv]
            # The catalog every 0.5 s; done when nothing is pending (and the slower stages had 5 s).
            if (i % 10 == 9 and pending(home) == 0 and time.perf_counter() - t0 > 5) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.05)
        index_s = time.perf_counter() - t0
    finally:
        stop_app(app)
    return {"idle_py_mb": idle_py, "idle_server_mb": idle_srv, "index_peak_mb": peak[0],
            "index_peak_py_mb": peak[1], "index_peak_server_mb": peak[2], "index_s": index_s}  # fmt: skip


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
    ap.add_argument("--no-app", action="store_true", help="skip the app's figures")
    ap.add_argument("--no-engine", action="store_true", help="skip the engine-alone figures")
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
            raw = n * DIM * 4 / 2**20
            out[f"raw_mb_{n}"] = raw
            figures = []
            if not args.no_engine:
                figures.append(("engine", engine_alone(home, photos)))
            if not args.no_app:
                figures.append(("app", measure_app(home, photos, work)))
            for what, r in figures:
                idle = r["idle_py_mb"] + r["idle_server_mb"]
                aimed = n == 100_000 and what == "app"
                target = f" | target idle <= {TARGET_IDLE_MB_100K} MB" if aimed else ""
                print(
                    f"{n:>7} items, {what:<6} (made in {made:.0f} s): raw vectors {raw:6.0f} MB | idle "
                    f"{idle:6.0f} MB (python {r['idle_py_mb']:.0f} + milvus {r['idle_server_mb']:.0f}) | "
                    f"indexing {args.photos} photos peak {r['index_peak_mb']:6.0f} MB "
                    f"(python {r['index_peak_py_mb']:.0f} + milvus {r['index_peak_server_mb']:.0f}, "
                    f"{r['index_s']:.0f} s){target} | load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                key = "" if what == "engine" else "app_"
                out.update({f"{key}idle_mb_{n}": idle, f"{key}index_peak_mb_{n}": r["index_peak_mb"]})
                out[f"{key}idle_server_mb_{n}"] = r["idle_server_mb"]
            shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: round(v, 1) for k, v in out.items()}))


def engine_alone(home: Path, photos: Path) -> dict[str, float]:
    """The engine's figures in a fresh process (:data:`CHILD`), on a copy of the library: the app's
    measurement adds the photos folder to the original."""
    copy = home.parent / f"{home.name}-engine"
    shutil.copytree(home, copy)
    try:
        env = dict(os.environ, LOOKALIKE_HOME=str(copy), PYTHONPATH=str(HERE.parent))
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(copy), str(photos), str(HERE)],
            env=env, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            raise SystemExit(f"the engine's child failed at {home.name}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(copy, ignore_errors=True)


if __name__ == "__main__":
    main()
