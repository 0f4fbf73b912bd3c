"""Desktop integration: the "Find similar with Lookalike" entry in file managers, and the app launcher.

``lookalike integrate install | uninstall | status`` writes (or removes, or lists), per user and without
admin rights:

- Linux (:mod:`.linux`): a freedesktop ``.desktop`` launcher with MIME types and an ``Actions=`` entry,
  the icons, a Nautilus script, a Dolphin service menu and a Thunar custom action (:mod:`.thunar`);
- Windows (:mod:`.windows`): a shell verb under ``HKCU\\Software\\Classes\\SystemFileAssociations``;
- macOS (:mod:`.macos`): a Finder Quick Action (a Services ``.workflow`` bundle).

Every one of them runs the same command, ``lookalike integrate open FILE…`` (:mod:`desktop.handoff`,
outside this package since it may start the app): hand the files to the running app over its local
socket, or start the app with them.

What ``install`` wrote is recorded in a manifest (:mod:`.common`) so that ``uninstall`` removes exactly
that. Nothing in this package imports Qt: the file-manager command must start in milliseconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: The reverse-DNS application id: the .desktop file's name, the icon name, the AppStream id.
APP_ID = "io.github.lookalike.Lookalike"
APP_NAME = "Lookalike"
#: The menu entry every file manager shows.
ACTION_LABEL = "Find similar with Lookalike"
ACTION_DESCRIPTION = "Show the photos, video moments and sounds that look or sound like the selected files"


class IntegrationError(Exception):
    """A part of the integration could not be installed or removed; the message says which and why."""


def current_platform() -> str:
    """``"linux"``, ``"windows"`` or ``"macos"`` (other Unixes get the freedesktop integration)."""
    if sys.platform == "win32":
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def icons_dir() -> Path | None:
    """The folder holding ``lookalike.svg`` and ``lookalike-<size>.png``, wherever this copy runs from.

    A source checkout or editable install has ``resources/icons/`` beside the packages; a PyInstaller
    bundle unpacks it under ``sys._MEIPASS``; a wheel may carry the icons as package data in
    ``desktop/resources/`` (flat, where :mod:`desktop.icons` looks too). None when none of them has
    the icons: the integration then installs without icons and ``status`` says so.
    """
    here = Path(__file__).resolve().parent  # desktop/integration
    candidates = [
        here.parent.parent / "resources" / "icons",
        here.parent / "resources" / "icons",
        here.parent / "resources",
    ]
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        candidates.insert(0, Path(meipass) / "resources" / "icons")
    return next((d for d in candidates if (d / "lookalike.svg").is_file()), None)
