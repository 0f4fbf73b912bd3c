"""Text → sound through AudioSet tags: class names, query weights, the embedding cache, real MiniLM."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import engine.search.sound_tags as sound_tags
from engine.models.minilm import MiniLMEncoder
from engine.models.tiny_audio import write_tiny_minilm
from engine.search.sound_tags import (
    CEILING,
    FLOOR,
    TagMatcher,
    class_names,
    score_sounds,
    weights_from_similarities,
)
from tests.engine.test_minilm import REAL_REASON, load_real_minilm

REPO = Path(__file__).resolve().parents[2]


class CountingEncoder:
    """Wraps an encoder and counts the texts it is asked to embed."""

    def __init__(self, inner: MiniLMEncoder, fingerprint: str | None = "keep") -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        if fingerprint is not None:
            self.fingerprint = inner.fingerprint if fingerprint == "keep" else fingerprint
        self.texts = 0

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> MiniLMEncoder:
    return MiniLMEncoder.load(write_tiny_minilm(tmp_path_factory.mktemp("minilm")))


@pytest.fixture(autouse=True)
def empty_memory_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sound_tags, "_memory", {})


def test_class_names_are_the_527_audioset_classes_in_output_order():
    names = class_names()
    assert len(names) == 527
    assert names[0] == "Speech" and names[74] == "Dog" and names[75] == "Bark"
    assert names[23] == "Baby cry, infant cry" and names[526] == "Field recording"
    shipped = REPO / "engine" / "data" / "class_labels_indices.csv"
    with open(shipped, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["display_name"] for r in rows] == list(names)


def test_weights_from_similarities():
    sims = np.full(527, 0.1)
    assert not weights_from_similarities(sims).any()  # names no class: no weight at all
    sims[[10, 11, 12, 13, 14]] = [0.9, 0.85, 0.72, 0.6, 0.5]
    w = weights_from_similarities(sims, top_k=5)
    assert w.dtype == np.float32 and w.shape == (527,)
    assert set(np.flatnonzero(w)) == {10, 11, 12}  # 0.6 and 0.5 are more than 0.2 below the best
    assert w.sum() == pytest.approx(1.0)  # best ≥ CEILING: full confidence
    assert w[10] > w[11] > w[12] > 0
    sims[10], sims[11] = 0.5, 0.45
    sims[12:15] = 0.1
    w = weights_from_similarities(sims)
    assert w.sum() == pytest.approx((0.5 - FLOOR) / (CEILING - FLOOR), rel=1e-5)
    assert set(np.flatnonzero(w)) == {10, 11}
    assert weights_from_similarities(sims, top_k=1).nonzero()[0].tolist() == [10]


def test_score_sounds_ranks_by_the_named_classes():
    w = np.zeros(527, np.float32)
    w[75], w[74] = 0.6, 0.3  # "Bark", "Dog"
    tags = np.full((3, 527), 0.05, np.float32)
    tags[1, 75], tags[1, 74] = 0.9, 0.8  # the barking dog
    tags[2, 0] = 0.99  # speech only
    s = score_sounds(tags, w)
    assert s.argmax() == 1 and ((s >= 0) & (s <= 1)).all()
    assert s[1] == pytest.approx(0.6 * 0.9 + 0.3 * 0.8)


def test_class_embeddings_are_cached_on_disk_per_model(tiny: MiniLMEncoder, tmp_path: Path, monkeypatch):
    cache = tmp_path / "cache"
    first = CountingEncoder(tiny)
    m = TagMatcher(first, cache_dir=cache)
    top = m.match("dog barking", top_k=3)
    assert len(top) == 3 and all(isinstance(i, int) and 0 <= i < 527 for i, _, _ in top)
    assert [s for _, _, s in top] == sorted((s for _, _, s in top), reverse=True)
    assert first.texts == 527 + 1
    files = list(cache.glob("*.npy"))
    assert len(files) == 1 and tiny.fingerprint in files[0].name

    # A new process (empty memory cache) reads the file instead of embedding 527 names again.
    monkeypatch.setattr(sound_tags, "_memory", {})
    second = CountingEncoder(tiny)
    m2 = TagMatcher(second, cache_dir=cache)
    np.testing.assert_array_equal(m2.class_embeddings, m.class_embeddings)
    assert second.texts == 0
    # In the same process, the memory cache serves a third matcher without touching the disk.
    files[0].unlink()
    third = CountingEncoder(tiny)
    TagMatcher(third, cache_dir=cache).class_embeddings  # noqa: B018
    assert third.texts == 0

    # Another model (another fingerprint) recomputes, into its own file.
    monkeypatch.setattr(sound_tags, "_memory", {})
    other = CountingEncoder(tiny, fingerprint="0123456789abcdef")
    TagMatcher(other, cache_dir=cache).class_embeddings  # noqa: B018
    assert other.texts == 527
    assert any("0123456789abcdef" in p.name for p in cache.glob("*.npy"))


def test_damaged_cache_is_recomputed(tiny: MiniLMEncoder, tmp_path: Path, monkeypatch):
    m = TagMatcher(tiny, cache_dir=tmp_path)
    expected = m.class_embeddings.copy()
    (path,) = tmp_path.glob("*.npy")
    path.write_bytes(b"\x93NUMPY garbage")
    monkeypatch.setattr(sound_tags, "_memory", {})
    again = CountingEncoder(tiny)
    np.testing.assert_allclose(TagMatcher(again, cache_dir=tmp_path).class_embeddings, expected, atol=1e-6)
    assert again.texts == 527


def test_encoder_without_fingerprint_is_not_cached_on_disk(tiny: MiniLMEncoder, tmp_path: Path):
    m = TagMatcher(CountingEncoder(tiny, fingerprint=None), cache_dir=tmp_path)
    assert m.class_embeddings.shape == (527, tiny.dim)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def real_matcher(tmp_path_factory: pytest.TempPathFactory) -> TagMatcher:
    encoder = load_real_minilm()
    if encoder is None:
        pytest.skip(REAL_REASON)
    return TagMatcher(encoder, cache_dir=tmp_path_factory.mktemp("tags"))


@pytest.mark.real_weights
@pytest.mark.parametrize(
    ("query", "any_of"),
    [
        ("dog barking", {"Bark", "Dog"}),
        ("a baby crying", {"Baby cry, infant cry"}),
        ("rain on a window", {"Rain on surface", "Rain"}),
    ],
)
def test_real_minilm_finds_the_class(real_matcher: TagMatcher, query: str, any_of: set[str]):
    top3 = [name for _, name, _ in real_matcher.match(query, top_k=3)]
    assert any_of & set(top3), f"{query!r} → {top3}"


@pytest.mark.real_weights
def test_real_minilm_weights(real_matcher: TagMatcher):
    assert real_matcher.match("a baby crying", top_k=1)[0][1] == "Baby cry, infant cry"
    dog = real_matcher.query_weights("dog barking")
    assert class_names()[int(dog.argmax())] == "Bark"
    assert dog.sum() > 0.8  # names a class clearly
    assert real_matcher.query_weights("quantum chromodynamics").sum() == 0.0
    # A sound tagged "Bark" outranks one tagged "Speech" for the query.
    tags = np.full((2, 527), 0.02, np.float32)
    tags[0, 75], tags[1, 0] = 0.9, 0.9
    assert score_sounds(tags, dog).argmax() == 0
