"""Windows and macOS integrations through their file and registry layers (a dictionary for the registry),
so they run on any OS; the real winreg/Finder side is exercised only on those systems."""

from __future__ import annotations

import plistlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from desktop.integration import ACTION_LABEL, command, windows
from desktop.integration import macos as mac
from desktop.integration.common import INSTALLED, OUTDATED
from tests.integration.conftest import snapshot
from tests.integration.fakes import FakeRegistry

APP = r"C:\Program Files\Lookalike\lookalike-app.exe"
OTHER_VERB = r"Software\Classes\SystemFileAssociations\image\shell\edit"


def win(reg: FakeRegistry, tmp_path: Path, app: str = APP) -> windows.Integration:
    return windows.integration(
        reg, windows.WindowsPaths(tmp_path / "LocalAppData" / "Lookalike"), [app, "--similar"]
    )


def test_windows_install_writes_a_verb_per_perceived_type(tmp_path: Path) -> None:
    reg = FakeRegistry()
    assert win(reg, tmp_path).install().errors == []
    ico = tmp_path / "LocalAppData/Lookalike/lookalike.ico"
    for perceived in ("image", "video", "audio"):
        key = rf"Software\Classes\SystemFileAssociations\{perceived}\shell\{windows.VERB}"
        assert reg.keys[key] == {"MUIVerb": ACTION_LABEL, "Icon": str(ico)}
        assert reg.keys[key + r"\command"] == {"": f'"{APP}" --similar "%1"'}
    with Image.open(ico) as img:
        assert img.format == "ICO" and (16, 16) in img.info["sizes"] and (256, 256) in img.info["sizes"]


def test_windows_uninstall_restores_the_registry_and_folder(tmp_path: Path) -> None:
    reg = FakeRegistry({OTHER_VERB: {"": "Edit"}, OTHER_VERB + r"\command": {"": "mspaint.exe %1"}})
    (tmp_path / "LocalAppData").mkdir()
    before_reg, before_files = reg.snapshot(), snapshot(tmp_path)
    win(reg, tmp_path).install()
    assert reg.snapshot() != before_reg
    out = win(reg, tmp_path).uninstall()
    assert out.errors == []
    assert reg.snapshot() == before_reg  # the other app's verb, and the shell key it lives in, stay
    assert snapshot(tmp_path) == before_files


def test_windows_second_install_writes_nothing(tmp_path: Path) -> None:
    reg = FakeRegistry()
    win(reg, tmp_path).install()
    reg.writes = 0
    before = snapshot(tmp_path, times=True)
    time.sleep(0.01)
    assert win(reg, tmp_path).install().changed == []
    assert reg.writes == 0 and snapshot(tmp_path, times=True) == before


def test_windows_status_sees_a_moved_app(tmp_path: Path) -> None:
    reg = FakeRegistry()
    win(reg, tmp_path).install()
    moved = win(reg, tmp_path, r"D:\Apps\Lookalike\lookalike-app.exe")
    states = {(s.location, s.state) for s in moved.status()}
    assert any(loc.endswith(r"\command [(default)]") and st == OUTDATED for loc, st in states)
    moved.install()
    assert all(s.state == INSTALLED for s in moved.status())


def test_windows_command_uses_the_windowed_launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The verb must not flash a console: lookalike-app.exe (pip's gui-script, or the bundle's)."""
    monkeypatch.setattr(sys, "platform", "win32")
    scripts = tmp_path / "Python" / "Scripts"
    scripts.mkdir(parents=True)
    monkeypatch.setattr(sys, "executable", str(scripts / "python.exe"))
    (scripts / "lookalike-app.exe").write_bytes(b"MZ")
    (scripts / "lookalike-app.exe").chmod(0o755)
    assert windows.verb_command() == [str(scripts / "lookalike-app.exe"), "--similar"]
    # Frozen: the bundle's windowed executable beside the console one.
    bundle = tmp_path / "Lookalike"
    bundle.mkdir()
    (bundle / "lookalike-app.exe").write_bytes(b"MZ")
    monkeypatch.setattr(sys, "executable", str(bundle / "lookalike.exe"))
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert windows.verb_command() == [str(bundle / "lookalike-app.exe"), "--similar"]
    assert (
        command.windows_command(windows.verb_command()) == f'"{bundle / "lookalike-app.exe"}" --similar "%1"'
    )


def mac_integ(
    home: Path, exe: str = "/Applications/Look alike.app/Contents/MacOS/lookalike"
) -> mac.Integration:
    return mac.integration(mac.MacPaths(home), [exe, "integrate", "open"])


def test_macos_quick_action_bundle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert mac_integ(home).install().errors == []
    contents = home / "Library/Services/Find similar with Lookalike.workflow/Contents"
    info = plistlib.loads((contents / "Info.plist").read_bytes())
    (service,) = info["NSServices"]
    assert service["NSMenuItem"]["default"] == ACTION_LABEL
    assert service["NSMessage"] == "runWorkflowAsService"
    assert set(service["NSSendFileTypes"]) == {"public.image", "public.movie", "public.audio"}
    wflow = plistlib.loads((contents / "document.wflow").read_bytes())
    assert wflow["workflowMetaData"]["workflowTypeIdentifier"] == "com.apple.Automator.servicesMenu"
    (action,) = [a["action"] for a in wflow["actions"]]
    assert action["BundleIdentifier"] == "com.apple.RunShellScript"
    params = action["ActionParameters"]
    assert params["inputMethod"] == 1  # files as arguments
    assert params["COMMAND_STRING"] == (
        "exec '/Applications/Look alike.app/Contents/MacOS/lookalike' integrate open \"$@\"\n"
    )


def test_macos_script_passes_the_files_through(tmp_path: Path) -> None:
    """Run the workflow's script as Automator does (shell, files as arguments) with a stand-in app."""
    record = tmp_path / "argv.txt"
    exe = tmp_path / "Look alike"
    exe.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {record}\n')
    exe.chmod(0o755)
    home = tmp_path / "home"
    mac_integ(home, str(exe)).install()
    wflow = plistlib.loads(
        (home / "Library/Services" / mac.BUNDLE_NAME / "Contents/document.wflow").read_bytes()
    )
    script = wflow["actions"][0]["action"]["ActionParameters"]["COMMAND_STRING"]
    files = ["/Users/me/Pictures/a b.jpg", "/Users/me/it's.mp3"]
    subprocess.run(["/bin/sh", "-c", script, "sh", *files], check=True)
    assert record.read_text().splitlines() == ["integrate", "open", *files]


def test_macos_uninstall_and_reinstall(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "Library/Services/Other.workflow").mkdir(parents=True)
    before = snapshot(home)
    mac_integ(home).install()
    snap = snapshot(home, times=True)
    time.sleep(0.01)
    assert mac_integ(home).install().changed == []
    assert snapshot(home, times=True) == snap
    assert mac_integ(home).uninstall().errors == []
    assert snapshot(home) == before
