"""``lookalike models check``: are the installed models whole, are they the published files, and do they work?

For each installed model:

1. **Files.** Every file is hashed and compared with the sha256 its manifest recorded at install time (a
   file changed or truncated since), with the pinned size and sha256 (md5 for Zenodo) of
   ``engine/data/model_pins.toml`` (not the published file), and, where nothing is pinned, with what the
   first download or install recorded (``trusted_pins.json``, trust on first use). The result says
   which of the three vouches for the files.
2. **Probes.** The model is loaded from its own folder (whichever model the settings use for its role)
   and run once on built-in inputs: six synthetic pictures and two sentences for an image-text model,
   a 2 s tone for a sound model, two sentences for the text model, a second of silence for Whisper.
   Outputs must be finite, of the model's dimension, unit-length; image and text vectors must share a
   dimension; tag scores must be 527 values in [0, 1].

A broken download shows at once, with the file or the probe that failed. Hashing reads every byte
(about a second for Cnn14's 327 MB here), which is what finding a flipped bit takes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models import pins, registry

if TYPE_CHECKING:
    from engine.library import Library

TRUSTED = "trusted on first use"


@dataclass
class ModelCheck:
    model_id: str
    installed: bool
    problems: list[str] = field(default_factory=list)
    #: What the probe run showed ("256-d, 6 pictures and 2 sentences"), when it ran.
    probe: str = ""
    test_model: bool = False
    #: What vouches for the files: "pinned", "trusted on first use", "recorded at install" (nothing
    #: pinned or recorded: only the manifest), or a mix ("3 pinned, 1 trusted on first use").
    pins: str = ""

    @property
    def ok(self) -> bool:
        return self.installed and not self.problems

    def to_json(self) -> dict:
        return {
            "id": self.model_id,
            "installed": self.installed,
            "ok": self.ok,
            "problems": self.problems,
            "probe": self.probe,
            "pins": self.pins,
            "test_model": self.test_model,
        }

    def lines(self) -> list[str]:
        """The human report: one line when all is well, else a line per problem."""
        note = " (test model with random weights)" if self.test_model else ""
        if self.ok:
            files = f"files {self.pins}" if self.pins else "files verified"
            return [f"{self.model_id}: ok{note} — {files}; {self.probe or 'not run'}"]
        return [f"{self.model_id}: PROBLEM{note}"] + [f"  {p}" for p in self.problems]


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def check_files(models_dir: Path, model_id: str) -> list[str]:
    """Problems with an installed model's files: missing, resized, changed since installed, not the
    pinned file, or not what the first download got."""
    return _check_files(models_dir, model_id)[0]


def _check_files(models_dir: Path, model_id: str) -> tuple[list[str], str]:
    folder = registry.model_dir(models_dir, model_id)
    manifest = registry.read_manifest(folder) or {}
    spec = registry.spec(model_id)
    test_model = bool(manifest.get("test_model"))
    pinned = {f.name: f for f in spec.files}
    first = (pins.trusted(models_dir, model_id) or {}).get("files") or {}
    problems = []
    vouched: dict[str, int] = {}
    for name, info in sorted(manifest.get("files", {}).items()):
        p = folder / name
        if not p.is_file():
            problems.append(f"{name}: missing")
            continue
        size = p.stat().st_size
        if info.get("size") is not None and size != info["size"]:
            problems.append(f"{name}: {size:,} bytes, {info['size']:,} when installed")
            continue
        sha, md5 = _digests(p)
        if info.get("sha256") and sha != info["sha256"]:
            problems.append(f"{name}: changed since it was installed (sha256 {sha}, {info['sha256']} then)")
            continue
        f = pinned.get(name)
        if f is None or test_model:
            continue  # a file of our own (the int8 copy) or a test model: its manifest is what holds
        if f.pinned:
            if f.size is not None and size != f.size:
                problems.append(
                    f"{name}: {size:,} bytes, the pinned file has {f.size:,}: not the published file"
                )
            elif f.sha256 and sha != f.sha256:
                problems.append(f"{name}: sha256 {sha}, pinned {f.sha256}: not the published file")
            elif f.md5 and md5 != f.md5:
                problems.append(f"{name}: md5 {md5}, published {f.md5}: not the published file")
            else:
                vouched["pinned"] = vouched.get("pinned", 0) + 1
        elif (first.get(name) or {}).get("sha256"):
            if sha != first[name]["sha256"]:
                problems.append(
                    f"{name}: sha256 {sha}, not what the first download got ({first[name]['sha256']})"
                )
            else:
                vouched[TRUSTED] = vouched.get(TRUSTED, 0) + 1
        else:
            vouched["recorded at install"] = vouched.get("recorded at install", 0) + 1
    for f in spec.files:
        if f.name not in spec.optional and not (folder / f.name).is_file():
            problems.append(f"{f.name}: missing")
    if test_model:
        summary = "as their manifest recorded"
    elif len(vouched) == 1:
        summary = next(iter(vouched))
    else:
        summary = ", ".join(f"{n} {how}" for how, n in sorted(vouched.items()))
    return sorted(set(problems)), summary


def _unit_rows(x: np.ndarray, dim: int, what: str) -> list[str]:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != dim:
        return [f"{what}: shape {x.shape}, expected (n, {dim})"]
    if not np.isfinite(x).all():
        return [f"{what}: not finite"]
    norms = np.linalg.norm(x, axis=1)
    if not np.allclose(norms, 1.0, atol=1e-3):
        return [f"{what}: not unit length (norms {norms.min():.3f}–{norms.max():.3f})"]
    return []


def _probe_image_text(folder: Path, model_id: str, lib: Library) -> tuple[list[str], str]:
    from engine.models.uform import UFormEncoder, _test_pictures

    enc = UFormEncoder(folder, model_id, "cpu", precision=lib.settings.image_precision)
    pictures = _test_pictures()
    images = enc.encode_images(pictures)
    texts = enc.encode_texts(["a photo of a dog on a beach", "a red car"])
    problems = _unit_rows(images, enc.dim, "image vectors") + _unit_rows(texts, enc.dim, "text vectors")
    if not problems and len(images) != len(pictures):
        problems.append(f"image vectors: {len(images)} for {len(pictures)} pictures")
    return problems, f"{enc.dim}-d, {len(images)} pictures and 2 sentences"


def _probe_audio(folder: Path, model_id: str, lib: Library) -> tuple[list[str], str]:
    from engine.models.panns import CLASSES, PannsEncoder

    enc = PannsEncoder.load(folder, model_id, device="cpu")
    t = np.arange(enc.sample_rate * 2) / enc.sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = enc.encode([tone])
    problems = _unit_rows(out.embeddings, enc.dim, "sound vectors")
    tags = np.asarray(out.tags)
    if tags.shape != (1, CLASSES) or not np.isfinite(tags).all() or tags.min() < 0 or tags.max() > 1:
        problems.append(f"tag scores: shape {tags.shape} or values outside [0, 1]")
    return problems, f"{enc.dim}-d + {CLASSES} tags, a 2 s tone"


def _probe_text(folder: Path, model_id: str, lib: Library) -> tuple[list[str], str]:
    from engine.models.minilm import MiniLMEncoder

    enc = MiniLMEncoder.load(folder, device="cpu")
    out = enc.encode(["a dog barking", "rain on a window"])
    return _unit_rows(out, enc.dim, "text vectors"), f"{enc.dim}-d, 2 sentences"


def _probe_speech(folder: Path, model_id: str, lib: Library) -> tuple[list[str], str]:
    from engine.models.device import inference_threads
    from engine.models.speech import SAMPLE_RATE, WhisperTranscriber

    model = WhisperTranscriber(folder, model_id, device="cpu", threads=inference_threads())
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    model.transcribe(audio, [(0.0, 1.0)], language="en")
    return [], "1 s of audio transcribed"


_PROBES: dict[str, Callable[[Path, str, Any], tuple[list[str], str]]] = {
    "image-text": _probe_image_text,
    "audio": _probe_audio,
    "text": _probe_text,
    "speech": _probe_speech,
}


def check_models(lib: Library, model_ids: list[str] | None = None) -> list[ModelCheck]:
    """Check the given models (default: the ones the settings use). Each is loaded from its own folder,
    so a model the settings do not use yet (before ``models use``) is probed too. Never raises for a
    broken model: its problems are in the result."""
    s = lib.settings
    ids = model_ids or [s.image_text_model, s.audio_model, s.text_model, s.speech_model]
    out = []
    for model_id in ids:
        spec = registry.spec(model_id)
        check = ModelCheck(model_id, registry.is_installed(s.models_dir, model_id))
        if not check.installed:
            check.problems.append(f"not installed (lookalike models download {model_id})")
            out.append(check)
            continue
        check.test_model = registry.is_test_model(s.models_dir, model_id)
        problems, check.pins = _check_files(s.models_dir, model_id)
        check.problems += problems
        if not check.problems and spec.role in _PROBES:
            try:
                folder = registry.require(s.models_dir, model_id)
                problems, check.probe = _PROBES[spec.role](folder, model_id, lib)
                check.problems += problems
            except Exception as exc:  # a model that cannot run is exactly what this check reports
                check.problems.append(f"does not run: {exc.__class__.__name__}: {exc}")
        out.append(check)
    return out
