"""Model cache: install from a folder, download with checksum verification (from a loopback server),
clear messages when a model is missing or damaged, and a fast CLI start."""

from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.errors import LookalikeError, ModelFileError, ModelMissingError
from engine.models import fetch, registry
from engine.models.tiny import UFORM_ID


def test_install_from_tiny_models_folder(tiny_models: Path, tmp_path: Path) -> None:
    mdir = tmp_path / "models"
    installed = fetch.install_from(mdir, tiny_models, [UFORM_ID])
    assert installed == [UFORM_ID]
    assert registry.is_installed(mdir, UFORM_ID) and registry.is_test_model(mdir, UFORM_ID)
    folder = registry.require(mdir, UFORM_ID)

    from engine.models.uform import UFormEncoder

    enc = UFormEncoder(folder, UFORM_ID)
    vecs = enc.encode_texts(["a dog", "a cat"])
    assert vecs.shape == (2, enc.dim)
    assert abs(float((vecs[0] ** 2).sum()) - 1.0) < 1e-4


def test_install_rejects_a_damaged_copy(tiny_models: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(tiny_models / UFORM_ID, src / UFORM_ID)
    with open(src / UFORM_ID / "image_encoder.onnx", "r+b") as f:
        f.seek(100)
        f.write(b"\0" * 64)
    with pytest.raises(ModelFileError, match="damaged"):
        fetch.install_from(tmp_path / "models", src, [UFORM_ID])
    assert not registry.is_installed(tmp_path / "models", UFORM_ID)


def test_install_from_an_empty_folder_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(LookalikeError, match="No model found"):
        fetch.install_from(tmp_path / "models", tmp_path / "empty")


def test_missing_model_message_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(ModelMissingError, match=r"lookalike models download panns-mobilenetv1"):
        registry.require(tmp_path, "panns-mobilenetv1")


def test_truncated_installed_file_is_detected(tiny_models: Path, tmp_path: Path) -> None:
    mdir = tmp_path / "models"
    fetch.install_from(mdir, tiny_models, [UFORM_ID])
    p = mdir / UFORM_ID / "text_encoder.onnx"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="damaged"):
        registry.require(mdir, UFORM_ID)


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback_server(tmp_path: Path):
    root = tmp_path / "served"
    root.mkdir()
    handler = lambda *a, **kw: _Files(*a, directory=str(root), **kw)  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def _fake_spec(monkeypatch: pytest.MonkeyPatch, base: str, payload: bytes, *, md5: str) -> None:
    spec = registry.ModelSpec(
        id="panns-mobilenetv1",
        role="audio",
        title="test",
        files=(registry.ModelFile("weights.pth", f"{base}/weights.pth", size=len(payload), md5=md5),),
    )
    monkeypatch.setitem(registry.MODELS, "panns-mobilenetv1", spec)


def test_download_verifies_checksum_and_installs(loopback_server, tmp_path: Path, monkeypatch) -> None:
    root, base = loopback_server
    payload = b"pretend weights" * 5000
    (root / "weights.pth").write_bytes(payload)
    _fake_spec(monkeypatch, base, payload, md5=hashlib.md5(payload).hexdigest())
    seen = []
    folder = fetch.download(tmp_path / "models", "panns-mobilenetv1", progress=lambda n, d, t: seen.append(d))
    assert (folder / "weights.pth").read_bytes() == payload
    assert seen and seen[-1] == len(payload)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["test_model"] is False and manifest["files"]["weights.pth"]["size"] == len(payload)


def test_download_with_wrong_checksum_installs_nothing(loopback_server, tmp_path: Path, monkeypatch) -> None:
    root, base = loopback_server
    payload = b"corrupted in transit" * 100
    (root / "weights.pth").write_bytes(payload)
    _fake_spec(monkeypatch, base, payload, md5="0" * 32)
    with pytest.raises(ModelFileError, match="checksum"):
        fetch.download(tmp_path / "models", "panns-mobilenetv1")
    assert not registry.is_installed(tmp_path / "models", "panns-mobilenetv1")
    assert not any((tmp_path / "models").glob(".*partial"))


def test_download_unreachable_gives_the_offline_alternative(
    loopback_server, tmp_path: Path, monkeypatch
) -> None:
    _, base = loopback_server
    _fake_spec(monkeypatch, base, b"x", md5="0" * 32)  # the file is not served: 404
    with pytest.raises(LookalikeError, match="models install --from"):
        fetch.download(tmp_path / "models", "panns-mobilenetv1")


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from desktop.launcher import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'pymilvus', 'onnxruntime', 'av', 'PySide6', 'transformers') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "HEAVY []" in out, out


def test_models_list_shows_what_is_installed(home: Path, capsys) -> None:
    from engine.cli.main import main

    assert main(["models", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[UFORM_ID]["installed"] and rows[UFORM_ID]["test_model"]
    assert set(rows) == set(registry.MODELS)


def test_text_search_over_photos_loads_no_torch(home: Path, tmp_path: Path) -> None:
    """The image-text model runs on ONNX Runtime: picking its device must not import torch (over a second
    of a first search's time), so `lookalike search` over photos never loads it."""
    from tests.media import make_library

    pics = make_library(tmp_path / "pics", 3)[0].parent
    code = (
        "import sys, json\n"
        "from engine.cli.main import main\n"
        f"main(['index', {str(pics)!r}])\n"
        "before = 'torch' in sys.modules\n"
        "print('RESULTS')\n"
        "main(['search', 'a red car', '--json'])\n"
        "print('TORCH', before, 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    found, torch_line = proc.stdout.split("RESULTS\n", 1)[1].rsplit("TORCH", 1)
    assert len(json.loads(found)) == 3
    assert torch_line.split() == ["False", "False"]


def _uform_copy(tiny_models: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "m" / UFORM_ID
    shutil.copytree(tiny_models / UFORM_ID, folder)
    return folder


def test_cpu_image_encoder_runs_a_checked_int8_copy(tiny_models: Path, tmp_path: Path) -> None:
    from PIL import Image

    from engine.models.uform import INT8_CHECK, INT8_FILE, UFormEncoder
    from tests.media import make_photo

    folder = _uform_copy(tiny_models, tmp_path)
    photos: list[Image.Image] = [make_photo(seed) for seed in range(6)]
    full = UFormEncoder(folder, UFORM_ID, precision="fp32").encode_images(photos)
    enc = UFormEncoder(folder, UFORM_ID)
    low = enc.encode_images(photos)
    assert enc.precision == "int8" and (folder / INT8_FILE).is_file()
    verdict = json.loads((folder / INT8_CHECK).read_text())
    assert verdict["accepted"] and verdict["min_cosine"] >= 0.99
    assert float((full * low).sum(axis=1).min()) >= 0.99  # on photos it never saw, too
    assert not list(folder.glob("*.tmp"))
    made = (folder / INT8_FILE).stat().st_mtime_ns
    UFormEncoder(folder, UFORM_ID).encode_images(photos[:1])
    assert (folder / INT8_FILE).stat().st_mtime_ns == made  # made once, then reused


def test_int8_copy_that_strays_is_refused_once_and_fp32_used(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.models import uform
    from tests.media import make_photo

    folder = _uform_copy(tiny_models, tmp_path)
    monkeypatch.setattr(uform, "MIN_INT8_COSINE", 1.01)  # nothing can pass
    enc = uform.UFormEncoder(folder, UFORM_ID)
    vecs = enc.encode_images([make_photo(1)])
    assert enc.precision == "fp32" and vecs.shape == (1, enc.dim)
    assert not (folder / uform.INT8_FILE).exists()
    assert json.loads((folder / uform.INT8_CHECK).read_text())["accepted"] is False
    calls: list[str] = []
    monkeypatch.setattr(uform, "_make_int8", lambda *a: calls.append("again"))
    uform.UFormEncoder(folder, UFORM_ID).encode_images([make_photo(2)])
    assert calls == []  # the verdict stands until the published file changes
    (folder / uform.IMAGE_FILE).touch()
    uform.UFormEncoder(folder, UFORM_ID).encode_images([make_photo(2)])
    assert calls == ["again"]


def test_model_folder_that_cannot_be_written_falls_back_to_fp32(
    tiny_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime.quantization

    from engine.models.uform import INT8_FILE, UFormEncoder
    from tests.media import make_photo

    def read_only(src: str, dst: str, **kw: object) -> None:
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", read_only)
    folder = _uform_copy(tiny_models, tmp_path)
    enc = UFormEncoder(folder, UFORM_ID)
    assert enc.encode_images([make_photo(3)]).shape == (1, enc.dim)
    assert enc.precision == "fp32" and not (folder / INT8_FILE).exists()


def test_an_image_encoder_published_in_int8_is_used_as_it_is(tiny_models: Path, tmp_path: Path) -> None:
    from engine.models.uform import IMAGE_FILE, INT8_FILE, UFormEncoder
    from tests.media import make_photo

    folder = _uform_copy(tiny_models, tmp_path)
    made = UFormEncoder(folder, UFORM_ID)
    made.encode_images([make_photo(4)])
    published = tmp_path / "published" / UFORM_ID
    shutil.copytree(tiny_models / UFORM_ID, published)
    shutil.copy(folder / INT8_FILE, published / IMAGE_FILE)  # as UForm3 small is published: int8 already
    enc = UFormEncoder(published, UFORM_ID)
    assert enc.encode_images([make_photo(4)]).shape == (1, enc.dim)
    assert enc.precision == "int8" and not (published / INT8_FILE).exists()
