"""Before Qt starts: the X11 libraries its xcb plugin needs, and which packages bring the missing ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop import system_libs as sl

REPO = Path(__file__).resolve().parents[2]
DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
MINT = 'ID=linuxmint\nID_LIKE="ubuntu debian"\n'
FEDORA = "ID=fedora\nVERSION_ID=40\n"
ARCH = "ID=arch\n"
TUMBLEWEED = 'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n'
XCB = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}


def without(*names: str):  # noqa: ANN201 - a loader for the tests
    return lambda soname: soname not in names


def test_distribution_families_from_os_release() -> None:
    assert sl.distro_family(DEBIAN) == "debian" and sl.distro_family(MINT) == "debian"
    assert sl.distro_family(FEDORA) == "fedora" and sl.distro_family(ARCH) == "arch"
    assert sl.distro_family(TUMBLEWEED) == "suse"
    assert sl.distro_family("ID=plan9\n") is None and sl.distro_family("") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb platform is Linux's")
def test_a_missing_xcb_cursor_names_the_package_of_each_family() -> None:
    loader = without("libxcb-cursor.so.0")
    assert sl.missing_libraries(loader) == ["libxcb-cursor.so.0"]
    msg = sl.platform_problem(XCB, loader, DEBIAN)
    assert msg is not None and "libxcb-cursor.so.0" in msg
    assert "sudo apt install libxcb-cursor0" in msg and "dnf" not in msg
    assert "sudo dnf install xcb-util-cursor" in (sl.platform_problem(XCB, loader, FEDORA) or "")
    assert "sudo pacman -S xcb-util-cursor" in (sl.platform_problem(XCB, loader, ARCH) or "")
    assert "sudo zypper install libxcb-cursor0" in (sl.platform_problem(XCB, loader, TUMBLEWEED) or "")
    unknown = sl.platform_problem(XCB, loader, "ID=plan9\n") or ""
    assert all(cmd in unknown for cmd in ("apt install", "dnf install", "pacman -S", "zypper install"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb platform is Linux's")
def test_several_missing_libraries_give_one_command_without_duplicates() -> None:
    loader = without("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xkb.so.1", "libxcb-shape.so.0")
    msg = sl.platform_problem(XCB, loader, ARCH) or ""
    assert "sudo pacman -S libxcb xcb-util-keysyms xcb-util-wm\n" in msg + "\n"


def test_nothing_to_say_when_all_load_or_the_platform_is_not_xcb() -> None:
    assert sl.platform_problem(XCB, lambda _s: True, DEBIAN) is None
    missing = without("libxcb-cursor.so.0")
    for env in ({"QT_QPA_PLATFORM": "offscreen"}, {"QT_QPA_PLATFORM": "wayland"},
                {"XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}):  # fmt: skip
        assert sl.platform_problem(env, missing, DEBIAN) is None
    if sys.platform.startswith("linux"):
        assert sl.uses_xcb({"DISPLAY": ":0"}) and sl.uses_xcb({"QT_QPA_PLATFORM": "xcb:dpi=96"})


def test_the_real_loader() -> None:
    assert sl.can_load("libc.so.6") is (sys.platform.startswith("linux"))
    assert sl.can_load("libnot-a-real-library-lookalike.so.9") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb platform is Linux's")
def test_the_app_says_which_packages_instead_of_qts_abort(tmp_path: Path) -> None:
    """On this machine itself, when it lacks some of the libraries (minimal containers do)."""
    missing = sl.missing_libraries()
    if not missing:
        pytest.skip("every xcb library is installed here: nothing to report")
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=":0", LOOKALIKE_HOME=str(tmp_path / "home"))
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from desktop.launcher import main; sys.exit(main([]))"],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert missing[0] in proc.stderr and "install" in proc.stderr
    assert "Could not load the Qt platform plugin" not in proc.stderr
