"""Windows integration: a "Find similar with Lookalike" verb in Explorer's context menu, per user.

Written under ``HKEY_CURRENT_USER\\Software\\Classes\\SystemFileAssociations\\{image,video,audio}\\shell``
(no admin rights; Explorer merges HKCU over HKLM), one verb key per perceived type::

    ...\\shell\\io.github.lookalike.Lookalike.FindSimilar
        MUIVerb  = "Find similar with Lookalike"
        Icon     = "C:\\...\\lookalike.ico"
        command\\(default) = "C:\\...\\lookalike-app.exe" --similar "%1"

The command is the windowed entry point (no console flashes up) and hands the file to the running app
over its named pipe, or starts the app with it. Explorer starts one command per selected file, so a
multi-selection arrives as several requests: the app shows the last one (see docs/install.md).

All registry access goes through :class:`Registry`, a four-method layer that :class:`WinRegistry`
implements with :mod:`winreg` and the tests implement with a dictionary.
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from desktop.integration import ACTION_LABEL, APP_ID, APP_NAME, IntegrationError, icons_dir
from desktop.integration.command import launcher_command, windows_command
from desktop.integration.common import (
    ABSENT,
    INSTALLED,
    OUTDATED,
    FileItem,
    Integration,
    Item,
    Journal,
    Manifest,
)

PERCEIVED_TYPES = ("image", "video", "audio")
VERB = f"{APP_ID}.FindSimilar"
CLASSES = "Software\\Classes\\SystemFileAssociations"


def verb_key(perceived: str) -> str:
    """The verb's key, relative to HKEY_CURRENT_USER."""
    return f"{CLASSES}\\{perceived}\\shell\\{VERB}"


class Registry(Protocol):
    """The registry under one root (HKEY_CURRENT_USER), keys as backslash paths. Value name "" is the
    key's default value. Methods raise OSError for access problems."""

    def get(self, key: str, name: str) -> str | None:
        """The string value, or None when the key or value is absent."""
        ...

    def set(self, key: str, name: str, value: str) -> None:
        """Set a string value, creating the key and its parents as needed."""
        ...

    def delete_value(self, key: str, name: str) -> bool:
        """Delete a value; False when it was not there."""
        ...

    def key_exists(self, key: str) -> bool: ...

    def is_empty(self, key: str) -> bool:
        """True when the key exists and has neither subkeys nor values."""
        ...

    def delete_key(self, key: str) -> None:
        """Delete a key that has no subkeys."""
        ...


class WinRegistry:
    """:class:`Registry` over ``winreg`` on HKEY_CURRENT_USER (Windows only)."""

    def __init__(self) -> None:
        import winreg

        self._w: Any = winreg  # typed Any: on other systems the stubs have no registry names
        self._root = self._w.HKEY_CURRENT_USER

    def get(self, key: str, name: str) -> str | None:
        try:
            with self._w.OpenKey(self._root, key) as k:
                value, _kind = self._w.QueryValueEx(k, name)
        except FileNotFoundError:
            return None
        return value if isinstance(value, str) else str(value)

    def set(self, key: str, name: str, value: str) -> None:
        with self._w.CreateKeyEx(self._root, key, 0, self._w.KEY_WRITE) as k:
            self._w.SetValueEx(k, name, 0, self._w.REG_SZ, value)

    def delete_value(self, key: str, name: str) -> bool:
        try:
            with self._w.OpenKey(self._root, key, 0, self._w.KEY_SET_VALUE) as k:
                self._w.DeleteValue(k, name)
        except FileNotFoundError:
            return False
        return True

    def key_exists(self, key: str) -> bool:
        try:
            self._w.OpenKey(self._root, key).Close()
        except FileNotFoundError:
            return False
        return True

    def is_empty(self, key: str) -> bool:
        try:
            with self._w.OpenKey(self._root, key) as k:
                subkeys, values, _ = self._w.QueryInfoKey(k)
        except FileNotFoundError:
            return False
        return subkeys == 0 and values == 0

    def delete_key(self, key: str) -> None:
        self._w.DeleteKey(self._root, key)


def _missing_keys(reg: Registry, key: str) -> list[str]:
    """``key`` and its ancestors that do not exist yet, outermost first."""
    parts = key.split("\\")
    return [
        "\\".join(parts[:i]) for i in range(1, len(parts) + 1) if not reg.key_exists("\\".join(parts[:i]))
    ]


@dataclass
class RegistryValue:
    """One string value we own. ``value`` None: known from a manifest only (removal)."""

    reg: Registry
    key_path: str
    name: str
    value: str | None
    component: str

    @property
    def location(self) -> str:
        return f"HKCU\\{self.key_path} [{self.name or '(default)'}]"

    def key(self) -> dict[str, Any]:
        return {"type": "regvalue", "key": self.key_path, "name": self.name}

    def state(self) -> str:
        current = self.reg.get(self.key_path, self.name)
        if current is None:
            return ABSENT
        return INSTALLED if self.value is None or current == self.value else OUTDATED

    def apply(self, journal: Journal) -> bool:
        if self.value is None:
            raise IntegrationError(f"{self.location}: nothing to write")
        if self.reg.get(self.key_path, self.name) == self.value:
            return False
        for k in _missing_keys(self.reg, self.key_path):
            journal.add_key(k)
        self.reg.set(self.key_path, self.name, self.value)
        return True

    def remove(self, journal: Journal) -> bool:
        return self.reg.delete_value(self.key_path, self.name)


@dataclass
class WindowsPaths:
    """Where the icon and the manifest go: ``%LOCALAPPDATA%\\Lookalike`` (the default data folder)."""

    data_dir: Path

    @classmethod
    def from_env(cls) -> WindowsPaths:
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return cls(Path(base) / APP_NAME)

    @property
    def icon(self) -> Path:
        return self.data_dir / "lookalike.ico"

    @property
    def manifest(self) -> Path:
        return self.data_dir / "integration.json"


def make_ico() -> bytes | None:
    """The app icon as a multi-size .ico (Explorer menus want .ico or an .exe resource), from the PNGs."""
    icons = icons_dir()
    if icons is None:
        return None
    from PIL import Image  # only install needs Pillow

    with Image.open(icons / "lookalike-256.png") as img:
        buf = io.BytesIO()
        img.convert("RGBA").save(
            buf, format="ICO", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (256, 256)]
        )
    return buf.getvalue()


def verb_command() -> list[str]:
    """The windowed launcher and the app's own option: ``lookalike-app.exe --similar``."""
    argv = launcher_command(windowed=True)
    return [*argv, "--similar"]


def _remove_created_keys(reg: Registry, action: str, manifest: Manifest) -> None:
    if action != "uninstall":
        return
    # Our verb keys go whole (their values are gone by now: only "command" subkeys can be left); the
    # parents install created go once empty. Deepest first.
    ours = [f"{verb_key(p)}\\command" for p in PERCEIVED_TYPES] + [verb_key(p) for p in PERCEIVED_TYPES]
    # The verb keys are ours by name, so they go even when a lost manifest did not record them.
    for k in sorted(set(manifest.journal.keys) | set(ours), key=lambda k: (-k.count("\\"), k)):
        if reg.key_exists(k) and reg.is_empty(k):
            reg.delete_key(k)


def integration(
    reg: Registry | None = None, paths: WindowsPaths | None = None, command: list[str] | None = None
) -> Integration:
    """The Windows integration writing into ``reg`` (default: the real HKCU) and ``paths``."""
    reg = reg if reg is not None else WinRegistry()
    paths = paths or WindowsPaths.from_env()
    argv = list(command or verb_command())
    frozen_exe = getattr(sys, "frozen", False)
    items: list[Item] = []
    ico = None if frozen_exe else make_ico()
    if ico is not None:
        items.append(FileItem(paths.icon, ico, "menu icon"))
        icon_value = str(paths.icon)
    else:
        icon_value = f"{argv[0]},0"  # the bundle's executable carries the icon as a resource
    command_line = windows_command(argv)
    for perceived in PERCEIVED_TYPES:
        key = verb_key(perceived)
        label = f"Explorer verb ({perceived})"
        items += [
            RegistryValue(reg, key, "MUIVerb", ACTION_LABEL, label),
            RegistryValue(reg, key, "Icon", icon_value, label),
            RegistryValue(reg, f"{key}\\command", "", command_line, label),
        ]

    def restore(key: dict[str, Any]) -> Item:
        if key.get("type") == "regvalue":
            return RegistryValue(reg, key["key"], key["name"], None, "Explorer verb")
        return FileItem(Path(key["path"]), None, "file")

    return Integration(
        platform="windows",
        items=items,
        manifest_path=paths.manifest,
        restore=restore,
        after_change=lambda action, manifest: _remove_created_keys(reg, action, manifest),
        facts={"command": command_line},
    )
