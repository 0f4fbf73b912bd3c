"""``lookalike models install --from`` takes the folders people already have (issue 15): a Hugging Face
cache (``models--owner--name/snapshots/<rev>/``, files as symlinks into ``blobs/``), a folder named
like the Hub repository in any case, and PANNs ``.pth`` files lying loose as Zenodo serves them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.models import fetch, registry
from engine.models.tiny import UFORM_ID


def hf_cache(root: Path, repo: str, files_from: Path, rev: str = "0123abcd" * 5) -> Path:
    """A Hugging Face hub cache entry as huggingface_hub writes it: blobs by hash, a snapshot of links."""
    owner, name = repo.split("/")
    entry = root / f"models--{owner}--{name}"
    (entry / "blobs").mkdir(parents=True)
    snap = entry / "snapshots" / rev
    snap.mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(rev)
    for f in files_from.iterdir():
        blob = entry / "blobs" / fetch.sha256_of(f)
        shutil.copyfile(f, blob)
        os.symlink(os.path.relpath(blob, snap), snap / f.name)
    return entry


def test_install_from_a_hugging_face_cache(tiny_models: Path, tmp_path: Path, capsys) -> None:
    cache = tmp_path / ".cache" / "huggingface"
    hf_cache(cache / "hub", "unum-cloud/uform3-image-text-english-small", tiny_models / UFORM_ID)
    mdir = tmp_path / "models"
    # The cache root, its hub folder, and the repository's own entry all work.
    for src in (cache, cache / "hub", cache / "hub" / "models--unum-cloud--uform3-image-text-english-small"):
        shutil.rmtree(mdir, ignore_errors=True)
        assert fetch.install_from(mdir, src, [UFORM_ID]) == [UFORM_ID]
        folder = registry.require(mdir, UFORM_ID)
        assert not (folder / "image_encoder.onnx").is_symlink()  # copied, not linked into the cache


def test_install_from_a_folder_named_like_the_repository(tiny_models: Path, tmp_path: Path) -> None:
    src = tmp_path / "downloads"
    shutil.copytree(tiny_models / "all-minilm-l6-v2", src / "all-MiniLM-L6-v2")
    shutil.copytree(tiny_models / UFORM_ID, src / "UForm3-Image-Text-English-Small")
    installed = fetch.install_from(tmp_path / "models", src)
    assert set(installed) >= {"all-minilm-l6-v2", UFORM_ID}


def test_install_loose_panns_checkpoint_from_the_cli(
    tiny_models: Path, tmp_path: Path, bare_home, capsys
) -> None:
    src = tmp_path / "zenodo"
    src.mkdir()
    for f in (tiny_models / "panns-mobilenetv1").iterdir():
        shutil.copyfile(f, src / f.name)
    assert main(["models", "install", "--from", str(src), "panns-mobilenetv1"]) == 0
    assert "panns-mobilenetv1: installed" in capsys.readouterr().out


def test_a_cache_without_the_model_says_what_it_looked_for(tmp_path: Path) -> None:
    (tmp_path / "hub" / "models--someone--else" / "snapshots" / "x").mkdir(parents=True)
    with pytest.raises(Exception, match="Hugging Face"):
        fetch.install_from(tmp_path / "models", tmp_path)
