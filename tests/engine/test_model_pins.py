"""Pinned, verified model files: a fake local Hub (a loopback server that serves files only under
``<repo>/resolve/<commit>/``) shows that a download fetches the pinned commit, accepts the pinned bytes
and refuses others by size or sha256 with a message that says which file, what was expected, what came
and what to do; unpinned files are trusted on first use and held to it afterwards; installs from a folder
(a Hugging Face cache, the real MiniLM files) are held to the same pins."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from engine.errors import LookalikeError, ModelFileError
from engine.models import fetch, pins, registry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
NEWER = "fedcba9876543210fedcba9876543210fedcba98"
REPO = "example/fake-model"
MODEL = "uform3-image-text-english-small"  # any known id: the spec under it is replaced per test
SHARED_MINILM = Path(__file__).resolve().parents[3] / "shared" / "assets" / "models" / "all-MiniLM-L6-v2"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake Hub: ``publish(commit, name, data)`` serves a file at that commit; ``main`` says which
    commit the branch is at. Returns (publish, requests seen, state)."""
    root = tmp_path / "hub"
    root.mkdir()
    seen: list[str] = []

    class Handler(_Quiet):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.path)
            super().do_GET()

    srv = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: Handler(*a, directory=str(root), **k)
    )
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    state = {"main": COMMIT, "lfs": {}}

    def publish(commit: str, name: str, data: bytes) -> None:
        p = root / REPO / "resolve" / commit / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    monkeypatch.setattr(
        fetch, "_hf_url", lambda repo, path, revision: f"{base}/{repo}/resolve/{revision}/{path}"
    )
    monkeypatch.setattr(fetch, "_resolve_revision", lambda repo: state["main"])
    monkeypatch.setattr(fetch, "_hub_sha256", lambda repo, path, revision: state["lfs"].get((path, revision)))
    yield publish, seen, state
    srv.shutdown()


def _spec(monkeypatch: pytest.MonkeyPatch, **pinned: dict) -> None:
    """Replace MODEL's spec with two files from the fake repo, with the given pins per file name."""
    files = tuple(
        registry.ModelFile(name, f"hf://{REPO}/{name}", **pinned.get(name, {}))
        for name in ("weights.bin", "config.json")
    )
    monkeypatch.setitem(registry.MODELS, MODEL, registry.ModelSpec(MODEL, "image-text", "fake", files))


def _pin(data: bytes, revision: str = COMMIT) -> dict:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "revision": revision}


WEIGHTS, CONFIG = b"weights " * 4000, b'{"dim": 8}'


def test_pinned_files_are_fetched_at_the_pinned_commit_and_accepted(hub, tmp_path: Path, monkeypatch) -> None:
    publish, seen, state = hub
    publish(COMMIT, "weights.bin", WEIGHTS)
    publish(COMMIT, "config.json", CONFIG)
    state["main"] = NEWER  # the branch moved on: a pinned download must not follow it
    _spec(monkeypatch, **{"weights.bin": _pin(WEIGHTS), "config.json": _pin(CONFIG)})
    folder = fetch.download(tmp_path / "models", MODEL)
    assert (folder / "weights.bin").read_bytes() == WEIGHTS
    assert seen and all(f"/resolve/{COMMIT}/" in s for s in seen)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["revision"] == COMMIT
    assert manifest["verified"] == {"weights.bin": "pinned", "config.json": "pinned"}
    assert pins.trusted(tmp_path / "models", MODEL) is None  # nothing needed trusting


def test_wrong_sha256_is_refused_with_what_was_expected_and_what_came(
    hub, tmp_path: Path, monkeypatch
) -> None:
    publish, _, _ = hub
    tampered = WEIGHTS[:-1] + b"!"  # same size, other bytes
    publish(COMMIT, "weights.bin", tampered)
    publish(COMMIT, "config.json", CONFIG)
    _spec(monkeypatch, **{"weights.bin": _pin(WEIGHTS), "config.json": _pin(CONFIG)})
    with pytest.raises(ModelFileError) as err:
        fetch.download(tmp_path / "models", MODEL)
    msg = str(err.value)
    assert "weights.bin" in msg and f"{REPO}@{COMMIT}" in msg
    assert hashlib.sha256(WEIGHTS).hexdigest() in msg and hashlib.sha256(tampered).hexdigest() in msg
    assert "checksum differs" in msg and "lookalike models download" in msg and "install --from" in msg
    assert not registry.is_installed(tmp_path / "models", MODEL)
    assert not any((tmp_path / "models").glob(".*partial"))


def test_a_longer_file_is_stopped_as_soon_as_it_passes_the_pinned_size(
    hub, tmp_path: Path, monkeypatch
) -> None:
    publish, _, _ = hub
    publish(COMMIT, "weights.bin", WEIGHTS * 200)  # 6.4 MB where 32 kB are pinned
    publish(COMMIT, "config.json", CONFIG)
    _spec(monkeypatch, **{"weights.bin": _pin(WEIGHTS), "config.json": _pin(CONFIG)})
    got: list[int] = []
    with pytest.raises(ModelFileError, match=r"more than the pinned 32,000 bytes"):
        fetch.download(tmp_path / "models", MODEL, progress=lambda n, done, total: got.append(done))
    assert not got  # stopped at the first chunk, before reporting any progress for it
    assert not registry.is_installed(tmp_path / "models", MODEL)


def test_a_shorter_file_is_refused_by_size(hub, tmp_path: Path, monkeypatch) -> None:
    publish, _, _ = hub
    publish(COMMIT, "weights.bin", WEIGHTS[:1000])
    publish(COMMIT, "config.json", CONFIG)
    _spec(monkeypatch, **{"weights.bin": _pin(WEIGHTS), "config.json": _pin(CONFIG)})
    with pytest.raises(ModelFileError, match=r"weights.bin .* refused: 1,000 bytes, expected 32,000"):
        fetch.download(tmp_path / "models", MODEL)


def test_unpinned_files_are_trusted_on_first_use_and_held_to_it(hub, tmp_path: Path, monkeypatch) -> None:
    publish, seen, state = hub
    publish(COMMIT, "weights.bin", WEIGHTS)
    publish(COMMIT, "config.json", CONFIG)
    _spec(monkeypatch)  # nothing pinned
    mdir = tmp_path / "models"
    lines = fetch.describe(MODEL, fetch.plan(mdir, MODEL))
    assert f"{REPO}@main (resolved to its commit at download)" in lines[0]
    assert any("not pinned" in line for line in lines) and any("recorded" in line for line in lines)

    folder = fetch.download(mdir, MODEL)
    assert json.loads((folder / "manifest.json").read_text())["verified"]["weights.bin"] == "first use"
    record = pins.trusted(mdir, MODEL)
    assert record is not None and record["revision"] == COMMIT and record["repo"] == REPO
    assert record["files"]["weights.bin"] == {
        "size": len(WEIGHTS),
        "sha256": hashlib.sha256(WEIGHTS).hexdigest(),
    }
    lines = fetch.describe(MODEL, fetch.plan(mdir, MODEL))
    assert f"{REPO}@{COMMIT}" in lines[0] and any("trusted on first use" in line for line in lines)

    # Upstream re-uploads the file under the same commit path (or the cache is tampered with): refused.
    publish(COMMIT, "weights.bin", WEIGHTS.upper())
    state["main"] = NEWER
    seen.clear()
    with pytest.raises(ModelFileError, match="differs from what the first download"):
        fetch.download(mdir, MODEL)
    assert all(f"/resolve/{COMMIT}/" in s for s in seen)  # the recorded commit, not the moved branch
    assert (folder / "weights.bin").read_bytes() == WEIGHTS  # the installed copy is untouched

    # The same record holds an install from a folder.
    src = tmp_path / "src" / MODEL
    src.mkdir(parents=True)
    (src / "weights.bin").write_bytes(WEIGHTS.upper())
    (src / "config.json").write_bytes(CONFIG)
    with pytest.raises(ModelFileError, match="weights.bin in .* refused"):
        fetch.install_from(mdir, tmp_path / "src", [MODEL])
    assert pins.forget_trusted(mdir, MODEL)
    assert fetch.install_from(mdir, tmp_path / "src", [MODEL]) == [MODEL]


def test_first_use_checks_the_sha256_the_hub_publishes_for_that_commit(
    hub, tmp_path: Path, monkeypatch
) -> None:
    publish, _, state = hub
    publish(COMMIT, "weights.bin", WEIGHTS)
    publish(COMMIT, "config.json", CONFIG)
    state["lfs"][("weights.bin", COMMIT)] = hashlib.sha256(b"what the Hub says it is").hexdigest()
    _spec(monkeypatch)
    with pytest.raises(ModelFileError, match=r"published by the Hub"):
        fetch.download(tmp_path / "models", MODEL)
    assert pins.trusted(tmp_path / "models", MODEL) is None  # nothing refused is trusted


def test_a_hugging_face_cache_is_held_to_the_pins(tmp_path: Path, monkeypatch) -> None:
    _spec(monkeypatch, **{"weights.bin": _pin(WEIGHTS), "config.json": _pin(CONFIG)})
    snap = tmp_path / "hub" / "models--example--fake-model" / "snapshots" / COMMIT
    snap.mkdir(parents=True)
    (snap / "config.json").write_bytes(CONFIG)
    (snap / "weights.bin").write_bytes(WEIGHTS + b"x")
    with pytest.raises(ModelFileError, match=r"32,001 bytes, expected 32,000"):
        fetch.install_from(tmp_path / "models", tmp_path / "hub", [MODEL])
    (snap / "weights.bin").write_bytes(WEIGHTS)
    assert fetch.install_from(tmp_path / "models", tmp_path / "hub", [MODEL]) == [MODEL]
    manifest = registry.read_manifest(tmp_path / "models" / MODEL) or {}
    assert manifest["revision"] == COMMIT and set(manifest["verified"].values()) == {"pinned"}


def test_every_registry_file_is_in_the_pins_file_pinned_or_marked_unknown() -> None:
    """A new model or file must get an entry (``python bench/pin_models.py``), known or ``"unknown"``."""
    text = pins.PINS_FILE.read_text(encoding="utf-8")
    shipped = pins.load()
    for spec in registry.MODELS.values():
        assert spec.id in shipped, f"{spec.id} is not in {pins.PINS_FILE.name}: run bench/pin_models.py"
        entry = shipped[spec.id]
        assert entry["repo"] == pins.origin(spec.files[0].source)[0]
        for f in spec.files:
            assert f.name in entry["files"], f"{spec.id}/{f.name} is not in {pins.PINS_FILE.name}"
    assert '"unknown"' in text  # what is not known is said so, not left out


def test_known_facts_are_pinned() -> None:
    cnn14 = registry.spec("panns-cnn14").files[0]
    assert cnn14.size == 327_428_481 and cnn14.md5 == "541141fa2ee191a88f24a3219fff024e"
    assert cnn14.revision == pins.ZENODO_RECORD and cnn14.pinned
    mobilenet = registry.spec("panns-mobilenetv1").files[0]
    assert mobilenet.size == 23_639_473 and mobilenet.pinned
    minilm = {f.name: f for f in registry.spec("all-minilm-l6-v2").files}
    assert (
        minilm["model.safetensors"].sha256
        == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    )
    assert all(f.pinned and f.size for f in minilm.values())
    assert pins.state(registry.spec("all-minilm-l6-v2")) == "pinned"


def test_describe_shows_the_source_files_sizes_and_pins() -> None:
    lines = fetch.describe("panns-cnn14", fetch.plan(Path("/nonexistent"), "panns-cnn14"))
    assert lines[0] == "panns-cnn14: from zenodo.org record 3987831"
    assert "327,428,481 bytes" in lines[1] and "md5 541141fa2ee191a88f24a3219fff024e pinned" in lines[1]


@pytest.mark.skipif(not SHARED_MINILM.is_dir(), reason=f"real all-MiniLM-L6-v2 not found at {SHARED_MINILM}")
def test_the_real_minilm_files_match_their_pins_and_a_changed_one_is_refused(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / "abc123"
    cache.mkdir(parents=True)
    for p in SHARED_MINILM.iterdir():
        if p.is_file():
            (cache / p.name).symlink_to(p)
    mdir = tmp_path / "models"
    assert fetch.install_from(mdir, tmp_path / "cache", ["all-minilm-l6-v2"]) == ["all-minilm-l6-v2"]
    manifest = registry.read_manifest(mdir / "all-minilm-l6-v2") or {}
    assert set(manifest["verified"].values()) == {"pinned"}
    (cache / "tokenizer_config.json").unlink()
    text = (SHARED_MINILM / "tokenizer_config.json").read_text().replace("true", "false", 1)
    (cache / "tokenizer_config.json").write_text(text)
    with pytest.raises(ModelFileError, match="tokenizer_config.json in .* refused"):
        fetch.install_from(tmp_path / "models2", tmp_path / "cache", ["all-minilm-l6-v2"])


def test_an_unreachable_hub_says_how_to_install_offline(tmp_path: Path, monkeypatch) -> None:
    _spec(monkeypatch)

    def offline(repo: str) -> str:
        raise OSError("Name or service not known")

    monkeypatch.setattr(fetch, "_resolve_revision", offline)
    with pytest.raises(LookalikeError, match=r"example/fake-model@main.*install --from"):
        fetch.download(tmp_path / "models", MODEL)
    assert not any((tmp_path / "models").glob(".*partial"))
    shutil.rmtree(tmp_path / "models")
