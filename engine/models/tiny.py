"""Tiny random-weight models in the real file formats, for tests, benchmarks and trying the plumbing.

``python -m engine.models.tiny DEST`` writes one folder per known model under DEST
(``DEST/<model_id>/``), each loadable by the same code as the real model and accepted by
``lookalike models install --from DEST``. Their manifests say ``"test_model": true`` so the app and
``lookalike status`` can say that results are not meaningful.

Random weights still map an image and its resized or recompressed copy close together, so the
find-similar plumbing is testable; semantic quality is not.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.models.manifest import write_manifest
from engine.models.tiny_variants import VARIANT_DIMS, write_multilingual_tokenizer

UFORM_ID = "uform3-image-text-english-small"

_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "at",
    "and",
    "with",
    "red",
    "green",
    "blue",
    "yellow",
    "black",
    "white",
    "car",
    "dog",
    "cat",
    "beach",
    "sunset",
    "photo",
    "picture",
    "person",
    "people",
    "tree",
    "house",
    "sky",
    "water",
    "bird",
    "flower",
    "food",
    "cake",
    "party",
    "street",
    "night",
    "day",
]


def _write_tokenizer(path: Path, max_len: int) -> int:
    """A small BERT-style WordPiece tokenizer.json; returns its vocabulary size."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece

    vocab: dict[str, int] = {}
    for special in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]:
        vocab[special] = len(vocab)
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789":
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault("##" + ch, len(vocab))
    for w in _WORDS:
        vocab.setdefault(w, len(vocab))
    tok: Tokenizer = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    tok.decoder = decoders.WordPiece()
    tok.enable_truncation(max_length=max_len)
    tok.save(str(path))
    return len(vocab)


#: The published UForm3 image-text English small image tower (ViT-S/16 at 224 px, 256-d output): random
#: weights in this shape cost exactly what the real model costs, which is what the benchmarks need.
FULL_SIZE_IMAGE: dict[str, Any] = {
    "dim": 384,
    "patch_size": 16,
    "image_size": 224,
    "num_layers": 12,
    "num_heads": 6,
    "embedding_dim": 256,
}


def write_tiny_uform(
    folder: Path,
    *,
    image_size: int = 64,
    embedding_dim: int = 64,
    seed: int = 0,
    image_overrides: dict | None = None,
    model_id: str = UFORM_ID,
    tokenizer: Callable[[Path, int], tuple[int, int]] | None = None,
) -> Path:
    """Write a tiny UForm model (config.json, tokenizer.json, image/text encoders as ONNX) to ``folder``.

    Built from uform's own torch modules with random weights and exported with the input and output
    names of the published ONNX files, so :class:`engine.models.uform.UFormEncoder` loads it unchanged.
    ``image_overrides=FULL_SIZE_IMAGE`` gives the real model's image tower shape (for benchmarks).
    ``model_id`` names it in its manifest (another UForm3 variant); ``tokenizer(path, max_len)`` writes
    another tokenizer.json and returns (vocabulary size, padding id) (the multilingual variant's
    SentencePiece-style one, engine.models.tiny_variants). Needs torch and onnx (the ``dev`` extra).
    """
    import torch
    from uform.torch_encoders import ImageEncoder, TextEncoder

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    max_len = 32
    if tokenizer is None:
        vocab_size, padding_idx = _write_tokenizer(folder / "tokenizer.json", max_len), 0
    else:
        vocab_size, padding_idx = tokenizer(folder / "tokenizer.json", max_len)
    image_cfg: dict[str, Any] = {
        "dim": 64,
        "patch_size": 8,
        "image_size": image_size,
        "num_layers": 2,
        "num_heads": 4,
        "embedding_dim": embedding_dim,
        # Mean pooling: with random weights the CLS token barely sees the image, the patches do.
        "pooling": "mean",
        "num_reg_tokens": 0,
        "normalization_means": [0.48145466, 0.4578275, 0.40821073],
        "normalization_deviations": [0.26862954, 0.26130258, 0.27577711],
    }
    image_cfg.update(image_overrides or {})
    image_size = int(image_cfg["image_size"])
    embedding_dim = int(image_cfg["embedding_dim"])
    text_cfg = {
        "model_type": "bert",
        "dim": 64,
        "context_dim": 64,
        "vocab_size": vocab_size,
        "padding_idx": padding_idx,
        "num_layers": 2,
        "num_heads": 4,
        "embedding_dim": embedding_dim,
        "multimodal_layers_ids": [],
        "head_one_neuron": False,
        "pooling": "mean",
        "max_position_embeddings": max_len,
    }
    (folder / "config.json").write_text(
        json.dumps({"text_encoder": text_cfg, "image_encoder": image_cfg}, indent=2), encoding="utf-8"
    )

    image = ImageEncoder(**{k: v for k, v in image_cfg.items() if k in ImageEncoder.__dataclass_fields__})
    text = TextEncoder(**{k: v for k, v in text_cfg.items() if k in TextEncoder.__dataclass_fields__})
    with torch.no_grad():
        for m in (image, text):
            for name, p in m.named_parameters():
                if name.endswith("gamma"):  # LayerScale starts near zero; let the blocks contribute
                    p.fill_(1.0)
    image.eval()
    text.eval()

    class _Image(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = image

        def forward(self, images):  # noqa: ANN001 - traced by torch.onnx
            features = self.enc.forward_features(images)
            return features, self.enc.forward_embedding(features)

    class _Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = text

        def forward(self, input_ids, attention_mask):  # noqa: ANN001 - traced by torch.onnx
            features = self.enc.forward_features(input_ids.long(), attention_mask)
            return features, self.enc.forward_embedding(features, attention_mask)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Image(),
            (torch.randn(2, 3, image_size, image_size),),
            str(folder / "image_encoder.onnx"),
            input_names=["images"],
            output_names=["features", "embeddings"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}, "embeddings": {0: "batch"}},
            dynamo=False,
        )
        ids = torch.zeros(2, max_len, dtype=torch.int32)
        mask = torch.ones(2, max_len, dtype=torch.int32)
        torch.onnx.export(
            _Text(),
            (ids, mask),
            str(folder / "text_encoder.onnx"),
            input_names=["input_ids", "attention_mask"],
            output_names=["features", "embeddings"],
            dynamic_axes={
                "input_ids": {0: "batch"},
                "attention_mask": {0: "batch"},
                "features": {0: "batch"},
                "embeddings": {0: "batch"},
            },
            dynamo=False,
        )
    write_manifest(folder, model_id, source="engine.models.tiny (random weights)", test_model=True)
    return folder


def write_tiny_uform_variant(folder: Path, model_id: str, *, seed: int = 1) -> Path:
    """Write the tiny stand-in for ``model_id`` (a key of :data:`engine.models.tiny_variants.VARIANT_DIMS`:
    its own embedding size; the multilingual one with a SentencePiece-style tokenizer) to ``folder``."""
    if model_id not in VARIANT_DIMS:
        raise ValueError(f"No tiny UForm variant for {model_id}")
    tokenizer = write_multilingual_tokenizer if "multilingual" in model_id else None
    return write_tiny_uform(
        folder,
        embedding_dim=VARIANT_DIMS[model_id],
        seed=seed + sorted(VARIANT_DIMS).index(model_id),
        model_id=model_id,
        tokenizer=tokenizer,
    )


def write_tiny_models(dest: Path, model_ids: list[str] | None = None) -> list[Path]:
    """Write tiny versions of the given models (all known ones by default) under ``dest/<model_id>/``."""
    from engine.models.registry import MODELS

    written = []
    for model_id in model_ids or list(MODELS):
        folder = dest / model_id
        if folder.exists():
            shutil.rmtree(folder)
        if model_id == UFORM_ID:
            write_tiny_uform(folder)
        elif model_id.startswith("uform3-"):
            write_tiny_uform_variant(folder, model_id)
        elif model_id.startswith("panns-"):
            from engine.models.tiny_audio import write_tiny_panns

            write_tiny_panns(folder, model_id)
        elif model_id == "all-minilm-l6-v2":
            from engine.models.tiny_audio import write_tiny_minilm

            write_tiny_minilm(folder)
        elif model_id.startswith("whisper-"):
            from engine.models.tiny_whisper import write_tiny_whisper

            write_tiny_whisper(folder, model_id)
        else:  # pragma: no cover - a new registry entry without a tiny writer
            raise ValueError(f"No tiny writer for {model_id}")
        written.append(folder)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.models.tiny", description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path, help="folder to write <model_id>/ subfolders into")
    ap.add_argument("models", nargs="*", help="model ids (default: all)")
    args = ap.parse_args(argv)
    for folder in write_tiny_models(args.dest, args.models or None):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
