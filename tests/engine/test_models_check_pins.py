"""``models check`` against the pins: the real MiniLM files pass as pinned, a file replaced by other bytes
is "not the published file" even when its manifest was rewritten to match, a first-use record holds an
unpinned file, and a model the settings do not use yet is still run on its probes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli.models_check import check_models
from engine.library import Library
from engine.models import fetch, pins, registry
from engine.models.manifest import write_manifest
from engine.storage.settings import Settings

SHARED_MINILM = Path(__file__).resolve().parents[3] / "shared" / "assets" / "models" / "all-MiniLM-L6-v2"


@pytest.mark.skipif(not SHARED_MINILM.is_dir(), reason=f"real all-MiniLM-L6-v2 not found at {SHARED_MINILM}")
def test_real_files_pass_as_pinned_and_other_bytes_are_not_the_published_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    fetch.install_from(home / "models", SHARED_MINILM.parent, ["all-minilm-l6-v2"])
    with Library(Settings(home=home)) as lib:
        [check] = check_models(lib, ["all-minilm-l6-v2"])
        assert check.ok, check.problems
        assert check.pins == "pinned" and check.probe == "384-d, 2 sentences"
        assert "files pinned" in check.lines()[0]

        folder = home / "models" / "all-minilm-l6-v2"
        config = json.loads((folder / "config.json").read_text())
        config["hidden_dropout_prob"] = 0.2  # still a loadable model, no longer the published file
        (folder / "config.json").write_text(json.dumps(config))
        write_manifest(folder, "all-minilm-l6-v2", source="rewritten")  # the manifest agrees with it
        [check] = check_models(lib, ["all-minilm-l6-v2"])
        assert not check.ok
        assert any("config.json" in p and "not the published file" in p for p in check.problems), (
            check.problems
        )


def test_an_unpinned_file_is_held_to_its_first_use_record(
    tiny_models: Path, tmp_path: Path, monkeypatch
) -> None:
    home = tmp_path / "home"
    mdir = home / "models"
    shutil.copytree(tiny_models / "panns-mobilenetv1", mdir / "panns-mobilenetv1")
    folder = mdir / "panns-mobilenetv1"
    # As a real (not test) model whose file nothing pins: the manifest and a first-use record hold it.
    spec = registry.spec("panns-mobilenetv1")
    unpinned = registry.ModelSpec(
        spec.id, spec.role, spec.title, (registry.ModelFile(spec.files[0].name, spec.files[0].source),)
    )
    monkeypatch.setitem(registry.MODELS, spec.id, unpinned)
    write_manifest(folder, spec.id, source="test")
    name = spec.files[0].name
    pins.record_trusted(
        mdir, spec.id, repo="zenodo:3987831", revision=None, files={name: {"size": 1, "sha256": "0" * 64}},
        source="test",
    )  # fmt: skip
    with Library(Settings(home=home)) as lib:
        [check] = check_models(lib, [spec.id])
    assert any("not what the first download got" in p for p in check.problems), check.problems

    pins.forget_trusted(mdir, spec.id)
    with Library(Settings(home=home)) as lib:
        [check] = check_models(lib, [spec.id])
    assert check.ok and check.pins == "recorded at install", check.problems


def test_a_model_the_settings_do_not_use_is_probed_too(home: Path) -> None:
    from engine.models.tiny_audio import write_tiny_panns

    write_tiny_panns(home / "models" / "panns-cnn14", "panns-cnn14")  # 1/16 width: quick
    with Library(Settings.load(home)) as lib:
        assert lib.settings.audio_model == "panns-mobilenetv1"
        [check] = check_models(lib, ["panns-cnn14"])
    assert check.ok, check.problems
    assert check.probe.endswith("+ 527 tags, a 2 s tone")
