"""Text → image quality of an image-text model on real labelled photos, through the engine's own decoding,
preprocessing and encoders.

* **Captions**: the 8 scikit-image photos with the captions of OpenAI's CLIP notebook
  (``../shared/assets/data/skimage_clip_captions``). Each caption must pick its own photo out of the 8
  (top-1; chance 1/8); the margin is its photo's cosine minus the best other photo's.
* **COCO-128 class queries**: "a photo of a bus" for every COCO class on at least 5 of the 128 photos
  (``coco128_val2017``, image-level labels from the boxes); precision@5 per class (chance: the class's
  share of the photos).

The cosines of matching and non-matching pairs are what ``bench/fit_score_range.py`` fits the engine's
text→image score range from (``--scores FILE`` writes them).

Real weights are looked for where ``bench/_evals.py`` says (``--models DIR`` first); without them the
script says so and stops. ``--random-weights`` runs it on random-weight models to check the script
itself (figures at chance).

    python bench/eval_text_image.py [--model uform3-image-text-english-small] [--models DIR]
                                    [--random-weights] [--scores FILE]

Prints a table and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _evals import DATA, precision_at, random_models, real_models, skipped  # noqa: E402

CAPTIONS = DATA / "skimage_clip_captions"
COCO = DATA / "coco128_val2017"
DEFAULT_MODEL = "uform3-image-text-english-small"
#: COCO classes on fewer photos than this are not queried: precision@5 needs five to find.
MIN_PHOTOS = 5
QUERY = "a photo of a {}"


def encoder(models_dir: Path, model_id: str) -> Any:
    from engine.models import registry
    from engine.models.uform import UFormEncoder

    return UFormEncoder(registry.require(models_dir, model_id), model_id, precision="int8")


def embed_photos(enc: Any, paths: list[Path]) -> np.ndarray:
    """Unit vectors of ``paths`` decoded and preprocessed as indexing does it."""
    from engine.media.images import load_photo

    out = []
    for i in range(0, len(paths), 16):
        out.append(enc.encode_images([load_photo(p, enc.image_size) for p in paths[i : i + 16]]))
    return np.concatenate(out) if out else np.zeros((0, enc.dim), np.float32)


def captions(enc: Any) -> dict[str, Any]:
    with open(CAPTIONS / "captions.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    images = embed_photos(enc, [CAPTIONS / r["image"] for r in rows])
    texts = enc.encode_texts([r["caption"] for r in rows])
    sims = texts @ images.T
    n = len(rows)
    picked = sims.argmax(axis=1)
    margins = [float(sims[i, i] - np.delete(sims[i], i).max()) for i in range(n)]
    per = [
        {
            "caption": r["caption"],
            "image": Path(r["image"]).name,
            "picked": Path(rows[int(picked[i])]["image"]).name,
            "cosine": round(float(sims[i, i]), 4),
            "margin": round(margins[i], 4),
        }
        for i, r in enumerate(rows)
    ]
    return {
        "top1": float(np.mean(picked == np.arange(n))),
        "chance": 1 / n,
        "per_caption": per,
        "match": [float(sims[i, i]) for i in range(n)],
        "nonmatch": [float(sims[i, j]) for i in range(n) for j in range(n) if i != j],
    }


def coco(enc: Any) -> dict[str, Any]:
    with open(COCO / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    paths = [COCO / r["image"] for r in rows]
    labels = [set(filter(None, r["labels"].split(";"))) for r in rows]
    counts: dict[str, int] = {}
    for ls in labels:
        for c in ls:
            counts[c] = counts.get(c, 0) + 1
    classes = sorted(c for c, k in counts.items() if k >= MIN_PHOTOS)
    images = embed_photos(enc, paths)
    texts = enc.encode_texts([QUERY.format(c) for c in classes])
    sims = texts @ images.T
    names = [p.name for p in paths]
    per, match, nonmatch = [], [], []
    for i, c in enumerate(classes):
        order = np.argsort(-sims[i])
        relevant = {names[j] for j in range(len(paths)) if c in labels[j]}
        p5 = precision_at([names[j] for j in order], relevant, 5)
        per.append({"class": c, "photos": counts[c], "p_at_5": p5, "chance": counts[c] / len(paths)})
        for j in range(len(paths)):
            (match if c in labels[j] else nonmatch).append(float(sims[i, j]))
    return {
        "p_at_5": float(np.mean([p["p_at_5"] for p in per])) if per else 0.0,
        "chance": float(np.mean([p["chance"] for p in per])) if per else 0.0,
        "classes": len(classes),
        "per_class": per,
        "match": match,
        "nonmatch": nonmatch,
    }


def run(models_dir: Path, model_id: str) -> dict[str, Any]:
    enc = encoder(models_dir, model_id)
    return {"captions": captions(enc), "coco": coco(enc)}


def prepare(work: Path, model_id: str, explicit: Path | None, random_weights: bool) -> tuple[bool, str]:
    real, why = real_models(work, [model_id], explicit)
    if not real and random_weights:
        random_models(work, [model_id])
    return real, why


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--models", type=Path, default=None, help="a folder with real weights (any layout)")
    ap.add_argument("--random-weights", action="store_true", help="check the script on random weights")
    ap.add_argument("--scores", type=Path, default=None, help="write the match/non-match cosines here")
    args = ap.parse_args(argv)
    if not (CAPTIONS / "captions.csv").is_file() or not (COCO / "labels.csv").is_file():
        return skipped(f"no labelled photos at {DATA}", "The data is ../shared/assets/data (see SOURCES.md).")
    with tempfile.TemporaryDirectory(prefix="lookalike-eval-ti-") as tmp:
        real, why = prepare(Path(tmp), args.model, args.models, args.random_weights)
        if not real and not args.random_weights:
            return skipped(
                why,
                f"Install real weights (`lookalike models download {args.model}`, or `lookalike models "
                "install --from DIR`), pass --models DIR, or set LOOKALIKE_REAL_MODELS; --random-weights "
                "checks the script itself.",
            )
        if not real:
            print(f"RANDOM WEIGHTS ({why}): the figures below say nothing of search quality.")
        result = run(Path(tmp), args.model)

    cap, co = result["captions"], result["coco"]
    print(f"\n{args.model}: captions → the 8 photos (each must pick its own)")
    for p in cap["per_caption"]:
        mark = "ok" if p["picked"] == p["image"] else f"picked {p['picked']}"
        print(f"  {p['caption']:<52} {p['cosine']:6.3f}  margin {p['margin']:+.3f}  {mark}")
    print(f"\nCOCO-128, '{QUERY.format('<class>')}', classes on >= {MIN_PHOTOS} photos: precision@5")
    for p in co["per_class"]:
        print(
            f"  {p['class']:<16} {p['photos']:>3} photos  P@5 {p['p_at_5']:.2f}  (chance {p['chance']:.2f})"
        )
    out = {
        "real_weights": real,
        "model": args.model,
        "caption_top1": round(cap["top1"], 3),
        "caption_top1_chance": round(cap["chance"], 3),
        "caption_min_margin": round(min(p["margin"] for p in cap["per_caption"]), 4),
        "coco_p_at_5": round(co["p_at_5"], 3),
        "coco_p_at_5_chance": round(co["chance"], 3),
        "coco_classes": co["classes"],
    }
    if args.scores:
        args.scores.write_text(
            json.dumps(
                {
                    "model": args.model,
                    "real_weights": real,
                    "match": cap["match"] + co["match"],
                    "nonmatch": cap["nonmatch"] + co["nonmatch"],
                }
            ),
            encoding="utf-8",
        )
    print(
        f"\ncaptions top-1 {out['caption_top1']:.2f} (chance {out['caption_top1_chance']:.2f}) | COCO class "
        f"queries precision@5 {out['coco_p_at_5']:.2f} (chance {out['coco_p_at_5_chance']:.2f}, "
        f"{out['coco_classes']} classes)"
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
