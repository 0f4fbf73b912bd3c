"""The system libraries Qt's X11 (xcb) platform plugin needs, checked before Qt is started.

Qt 6.5+ loads ``libqxcb.so`` only if about twenty X11 libraries are present; a minimal Linux often
lacks ``libxcb-cursor0`` (or ``libxcb-icccm4``, ``libxcb-keysyms1``…), and Qt then aborts the whole
process with "Could not load the Qt platform plugin xcb", naming no package. :func:`platform_problem`
finds the missing ones first (by ``dlopen``, which looks exactly where the plugin's loader would) and
says which packages install them on the user's distribution family.

Qt-free: imported by :mod:`desktop.app` before PySide6.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

FAMILIES = ("debian", "fedora", "arch", "suse")
INSTALL_COMMAND = {
    "debian": "sudo apt install",
    "fedora": "sudo dnf install",
    "arch": "sudo pacman -S",
    "suse": "sudo zypper install",
}
FAMILY_NAMES = {
    "debian": "Debian, Ubuntu, Mint",
    "fedora": "Fedora, RHEL, CentOS",
    "arch": "Arch, Manjaro",
    "suse": "openSUSE",
}

#: soname -> package per family (debian, fedora, arch, suse). The list is what ``libqxcb.so`` and
#: ``libQt6XcbQpa.so.6`` of PySide6 6.11 link (``readelf -d``), beyond glibc, zlib, glib and freetype.
XCB_LIBRARIES: dict[str, tuple[str, str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor", "libxcb-cursor0"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm", "libxcb-icccm4"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image", "libxcb-image0"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms", "libxcb-keysyms1"),
    "libxcb-render-util.so.0": (
        "libxcb-render-util0",
        "xcb-util-renderutil",
        "xcb-util-renderutil",
        "libxcb-render-util0",
    ),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util", "libxcb-util1"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb", "libxcb-xkb1"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb", "libxcb-randr0"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb", "libxcb-shape0"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb", "libxcb-xfixes0"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb", "libxcb-sync1"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb", "libxcb-shm0"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb", "libxcb-render0"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb", "libxcb1"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11", "libX11-xcb1"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11", "libX11-6"),
    "libxkbcommon-x11.so.0": (
        "libxkbcommon-x11-0",
        "libxkbcommon-x11",
        "libxkbcommon-x11",
        "libxkbcommon-x11-0",
    ),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon", "libxkbcommon0"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd", "libEGL1"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd", "libGL1"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig", "libfontconfig1"),
}


def can_load(soname: str) -> bool:
    """True when the dynamic loader finds ``soname`` (loading it has no side effect worth undoing), on
    the system or, in a PyInstaller build, in the bundle (which may carry some of them)."""
    candidates = [soname]
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates += [os.path.join(bundle, soname), os.path.join(bundle, "PySide6", "Qt", "lib", soname)]
    for name in candidates:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def missing_libraries(loader: Callable[[str], bool] = can_load) -> list[str]:
    """The sonames of :data:`XCB_LIBRARIES` that ``loader`` cannot load, in table order."""
    return [name for name in XCB_LIBRARIES if not loader(name)]


def distro_family(os_release: str | None = None) -> str | None:
    """``debian``, ``fedora``, ``arch`` or ``suse`` from ``/etc/os-release``'s ID and ID_LIKE; None
    when unknown (or the file is unreadable)."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    ids: list[str] = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids += value.strip().strip("\"'").lower().split()
    for i in ids:  # ID first: an Ubuntu derivative says ID_LIKE="ubuntu debian"
        for family, names in (
            ("debian", ("debian", "ubuntu", "linuxmint", "pop", "raspbian")),
            ("fedora", ("fedora", "rhel", "centos", "rocky", "almalinux")),
            ("arch", ("arch", "manjaro", "endeavouros")),
            ("suse", ("suse", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sles")),
        ):
            if i in names:
                return family
    return None


def install_hint(missing: Sequence[str], family: str | None) -> str:
    """What to tell the user: the missing libraries and the command that installs them (for the
    user's family, or for each family when it is unknown)."""
    lines = ["The window cannot open: Qt's X11 platform needs system libraries that are missing:"]
    lines.append("  " + ", ".join(missing))
    families = [family] if family in FAMILIES else list(FAMILIES)
    for fam in families:
        i = FAMILIES.index(fam)
        packages = sorted({XCB_LIBRARIES[m][i] for m in missing})
        lines.append(f"Install them ({FAMILY_NAMES[fam]}):  {INSTALL_COMMAND[fam]} {' '.join(packages)}")
    lines.append("(On a Wayland session, QT_QPA_PLATFORM=wayland uses Wayland instead; see docs/install.md.)")
    return "\n".join(lines)


def uses_xcb(env: Mapping[str, str] | None = None) -> bool:
    """True when Qt will pick its X11 platform: Linux, and ``QT_QPA_PLATFORM`` says xcb, or it is unset
    outside a Wayland session (Qt 6 tries Wayland first there, and xcb only after)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(";")[0].split(":")[0] == "xcb"
    return not (env.get("XDG_SESSION_TYPE") == "wayland" and env.get("WAYLAND_DISPLAY"))


def platform_problem(
    env: Mapping[str, str] | None = None,
    loader: Callable[[str], bool] = can_load,
    os_release: str | None = None,
) -> str | None:
    """A message naming the missing system packages when Qt's xcb platform could not load; else None.

    Frozen (PyInstaller) builds check too: they bundle Qt, not these system libraries.
    """
    if not uses_xcb(env):
        return None
    missing = missing_libraries(loader)
    if not missing:
        return None
    return install_hint(missing, distro_family(os_release))
