"""The .desktop and AppStream files: valid for the freedesktop validators, and in step with the code."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from desktop.integration import APP_ID, linux
from desktop.integration.command import desktop_exec, parse_desktop_exec
from engine.media.kinds import PHOTO_EXTS, SOUND_EXTS, VIDEO_EXTS

REPO = Path(__file__).resolve().parents[2]
DESKTOP = REPO / "resources" / f"{APP_ID}.desktop"
METAINFO = REPO / "resources" / f"{APP_ID}.metainfo.xml"
NASTY = ['/opt/a b/look"alike', "it's", "100%", "back\\slash", "$HOME", "`x`", ""]


NO_DFV = "desktop-file-validate is not installed (Debian: desktop-file-utils)"


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason=NO_DFV)
def test_desktop_files_are_valid(tmp_path: Path) -> None:
    installed = tmp_path / f"{APP_ID}.desktop"
    installed.write_text(linux.desktop_entry(['/opt/Look alike/bin/look"alike', "integrate", "open"]))
    for f in (DESKTOP, installed):
        out = subprocess.run(["desktop-file-validate", str(f)], capture_output=True, text=True)
        assert out.returncode == 0 and out.stdout == "", out.stdout  # no errors, warnings or hints


@pytest.mark.skipif(
    not shutil.which("appstreamcli"), reason="appstreamcli is not installed (Debian: appstream)"
)
def test_metainfo_is_valid() -> None:
    out = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "E:" not in out.stdout and "W:" not in out.stdout, out.stdout


def test_metainfo_names_the_desktop_file_and_its_types() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == DESKTOP.name
    assert {m.text for m in root.iter("mediatype")} <= set(linux.MIME_TYPES)


def test_resource_desktop_file_is_what_the_code_writes() -> None:
    """resources/ carries the entry for distribution packages (``lookalike`` on PATH); the installer
    writes the same with an absolute path. Regenerate with linux.desktop_entry when this fails."""
    assert DESKTOP.read_text() == linux.desktop_entry(["lookalike", "integrate", "open"])


def test_mime_types_cover_every_indexed_extension() -> None:
    globs = Path("/usr/share/mime/globs2")
    if not globs.is_file():
        pytest.skip("shared-mime-info is not installed (no /usr/share/mime/globs2)")
    by_ext: dict[str, set[str]] = {}
    for line in globs.read_text().splitlines():
        if line.startswith("#"):
            continue
        _weight, mime, pattern = line.split(":")[:3]
        if pattern.startswith("*."):
            by_ext.setdefault(pattern[1:].lower(), set()).add(mime)
    missing = [
        e
        for e in sorted(PHOTO_EXTS | VIDEO_EXTS | SOUND_EXTS)
        if e in by_ext and not by_ext[e] & set(linux.MIME_TYPES)
    ]
    assert missing == []


@pytest.mark.parametrize("arg", NASTY)
def test_exec_quoting_round_trips(arg: str) -> None:
    value = desktop_exec([arg, "integrate", "open"])
    files = ["/x/a b.jpg", "/y.png"]
    assert parse_desktop_exec(value, files) == [arg, "integrate", "open", *files]


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason=NO_DFV)
def test_quoted_exec_values_are_valid(tmp_path: Path) -> None:
    f = tmp_path / "t.desktop"
    f.write_text(linux.desktop_entry(NASTY[:-1]))
    out = subprocess.run(["desktop-file-validate", str(f)], capture_output=True, text=True)
    assert out.returncode == 0 and "error" not in out.stdout, out.stdout


def test_the_integration_package_never_imports_qt() -> None:
    """The file-manager command must start fast and work without a display: no Qt, statically and
    when every module (and the hand-off up to its forwarding) is imported."""
    pkg = REPO / "desktop" / "integration"
    for src in pkg.glob("*.py"):
        for node in ast.walk(ast.parse(src.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "PySide6" for n in names), src
    code = (
        "import sys, importlib, pkgutil, desktop.integration as p\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        "    importlib.import_module('desktop.integration.' + m.name)\n"
        "import desktop.ipc\n"
        "heavy = [m for m in ('PySide6', 'torch', 'pymilvus', 'engine.library') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
