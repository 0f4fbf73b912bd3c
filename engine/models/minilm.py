"""all-MiniLM-L6-v2 sentence embeddings (384-d) through transformers: mean pooling, L2 normalisation.

The same recipe as sentence-transformers' model card for this model (Transformer → mean pooling over
the attention mask → Normalize), without depending on sentence-transformers. Used for text-to-text
matching: AudioSet class names for text→sound (see :mod:`engine.search.sound_tags`), file names, OCR text.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelFileError

MODEL_ID = "all-minilm-l6-v2"
#: sentence-transformers truncates this model's inputs at 256 tokens (sentence_bert_config.json).
DEFAULT_MAX_TOKENS = 256


def _fingerprint(folder: Path) -> str:
    """A short hash that changes when the model's files change: the manifest's sha256 when the model was
    installed by the engine; otherwise the config and the weights' names and sizes (cheap, no reading
    of 90 MB of weights)."""
    h = hashlib.sha256()
    manifest = folder / "manifest.json"
    if manifest.is_file():
        h.update(manifest.read_bytes())
    else:
        for p in sorted(folder.iterdir()):
            if p.is_file():
                h.update(f"{p.name}:{p.stat().st_size};".encode())
        config = folder / "config.json"
        if config.is_file():
            h.update(config.read_bytes())
    return h.hexdigest()[:16]


class MiniLMEncoder:
    """A BERT-style sentence encoder (implements engine.models.base.TextEncoder)."""

    def __init__(self, tokenizer: Any, model: Any, device: str, max_tokens: int, fingerprint: str):
        self.model_id = MODEL_ID
        self.dim = int(model.config.hidden_size)
        self.device = device
        self.max_tokens = max_tokens
        #: Changes when the model's files change; caches of its embeddings are keyed by it.
        self.fingerprint = fingerprint
        self._tokenizer = tokenizer
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls, folder: Path, device: str = "cpu") -> MiniLMEncoder:
        """Load a sentence-transformers-layout folder (config.json, model.safetensors, tokenizer files).

        Never touches the network (``local_files_only``). Raises ModelFileError when the folder does not
        hold a loadable BERT model and tokenizer.
        """
        from transformers import AutoModel, AutoTokenizer

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise ModelFileError(f"{folder} holds no config.json: not a sentence-transformers model folder")
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = AutoModel.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            msg = " ".join(str(e).split())[:300]
            raise ModelFileError(f"Cannot load the text model in {folder}: {msg}") from e
        model.eval().requires_grad_(False).to(device)
        max_tokens = DEFAULT_MAX_TOKENS
        try:
            st = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
            max_tokens = int(st.get("max_seq_length", max_tokens))
        except (OSError, ValueError):
            pass
        max_tokens = min(max_tokens, int(getattr(model.config, "max_position_embeddings", max_tokens)))
        return cls(tokenizer, model, device, max_tokens, _fingerprint(folder))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts`` as an ``(n, dim)`` float32 array of unit vectors, in the order given.

        Texts are sorted by length before batching, so each batch pads little, and put back in order
        after. Texts longer than ``max_tokens`` tokens are truncated. An empty text gets the embedding
        of the bare [CLS] [SEP] sequence (a valid, meaningless vector).
        """
        import torch

        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        order = sorted(range(n), key=lambda i: len(texts[i]), reverse=True)
        with self._lock, torch.inference_mode():
            for b in range(0, n, batch_size):
                idx = order[b : b + batch_size]
                enc = self._tokenizer(
                    [str(texts[i]) for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                # Mean over real tokens only: padding must not change a text's embedding.
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[idx] = pooled.float().cpu().numpy()
        return out
