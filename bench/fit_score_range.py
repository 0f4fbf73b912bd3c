"""Fit the engine's text→image score range and floor from labelled photos, for one image-text model.

The labelled pairs are those of ``bench/eval_text_image.py``: the 8 captioned scikit-image photos
(each caption with its photo: a match; with the 7 others: not) and the COCO-128 class queries ("a photo
of a bus" with every photo that has a bus: a match; with the rest: not). On their cosines:

* a logistic fit of P(match | cosine), with both classes weighted equally (there are ~20× more
  non-matching pairs), gives ``low`` (P = 0.05), ``high`` (P = 0.95) and ``floor`` (P = 0.5): the
  linear map low→0, high→1 is the engine's match score (engine.search.results.match_from_cosine), and no
  text→image hit below the floor is called good (engine.search.retrievers.visual);
* the engine's own per-query cutoff (engine.search.cutoff: Benjamini–Hochberg against the query's
  score bulk) is then run on the COCO queries with the 128 photos as the library, with and without the
  floor: how many of the good results are right, how many right photos it keeps, and how many nonsense
  queries get any good result.

``--write`` stores the fit in ``engine/data/score_ranges.toml`` (engine.search.score_range) under the
model's id, and as the ``default`` too when the model is the registry's default image-text model. A fit
on random weights is never written. Without real weights the script says so and stops.

    python bench/fit_score_range.py [--model uform3-image-text-english-small] [--models DIR]
                                    [--write] [--random-weights]

Prints the fit and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _evals import DATA, random_models, real_models, skipped  # noqa: E402
from eval_text_image import CAPTIONS, COCO, DEFAULT_MODEL, captions, coco, encoder  # noqa: E402

NONSENSE = ["qwzx vlorp", "a photo of a glorbnak", "the tax code of 1987", "zzzz", "an unseen colour"]


def logistic(x: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """(a, b) of P(y=1 | x) = 1 / (1 + exp(-(a + b x))) by Newton's method, the two classes weighted
    equally; a tiny ridge keeps it finite when the classes separate completely."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    w = np.where(y == 1, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))
    X = np.stack([np.ones_like(x), x], axis=1)
    beta = np.zeros(2)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ beta)))
        grad = X.T @ (w * (y - p)) - 1e-6 * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(beta[0]), float(beta[1])


def at(a: float, b: float, p: float) -> float:
    """The cosine where the fitted P(match) equals ``p``."""
    return (np.log(p / (1 - p)) - a) / b


def cutoff_on_coco(enc: Any, floor: float | None) -> dict[str, Any]:
    """The engine's per-query cutoff on the COCO class queries (the 128 photos as the library)."""
    import csv

    from eval_text_image import MIN_PHOTOS, QUERY, embed_photos

    from engine.search import cutoff

    with open(COCO / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    labels = [set(filter(None, r["labels"].split(";"))) for r in rows]
    counts: dict[str, int] = {}
    for ls in labels:
        for c in ls:
            counts[c] = counts.get(c, 0) + 1
    classes = sorted(c for c, k in counts.items() if k >= MIN_PHOTOS)
    images = embed_photos(enc, [COCO / r["image"] for r in rows])
    good_right = good_all = kept = relevant = 0
    for c in classes:
        s = images @ enc.encode_texts([QUERY.format(c)])[0]
        order = np.argsort(-s)
        null = cutoff.fit_null(s, len(s))
        n_good = cutoff.good_count(s[order].tolist(), null)
        good = [int(j) for j in order[:n_good] if floor is None or s[j] >= floor]
        good_all += len(good)
        good_right += sum(c in labels[j] for j in good)
        kept += sum(c in labels[j] for j in good)
        relevant += counts[c]
    nonsense_with_good = 0
    for q in NONSENSE:
        s = images @ enc.encode_texts([q])[0]
        order = np.argsort(-s)
        n_good = cutoff.good_count(s[order].tolist(), cutoff.fit_null(s, len(s)))
        nonsense_with_good += any(floor is None or s[j] >= floor for j in order[:n_good])
    return {
        "good_precision": round(good_right / good_all, 3) if good_all else None,
        "good_results": good_all,
        "recall": round(kept / relevant, 3) if relevant else None,
        "nonsense_with_a_good_result": f"{nonsense_with_good}/{len(NONSENSE)}",
    }


def write_fit(model_id: str, fit: dict[str, Any], default: bool) -> Path:
    from engine.search import score_range

    path = score_range.RANGES_FILE
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("text_image", {})
    except (OSError, tomllib.TOMLDecodeError):
        table = {}
    entry = {k: fit[k] for k in ("low", "high", "floor")}
    entry["source"] = fit["source"]
    table[model_id] = entry
    if default:
        table["default"] = dict(entry)
    header = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    lines = header[:4] if header else []
    for key in sorted(table, key=lambda k: (k != "default", k)):
        lines += ["", f"[text_image.{json.dumps(key)}]"]
        for field in ("low", "high", "floor", "source"):
            if table[key].get(field) is not None:
                v = table[key][field]
                lines.append(f"{field} = {json.dumps(round(v, 4) if isinstance(v, float) else v)}")
    text = "\n".join(lines) + "\n"
    tomllib.loads(text)
    path.write_text(text, encoding="utf-8")
    score_range.reload()
    return path


def main(argv: list[str] | None = None) -> int:
    from engine.models import registry

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--models", type=Path, default=None, help="a folder with real weights (any layout)")
    ap.add_argument("--write", action="store_true", help="store the fit in engine/data/score_ranges.toml")
    ap.add_argument("--random-weights", action="store_true", help="check the script on random weights")
    args = ap.parse_args(argv)
    if not (CAPTIONS / "captions.csv").is_file() or not (COCO / "labels.csv").is_file():
        return skipped(f"no labelled photos at {DATA}", "The data is ../shared/assets/data (SOURCES.md).")
    with tempfile.TemporaryDirectory(prefix="lookalike-fit-") as tmp:
        real, why = real_models(Path(tmp), [args.model], args.models)
        if not real and not args.random_weights:
            return skipped(
                why,
                f"Nothing fitted: the engine keeps its range. Install real weights of {args.model} "
                "(`lookalike models download`, `models install --from DIR`, --models DIR or "
                "LOOKALIKE_REAL_MODELS); --random-weights checks the script itself.",
            )
        if not real:
            random_models(Path(tmp), [args.model])
            print(f"RANDOM WEIGHTS ({why}): the fit below means nothing and is never written.")
        enc = encoder(Path(tmp), args.model)
        cap, co = captions(enc), coco(enc)
        match = np.array(cap["match"] + co["match"])
        nonmatch = np.array(cap["nonmatch"] + co["nonmatch"])
        x = np.concatenate([match, nonmatch])
        y = np.concatenate([np.ones(len(match)), np.zeros(len(nonmatch))])
        a, b = logistic(x, y)
        if b <= 0:
            print(f"The cosines do not separate matches from the rest (slope {b:.3f}): no range to fit.")
            print(json.dumps({"real_weights": real, "model": args.model, "fitted": False, "slope": b}))
            return 0
        fit = {
            "low": float(at(a, b, 0.05)),
            "high": float(at(a, b, 0.95)),
            "floor": float(at(a, b, 0.5)),
            "source": (
                f"fitted {datetime.date.today().isoformat()} by bench/fit_score_range.py on "
                f"{len(match)} matching and {len(nonmatch)} non-matching pairs (skimage captions, COCO-128)"
            ),
        }
        with_floor = cutoff_on_coco(enc, fit["floor"])
        without = cutoff_on_coco(enc, None)
    print(f"{args.model}: {len(match)} matching pairs (cosine median {np.median(match):.3f}), ")
    print(
        f"  {len(nonmatch)} non-matching (median {np.median(nonmatch):.3f}, "
        f"95th percentile {np.quantile(nonmatch, 0.95):.3f})"
    )
    print(
        f"  fitted: low {fit['low']:.3f} (P 0.05), floor {fit['floor']:.3f} (P 0.5), "
        f"high {fit['high']:.3f} (P 0.95)"
    )
    print(f"  engine cutoff on COCO queries, no floor:   {without}")
    print(f"  engine cutoff on COCO queries, with floor: {with_floor}")
    out = {
        "real_weights": real,
        "model": args.model,
        "fitted": True,
        **{k: round(v, 4) for k, v in fit.items() if k != "source"},
        "cutoff_no_floor": without,
        "cutoff_with_floor": with_floor,
    }
    if args.write and real:
        default = registry.for_role("image-text")[0].id == args.model
        print(f"wrote {write_fit(args.model, fit, default)}")
        out["written"] = True
    elif args.write:
        print("Not written: random weights.")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
