"""Linux (freedesktop) integration, per user under ``$XDG_DATA_HOME`` and ``$XDG_CONFIG_HOME``.

- ``applications/io.github.lookalike.Lookalike.desktop``: the launcher (menus, docks, "Open With"
  for images, videos and sounds) with a "Find similar with Lookalike" desktop action;
- ``icons/hicolor/<size>/apps/io.github.lookalike.Lookalike.{png,svg}``;
- ``nautilus/scripts/Find similar with Lookalike``: Nautilus (GNOME Files) Scripts menu;
- ``kio/servicemenus/io.github.lookalike.Lookalike.desktop``: Dolphin/KDE context menu (executable, as
  Plasma 6 requires for service menus outside system folders);
- our ``<action>`` in ``$XDG_CONFIG_HOME/Thunar/uca.xml`` (:mod:`.thunar`).

All run ``<absolute lookalike> integrate open <files>``. Afterwards ``update-desktop-database`` refreshes
the MIME cache of the applications folder (where desktop-file-utils is missing, :func:`write_mime_cache`
writes the same file), and ``gtk-update-icon-cache`` the icon cache, but only where
a cache already exists: a stale cache hides new icons, a missing one costs nothing. Caches that did not
exist before install are deleted again by uninstall.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.integration import ACTION_DESCRIPTION, ACTION_LABEL, APP_ID, APP_NAME, icons_dir
from desktop.integration.command import desktop_exec, open_command, sh_command
from desktop.integration.common import FileItem, Integration, Item, Manifest
from desktop.integration.thunar import ThunarItem, config_dirs_from_env

#: MIME types of every extension engine.media.kinds indexes (canonical names from shared-mime-info), so that
#: Lookalike is offered in "Open With" for them. A test checks this against engine.media.kinds and globs2.
MIME_TYPES = (
    "image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp", "image/heif",
    "image/heic", "image/avif",
    "image/x-canon-cr2", "image/x-canon-cr3", "image/x-nikon-nef", "image/x-sony-arw", "image/x-fuji-raf",
    "image/x-olympus-orf", "image/x-panasonic-rw2", "image/x-adobe-dng",
    "video/mp4", "video/quicktime", "video/x-matroska", "video/webm", "video/x-msvideo", "video/mpeg",
    "video/mp2t", "video/3gpp", "video/x-ms-wmv", "video/x-flv", "video/ogg",
    "audio/x-wav", "audio/flac", "audio/ogg", "audio/x-vorbis+ogg", "audio/x-flac+ogg", "audio/x-opus+ogg",
    "audio/mpeg", "audio/mp4", "audio/aac", "audio/x-ms-wma", "audio/x-aiff",
)  # fmt: skip
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
NAUTILUS_SCRIPT = ACTION_LABEL  # the file name is the menu label
DESKTOP_ACTION = "find-similar"


def desktop_entry(open_argv: list[str]) -> str:
    """The launcher's ``.desktop`` file running ``open_argv`` (``lookalike integrate open``) on files.

    The same command serves the menu (no files: the window comes up), "Open With" and the desktop
    action (files: items like them).
    """
    exe = open_argv[0]
    exec_line = desktop_exec(open_argv)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"  # 1.5 is newer than the validators most distributions ship
        f"Name={APP_NAME}\n"
        "GenericName=Media Search\n"
        "Comment=Search your own photos, video moments and sounds, on this computer\n"
        f"Icon={APP_ID}\n"
        f"TryExec={exe.replace(chr(92), chr(92) * 2)}\n"
        f"Exec={exec_line}\n"
        "Terminal=false\n"
        "StartupNotify=true\n"
        "Categories=Graphics;Viewer;\n"  # one main category, or menus list it twice
        "Keywords=photo;picture;image;video;clip;sound;audio;search;similar;find;\n"
        f"MimeType={';'.join(MIME_TYPES)};\n"
        f"Actions={DESKTOP_ACTION};\n"
        "\n"
        f"[Desktop Action {DESKTOP_ACTION}]\n"
        f"Name={ACTION_LABEL}\n"
        f"Icon={APP_ID}\n"
        f"Exec={exec_line}\n"
    )


def service_menu(open_argv: list[str]) -> str:
    """Dolphin's service menu: shown on images, videos and sounds (KIO accepts MIME wildcards)."""
    return (
        "[Desktop Entry]\n"
        "Type=Service\n"
        "X-KDE-ServiceTypes=KonqPopupMenu/Plugin\n"
        "MimeType=image/*;video/*;audio/*;\n"
        f"Actions={DESKTOP_ACTION}\n"
        f"Icon={APP_ID}\n"
        "\n"
        f"[Desktop Action {DESKTOP_ACTION}]\n"
        f"Name={ACTION_LABEL}\n"
        f"Icon={APP_ID}\n"
        f"Exec={desktop_exec(open_argv)}\n"
    )


def nautilus_script(open_argv: list[str]) -> str:
    """Nautilus runs the script with the selected files as arguments, in their folder."""
    return (
        "#!/bin/sh\n"
        f"# {ACTION_DESCRIPTION}.\n"
        "# Written by `lookalike integrate install`; `lookalike integrate uninstall` removes it.\n"
        f'exec {sh_command(open_argv)} "$@"\n'
    )


@dataclass
class LinuxPaths:
    """The per-user folders, from the XDG variables (or their defaults under ``$HOME``)."""

    data_home: Path
    config_home: Path
    config_dirs: list[Path]

    @classmethod
    def from_env(cls) -> LinuxPaths:
        home = Path.home()
        data = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
        config = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")
        return cls(Path(data), Path(config), config_dirs_from_env())

    @property
    def applications(self) -> Path:
        return self.data_home / "applications"

    @property
    def hicolor(self) -> Path:
        return self.data_home / "icons" / "hicolor"

    @property
    def desktop_file(self) -> Path:
        return self.applications / f"{APP_ID}.desktop"

    @property
    def nautilus_script(self) -> Path:
        return self.data_home / "nautilus" / "scripts" / NAUTILUS_SCRIPT

    @property
    def service_menu(self) -> Path:
        return self.data_home / "kio" / "servicemenus" / f"{APP_ID}.desktop"

    @property
    def uca_xml(self) -> Path:
        return self.config_home / "Thunar" / "uca.xml"

    @property
    def manifest(self) -> Path:
        # The default data folder (not $LOOKALIKE_HOME): the integration is per user, not per library.
        return self.data_home / APP_NAME / "integration.json"


def icon_items(paths: LinuxPaths) -> list[FileItem]:
    """The app icon in every size the resources have, under the hicolor theme."""
    icons = icons_dir()
    if icons is None:
        return []
    items = []
    for size in ICON_SIZES:
        png = icons / f"lookalike-{size}.png"
        if png.is_file():
            dest = paths.hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
            items.append(FileItem(dest, png.read_bytes(), f"icon {size}x{size}"))
    svg = icons / "lookalike.svg"
    items.append(
        FileItem(paths.hicolor / "scalable" / "apps" / f"{APP_ID}.svg", svg.read_bytes(), "icon (SVG)")
    )
    return items


def _run_quietly(argv: list[str]) -> bool:
    """Run a cache tool if it is installed; True when it ran and succeeded."""
    if shutil.which(argv[0]) is None:
        return False
    try:
        return (
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        return False


def _desktop_mime_types(path: Path) -> list[str]:
    """The ``MimeType=`` list of a ``.desktop`` file's ``[Desktop Entry]`` group ([] for a hidden,
    unreadable or malformed one)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    group = None
    types: list[str] = []
    hidden = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            group = line
        elif group == "[Desktop Entry]" and "=" in line:
            key, value = (x.strip() for x in line.split("=", 1))
            if key == "MimeType":
                types = [t for t in value.split(";") if t]
            elif key == "Hidden" and value == "true":
                hidden = True
    return [] if hidden else types


def write_mime_cache(applications: Path) -> bool:
    """Write ``applications/mimeinfo.cache`` from the ``.desktop`` files there, as
    ``update-desktop-database`` would, for systems without desktop-file-utils.

    GLib (Nautilus, "Open With", ``gio mime``) looks up the apps for a MIME type in this cache; without
    it, GLib 2.74 (Debian 12) offers no user-installed app for image/jpeg. The format is a key file:
    ``[MIME Cache]`` then ``type=app1.desktop;app2.desktop;`` per type. Desktop files in subfolders get
    ids with ``-`` for ``/``, as the desktop entry spec says. Returns False when it could not write.
    """
    by_type: dict[str, set[str]] = {}
    for f in sorted(applications.rglob("*.desktop")):
        desktop_id = "-".join(f.relative_to(applications).parts)
        for t in _desktop_mime_types(f):
            by_type.setdefault(t, set()).add(desktop_id)
    lines = ["[MIME Cache]"] + [f"{t}={';'.join(sorted(ids))};" for t, ids in sorted(by_type.items())]
    cache = applications / "mimeinfo.cache"
    tmp = cache.with_name(".mimeinfo.cache.tmp")
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, cache)  # readers never see half a cache
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True


def _update_mime_cache(applications: Path) -> bool:
    """``update-desktop-database`` where installed, else our own writer (same file, same format)."""
    if not applications.is_dir():
        return False
    if shutil.which("update-desktop-database") is not None:
        return _run_quietly(["update-desktop-database", "-q", str(applications)])
    return write_mime_cache(applications)


def _refresh_caches(paths: LinuxPaths, action: str, manifest: Manifest) -> None:
    """Bring the MIME and icon caches up to date, and delete the ones install brought into being."""
    caches = manifest.state.setdefault("caches", {})
    hicolor = paths.hicolor
    jobs: list[tuple[Path, Callable[[], bool]]] = [
        (paths.applications / "mimeinfo.cache", lambda: _update_mime_cache(paths.applications)),
        (
            hicolor / "icon-theme.cache",
            lambda: (
                hicolor.is_dir() and _run_quietly(["gtk-update-icon-cache", "-q", "-t", "-f", str(hicolor)])
            ),
        ),
    ]
    for cache, refresh in jobs:
        key = str(cache)
        if action == "install":
            existed = cache.exists()
            is_mime = cache.name == "mimeinfo.cache"
            # A MIME cache is how GLib finds "Open With" apps fast: create one when needed. An icon cache
            # is only refreshed when the user already has one (see the module docstring).
            if (is_mime or existed) and refresh():
                caches.setdefault(key, "existed" if existed else "created")
        elif key in caches:
            if caches[key] == "created":
                cache.unlink(missing_ok=True)
            else:
                refresh()  # it was there before: regenerate it without our entries


def integration(paths: LinuxPaths | None = None, open_argv: list[str] | None = None) -> Integration:
    """The Linux integration for ``paths`` (default: from the environment), running ``open_argv``
    (default: this installation's ``lookalike integrate open``)."""
    paths = paths or LinuxPaths.from_env()
    argv = list(open_argv or open_command())
    items: list[Item] = [
        FileItem(paths.desktop_file, desktop_entry(argv).encode("utf-8"), "app launcher (.desktop)"),
        *icon_items(paths),
        FileItem(
            paths.nautilus_script, nautilus_script(argv).encode("utf-8"), "Nautilus script", executable=True
        ),
        FileItem(
            paths.service_menu, service_menu(argv).encode("utf-8"), "Dolphin service menu", executable=True
        ),
        ThunarItem(paths.uca_xml, sh_command(argv) + " %F", paths.config_dirs),
    ]

    def restore(key: dict[str, Any]) -> Item:
        if key.get("type") == "thunar":
            return ThunarItem(Path(key["path"]), None, paths.config_dirs)
        return FileItem(Path(key["path"]), None, "file")

    return Integration(
        platform="linux",
        items=items,
        manifest_path=paths.manifest,
        restore=restore,
        after_change=lambda action, manifest: _refresh_caches(paths, action, manifest),
        facts={"command": sh_command(argv) + " FILE…", "icons": str(icons_dir() or "not found")},
    )
