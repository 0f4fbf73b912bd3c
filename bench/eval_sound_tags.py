"""Sound tags against published and labelled references, in two parts that need different weights.

1. **PANNs' published tags** (needs real Cnn14 weights): the README of qiuqiangkong/audioset_tagging_cnn
   prints Cnn14's clipwise output for its example clip ``resources/R9_ZSCveAHg_7s.wav`` (a copy is in
   ``bench/data/panns_readme/``, MIT, see its SOURCE.md): Speech 0.893, Telephone bell ringing 0.754,
   Inside, small room 0.235, … The engine's decoder and Cnn14 must give each of the ten within
   :data:`TOLERANCE`. With real MobileNetV1 weights its top tags are printed too (no published values).
2. **The words side** (needs only all-MiniLM-L6-v2, which is real here): text → sound ranks sounds by
   ``tags @ weights(query)`` (engine.search.sound_tags). With the published Cnn14 tags standing in for
   the model, queries that name the clip ("a phone ringing", "someone talking") must score it high and
   queries that do not ("a dog barking", "rain", nonsense) near zero; and each ESC-50 class name must
   find its AudioSet class among the top 5 classes (:data:`ESC50_TO_AUDIOSET`, a hand mapping of the 50
   ESC-50 classes to the AudioSet names that mean the same sound).

Real weights are looked for where ``bench/_evals.py`` says; a part whose weights are missing says so and
is skipped (both are reported in the JSON line).

    python bench/eval_sound_tags.py [--models DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _evals import REPO, real_models  # noqa: E402

CLIP = REPO / "bench" / "data" / "panns_readme" / "R9_ZSCveAHg_7s.wav"
#: Cnn14_mAP=0.431.pth on the clip, as the README of qiuqiangkong/audioset_tagging_cnn prints it.
PUBLISHED = {
    "Speech": 0.893,
    "Telephone bell ringing": 0.754,
    "Inside, small room": 0.235,
    "Telephone": 0.183,
    "Music": 0.092,
    "Ringtone": 0.047,
    "Inside, large room or hall": 0.028,
    "Alarm": 0.014,
    "Animal": 0.009,
    "Vehicle": 0.008,
}
TOLERANCE = 0.05
#: Queries that name what is in the clip, and ones that do not.
NAMES_IT = ["a phone ringing", "telephone", "someone talking", "speech"]
NOT_IT = ["a dog barking", "rain", "a car engine", "qwzx vlorp"]
#: Each ESC-50 class (its name as words) and the AudioSet classes that are that sound.
ESC50_TO_AUDIOSET: dict[str, set[str]] = {
    "dog": {"Dog", "Bark", "Bow-wow", "Domestic animals, pets"},
    "rooster": {"Chicken, rooster", "Crowing, cock-a-doodle-doo", "Fowl"},
    "pig": {"Pig", "Oink"},
    "cow": {"Cattle, bovinae", "Moo"},
    "frog": {"Frog", "Croak"},
    "cat": {"Cat", "Meow", "Purr"},
    "hen": {"Chicken, rooster", "Cluck", "Fowl"},
    "insects": {"Insect", "Buzz", "Fly, housefly", "Bee, wasp, etc.", "Mosquito", "Cricket"},
    "sheep": {"Sheep", "Bleat"},
    "crow": {"Crow", "Caw"},
    "rain": {"Rain", "Raindrop", "Rain on surface"},
    "sea waves": {"Waves, surf", "Ocean"},
    "crackling fire": {"Fire", "Crackle"},
    "crickets": {"Cricket", "Insect"},
    "chirping birds": {"Bird", "Chirp, tweet", "Bird vocalization, bird call, bird song"},
    "water drops": {"Drip", "Raindrop", "Water"},
    "wind": {"Wind", "Wind noise (microphone)"},
    "pouring water": {"Pour", "Water", "Liquid", "Trickle, dribble", "Fill (with liquid)"},
    "toilet flush": {"Toilet flush"},
    "thunderstorm": {"Thunderstorm", "Thunder"},
    "crying baby": {"Baby cry, infant cry", "Crying, sobbing"},
    "sneezing": {"Sneeze"},
    "clapping": {"Clapping", "Applause", "Hands"},
    "breathing": {"Breathing", "Pant", "Gasp"},
    "coughing": {"Cough", "Throat clearing"},
    "footsteps": {"Walk, footsteps", "Run", "Shuffle"},
    "laughing": {"Laughter", "Giggle", "Belly laugh", "Chuckle, chortle", "Snicker", "Baby laughter"},
    "brushing teeth": {"Toothbrush", "Electric toothbrush"},
    "snoring": {"Snoring", "Snort"},
    "drinking sipping": {"Liquid", "Slosh", "Gargling"},
    "door wood knock": {"Knock", "Door", "Tap", "Wood"},
    "mouse click": {"Clicking", "Computer keyboard"},
    "keyboard typing": {"Typing", "Computer keyboard", "Typewriter"},
    "door wood creaks": {"Creak", "Squeak", "Door"},
    "can opening": {"Burst, pop", "Hiss"},
    "washing machine": {"Mechanisms", "Vibration", "Hum", "Whir"},
    "vacuum cleaner": {"Vacuum cleaner"},
    "clock alarm": {"Alarm clock", "Alarm", "Clock"},
    "clock tick": {"Tick", "Tick-tock", "Clock"},
    "glass breaking": {"Shatter", "Glass", "Breaking", "Smash, crash"},
    "helicopter": {"Helicopter"},
    "chainsaw": {"Chainsaw"},
    "siren": {"Siren", "Civil defense siren", "Police car (siren)", "Ambulance (siren)", "Emergency vehicle"},
    "car horn": {"Vehicle horn, car horn, honking", "Toot", "Honk"},
    "engine": {"Engine", "Idling", "Medium engine (mid frequency)", "Heavy engine (low frequency)"},
    "train": {"Train", "Rail transport", "Railroad car, train wagon", "Clickety-clack"},
    "church bells": {"Church bell", "Bell", "Change ringing (campanology)"},
    "airplane": {"Aircraft", "Fixed-wing aircraft, airplane", "Aircraft engine", "Jet engine"},
    "fireworks": {"Fireworks", "Firecracker", "Explosion"},
    "hand saw": {"Sawing", "Tools"},
}


def published_tags() -> np.ndarray:
    from engine.search.sound_tags import class_names

    names = class_names()
    tags = np.zeros((1, len(names)), np.float32)
    for name, value in PUBLISHED.items():
        tags[0, names.index(name)] = value
    return tags


def panns_part(models_dir: Path, model_id: str) -> dict[str, Any]:
    from engine.media.audio import load_audio
    from engine.models import registry
    from engine.models.panns import SAMPLE_RATE, PannsEncoder
    from engine.search.sound_tags import class_names

    enc = PannsEncoder.load(registry.require(models_dir, model_id), model_id)
    wave = load_audio(CLIP, sr=SAMPLE_RATE)
    tags = enc.encode([wave]).tags[0]
    names = class_names()
    top = [(names[i], round(float(tags[i]), 3)) for i in np.argsort(-tags)[:10]]
    out: dict[str, Any] = {"model": model_id, "top10": top}
    if model_id == "panns-cnn14":
        diffs = {name: round(float(tags[names.index(name)]) - want, 3) for name, want in PUBLISHED.items()}
        out["diffs"] = diffs
        out["max_abs_diff"] = max(abs(d) for d in diffs.values())
        out["within_tolerance"] = out["max_abs_diff"] <= TOLERANCE
    return out


def words_part(models_dir: Path) -> dict[str, Any]:
    from engine.models import registry
    from engine.models.minilm import MiniLMEncoder
    from engine.search.sound_tags import TagMatcher, score_sounds

    matcher = TagMatcher(MiniLMEncoder.load(registry.require(models_dir, "all-minilm-l6-v2")))
    tags = published_tags()
    scores = {q: round(float(score_sounds(tags, matcher.query_weights(q))[0]), 3) for q in NAMES_IT + NOT_IT}
    hits1, hits5, misses = 0, 0, []
    for esc, wanted in ESC50_TO_AUDIOSET.items():
        top = [name for _, name, _ in matcher.match(esc, top_k=5)]
        hits1 += top[0] in wanted
        hits5 += bool(wanted & set(top))
        if not wanted & set(top):
            misses.append(f"{esc} -> {', '.join(top[:3])}")
    n = len(ESC50_TO_AUDIOSET)
    return {
        "clip_scores": scores,
        "names_it_min": min(scores[q] for q in NAMES_IT),
        "not_it_max": max(scores[q] for q in NOT_IT),
        "esc50_top1": round(hits1 / n, 3),
        "esc50_top5": round(hits5 / n, 3),
        "esc50_misses": misses,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=None, help="a folder with real weights (any layout)")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lookalike-eval-tags-") as tmp:
        models = Path(tmp)
        real_cnn14, why = real_models(models, ["panns-cnn14"], args.models)
        if real_cnn14:
            p = out["published"] = panns_part(models, "panns-cnn14")
            print(f"Cnn14 on {CLIP.name} against the README's published tags (tolerance {TOLERANCE}):")
            for name, want in PUBLISHED.items():
                print(f"  {name:<28} published {want:.3f}  ours {want + p['diffs'][name]:.3f}")
            print(
                f"  largest difference {p['max_abs_diff']:.3f}: {'ok' if p['within_tolerance'] else 'FAILED'}"
            )
        else:
            out["published"] = {"skipped": why}
            print(f"Published tags: not checked: {why}.")
        real_mobilenet, why_m = real_models(models, ["panns-mobilenetv1"], args.models)
        if real_mobilenet:
            m = out["mobilenet"] = panns_part(models, "panns-mobilenetv1")
            print("MobileNetV1's top tags on the clip (nothing published to compare with):")
            print("  " + ", ".join(f"{n} {v:.3f}" for n, v in m["top10"]))
        else:
            out["mobilenet"] = {"skipped": why_m}
        real_minilm, why_t = real_models(models, ["all-minilm-l6-v2"], args.models)
        if real_minilm:
            w = out["words"] = words_part(models)
            print("\nText → sound on the clip, the published Cnn14 tags standing in for the model:")
            for q, s in w["clip_scores"].items():
                print(f"  {q!r:<22} {s:.3f}  ({'names the clip' if q in NAMES_IT else 'does not'})")
            print(
                f"ESC-50 class names → AudioSet classes: top-1 {w['esc50_top1']:.2f}, top-5 "
                f"{w['esc50_top5']:.2f} of {len(ESC50_TO_AUDIOSET)}"
            )
            for miss in w["esc50_misses"]:
                print(f"  missed: {miss}")
        else:
            out["words"] = {"skipped": why_t}
            print(f"Words side: not checked: {why_t}.")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
