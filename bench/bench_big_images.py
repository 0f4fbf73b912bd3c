"""Peak memory of decoding big images with load_photo: one file per process, and four on four threads.

    python bench/bench_big_images.py [--keep DIR]

Writes the test images (a 12000x12000 flat PNG of ~1 MB, a 12000x12000 noisy PNG, an 81 MP deflate
TIFF, a 12000x12000 JPEG), then runs each decode in a fresh interpreter and prints its peak RSS
(``VmHWM``, else ``ru_maxrss``) beside the interpreter's own baseline. Not a test: figures vary with
the allocator.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MAKE = r"""
import sys, numpy as np
from PIL import Image
Image.MAX_IMAGE_PIXELS = None
kind, path = sys.argv[1], sys.argv[2]
if kind == "flat_png":
    sys.path.insert(0, sys.argv[3]); from testkit.big_png import write_flat_png
    from pathlib import Path; write_flat_png(Path(path), 12000, 12000, (200, 120, 40))
else:
    w, h = (9000, 9000) if kind == "tiff" else (12000, 12000)
    rng = np.random.default_rng(0)
    rows = []
    for y in range(0, h, 1000):  # noisy gradients, built in bands to keep this process small
        band = (np.linspace(0, 255, w)[None, :, None] + rng.normal(0, 20, (min(1000, h - y), w, 3)))
        rows.append(band.clip(0, 255).astype(np.uint8))
    im = Image.fromarray(np.concatenate(rows), "RGB"); del rows
    if kind == "noisy_png": im.save(path, compress_level=1)
    elif kind == "tiff": im.save(path, compression="tiff_adobe_deflate")
    else: im.save(path, quality=90)
"""

MEASURE = r"""
import json, resource, sys, time
from concurrent.futures import ThreadPoolExecutor
from engine.media.images import load_photo
paths = sys.argv[1:]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
with ThreadPoolExecutor(len(paths)) as pool:
    sizes = [im.size for im in pool.map(load_photo, paths)]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for line in open("/proc/self/status") if sys.platform.startswith("linux") else []:
    if line.startswith("VmHWM:"):  # this process's own peak (ru_maxrss survives fork+exec)
        peak = int(line.split()[1])
print(json.dumps({"base_mb": base / 1024, "peak_mb": peak / 1024, "seconds": time.perf_counter() - t}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="write the images here and keep them")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="lookalike-big-"))
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "flat_png": folder / "flat-12000.png",
        "noisy_png": folder / "noisy-12000.png",
        "tiff": folder / "noisy-9000.tif",
        "jpeg": folder / "noisy-12000.jpg",
    }
    for kind, path in files.items():
        if not path.exists():
            subprocess.run([sys.executable, "-c", MAKE, kind, str(path), str(REPO)], check=True, cwd=REPO)
    runs = [[p] for p in files.values()] + [[files["flat_png"]] * 4, [files["tiff"]] * 4]
    print(f"{'files':<34} {'MB on disk':>10} {'baseline MB':>11} {'peak MB':>8} {'s':>6}")
    for paths in runs:
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", MEASURE, *map(str, paths)],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        )
        r = json.loads(out.stdout)
        name = paths[0].name + (f" x{len(paths)} (4 threads)" if len(paths) > 1 else "")
        print(
            f"{name:<34} {paths[0].stat().st_size / 1e6:>10.1f} {r['base_mb']:>11.0f} {r['peak_mb']:>8.0f} "
            f"{r['seconds']:>6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
