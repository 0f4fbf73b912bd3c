"""``lookalike models check``: are the installed models whole, and do they work?

For each installed model: every file against the sha256 its manifest recorded at install time (and the
registry's pinned sha256 where one is known), then one run on built-in probes — a few synthetic pictures
and a sentence for the image-text model, a tone for the sound model, a sentence for the text model, a
second of silence for Whisper — checking the outputs are finite, unit-norm and of the right dimension.
A broken download shows at once, with the file or the probe that failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.models import registry
from engine.models.manifest import file_digest

if TYPE_CHECKING:
    from engine.library import Library


@dataclass
class ModelCheck:
    model_id: str
    installed: bool
    problems: list[str] = field(default_factory=list)
    #: What the probe run showed ("256-d, 4 probes"), when it ran.
    probe: str = ""
    test_model: bool = False

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
            "test_model": self.test_model,
        }


def check_files(models_dir: Path, model_id: str) -> list[str]:
    """Problems with an installed model's files: missing, resized, or not the bytes recorded."""
    folder = registry.model_dir(models_dir, model_id)
    manifest = registry.read_manifest(folder) or {}
    spec = registry.spec(model_id)
    pinned = {f.name: f for f in spec.files}
    problems = []
    for name, info in sorted(manifest.get("files", {}).items()):
        p = folder / name
        if not p.is_file():
            problems.append(f"{name}: missing")
            continue
        if info.get("size") is not None and p.stat().st_size != info["size"]:
            problems.append(f"{name}: {p.stat().st_size} bytes, {info['size']} when installed")
            continue
        digest = file_digest(p)
        if info.get("sha256") and digest != info["sha256"]:
            problems.append(f"{name}: changed since it was installed (sha256 differs)")
        f = pinned.get(name)
        if f is not None and f.sha256 and not manifest.get("test_model") and digest != f.sha256:
            problems.append(f"{name}: not the published file (sha256 differs from the pinned one)")
    for f in spec.files:
        if f.name not in spec.optional and not (folder / f.name).is_file():
            problems.append(f"{f.name}: missing")
    return sorted(set(problems))


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


def _probe_image_text(lib: Library) -> tuple[list[str], str]:
    from engine.models.uform import _test_pictures

    enc = lib.image_text_encoder()
    images = enc.encode_images(_test_pictures())
    texts = enc.encode_texts(["a photo of a dog on a beach", "a red car"])
    problems = _unit_rows(images, enc.dim, "image vectors") + _unit_rows(texts, enc.dim, "text vectors")
    return problems, f"{enc.dim}-d, {len(images)} pictures and 2 sentences"


def _probe_audio(lib: Library) -> tuple[list[str], str]:
    enc = lib.audio_encoder()
    t = np.arange(enc.sample_rate * 2) / enc.sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    out = enc.encode([tone])
    problems = _unit_rows(out.embeddings, enc.dim, "sound vectors")
    tags = np.asarray(out.tags)
    if tags.shape != (1, 527) or not np.isfinite(tags).all() or tags.min() < 0 or tags.max() > 1:
        problems.append(f"tag scores: shape {tags.shape} or values outside [0, 1]")
    return problems, f"{enc.dim}-d + 527 tags, a 2 s tone"


def _probe_text(lib: Library) -> tuple[list[str], str]:
    enc = lib.text_encoder()
    out = enc.encode(["a dog barking", "rain on a window"])
    return _unit_rows(out, enc.dim, "text vectors"), f"{enc.dim}-d, 2 sentences"


def _probe_speech(lib: Library) -> tuple[list[str], str]:
    from engine.models.speech import SAMPLE_RATE

    model = lib.speech_model()
    audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
    model.transcribe(audio, [(0.0, 1.0)], language="en")
    return [], "1 s of audio transcribed"


_PROBES: dict[str, Callable[[Library], tuple[list[str], str]]] = {
    "image-text": _probe_image_text,
    "audio": _probe_audio,
    "text": _probe_text,
    "speech": _probe_speech,
}


def check_models(lib: Library, model_ids: list[str] | None = None) -> list[ModelCheck]:
    """Check the given models (default: the ones the settings use). Never raises for a broken model:
    its problems are in the result."""
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
        check.problems += check_files(s.models_dir, model_id)
        if not check.problems and spec.role in _PROBES and _uses(s, spec.role, model_id):
            try:
                problems, check.probe = _PROBES[spec.role](lib)
                check.problems += problems
            except Exception as exc:  # a model that cannot run is exactly what this check reports
                check.problems.append(f"does not run: {exc.__class__.__name__}: {exc}")
        out.append(check)
    return out


def _uses(settings: Any, role: str, model_id: str) -> bool:
    """Probes load through the library, which loads the model the settings name for each role."""
    current = {
        "image-text": settings.image_text_model,
        "audio": settings.audio_model,
        "text": settings.text_model,
        "speech": settings.speech_model,
    }
    return current.get(role) == model_id
