"""Where good vector matches stop: each query's scores judged against its own score distribution.

A fixed cosine floor fails (Immich #5996: 0.91 relevant in one query, 0.93 irrelevant in another; ours
was 0.10 and cut nothing). What does hold across queries is that a query that really names something
in the library lifts those files *out of the bulk of its own scores*, while a query that names nothing
leaves every file inside it. So for each query:

1. Score a fixed random sample of the library (:class:`LibrarySample`, up to 1,024 files kept in
   memory, best vector per file as the search itself does): a few hundred µs of numpy.
2. Fit the bulk: centre = median, scale = (95th percentile − median) / 1.645 × :data:`SCALE_MARGIN`,
   a normal fitted to the upper half, where the decision is made (robust: matches that make up < 5 %
   of the library barely move it, where a fit to the 90th-99th percentiles lost every planted match
   at 1k files).
3. Give each hit a p-value under that null, ``p = 1 − Φ((s − centre) / scale)``, and keep the hits the
   Benjamini–Hochberg step keeps at false-discovery rate :data:`FDR`: with hits sorted best first, the
   k-th is good when ``p_k ≤ FDR · k / N`` for it or any later k (N = files searched). Among the good
   results at most ~FDR are expected to be noise, and a query that matches nothing gives no good
   result with probability ≥ 1 − FDR, whatever the library size: the bar for the single best of 100k
   files (z ≈ 4.9) is higher than for the best of 100 (z ≈ 3.3), because the best of many noise
   scores is itself high. That is what a fixed z (or cosine) threshold gets wrong.

Measured on synthetic score sets (bench/bench_fusion.py --cutoff, docs/benchmarks.md): with normal
bulks, pure-noise queries get a "good" result in < 1 % of trials at 1k-100k files, and a planted group
of 40 true matches 6σ above the bulk is kept whole. The limit, measured too: bulks with a heavier tail
than a normal (Student t with 10 degrees of freedom, a skewed gamma) are misjudged at 100k files (most
noise queries then show a few "good" results). Text→image cosines of CLIP-like models are close to
normal, but no real UForm weights were at hand to check ours: re-measure with them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine.library import Library

#: Files scored per query to estimate its score distribution.
SAMPLE_FILES = 1024
#: Vectors at most in a sample (long videos have hundreds of moment vectors).
SAMPLE_VECTORS = 16_384
#: Benjamini–Hochberg false-discovery rate for "good".
FDR = 0.05
#: Fewer sampled files than this: the distribution cannot be told from a handful of scores, so no vector
#: hit is called good (lexical hits still are).
MIN_SAMPLE = 20
#: The fitted scale is widened by this much: a 1,024-file sample misjudges the scale by a few percent,
#: which at z ≈ 5 multiplies tail probabilities several times (measured: 8-11 % of pure-noise queries
#: got a "good" result with 1.0, under 1 % with 1.1, with no loss on planted matches; docs/benchmarks.md).
SCALE_MARGIN = 1.1
#: How long a large library's sample is trusted before its size is checked again (seconds).
RECHECK_S = 30.0
_lock = threading.Lock()


@dataclass
class LibrarySample:
    """Vectors of a random sample of files of some kinds in one collection, with each vector's file."""

    file_ids: np.ndarray  # (n,) file id per vector
    kinds: np.ndarray  # (n,) the file's catalog kind per vector ("photo", "video", "sound")
    vectors: np.ndarray  # (n, dim)
    n_files: int  # files of those kinds in the library when it was taken
    taken_at: float

    def best_per_file(self, query: np.ndarray, kinds: Sequence[str] | None = None) -> np.ndarray:
        """The best score of each sampled file for ``query`` (only files of ``kinds`` when given)."""
        if len(self.file_ids) == 0:
            return np.zeros(0, dtype=np.float32)
        mask = np.ones(len(self.file_ids), bool) if not kinds else np.isin(self.kinds, list(kinds))
        if not mask.any():
            return np.zeros(0, dtype=np.float32)
        ids = self.file_ids[mask]
        scores = self.vectors[mask] @ np.asarray(query, dtype=np.float32)
        order = np.argsort(ids, kind="stable")
        ids, scores = ids[order], scores[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        return np.maximum.reduceat(scores, starts)


def _indexed_count(lib: Library, file_kinds: Sequence[str]) -> int:
    marks = ",".join("?" * len(file_kinds))
    rows = lib.catalog.query(
        f"SELECT COUNT(*) FROM files WHERE state='indexed' AND kind IN ({marks})", list(file_kinds)
    )
    return int(rows[0][0])


def library_sample(lib: Library, collection: str, file_kinds: Sequence[str]) -> LibrarySample:
    """The in-memory sample of ``collection`` over files of ``file_kinds``, taken again when the
    library's size changed by more than 10 % (small libraries: at any change). Raises StoreError."""
    key = f"search_sample:{collection}:{','.join(sorted(file_kinds))}"
    now = time.monotonic()
    with _lock:
        cached: LibrarySample | None = lib.memo.get(key)
    if cached is not None and cached.n_files > SAMPLE_FILES and now - cached.taken_at < RECHECK_S:
        return cached
    n = _indexed_count(lib, file_kinds)
    if cached is not None:
        small = max(n, cached.n_files) <= SAMPLE_FILES
        if (n == cached.n_files) if small else abs(n - cached.n_files) <= 0.1 * cached.n_files:
            cached.taken_at = now
            return cached
    marks = ",".join("?" * len(file_kinds))
    rows = lib.catalog.query(
        f"SELECT id, kind FROM files WHERE state='indexed' AND kind IN ({marks}) ORDER BY random() LIMIT ?",
        [*file_kinds, SAMPLE_FILES],
    )
    kind_of = {int(i): k for i, k in rows}
    if rows and lib.store.has_collection(collection):
        ids, vecs = lib.store.get_vectors_many(collection, list(kind_of))
    else:
        ids, vecs = np.zeros(0, dtype=np.int64), np.zeros((0, 1), dtype=np.float32)
    if len(ids) > SAMPLE_VECTORS:  # keep whole files: drop the files of a random surplus of vectors
        rng = np.random.default_rng(0)
        keep_files = set(rng.permutation(np.unique(ids))[: max(1, SAMPLE_FILES // 2)].tolist())
        keep = np.array([int(i) in keep_files for i in ids])
        ids, vecs = ids[keep][:SAMPLE_VECTORS], vecs[keep][:SAMPLE_VECTORS]
    kinds = np.array([kind_of.get(int(i), "") for i in ids], dtype=object)
    sample = LibrarySample(ids.astype(np.int64), kinds, vecs.astype(np.float32), n, now)
    with _lock:
        lib.memo[key] = sample
    return sample


@dataclass(frozen=True)
class Null:
    """The bulk of one query's scores: centre and scale of the fitted normal, and the library size."""

    centre: float
    scale: float
    n_files: int

    def z(self, score: float) -> float:
        return (score - self.centre) / self.scale


def fit_null(sample_scores: np.ndarray, n_files: int) -> Null | None:
    """Fit the bulk of a query's scores (module docstring, step 2); None when there are too few."""
    s = np.asarray(sample_scores, dtype=np.float64)
    if len(s) < MIN_SAMPLE:
        return None
    centre = float(np.median(s))
    scale = (float(np.quantile(s, 0.95)) - centre) / 1.645
    if not math.isfinite(scale) or scale <= 1e-9:  # all equal: nothing stands out of nothing
        scale = max(float(np.std(s)), 1e-6)
    return Null(centre, scale * SCALE_MARGIN, max(int(n_files), len(s)))


def p_value(z: float) -> float:
    """One-sided normal tail probability P(Z ≥ z)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def good_count(scores_best_first: Sequence[float], null: Null | None, *, fdr: float = FDR) -> int:
    """How many of the top hits (sorted best first, the library's top-k) are good: Benjamini–Hochberg
    at ``fdr`` over the library's ``null.n_files`` files (module docstring, step 3). 0 without a null."""
    if null is None:
        return 0
    k_good = 0
    for k, s in enumerate(scores_best_first, start=1):
        if p_value(null.z(float(s))) <= fdr * k / null.n_files:
            k_good = k
    return k_good
