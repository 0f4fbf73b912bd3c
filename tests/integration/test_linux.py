"""Linux integration: what install writes, that uninstall restores the home, that install is idempotent."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from desktop.integration import ACTION_LABEL, APP_ID
from desktop.integration import linux as lx
from desktop.integration.cli import main as integrate_main
from desktop.integration.command import parse_desktop_exec
from desktop.integration.common import ABSENT, BROKEN, INSTALLED, OUTDATED
from desktop.integration.thunar import UNIQUE_ID
from tests.integration.conftest import snapshot

FAKE_EXE = "/opt/Look alike/bin/lookalike"  # a space: every writer must quote it
ARGV = [FAKE_EXE, "integrate", "open"]

USER_UCA = """<?xml version="1.0" encoding="UTF-8"?>
<actions>
<!-- my own actions, keep them -->
<action>
\t<icon>utilities-terminal</icon>
\t<name>Open Terminal Here</name>
\t<unique-id>1700000000000000-1</unique-id>
\t<command>exo-open --working-directory %f --launch TerminalEmulator</command>
\t<description>Example for a custom action</description>
\t<patterns>*</patterns>
\t<startup-notify/>
\t<directories/>
</action>
</actions>
"""


def integ() -> lx.Integration:
    return lx.integration(lx.LinuxPaths.from_env(), ARGV)


def populate(home: Path) -> None:
    """A lived-in home: other apps' launchers and a MIME cache, an icon cache, the user's own Thunar
    action and Nautilus script."""
    apps = home / ".local/share/applications"
    apps.mkdir(parents=True)
    (apps / "org.example.Viewer.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Viewer\nExec=viewer %f\nMimeType=image/png;\n"
    )
    if shutil.which("update-desktop-database"):
        subprocess.run(["update-desktop-database", str(apps)], check=True)
    hicolor = home / ".local/share/icons/hicolor"
    (hicolor / "48x48/apps").mkdir(parents=True)
    (hicolor / "48x48/apps/org.example.Viewer.png").write_bytes(b"\x89PNG not really")
    (hicolor / "index.theme").write_text(
        "[Icon Theme]\nName=Hicolor\nDirectories=48x48/apps\n\n[48x48/apps]\nSize=48\n"
    )
    if shutil.which("gtk-update-icon-cache"):
        subprocess.run(["gtk-update-icon-cache", "-q", "-f", str(hicolor)], check=True)
    thunar = home / ".config/Thunar"
    thunar.mkdir(parents=True)
    (thunar / "uca.xml").write_text(USER_UCA)
    os.chmod(thunar / "uca.xml", 0o600)
    scripts = home / ".local/share/nautilus/scripts"
    scripts.mkdir(parents=True)
    (scripts / "Rotate").write_text("#!/bin/sh\n")


def test_install_writes_every_entry_with_the_command(user_home: Path) -> None:
    out = integ().install()
    assert not out.errors
    share = user_home / ".local/share"

    desktop = (share / f"applications/{APP_ID}.desktop").read_text()
    assert 'Exec="/opt/Look alike/bin/lookalike" integrate open %F' in desktop
    assert f"Icon={APP_ID}" in desktop and "MimeType=image/jpeg;" in desktop
    assert "Actions=find-similar;" in desktop and f"Name={ACTION_LABEL}" in desktop

    script = share / f"nautilus/scripts/{ACTION_LABEL}"
    assert os.access(script, os.X_OK)
    assert "exec '/opt/Look alike/bin/lookalike' integrate open \"$@\"" in script.read_text()

    menu = share / f"kio/servicemenus/{APP_ID}.desktop"
    assert os.access(menu, os.X_OK)  # Plasma 6 ignores non-executable service menus in the home
    assert "MimeType=image/*;video/*;audio/*;" in menu.read_text()
    assert 'Exec="/opt/Look alike/bin/lookalike" integrate open %F' in menu.read_text()

    root = ET.parse(user_home / ".config/Thunar/uca.xml").getroot()
    (ours,) = [a for a in root.iter("action") if a.findtext("unique-id") == UNIQUE_ID]
    assert ours.findtext("command") == "'/opt/Look alike/bin/lookalike' integrate open %F"
    assert {c.tag for c in ours} >= {"image-files", "video-files", "audio-files"}

    for size in lx.ICON_SIZES:
        png = share / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (share / f"icons/hicolor/scalable/apps/{APP_ID}.svg").is_file()
    assert all(s.state == INSTALLED for s in integ().status())


def test_every_action_passes_the_selection_through_intact(user_home: Path, tmp_path: Path) -> None:
    """Run each entry as its file manager would, with a stand-in ``lookalike`` that records its argv."""
    record = tmp_path / "argv.txt"
    exe = tmp_path / "bin dir" / 'look "a" $like'
    exe.parent.mkdir()
    exe.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {record}\n')
    exe.chmod(0o755)
    lx.integration(lx.LinuxPaths.from_env(), [str(exe), "integrate", "open"]).install()
    files = [str(tmp_path / "a photo.jpg"), str(tmp_path / "it's $HOME.mp3")]
    expected = ["integrate", "open", *files]

    def recorded() -> list[str]:
        lines = record.read_text().splitlines()
        record.unlink()
        return lines

    share = user_home / ".local/share"
    desktop = share / f"applications/{APP_ID}.desktop"
    execs = [ln.split("=", 1)[1] for ln in desktop.read_text().splitlines() if ln.startswith("Exec=")]
    assert len(execs) == 2  # the main entry and the desktop action
    for value in execs:
        argv = parse_desktop_exec(value, files)
        subprocess.run(argv, check=True)
        assert recorded() == expected
    if shutil.which("gio"):  # GLib's own Exec parser, as Nautilus and Thunar use it
        subprocess.run(["gio", "launch", str(desktop), *files], check=True, timeout=30)
        deadline = time.monotonic() + 10
        while not record.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        assert recorded() == expected

    subprocess.run([str(share / f"nautilus/scripts/{ACTION_LABEL}"), *files], check=True)
    assert recorded() == expected

    # Thunar replaces %F with each path shell-quoted and parses the line like a shell.
    import shlex

    command = ET.parse(user_home / ".config/Thunar/uca.xml").getroot().find("action/command").text
    subprocess.run(["sh", "-c", command.replace("%F", " ".join(shlex.quote(f) for f in files))], check=True)
    assert recorded() == expected


def test_uninstall_restores_a_lived_in_home_exactly(user_home: Path) -> None:
    populate(user_home)
    before = snapshot(user_home)
    assert integ().install().errors == []
    after_install = snapshot(user_home)
    assert after_install != before
    uca = (user_home / ".config/Thunar/uca.xml").read_text()
    assert "Open Terminal Here" in uca and "<!-- my own actions, keep them -->" in uca and UNIQUE_ID in uca
    if shutil.which("update-desktop-database"):
        cache = (user_home / ".local/share/applications/mimeinfo.cache").read_text()
        assert f"{APP_ID}.desktop" in cache.split("image/jpeg=", 1)[1].split("\n", 1)[0]

    out = integ().uninstall()
    assert out.errors == []
    assert snapshot(user_home) == before


def test_uninstall_of_a_fresh_home_leaves_it_empty(user_home: Path) -> None:
    integ().install()
    assert (user_home / ".local/share/Lookalike/integration.json").is_file()
    integ().uninstall()
    assert snapshot(user_home) == {}


def test_second_install_touches_nothing(user_home: Path) -> None:
    populate(user_home)
    integ().install()
    before = snapshot(user_home, times=True)
    time.sleep(0.01)  # a rewrite would get a later mtime
    out = integ().install()
    assert out.changed == [] and out.errors == []
    assert snapshot(user_home, times=True) == before


def test_install_updates_what_changed_and_status_says_so(user_home: Path) -> None:
    integ().install()
    moved = lx.integration(lx.LinuxPaths.from_env(), ["/usr/bin/lookalike", "integrate", "open"])
    states = {s.component: s.state for s in moved.status()}
    assert states["app launcher (.desktop)"] == OUTDATED and states["Thunar custom action"] == OUTDATED
    assert states["icon (SVG)"] == INSTALLED
    out = moved.install()
    assert len(out.changed) == 4  # launcher, Nautilus, Dolphin, Thunar; the icons stay as they were
    uca = (user_home / ".config/Thunar/uca.xml").read_text()
    assert uca.count(UNIQUE_ID) == 1 and "/usr/bin/lookalike integrate open %F" in uca
    assert all(s.state == INSTALLED for s in moved.status())


def test_items_an_earlier_install_wrote_are_removed(user_home: Path) -> None:
    integ().install()
    old = user_home / ".local/share/applications/lookalike-old-name.desktop"
    old.write_text("[Desktop Entry]\n")
    manifest = user_home / ".local/share/Lookalike/integration.json"
    manifest.write_text(
        manifest.read_text().replace('"items": [', f'"items": [{{"path": "{old}", "type": "file"}},')
    )
    status = integ().status()
    assert [s.detail for s in status if s.location == str(old)] == ["left by an earlier install"]
    out = integ().install()
    assert not old.exists() and any("no longer installed" in c for c in out.changed)


def test_a_broken_uca_xml_is_left_alone_and_the_rest_installs(user_home: Path) -> None:
    uca = user_home / ".config/Thunar/uca.xml"
    uca.parent.mkdir(parents=True)
    uca.write_text("<actions><action>half a file")
    out = integ().install()
    assert len(out.errors) == 1 and "not well-formed" in out.errors[0]
    assert uca.read_text() == "<actions><action>half a file"
    assert (user_home / f".local/share/applications/{APP_ID}.desktop").is_file()
    assert {s.component: s.state for s in integ().status()}["Thunar custom action"] == BROKEN


def test_a_new_uca_xml_starts_from_the_system_one(user_home: Path, tmp_path: Path) -> None:
    system = tmp_path / "etc-xdg" / "Thunar" / "uca.xml"
    system.parent.mkdir(parents=True)
    system.write_text(USER_UCA)
    integ().install()
    uca = (user_home / ".config/Thunar/uca.xml").read_text()
    assert "Open Terminal Here" in uca and UNIQUE_ID in uca  # the user keeps the default actions
    integ().uninstall()
    assert not (user_home / ".config").exists()  # Thunar reads the system file again


def test_uninstall_without_a_manifest_still_finds_our_files(user_home: Path) -> None:
    integ().install()
    (user_home / ".local/share/Lookalike/integration.json").unlink()
    integ().uninstall()
    assert all(s.state == ABSENT for s in integ().status())


@pytest.mark.skipif(not shutil.which("gio"), reason="gio (libglib2.0-bin) is not installed")
def test_glib_offers_the_app_for_images_videos_and_sounds(user_home: Path) -> None:
    # The real command: GLib hides entries whose TryExec is missing.
    lx.integration(lx.LinuxPaths.from_env()).install()
    env = dict(os.environ, XDG_DATA_DIRS=str(user_home / "none"))  # only the user's applications
    for mime in ("image/jpeg", "video/mp4", "audio/flac"):
        out = subprocess.run(
            ["gio", "mime", mime], env=env, capture_output=True, text=True, check=True
        ).stdout
        assert f"{APP_ID}.desktop" in out, out


def _without_update_desktop_database(monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        lx.shutil,
        "which",
        lambda cmd, *a, **kw: None if cmd == "update-desktop-database" else real_which(cmd),
    )


def test_without_desktop_file_utils_the_mime_cache_is_written_by_us(
    user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 12 with gio but no desktop-file-utils: GLib offered nothing for image/jpeg (no cache)."""
    _without_update_desktop_database(monkeypatch)
    apps = user_home / ".local/share/applications"
    (apps / "kde").mkdir(parents=True)
    (apps / "org.example.Viewer.desktop").write_text(
        "[Desktop Entry]\nType=Application\nName=Viewer\nExec=viewer %f\nMimeType=image/png;image/jpeg;\n"
    )
    (apps / "kde" / "gwenview.desktop").write_text("[Desktop Entry]\nName=G\nMimeType=image/png;\n")
    (apps / "gone.desktop").write_text("[Desktop Entry]\nHidden=true\nMimeType=image/png;\n")
    real = lx.integration(lx.LinuxPaths.from_env())  # the real command: GLib hides a missing TryExec
    assert real.install().errors == []
    lines = (apps / "mimeinfo.cache").read_text().splitlines()
    assert lines[0] == "[MIME Cache]"
    cache = dict(line.split("=", 1) for line in lines[1:])
    assert cache["image/jpeg"] == f"{APP_ID}.desktop;org.example.Viewer.desktop;"
    assert cache["image/png"] == f"{APP_ID}.desktop;kde-gwenview.desktop;org.example.Viewer.desktop;"
    assert set(lx.MIME_TYPES) <= set(cache)
    if shutil.which("gio"):
        env = dict(os.environ, XDG_DATA_DIRS=str(user_home / "none"))
        out = subprocess.run(["gio", "mime", "image/jpeg"], env=env, capture_output=True, text=True).stdout
        assert f"{APP_ID}.desktop" in out, out
    real.uninstall()
    assert not (apps / "mimeinfo.cache").exists()  # it did not exist before install


def test_an_existing_mime_cache_loses_only_our_entries(
    user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _without_update_desktop_database(monkeypatch)
    apps = user_home / ".local/share/applications"
    apps.mkdir(parents=True)
    (apps / "org.example.Viewer.desktop").write_text("[Desktop Entry]\nName=V\nMimeType=image/png;\n")
    assert lx.write_mime_cache(apps)
    before = (apps / "mimeinfo.cache").read_text()
    assert before == "[MIME Cache]\nimage/png=org.example.Viewer.desktop;\n"
    integ().install()
    assert f"image/jpeg={APP_ID}.desktop;" in (apps / "mimeinfo.cache").read_text()
    integ().uninstall()
    assert (apps / "mimeinfo.cache").read_text() == before


def test_the_cli_installs_reports_and_uninstalls(user_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert integrate_main(["install"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert integrate_main(["install"]) == 0
    assert "Nothing to do" in capsys.readouterr().out
    assert integrate_main(["status", "--json"]) == 0
    import json

    status = json.loads(capsys.readouterr().out)
    assert status["installed"] is True and status["platform"] == "linux"
    assert {i["location"] for i in status["items"]} >= {
        str(user_home / f".local/share/applications/{APP_ID}.desktop"),
        str(user_home / f".local/share/nautilus/scripts/{ACTION_LABEL}"),
    }
    assert integrate_main(["uninstall"]) == 0
    assert snapshot(user_home) == {}


def test_without_icons_the_rest_installs_and_status_says_so(
    user_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel without the resources: no icon files, the entries still install (with the icon name)."""
    monkeypatch.setattr(lx, "icons_dir", lambda: None)
    i = integ()
    assert i.facts["icons"] == "not found"
    assert i.install().errors == []
    assert not (user_home / ".local/share/icons").exists()
    assert f"Icon={APP_ID}" in lx.LinuxPaths.from_env().desktop_file.read_text()
