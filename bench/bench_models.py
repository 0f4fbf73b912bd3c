"""What each registry model costs to index with, measured on this machine: random weights of every model's
real shape, in its real file format, run through the real loader and the real library.

No real UForm, PANNs or Whisper weights exist here, but a network's cost is its shape, not its weights:

* **UForm3** english small (ViT-S/16), english base (ViT-B/16), english large (ViT-L/14) and multilingual
  base (ViT-B/16): the image tower at its real width, depth, heads, patch and input size, exported to
  ONNX with the published file's input and output names and run as the app runs it (the engine's
  checked int8 copy on the CPU). The text tower stays tiny: indexing never runs it. Multilingual base
  has the same image tower as english base, so the same indexing cost; it is measured once and listed
  under both (``shape`` says so).
  Rate: photos/s indexing COCO-128 photos through the library (decode, preprocess, encode, store,
  catalog); ceiling: the encoder alone on ready pixels.
* **PANNs** MobileNetV1 and Cnn14 at full width (Cnn14's checkpoint is 320 MB, as the real one).
  Rate: hours of audio per hour indexing generated MP3s through the library; ceiling: the model alone
  on ready 10 s clips at 32 kHz.
* **Whisper** tiny, base and small in CTranslate2 int8 (faster-whisper), the real layer sizes and
  vocabulary, measured as bench/bench_speech.py measures them (espeak-ng sentences, the VAD's speech
  regions decoded, and since random weights never end a sentence, each 30 s window capped at the tokens
  real speech has: 3.3 tokens/s, about 150 words a minute). Rate: hours of speech per hour for the
  model alone (the speech stage runs VAD first, so non-speech audio costs far less; a model switch
  never re-transcribes).

``--write`` stores the table in ``engine/data/model_costs.toml`` (engine.models.costs), which the app
reads to say what a switch costs. The cores are shared with other work: the 1-minute load average from
``os.getloadavg()`` (what ``uptime`` prints) is sampled before and after every model and recorded.

    python bench/bench_models.py [--models ID,ID] [--photos 32] [--audio-minutes 6] [--rounds 1]
                                 [--workdir DIR] [--write]

Prints a table and, last, one line of JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.models import registry  # noqa: E402
from engine.models.costs import COSTS_FILE, ModelCost, dumps, load_costs  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "assets"
COCO = SHARED / "data" / "coco128_val2017"

_CLIP = {
    "normalization_means": [0.48145466, 0.4578275, 0.40821073],
    "normalization_deviations": [0.26862954, 0.26130258, 0.27577711],
    "pooling": "cls",
    "embedding_dim": 256,
    "image_size": 224,
}
#: The image towers as unum-cloud/uform's README lists them (ViT-S/16, ViT-B/16, ViT-L/14 at 224 px) with
#: the standard ViT widths, depths and heads for those names. Large's embedding size is not published;
#: 256 like the others (the projection is < 0.1 % of the tower's cost either way).
IMAGE_TOWERS: dict[str, dict[str, Any]] = {
    "uform3-image-text-english-small": dict(_CLIP, dim=384, num_layers=12, num_heads=6, patch_size=16),
    "uform3-image-text-english-base": dict(_CLIP, dim=768, num_layers=12, num_heads=12, patch_size=16),
    "uform3-image-text-english-large": dict(_CLIP, dim=1024, num_layers=24, num_heads=16, patch_size=14),
}
#: Models whose indexing cost is another's: the same image tower.
SAME_TOWER = {"uform3-image-text-multilingual-base": "uform3-image-text-english-base"}
WHISPER_TOKENS_PER_S = 3.3


def load_now() -> float:
    return os.getloadavg()[0]


def build(model_id: str, models: Path) -> Path:
    """Random weights of ``model_id``'s real shape under ``models/<model_id>`` (kept between runs)."""
    folder = models / model_id
    if (folder / "manifest.json").is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    t = time.perf_counter()
    if model_id in IMAGE_TOWERS:
        from engine.models.tiny import write_tiny_uform

        write_tiny_uform(folder, image_overrides=IMAGE_TOWERS[model_id], model_id=model_id)
    elif model_id.startswith("panns-"):
        from engine.models.tiny_audio import write_tiny_panns

        write_tiny_panns(folder, model_id, width=1.0)
    elif model_id.startswith("whisper-"):
        from engine.models.tiny_whisper import write_tiny_whisper

        write_tiny_whisper(folder, model_id, shape=model_id.removeprefix("whisper-"))
    else:
        raise ValueError(f"no real-shape writer for {model_id}")
    size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
    print(f"  built {model_id}: {size / 1e6:.0f} MB in {time.perf_counter() - t:.0f} s")
    return folder


def _home(work: Path, model_id: str, folder: Path, **settings: Any) -> Any:
    from engine.storage.settings import Settings

    home = work / f"home-{model_id}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "models").mkdir(parents=True)
    (home / "models" / model_id).symlink_to(folder.resolve(), target_is_directory=True)
    return Settings(home=home, **settings)


def photos(work: Path, n: int) -> Path:
    """``n`` real COCO photos (640 px JPEGs) when the shared assets are here, else generated 12 MP ones."""
    folder = work / "photos"
    if folder.is_dir() and len(list(folder.iterdir())) == n:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    src = sorted((COCO / "images").glob("*.jpg")) if (COCO / "images").is_dir() else []
    if not src:
        src = sorted(COCO.rglob("*.jpg")) if COCO.is_dir() else []
    if src:
        for p in src[:n]:
            shutil.copyfile(p, folder / p.name)
    else:
        from bench_photos import make_photos  # sibling script: generated 12 MP JPEGs

        make_photos(folder, n)
    return folder


def bench_image(model_id: str, folder: Path, work: Path, n: int, fresh: bool = True) -> dict[str, Any]:
    from engine.indexing.pipeline import ENCODE_BATCH, index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.media.images import load_photo
    from engine.models.uform import UFormEncoder

    pics = photos(work, n)
    if fresh:  # make the int8 copy again, timed, as a first indexing run does
        for stale in folder.glob("image_encoder.int8.*"):
            stale.unlink()
    enc = UFormEncoder(folder, model_id, precision="int8")
    decoded = [load_photo(p, enc.image_size) for p in sorted(pics.iterdir())]
    pixels = enc.preprocess(decoded)
    t = time.perf_counter()
    enc.encode_pixels(pixels[:2])  # makes (and checks) the int8 copy, as a first indexing run does
    int8_s = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(0, len(pixels), ENCODE_BATCH):
        enc.encode_pixels(pixels[i : i + ENCODE_BATCH])
    ceiling = len(pixels) / (time.perf_counter() - t)
    del enc

    settings = _home(work, model_id, folder, image_text_model=model_id)
    with Library(settings) as lib:
        lib.add_folder(pics)
        scan(lib)
        _ = lib.store
        lib.image_text_encoder().encode_pixels(pixels[:1])  # loaded once per session, not per photo
        t = time.perf_counter()
        report = index_pending(lib)
        rate = report.indexed / (time.perf_counter() - t)
        if report.failed or not report.indexed:
            raise RuntimeError(f"{model_id}: {report.failed} photos failed: {report.failures[:3]}")
    return {"rate": rate, "ceiling": ceiling, "unit": "photos/s", "int8_made_s": int8_s}


def sounds(work: Path, minutes: float) -> tuple[Path, float]:
    """Generated MP3s (44.1 kHz stereo) of ``minutes`` in all, and their total seconds."""
    folder = work / f"sounds-{minutes:g}"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        from bench_audio import make_audio  # sibling script

        made = make_audio(folder, minutes)
        for ext, paths in made.items():
            if ext != "mp3":
                for p in paths:
                    p.unlink()
    return folder, minutes * 60


def bench_audio_model(model_id: str, folder: Path, work: Path, minutes: float) -> dict[str, Any]:
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.models.panns import SAMPLE_RATE, PannsEncoder

    enc = PannsEncoder.load(folder, model_id)
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(10 * SAMPLE_RATE)).astype(np.float32) for _ in range(6)]
    enc.encode(clips[:1])  # warm up
    t = time.perf_counter()
    enc.encode(clips)
    ceiling = len(clips) * 10 / (time.perf_counter() - t)
    del enc

    audio, seconds = sounds(work, minutes)
    settings = _home(work, model_id, folder, audio_model=model_id)
    with Library(settings) as lib:
        lib.add_folder(audio)
        scan(lib)
        _ = lib.store
        lib.audio_encoder().encode(clips[:1])
        t = time.perf_counter()
        report = index_pending(lib)
        wall = time.perf_counter() - t
        if report.failed or not report.indexed:
            raise RuntimeError(f"{model_id}: {report.failed} sounds failed: {report.failures[:3]}")
    return {"rate": seconds / wall, "ceiling": ceiling, "unit": "audio h/h"}


def bench_whisper(model_id: str, folder: Path, minutes: float) -> dict[str, Any]:
    """Hours of speech per hour for the model alone, measured as bench/bench_speech.py does (espeak-ng
    sentences, the VAD's speech regions decoded with ``clip_timestamps``, the tokens real speech has)."""
    from bench_speech import bench_ct2, speech_audio  # sibling script: the speech stage's own method

    from engine.models.device import inference_threads
    from engine.models.speech import SAMPLE_RATE

    with tempfile.TemporaryDirectory() as tmp:
        audio = speech_audio(max(0.5, minutes / 4), Path(tmp))
    wall = bench_ct2(folder, audio, inference_threads(), int(WHISPER_TOKENS_PER_S * 30))
    return {"rate": len(audio) / SAMPLE_RATE / wall, "ceiling": None, "unit": "audio h/h"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="", help="comma-separated ids (default: every registry model)")
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--audio-minutes", type=float, default=6.0)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the built models here between runs")
    ap.add_argument("--rounds", type=int, default=1, help="measure each model this many times (median)")
    ap.add_argument(
        "--no-paired",
        dest="paired",
        action="store_false",
        help="measure each model on its own (default: each right after its role's default, as a ratio)",
    )
    ap.add_argument(
        "--write", action="store_true", help=f"update {COSTS_FILE.relative_to(COSTS_FILE.parents[2])}"
    )
    args = ap.parse_args(argv)

    wanted = [m for m in args.models.split(",") if m] or [
        m.id for m in registry.MODELS.values() if m.role in ("image-text", "audio", "speech")
    ]
    work = args.workdir or Path(tempfile.mkdtemp(prefix="lookalike-bench-models-"))
    work.mkdir(parents=True, exist_ok=True)
    from engine.models.device import inference_threads

    cores = os.cpu_count() or 1
    print(f"cores: {cores}, inference threads: {inference_threads()}, load before: {load_now():.1f}")
    today = datetime.date.today().isoformat()
    results: dict[str, dict[str, Any]] = {}
    asked = list(wanted)
    for model_id in list(wanted):
        if model_id in SAME_TOWER:  # measured under the model with the same tower
            wanted.remove(model_id)
            if SAME_TOWER[model_id] not in wanted:
                wanted.append(SAME_TOWER[model_id])
    made_int8: set[str] = set()

    def once(model_id: str) -> dict[str, Any]:
        spec = registry.spec(model_id)
        folder = build(model_id, work / "models")
        before = load_now()
        if spec.role == "image-text":
            r = bench_image(model_id, folder, work, args.photos, fresh=model_id not in made_int8)
            made_int8.add(model_id)
        elif spec.role == "audio":
            r = bench_audio_model(model_id, folder, work, args.audio_minutes)
        else:
            r = bench_whisper(model_id, folder, args.audio_minutes)
        r["loads"] = (before, load_now())
        ceiling = f"{r['ceiling']:8.1f}" if r.get("ceiling") else "       —"
        print(f"  {model_id:<36} {r['rate']:8.2f} {r['unit']:<10} model alone {ceiling}  load {before:.1f}")
        return r

    roles: dict[str, list[str]] = {}
    for model_id in wanted:
        roles.setdefault(registry.spec(model_id).role, []).append(model_id)
    for role, ids in roles.items():
        anchor = registry.for_role(role)[0].id
        samples: dict[str, list[dict[str, Any]]] = {m: [] for m in ids}
        ratios: dict[str, list[tuple[float, float | None]]] = {m: [] for m in ids}
        others = [m for m in ids if m != anchor]
        t = time.perf_counter()
        try:
            # One unrecorded run first: the first library of a session pays for what later ones find warm
            # (the store's start, imports, the page cache), which no model switch would pay.
            print(f"  warm-up: {anchor}")
            once(anchor)
            if not args.paired or not others:
                for m in ids:
                    samples[m] += [once(m) for _ in range(max(1, args.rounds))]
            else:
                # The role's default right before each other model, every round: the cores are shared, and
                # a ratio measured a few seconds apart holds where absolute rates swing several times.
                samples.setdefault(anchor, [])
                for m in others:
                    for _ in range(max(1, args.rounds)):
                        a, b = once(anchor), once(m)
                        samples[anchor].append(a)
                        samples[m].append(b)
                        ceil = b["ceiling"] / a["ceiling"] if a.get("ceiling") and b.get("ceiling") else None
                        ratios[m].append((b["rate"] / a["rate"], ceil))
        except MemoryError as exc:
            print(f"{role}: a model too big to build here ({exc}); not measured")
            continue
        base = samples.get(anchor) or []
        for m, got in samples.items():
            if not got:
                continue
            loads = [x for g in got for x in g["loads"]]
            r = {
                "unit": got[0]["unit"],
                "rate": float(np.median([g["rate"] for g in got])),
                "ceiling": float(np.median([g["ceiling"] for g in got])) if got[0].get("ceiling") else None,
                "rounds": [round(g["rate"], 2) for g in got],
                "load": f"{min(loads):.1f}-{max(loads):.1f}",
            }
            if ratios.get(m) and base:
                # Paired: the ratio to the default (median over rounds) times the default's median rate.
                rel = float(np.median([x for x, _ in ratios[m]]))
                r["relative"] = rel
                r["rate"] = rel * float(np.median([g["rate"] for g in base]))
                ceil = [c for _, c in ratios[m] if c is not None]
                if ceil and base[0].get("ceiling"):
                    r["ceiling"] = float(np.median(ceil)) * float(np.median([g["ceiling"] for g in base]))
            elif m == anchor:
                r["relative"] = 1.0
            results[m] = r
        print(f"{role}: {time.perf_counter() - t:.0f} s")
    for model_id, same in SAME_TOWER.items():
        if model_id in asked and same in results:
            results[model_id] = dict(results[same], same_as=same)

    print(f"\n{'model':<38} {'rate':>9} {'unit':<10} {'model alone':>12} {'load':>9}")
    for model_id, r in results.items():
        ceiling = f"{r['ceiling']:.1f}" if r.get("ceiling") else "—"
        same = f"  (= {r['same_as']}: same image tower)" if r.get("same_as") else ""
        print(f"{model_id:<38} {r['rate']:>9.1f} {r['unit']:<10} {ceiling:>12} {r['load']:>9}{same}")

    if args.write:
        costs = load_costs()
        for model_id, r in results.items():
            note = {
                "photos/s": "COCO-128 photos through the library; ceiling: the int8 encoder alone",
                "audio h/h": "generated MP3s through the library; ceiling: the model alone on 10 s clips",
            }[r["unit"]]
            if model_id.startswith("whisper-"):
                note = (
                    f"the model alone on espeak-ng speech, {WHISPER_TOKENS_PER_S} tokens/s "
                    "(as bench_speech.py; VAD skips non-speech)"
                )
            shape = f"real (the image tower of {r['same_as']})" if r.get("same_as") else "real"
            if r.get("relative") is not None and r["relative"] != 1.0:
                note += (
                    f"; {r['relative']:.3f}x the role's default, measured right after it in each of "
                    f"{len(r['rounds'])} rounds (its own rates {r['rounds']}), times the default's median"
                )
            elif len(r.get("rounds", [])) > 1:
                note += f"; median of {len(r['rounds'])} rounds {r['rounds']}"
            costs[model_id] = ModelCost(
                model_id, r["rate"], r["unit"], r.get("ceiling"), today, r["load"], cores, shape, note,
                relative=r.get("relative"),
            )  # fmt: skip
        header = (
            "Indexing cost per model on the machine it was measured on (engine.models.costs).\n"
            "Written by bench/bench_models.py --write: random weights of each model's real shape."
        )
        COSTS_FILE.write_text(dumps(costs, header), encoding="utf-8")
        print(f"wrote {COSTS_FILE}")
    print(json.dumps({"cores": cores, "models": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
