"""Image → image quality ("find similar") of an image-text model on real labelled photos: the Caltech-101
subset in ``../shared/assets/data/caltech101_subset`` (101 classes × 8 photos), through the engine's own
decoding, preprocessing and image encoder.

Every photo is a query against the other 807; precision@5 is the share of its 5 nearest photos of its
class (7 others exist; chance 7/807 ≈ 0.009), averaged per class and then over classes.
``--classes N`` takes the first N classes (fewer photos, quicker: the figure is then for those).

Real weights are looked for where ``bench/_evals.py`` says; without them the script says so and stops.
``--random-weights`` runs it on random-weight models to check the script itself.

    python bench/eval_image_image.py [--model uform3-image-text-english-small] [--models DIR]
                                     [--classes 101] [--random-weights]

Prints a table and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _evals import DATA, random_models, real_models, skipped  # noqa: E402
from eval_text_image import DEFAULT_MODEL, embed_photos, encoder  # noqa: E402

CALTECH = DATA / "caltech101_subset"
K = 5


def evaluate(models_dir: Path, model_id: str, n_classes: int | None) -> dict:
    with open(CALTECH / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})[:n_classes]
    rows = [r for r in rows if r["label"] in set(classes)]
    labels = np.array([r["label"] for r in rows])
    vecs = embed_photos(encoder(models_dir, model_id), [CALTECH / r["path"] for r in rows])
    sims = vecs @ vecs.T
    np.fill_diagonal(sims, -np.inf)  # a photo is not its own neighbour
    top = np.argsort(-sims, axis=1)[:, :K]
    hits = (labels[top] == labels[:, None]).mean(axis=1)
    per = {c: float(hits[labels == c].mean()) for c in classes}
    same = float(np.mean([(labels == c).sum() - 1 for c in classes]))
    return {
        "p_at_5": float(np.mean(list(per.values()))),
        "chance": same / (len(rows) - 1),
        "photos": len(rows),
        "classes": len(classes),
        "per_class": per,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--models", type=Path, default=None, help="a folder with real weights (any layout)")
    ap.add_argument("--classes", type=int, default=None, help="the first N classes only")
    ap.add_argument("--random-weights", action="store_true", help="check the script on random weights")
    args = ap.parse_args(argv)
    if not (CALTECH / "labels.csv").is_file():
        return skipped(
            f"no Caltech-101 subset at {CALTECH}", "The data is ../shared/assets/data (SOURCES.md)."
        )
    with tempfile.TemporaryDirectory(prefix="lookalike-eval-ii-") as tmp:
        real, why = real_models(Path(tmp), [args.model], args.models)
        if not real and not args.random_weights:
            return skipped(
                why,
                f"Install real weights (`lookalike models download {args.model}`, or `lookalike models "
                "install --from DIR`), pass --models DIR, or set LOOKALIKE_REAL_MODELS; --random-weights "
                "checks the script itself.",
            )
        if not real:
            random_models(Path(tmp), [args.model])
            print(f"RANDOM WEIGHTS ({why}): the figures below say nothing of search quality.")
        result = evaluate(Path(tmp), args.model, args.classes)
    worst = sorted(result["per_class"].items(), key=lambda kv: kv[1])
    print(f"\n{args.model}: Caltech-101, {result['photos']} photos, precision@{K} per class (worst first)")
    for c, p in worst[:15]:
        print(f"  {c:<20} {p:.2f}")
    out = {
        "real_weights": real,
        "model": args.model,
        "photos": result["photos"],
        "classes": result["classes"],
        "p_at_5": round(result["p_at_5"], 3),
        "p_at_5_chance": round(result["chance"], 4),
    }
    print(
        f"\nprecision@{K} {out['p_at_5']:.2f} (chance {out['p_at_5_chance']:.3f}) "
        f"over {out['classes']} classes"
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
