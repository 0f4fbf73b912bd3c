"""Text → sound through AudioSet tags: which of PANNs' 527 classes a text query names, and how strongly.

PANNs gives every sound (or sound segment) 527 scores in [0, 1], one per AudioSet class. The class
names ("Bark", "Baby cry, infant cry", "Rain on surface", …) are embedded once with MiniLM; a query is
embedded with the same model and compared with them. :meth:`TagMatcher.query_weights` turns the
similarities into a weight vector ``w`` over the classes, and a sound's score for the query is simply

    score = tags @ w            (see :func:`score_sounds`)

How the score is made comparable to photo and video scores
-----------------------------------------------------------
``w`` is the softmax (temperature 0.1) of the similarities of the few best-matching classes (at most
``top_k``, within 0.2 of the best, above a floor of 0.45), multiplied by a *match confidence*
``c = clip((best − 0.45) / (0.8 − 0.45), 0, 1)``. So ``w`` sums to ``c`` and the score lies in
``[0, c] ⊆ [0, 1]``, and it reads as "how sure PANNs is that the sound contains what the words name,
discounted by how surely the words name an AudioSet class". A query that names no sound ("hello",
"quantum chromodynamics") gets ``c`` near 0, and every sound then scores near 0.

That is a probability-like number, not a cosine: photo/video scores (UForm cosines, typically 0.2–0.35
for a good match) are on another scale. Merging the two lists needs the image score mapped to [0, 1]
as well (a logistic fit on labelled data, once real image weights can be measured); until then the
honest merge is by rank within each kind. The floor and ceiling above were set by looking at
all-MiniLM-L6-v2's similarities for everyday queries (a good match scores 0.6–1.0 against its class
name, an unrelated word 0.2–0.55); they are constants here, not fitted.

Class names: AudioSet ontology, Google, CC BY 4.0 (engine/data/class_labels_indices.csv).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from engine.models.base import TextEncoder, l2_normalize

log = logging.getLogger(__name__)

#: Similarity below which a class is not considered named by the query.
FLOOR = 0.45
#: Similarity at which the query surely names the class (confidence 1).
CEILING = 0.8
#: Classes within this much of the best one share the weight.
MARGIN = 0.2
#: Softmax temperature over the selected classes' similarities.
TEMPERATURE = 0.1
#: Bump when the way names are embedded changes, so old caches are not reused.
_CACHE_VERSION = 1

_memory: dict[str, np.ndarray] = {}
_memory_lock = threading.Lock()


@lru_cache(maxsize=1)
def _labels_csv() -> bytes:
    return (resources.files("engine") / "data" / "class_labels_indices.csv").read_bytes()


@lru_cache(maxsize=1)
def class_names() -> tuple[str, ...]:
    """The 527 AudioSet display names, in PANNs' output order (row ``index`` = output ``index``)."""
    rows = list(csv.DictReader(io.StringIO(_labels_csv().decode("utf-8"))))
    names = [""] * len(rows)
    for row in rows:
        names[int(row["index"])] = row["display_name"]
    return tuple(names)


class TagMatcher:
    """Matches text queries to AudioSet classes with a sentence encoder.

    The class-name embeddings are computed once per model: kept in memory (shared by all matchers in the
    process) and, when ``cache_dir`` is given and the encoder has a ``fingerprint`` (MiniLMEncoder
    does), saved there as ``.npy``, keyed by the model's fingerprint and the label file, so a new model
    or new labels recompute them. A cache file that cannot be read or written is ignored (logged).
    """

    def __init__(self, text_encoder: TextEncoder, cache_dir: Path | None = None) -> None:
        self.encoder = text_encoder
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.names = class_names()
        fingerprint = getattr(text_encoder, "fingerprint", None)
        labels = hashlib.sha256(_labels_csv()).hexdigest()[:12]
        self._key = f"{text_encoder.model_id}-{fingerprint or 'unknown'}-{labels}-v{_CACHE_VERSION}"
        self._persist = fingerprint is not None
        self._embeddings: np.ndarray | None = None
        self._lock = threading.Lock()

    @property
    def class_embeddings(self) -> np.ndarray:
        """(527, dim) unit vectors of the class names, computed or loaded on first use."""
        if self._embeddings is None:
            with self._lock:
                if self._embeddings is None:
                    self._embeddings = self._load_or_compute()
        return self._embeddings

    def _cache_file(self) -> Path | None:
        if self.cache_dir is None or not self._persist:
            return None
        return self.cache_dir / f"audioset-names-{self._key}.npy"

    def _load_or_compute(self) -> np.ndarray:
        with _memory_lock:
            cached = _memory.get(self._key)
        if cached is not None:
            return cached
        shape = (len(self.names), self.encoder.dim)
        path = self._cache_file()
        emb = None
        if path is not None and path.is_file():
            try:
                emb = np.load(path, allow_pickle=False)
                if emb.shape != shape or emb.dtype != np.float32:
                    log.info("ignoring %s: shape %s, expected %s", path, emb.shape, shape)
                    emb = None
            except (OSError, ValueError) as e:
                log.warning("ignoring unreadable tag cache %s: %s", path, e)
                emb = None
        if emb is None:
            emb = l2_normalize(self.encoder.encode(list(self.names)))
            if path is not None:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(f".{os.getpid()}.tmp")
                    with open(tmp, "wb") as f:
                        np.save(f, emb, allow_pickle=False)
                    os.replace(tmp, path)  # atomic: a reader never sees half a file
                except OSError as e:
                    log.warning("could not save the tag cache %s: %s", path, e)
        with _memory_lock:
            _memory[self._key] = emb
        return emb

    def similarities(self, query: str) -> np.ndarray:
        """(527,) cosine similarity of the query to each class name."""
        q = l2_normalize(self.encoder.encode([query]))[0]
        return self.class_embeddings @ q

    def match(self, query: str, top_k: int = 5) -> list[tuple[int, str, float]]:
        """The ``top_k`` classes most similar to the query: (class index, name, similarity), best first."""
        sims = self.similarities(query)
        top = np.argsort(-sims, kind="stable")[:top_k]
        return [(int(i), self.names[i], float(sims[i])) for i in top]

    def query_weights(self, query: str, top_k: int = 5) -> np.ndarray:
        """(527,) float32 weights over the classes for ranking sounds by ``tags @ weights``.

        Non-zero only for the at most ``top_k`` best classes that are above FLOOR and within MARGIN of
        the best; they sum to the match confidence in [0, 1] (see the module docstring). All zeros when
        the query names no sound class.
        """
        return weights_from_similarities(self.similarities(query), top_k=top_k)


def weights_from_similarities(sims: np.ndarray, top_k: int = 5) -> np.ndarray:
    """The weighting of :meth:`TagMatcher.query_weights`, from precomputed similarities."""
    sims = np.asarray(sims, dtype=np.float64)
    w = np.zeros(sims.shape, dtype=np.float32)
    best = float(sims.max()) if sims.size else 0.0
    confidence = min(1.0, max(0.0, (best - FLOOR) / (CEILING - FLOOR)))
    if confidence <= 0.0:
        return w
    top = np.argsort(-sims, kind="stable")[:top_k]
    sel = top[(sims[top] >= FLOOR) & (sims[top] >= best - MARGIN)]
    z = np.exp((sims[sel] - best) / TEMPERATURE)  # shifted by the best for numerical safety
    w[sel] = (confidence * z / z.sum()).astype(np.float32)
    return w


def score_sounds(tags: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] of sounds with ``tags`` (n, 527) for a query's ``weights`` (527,)."""
    return np.clip(np.asarray(tags, dtype=np.float32) @ np.asarray(weights, dtype=np.float32), 0.0, 1.0)
