"""Known models: where their files come from, their sizes and checksums, and where they are cached.

A model lives in ``<models_dir>/<model_id>/`` with its files and a ``manifest.json`` written when it was
downloaded or installed (file sizes and sha256, where it came from, and whether it is a random-weight test
model). Nothing here touches the network; :mod:`engine.models.fetch` does, and only when asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import ModelFileError, ModelMissingError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class ModelFile:
    name: str
    #: Where the file comes from: "hf://<repo>/<path>" or an https URL.
    source: str
    #: Bytes: exact when a checksum is pinned too, otherwise only what the publisher lists (approximate).
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    #: The commit (Hugging Face Hub) or record (Zenodo) the file is pinned to; None while unknown, when a
    #: download follows the branch and records what it got (trust on first use, engine.models.pins).
    #: Pins are filled in from engine/data/model_pins.toml, see :func:`engine.models.pins.apply`.
    revision: str | None = None

    @property
    def pinned(self) -> bool:
        """Whether the exact bytes are known (a checksum), so a download can be refused."""
        return self.sha256 is not None or self.md5 is not None


@dataclass(frozen=True)
class ModelSpec:
    id: str
    #: "image-text", "audio", "text" or "speech".
    role: str
    title: str
    files: tuple[ModelFile, ...]
    #: Files that may be absent (e.g. the torch weights when the ONNX ones are used).
    optional: tuple[str, ...] = field(default_factory=tuple)
    #: Parameters in millions as the publisher lists them (what a switch's cost estimate scales by).
    params_m: float | None = None
    #: Languages its text side understands (English names); empty when text is not its input.
    languages: tuple[str, ...] = ()
    #: The model a new library uses for its role.
    default: bool = False

    @property
    def download_size(self) -> int | None:
        sizes = [f.size for f in self.files if f.name not in self.optional]
        return None if any(s is None for s in sizes) else sum(s for s in sizes if s)


_UFORM = "hf://unum-cloud/uform3-image-text-english-small"
#: The languages of UForm3 multilingual base, as unum-cloud/uform's benchmarks list them.
UFORM_MULTILINGUAL_LANGUAGES = (
    "Arabic", "Armenian", "Chinese", "English", "French", "German", "Hebrew", "Hindi", "Indonesian",
    "Italian", "Japanese", "Korean", "Persian", "Polish", "Portuguese", "Russian", "Spanish", "Thai",
    "Turkish", "Ukrainian", "Vietnamese",
)  # fmt: skip
_MINILM = "hf://sentence-transformers/all-MiniLM-L6-v2"
_ZENODO = "https://zenodo.org/records/3987831/files"

MODELS: dict[str, ModelSpec] = {
    spec.id: spec
    for spec in (
        ModelSpec(
            id="uform3-image-text-english-small",
            role="image-text",
            title="UForm3 image-text English small (images, video frames, text queries; 256-d)",
            files=(
                ModelFile("config.json", f"{_UFORM}/config.json"),
                ModelFile("tokenizer.json", f"{_UFORM}/tokenizer.json"),
                ModelFile("image_encoder.onnx", f"{_UFORM}/image_encoder.onnx", size=22_600_000),
                ModelFile("text_encoder.onnx", f"{_UFORM}/text_encoder.onnx", size=38_000_000),
            ),
            params_m=79,
            languages=("English",),
            default=True,
        ),
        # The larger UForm3 encoders: the same four files, read by the same loader (the embedding size,
        # image size and tokenizer come from each model's config.json and tokenizer.json). Parameters and
        # towers as unum-cloud/uform's README lists them; file sizes are not published there (None: the
        # pins file fills them in).
        *(
            ModelSpec(
                id=f"uform3-image-text-{name}",
                role="image-text",
                title=f"UForm3 image-text {title} (images, video frames, text queries; {towers})",
                files=tuple(
                    ModelFile(f, f"hf://unum-cloud/uform3-image-text-{name}/{f}")
                    for f in ("config.json", "tokenizer.json", "image_encoder.onnx", "text_encoder.onnx")
                ),
                params_m=params,
                languages=langs,
            )
            for name, title, towers, params, langs in (
                ("english-base", "English base", "4-layer BERT, ViT-B/16", 143, ("English",)),
                ("english-large", "English large", "12-layer BERT, ViT-L/14", 365, ("English",)),
                ("multilingual-base", "multilingual base, 21 languages", "12-layer BERT, ViT-B/16", 206,
                 UFORM_MULTILINGUAL_LANGUAGES),
            )
        ),
        ModelSpec(
            id="all-minilm-l6-v2",
            role="text",
            title="all-MiniLM-L6-v2 sentence encoder (text to text: sound tags, names; 384-d)",
            files=(
                ModelFile("config.json", f"{_MINILM}/config.json"),
                ModelFile(
                    "model.safetensors",
                    f"{_MINILM}/model.safetensors",
                    size=90_868_376,
                    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                ),
                ModelFile(
                    "tokenizer.json",
                    f"{_MINILM}/tokenizer.json",
                    sha256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                ),
                ModelFile("tokenizer_config.json", f"{_MINILM}/tokenizer_config.json"),
                ModelFile("vocab.txt", f"{_MINILM}/vocab.txt"),
                ModelFile("special_tokens_map.json", f"{_MINILM}/special_tokens_map.json"),
            ),
            optional=("vocab.txt", "special_tokens_map.json", "tokenizer_config.json"),
            params_m=22.7,
            languages=("English",),
            default=True,
        ),
        ModelSpec(
            id="panns-mobilenetv1",
            role="audio",
            title="PANNs MobileNetV1 (sounds and soundtracks; 1024-d + 527 AudioSet tags)",
            files=(
                ModelFile(
                    "MobileNetV1_mAP=0.389.pth",
                    f"{_ZENODO}/MobileNetV1_mAP%3D0.389.pth?download=1",
                    size=23_639_473,
                    md5="a419303e1c88aa1b9d2ac3811563d371",
                ),
            ),
            params_m=4.8,
            default=True,
        ),
        ModelSpec(
            id="panns-cnn14",
            role="audio",
            title="PANNs Cnn14 (larger, more accurate sound model; 2048-d + 527 AudioSet tags)",
            files=(
                ModelFile(
                    "Cnn14_mAP=0.431.pth",
                    f"{_ZENODO}/Cnn14_mAP%3D0.431.pth?download=1",
                    # As Zenodo serves it (record 3987831).
                    size=327_428_481,
                    md5="541141fa2ee191a88f24a3219fff024e",
                ),
            ),
            params_m=81,
        ),
        *(
            ModelSpec(
                id=f"whisper-{size}",
                role="speech",
                title=f"Whisper {size} (speech to text, 99 languages; CTranslate2 int8 via faster-whisper)",
                files=(
                    ModelFile("config.json", f"hf://Systran/faster-whisper-{size}/config.json"),
                    # Sizes as the Hub lists them (approximate: the exact bytes and sha256 need the Hub).
                    ModelFile(
                        "model.bin", f"hf://Systran/faster-whisper-{size}/model.bin", size=mb * 1_000_000
                    ),
                    ModelFile("tokenizer.json", f"hf://Systran/faster-whisper-{size}/tokenizer.json"),
                    ModelFile("vocabulary.txt", f"hf://Systran/faster-whisper-{size}/vocabulary.txt"),
                    # What CTranslate2's own converter writes instead (a model converted at home, the
                    # tiny test model): listed so that `models install --from` copies it too; the Hub
                    # repository has none, and a missing optional file is skipped on download.
                    ModelFile("vocabulary.json", f"hf://Systran/faster-whisper-{size}/vocabulary.json"),
                ),
                # Either vocabulary is read.
                optional=("vocabulary.txt", "vocabulary.json"),
                params_m=params,
                default=size == "base",
            )
            for size, mb, params in (("tiny", 75, 39), ("base", 145, 74), ("small", 484, 244))
        ),
    )
}


# Pinned revisions, sizes and checksums live apart, in a data file bench/pin_models.py writes.
from engine.models import pins as _pins  # noqa: E402

_pins.apply(MODELS)


def spec(model_id: str) -> ModelSpec:
    """The spec of a known model. Raises ModelMissingError for an unknown id."""
    try:
        return MODELS[model_id]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ModelMissingError(f"Unknown model {model_id!r}; known models: {known}") from None


def for_role(role: str) -> list[ModelSpec]:
    """The known models of one role ("image-text", "audio", "text", "speech"), the default first."""
    return sorted((m for m in MODELS.values() if m.role == role), key=lambda m: not m.default)


def model_dir(models_dir: Path, model_id: str) -> Path:
    return models_dir / model_id


def read_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_installed(models_dir: Path, model_id: str) -> bool:
    folder = model_dir(models_dir, model_id)
    s = spec(model_id)
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    return all((folder / f.name).is_file() for f in s.files if f.name not in s.optional)


def require(models_dir: Path, model_id: str) -> Path:
    """The folder of an installed model.

    Raises ModelMissingError naming the command that fixes it, or ModelFileError when a file's size
    differs from what was recorded when it was installed (a truncated or replaced file).
    """
    s = spec(model_id)
    folder = model_dir(models_dir, model_id)
    if not is_installed(models_dir, model_id):
        raise ModelMissingError(
            f"Model {model_id} ({s.title}) is not installed. Run `lookalike models download {model_id}` "
            f"(needs network once), or `lookalike models install --from DIR` with a folder holding it."
        )
    manifest = read_manifest(folder) or {}
    for name, info in manifest.get("files", {}).items():
        p = folder / name
        if p.exists() and info.get("size") is not None and p.stat().st_size != info["size"]:
            raise ModelFileError(
                f"Model file {p} has {p.stat().st_size} bytes, expected {info['size']}: it is damaged. "
                f"Run `lookalike models download {model_id} --force` or install it again."
            )
    return folder


def is_test_model(models_dir: Path, model_id: str) -> bool:
    """True when the installed model is a random-weight test model (made by engine.models.tiny)."""
    manifest = read_manifest(model_dir(models_dir, model_id)) or {}
    return bool(manifest.get("test_model"))
