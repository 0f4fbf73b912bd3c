"""Shared fixtures: tiny random-weight models (built once per session) and temporary libraries."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_ASSETS = REPO.parent / "shared" / "assets"

# Tests never reach the network; make the Hugging Face libraries agree.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LOOKALIKE_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``<model_id>/`` tiny models, as ``python -m engine.models.tiny`` writes them."""
    from engine.models.tiny import UFORM_ID, write_tiny_models

    dest = tmp_path_factory.mktemp("tiny-models")
    ids = [UFORM_ID]
    try:
        import engine.models.tiny_audio  # noqa: F401

        ids += ["panns-mobilenetv1", "all-minilm-l6-v2"]
    except ImportError:
        pass
    write_tiny_models(dest, ids)
    return dest


@pytest.fixture
def home(tmp_path: Path, tiny_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty library data dir (LOOKALIKE_HOME) with the tiny models installed."""
    h = tmp_path / "home"
    (h / "models").mkdir(parents=True)
    for sub in tiny_models.iterdir():
        shutil.copytree(sub, h / "models" / sub.name)
    monkeypatch.setenv("LOOKALIKE_HOME", str(h))
    return h


@pytest.fixture
def bare_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A library data dir with no models installed."""
    h = tmp_path / "bare-home"
    h.mkdir()
    monkeypatch.setenv("LOOKALIKE_HOME", str(h))
    return h
