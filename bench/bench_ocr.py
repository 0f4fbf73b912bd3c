"""OCR stage throughput and the words it keeps, beside its ceilings from the same run.

Photos: the 128 COCO val2017 photos in shared/assets/data/coco128_val2017 (640 px long side, most
without text; ~a third with signs, logos, boards).

Rows (photos/s over the same photos, one process, ``--threads`` ONNX threads):

- full-resolution OCR: RapidOCR's own pipeline at its defaults (short side scaled up to 736, angle
  classifier): the reference for the words, and the cost the issue measured (2.8 photos/s);
- OCR stage: what the analyzer does per photo, decode from the file at OCR size + detect + recognise;
- detector alone: the detector on the same decoded photos;
- recognizer alone: the recognizer on the boxes the detector found (photos without boxes cost nothing);
- words kept: of the words of 4+ characters full-resolution OCR reads (per photo, case-folded), the
  share the OCR stage reads the same ("same"), and the share a search still finds in what it read
  ("findable": the word, or the word inside a glued run, as the texts index matches);
- 12 MP: the photos with text upscaled to 12 MP JPEGs (their own aspect), OCR stage ms per photo
  beside the same photos at COCO size.

    python bench/bench_ocr.py [--threads 2] [--sweep 640:736:0.01,0:640:0] [--limit N] [--big 8]

Prints figures and, last, one line of JSON. Say what the machine load was (printed) when recording.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.indexing.analyzers.ocr import load_for_ocr  # noqa: E402
from engine.models.ocr import (  # noqa: E402
    COARSE_SIDE,
    FINE_SIDE,
    GATE_THRESH,
    OcrModel,
    default_workers,
    read_full_resolution,
    read_many,
    to_rgb_array,
)

ASSETS = Path(__file__).resolve().parent.parent.parent / "shared" / "assets"
COCO = "data/coco128_val2017/images"
_WORD = re.compile(r"\w{4,}")


def words(lines: list) -> set[str]:
    """Words of 4+ word characters (letters, digits, CJK) in the lines, case-folded."""
    return {w for line in lines for w in _WORD.findall(line.text.casefold())}


def find_photos(limit: int | None) -> list[Path]:
    for root in (ASSETS, Path("/work/shared/assets")):
        d = root / COCO
        if d.is_dir():
            photos = sorted(d.glob("*.jpg"))
            return photos[:limit] if limit else photos
    sys.exit(f"COCO photos not found under {ASSETS / COCO}")


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def findable(ref: set[str], lines: list) -> set[str]:
    """The reference words that a search finds in ``lines``: as a word, or inside a glued run (the
    texts index matches inside runs of letters: "sonyericsson" holds "sony")."""
    blob = "".join(c for line in lines for c in line.text.casefold() if c.isalnum() or c == "_")
    return {w for w in ref if w in blob}


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """(result, wall seconds, CPU seconds of this process)."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - w, time.process_time() - c


def parallel(fn, items, workers):  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2, help="ONNX threads of the full-resolution reference")
    ap.add_argument("--workers", type=int, default=default_workers(), help="pictures read at once")
    ap.add_argument(
        "--sweep",
        default="",
        help="also measure these detector settings, coarse:fine:gate "
        "comma-separated, e.g. 640:736:0.01,0:640:0 (coarse 0: no gate pass)",
    )
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--big", type=int, default=8, help="12 MP photos to time (made from photos with text)")
    args = ap.parse_args()
    photos = find_photos(args.limit)
    load0 = os.getloadavg()
    print(
        f"{len(photos)} photos, reference {args.threads} threads, stage {args.workers} workers x 1 thread, "
        f"load before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}"
    )

    images = [to_rgb_array(load_for_ocr(p)) for p in photos]

    # Reference: full-resolution OCR (warm up once first: session creation is not the steady state).
    read_full_resolution(images[0], threads=args.threads)
    full, t_full, c_full = timed(lambda: [read_full_resolution(im, threads=args.threads) for im in images])
    ref = [words(lines) for lines in full]
    n_ref = sum(len(w) for w in ref)
    with_text = [i for i, w in enumerate(ref) if w]
    print(
        f"full-resolution OCR   {rate(len(images), t_full):6.2f} photos/s  "
        f"({c_full / len(images) * 1000:.0f} CPU ms/photo)   {n_ref} words of 4+ chars in "
        f"{len(with_text)} photos"
    )

    result: dict = {
        "photos": len(photos),
        "threads": args.threads,
        "full_res_photos_s": rate(len(images), t_full),
        "full_res_words": n_ref,
        "photos_with_words": len(with_text),
        "sizes": {},
    }
    default = f"{COARSE_SIDE}:{FINE_SIDE}:{GATE_THRESH}"
    settings = [default] + [s for s in args.sweep.split(",") if s and s != default]
    for side in settings:
        coarse, fine, gate = side.split(":")
        model = OcrModel(coarse_side=int(coarse), fine_side=int(fine), gate_thresh=float(gate), threads=1)
        model.read(images[0])
        # The stage as the analyzer runs it: decode from the file, detect, recognise, `workers` at once.
        got, t_stage, c_stage = timed(
            lambda m=model: [r for _, r in read_many(m, photos, load_for_ocr, args.workers)]
        )
        boxes, t_det, c_det = timed(lambda m=model: parallel(m.detect, images, args.workers))
        _, t_rec, c_rec = timed(
            lambda m=model, pairs=list(zip(images, boxes, strict=True)): parallel(
                lambda ib: m.recognize(*ib), pairs, args.workers
            )
        )
        kept = sum(len(ref[i] & words(got[i])) for i in range(len(images)))
        found = sum(len(findable(ref[i], got[i])) for i in range(len(images)))
        share, share_found = (kept / n_ref, found / n_ref) if n_ref else (1.0, 1.0)
        lost = sorted(w for i in range(len(images)) for w in ref[i] - findable(ref[i], got[i]))
        n = len(images)
        row = {
            "stage_photos_s": rate(n, t_stage),
            "detector_photos_s": rate(n, t_det),
            "recognizer_photos_s": rate(n, t_rec),
            "stage_cpu_ms": c_stage / n * 1000,
            "detector_cpu_ms": c_det / n * 1000,
            "recognizer_cpu_ms": c_rec / n * 1000,
            "words_same": kept,
            "share_same": share,
            "words_findable": found,
            "share_findable": share_found,
            "photos_with_boxes": sum(1 for b in boxes if len(b)),
        }
        print(
            f"detector {side}: OCR stage {row['stage_photos_s']:6.2f} photos/s "
            f"({row['stage_cpu_ms']:.0f} CPU ms) "
            f"| detector alone {row['detector_photos_s']:6.2f} ({row['detector_cpu_ms']:.0f}) | recognizer "
            f"alone {row['recognizer_photos_s']:6.2f} ({row['recognizer_cpu_ms']:.0f}) | words read the same "
            f"{kept}/{n_ref} = {share:.1%}, findable {found}/{n_ref} = {share_found:.1%} | boxes in "
            f"{row['photos_with_boxes']} photos"
        )
        print(f"    not findable: {' '.join(lost[:40])}")
        result["sizes"][side] = row

    if args.big:
        from PIL import Image

        model = OcrModel(threads=1)
        tmp = Path(tempfile.mkdtemp(prefix="bench-ocr-12mp-"))
        picks = (with_text or list(range(len(images))))[: args.big]
        big = []
        for i in picks:
            p = tmp / f"{photos[i].stem}_12mp.jpg"
            h, w = images[i].shape[:2]
            f = (12e6 / (w * h)) ** 0.5  # 12 MP, the photo's own aspect
            Image.fromarray(images[i]).resize((round(w * f), round(h * f)), Image.Resampling.BICUBIC).save(
                p, quality=92
            )
            big.append(p)
        model.read(load_for_ocr(big[0]))
        got_big, t_big, _ = timed(lambda: [r for _, r in read_many(model, big, load_for_ocr, args.workers)])
        # The same photos at COCO size, for a per-photo comparison on equal content.
        small = [photos[i] for i in picks]
        got_small, t_small, _ = timed(
            lambda: [r for _, r in read_many(model, small, load_for_ocr, args.workers)]
        )
        kept_big = sum(len(findable(ref[i], g)) for i, g in zip(picks, got_big, strict=True))
        n_big = sum(len(ref[i]) for i in picks)
        print(
            f"12 MP (JPEG, {len(big)} photos with text): {t_big / len(big) * 1000:6.1f} ms/photo "
            f"vs the same photos at COCO size {t_small / len(big) * 1000:6.1f} ms/photo; "
            f"words findable {kept_big}/{n_big}"
        )
        result["big"] = {
            "photos": len(big),
            "ms_per_photo_12mp": t_big / len(big) * 1000,
            "ms_per_photo_coco_same": t_small / len(big) * 1000,
            "words_kept": kept_big,
            "words_ref": n_big,
            "small_kept": sum(len(findable(ref[i], g)) for i, g in zip(picks, got_small, strict=True)),
        }
        for p in big:
            p.unlink()
        tmp.rmdir()

    load1 = os.getloadavg()
    result["load_before"] = load0
    result["load_after"] = load1
    print(f"load after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
