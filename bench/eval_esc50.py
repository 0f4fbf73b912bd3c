"""Sound search quality on real labelled recordings: the ESC-50 subset (100 five-second clips, 50
classes, 2 a class) indexed by the real library, then searched the two ways a person searches sounds.

* sound -> sound: for every clip, ``search_similar`` over the sounds; precision@1 is the share of
  clips whose nearest other clip has the same class (chance 1/99), and the class's other clip's rank.
* text -> sound: for every class, its name as words ("crying baby", "church bells") through
  ``search_text`` restricted to sounds; precision@2 is the share of the two top results of that class
  (chance 2/100), hit@10 whether either clip of the class is in the top 10.

Real weights are looked for where bench/_evals.py says: ``--models DIR``, ``$LOOKALIKE_REAL_MODELS``,
the user's models (``LOOKALIKE_HOME`` is honoured) and ``../shared/assets/models``, in any layout
``lookalike models install --from`` accepts. Without real PANNs weights there is nothing to evaluate and
the script says so and stops. ``--random-weights`` runs the same evaluation on random-weight PANNs
(and the real MiniLM from ``../shared/assets/models`` when present) to check the script itself: its
figures then say nothing of quality. (Even random features pair two clips cut from one recording, as
16 of the subset's 50 classes are, so random sound -> sound lands above chance; the JSON line counts
those classes, ``same_recording_classes``.)

    python bench/eval_esc50.py [--data ../shared/assets/data/esc50_subset] [--models DIR]
                               [--audio-model panns-mobilenetv1] [--random-weights]

Prints a table per class and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.indexing.pipeline import index_pending
from engine.indexing.scan import scan  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.search.api import search_similar, search_text  # noqa: E402
from engine.storage.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "assets"
TEXT_MODEL = "all-minilm-l6-v2"


def prepare_models(home: Path, args: argparse.Namespace) -> tuple[bool, str]:
    """Fill ``home/models`` with the audio and text models; returns (real weights?, why not). Real
    weights are looked for where bench/_evals.py says (``--models DIR`` first, then
    ``$LOOKALIKE_REAL_MODELS``, the user's models, ``../shared/assets/models``; any layout
    ``models install --from`` takes)."""
    from _evals import random_models, real_models

    dest = home / "models"
    real, why = real_models(dest, [args.audio_model, TEXT_MODEL], args.models)
    if not real and args.random_weights:
        random_models(dest, [args.audio_model, TEXT_MODEL])  # only the missing ones: a real MiniLM stays
    return real, why


def rank_of(paths: list[str], wanted: set[str]) -> int | None:
    """1-based rank of the first path in ``wanted``, or None."""
    return next((i + 1 for i, p in enumerate(paths) if p in wanted), None)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=SHARED / "data" / "esc50_subset")
    ap.add_argument("--models", type=Path, default=None, help="models folder (default: the user's)")
    ap.add_argument(
        "--audio-model", default="panns-mobilenetv1", choices=["panns-mobilenetv1", "panns-cnn14"]
    )
    ap.add_argument("--random-weights", action="store_true", help="check the script on random weights")
    args = ap.parse_args()

    index_csv = args.data / "esc50_subset.csv"
    if not index_csv.is_file():
        print(f"ESC-50 subset not found: {index_csv}")
        print(json.dumps({"skipped": f"no data at {args.data}"}))
        return 0
    with open(index_csv, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if (args.data / "audio" / r["filename"]).is_file()]
    label = {str((args.data / "audio" / r["filename"]).resolve()): r["category"] for r in rows}
    recordings: dict[str, set[str]] = {}
    for r in rows:
        recordings.setdefault(r["category"], set()).add(r["src_file"])
    by_class: dict[str, set[str]] = {}
    for path, cls in label.items():
        by_class.setdefault(cls, set()).add(path)

    work = Path(tempfile.mkdtemp(prefix="lookalike-esc50-"))
    try:
        home = work / "home"
        real, why = prepare_models(home, args)
        if not real and not args.random_weights:
            print(f"No evaluation: real PANNs and MiniLM weights are needed and {why}.")
            print(
                f"Install them with `lookalike models download {args.audio_model} {TEXT_MODEL}` (network) or "
                "`lookalike models install --from DIR`, or pass --models DIR; --random-weights checks the "
                "script on random weights (chance-level figures)."
            )
            print(json.dumps({"skipped": why}))
            return 0
        if not real:
            print(f"RANDOM WEIGHTS ({why}): the figures below say nothing of search quality.")

        settings = Settings(home=home, audio_model=args.audio_model)
        with Library(settings) as lib:
            lib.add_folder(args.data / "audio")
            t = time.perf_counter()
            scan(lib)
            report = index_pending(lib)
            took = time.perf_counter() - t
            print(f"indexed {report.indexed} clips ({report.failed} failed) in {took:.1f} s")

            s_rank: dict[str, int | None] = {}
            for path, cls in label.items():
                found = [r.path for r in search_similar(lib, path, limit=99, kinds=["sound"])]
                s_rank[path] = rank_of(found, by_class[cls] - {path})
            t_top: dict[str, list[str]] = {}
            for cls in by_class:
                words = cls.replace("_", " ")
                t_top[cls] = [r.path for r in search_text(lib, words, limit=10, kinds=["sound"])]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{'class':<18} {'sound->sound rank of the other clip':>36} {'text->sound P@2':>16} {'hit@10':>7}"
    )
    p_at_2, hits = [], []
    for cls in sorted(by_class):
        ranks = [s_rank[p] for p in sorted(by_class[cls])]
        top = t_top[cls]
        p2 = sum(label.get(p) == cls for p in top[:2]) / 2
        hit = any(label.get(p) == cls for p in top)
        p_at_2.append(p2)
        hits.append(hit)
        shown = ", ".join("-" if r is None else str(r) for r in ranks)
        print(f"{cls:<18} {shown:>36} {p2:>16.2f} {'yes' if hit else 'no':>7}")
    ranks_all = [r for r in s_rank.values()]
    p_at_1 = float(np.mean([r == 1 for r in ranks_all]))
    mrr = float(np.mean([1 / r if r else 0.0 for r in ranks_all]))
    n = len(label)
    out = {
        "real_weights": real,
        "audio_model": args.audio_model,
        "clips": n,
        "classes": len(by_class),
        "sound_p_at_1": round(p_at_1, 3),
        "sound_p_at_1_chance": round(1 / max(n - 1, 1), 3),
        "sound_mrr": round(mrr, 3),
        "same_recording_classes": sum(len(v) == 1 for v in recordings.values()),
        "text_p_at_2": round(float(np.mean(p_at_2)), 3),
        "text_p_at_2_chance": round(2 / max(n, 1), 3),
        "text_hit_at_10": round(float(np.mean(hits)), 3),
    }
    print(
        f"\nsound->sound precision@1 {out['sound_p_at_1']:.2f} (chance {out['sound_p_at_1_chance']:.2f}), "
        f"MRR {mrr:.2f} | text->sound precision@2 {out['text_p_at_2']:.2f} "
        f"(chance {out['text_p_at_2_chance']:.2f}), hit@10 {out['text_hit_at_10']:.2f}"
    )
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
