"""Startup reconciliation for a library of N unchanged files, beside the ceiling of a bare
``os.scandir`` walk + ``stat`` of the same tree measured in the same run.

The files are tiny stand-ins with a photo extension (reconciliation never decodes them); their catalog
rows are inserted as indexed with matching size and mtime, as after a finished indexing run. Measured:

- bare walk: os.scandir recursion + one stat per file (what any reconciliation must at least do);
- walk_media: the engine's walker alone (exclusions, symlink-loop guard);
- scan(): the reconciliation the service runs at start (walk + compare with the catalog);
- service start: Service.start() with native watching until the first idle snapshot (watches set up,
  every folder scanned, nothing queued);
- then the same scan after touching 1% of the files and renaming 0.1%, to show that only the
  difference is queued and only rename candidates are hashed.

    python bench/bench_reconcile.py [--files 100000] [--dirs 100]

Prints figures and, last, one line of JSON. File-system caches are warm (the tree was just written).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.indexing import scan as indexer  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.storage import catalog as cat  # noqa: E402
from engine.storage.settings import Settings  # noqa: E402


def make_tree(root: Path, n: int, dirs: int) -> list[tuple[str, int, float, str]]:
    """n small files spread over ``dirs`` folders; returns their catalog rows (path, size, mtime, kind)."""
    rows = []
    per = -(-n // dirs)
    for i in range(n):
        d = root / f"album_{i // per:04d}"
        if i % per == 0:
            d.mkdir(parents=True, exist_ok=True)
        p = d / f"IMG_{i:07d}.jpg"
        with open(p, "wb") as f:
            f.write(i.to_bytes(8, "little") * 4)
        st = p.stat()
        rows.append((str(p), st.st_size, st.st_mtime, "photo"))
    return rows


def bare_walk(root: str) -> int:
    """The ceiling: recursive scandir, one stat per file, nothing else."""
    n = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                else:
                    st = e.stat()
                    n += stat.S_ISREG(st.st_mode)
    return n


def timed(fn, repeat: int = 3) -> tuple[float, object]:
    """Best of ``repeat`` runs (the machine's noise only ever adds time)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dirs", type=int, default=100)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lookalike-bench-reconcile-"))
    try:
        home, tree = tmp / "home", tmp / "library"
        t = time.perf_counter()
        rows = make_tree(tree, args.files, args.dirs)
        make_s = time.perf_counter() - t
        lib = Library(Settings(home=home, folders=[str(tree)]))
        t = time.perf_counter()
        ids = lib.catalog.add_many(rows)
        lib.catalog.set_state(ids, cat.INDEXED)
        fill_s = time.perf_counter() - t
        print(
            f"{args.files:,} files in {args.dirs} folders written in {make_s:.1f} s; "
            f"catalog filled in {fill_s:.1f} s"
        )

        hashed = [0]
        real_hash = indexer.quick_hash

        def counting_hash(path):  # type: ignore[no-untyped-def]
            hashed[0] += 1
            return real_hash(path)

        indexer.quick_hash = counting_hash  # type: ignore[assignment]

        bare_s, bare_n = timed(lambda: bare_walk(str(tree)))
        walk_s, walk_n = timed(lambda: sum(1 for _ in indexer.walk_media(tree, lib.settings.excludes)))
        scan_s, report = timed(lambda: indexer.scan(lib))
        assert bare_n == walk_n == args.files, (bare_n, walk_n)
        assert report.seen == args.files and not (report.added or report.changed or report.removed), report
        pending = lib.catalog.counts().get(("photo", cat.PENDING), 0)
        print(f"bare scandir+stat walk (ceiling):  {bare_s:6.2f} s  ({args.files / bare_s:,.0f} files/s)")
        print(f"walk_media alone:                  {walk_s:6.2f} s  ({walk_s / bare_s:.2f}x the ceiling)")
        print(
            f"scan() reconciliation:             {scan_s:6.2f} s  ({scan_s / bare_s:.2f}x the ceiling); "
            f"{pending} queued, {hashed[0]} files hashed"
        )

        from engine.service.core import Service

        def service_start() -> float:
            svc = Service(lib, quiet_period=2.0, health_interval=60.0)
            t = time.perf_counter()
            svc.start()
            while svc.progress().state not in ("idle", "paused"):
                time.sleep(0.005)
            took = time.perf_counter() - t
            mode, queued = svc.progress().watch_mode, svc.progress().queued
            svc.stop()
            assert queued == 0 and mode == "native", (queued, mode)
            return took

        start_s = min(service_start() for _ in range(3))
        unchanged_hashed = hashed[0]  # over every scan and service start above
        print(f"Service.start() to idle (native):  {start_s:6.2f} s  ({start_s / bare_s:.2f}x the ceiling)")

        # A few changes: 1% touched (new mtime), 0.1% renamed (their rows carry a hash, as indexed ones do).
        touched = rows[::100]
        renamed = rows[50::1000]
        for path, *_ in touched:
            os.utime(path, None)
        for (path, *_), fid in zip(renamed, ids[50::1000], strict=True):
            lib.catalog.mark_indexed(fid, digest=real_hash(path), model="bench")
            os.rename(path, path.replace("IMG_", "renamed_IMG_"))
        hashed[0] = 0
        t = time.perf_counter()
        report = indexer.scan(lib)
        changed_s = time.perf_counter() - t
        pending = lib.catalog.counts().get(("photo", cat.PENDING), 0)
        assert report.moved == len(renamed) and report.changed == len(touched) and pending == len(touched)
        print(
            f"scan() after {len(touched):,} touched, {len(renamed)} renamed: {changed_s:6.2f} s; "
            f"{pending:,} queued, {report.moved} re-pointed, {hashed[0]} files hashed"
        )
        lib.close()
        print(
            json.dumps(
                {
                    "files": args.files,
                    "dirs": args.dirs,
                    "bare_walk_s": round(bare_s, 3),
                    "walk_media_s": round(walk_s, 3),
                    "scan_s": round(scan_s, 3),
                    "scan_vs_bare": round(scan_s / bare_s, 2),
                    "service_start_to_idle_s": round(start_s, 3),
                    "service_vs_bare": round(start_s / bare_s, 2),
                    "unchanged_hashed": unchanged_hashed,
                    "changed_scan_s": round(changed_s, 3),
                    "changed_queued": pending,
                    "changed_moved": report.moved,
                    "changed_hashed": hashed[0],
                }
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
