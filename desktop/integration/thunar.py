"""Our custom action inside Thunar's ``uca.xml``, a file that also holds the user's own actions.

The file is edited as text, not re-serialised: our ``<action>`` element goes in just before the closing
``</actions>`` and comes out as exactly the same characters, so the user's actions, comments and
formatting stay byte for byte as they were. Our element is recognised by its ``<unique-id>``. A file
that is not well-formed XML is never touched (Thunar would lose the user's actions if we broke it).

When the user has no ``uca.xml`` yet, Thunar reads the system one (``$XDG_CONFIG_DIRS/Thunar/uca.xml``,
with "Open Terminal Here"); a user file replaces it, so a new user file starts as a copy of the system
one. Uninstall deletes the file again when it holds nothing but that starting content.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from desktop.integration import ACTION_DESCRIPTION, ACTION_LABEL, APP_ID, IntegrationError
from desktop.integration.common import ABSENT, INSTALLED, OUTDATED, Journal, write_if_changed

UNIQUE_ID = f"{APP_ID}.find-similar"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?>\n<actions>\n</actions>\n'
_ACTION_RE = re.compile(r"<action>(?:(?!</action>).)*</action>[ \t]*\n?", re.DOTALL)


def action_block(command: str, icon: str = APP_ID) -> str:
    """Our ``<action>`` element as Thunar itself writes them (tab-indented), with a trailing newline.

    ``command`` is a shell-style line; Thunar replaces ``%F`` with the quoted paths of the selection.
    The file-type flags and ``*`` pattern show it for images, videos and sounds only.
    """
    return (
        "<action>\n"
        f"\t<icon>{escape(icon)}</icon>\n"
        f"\t<name>{escape(ACTION_LABEL)}</name>\n"
        "\t<submenu></submenu>\n"
        f"\t<unique-id>{UNIQUE_ID}</unique-id>\n"
        f"\t<command>{escape(command)}</command>\n"
        f"\t<description>{escape(ACTION_DESCRIPTION)}</description>\n"
        "\t<range>*</range>\n"
        "\t<patterns>*</patterns>\n"
        "\t<audio-files/>\n"
        "\t<image-files/>\n"
        "\t<video-files/>\n"
        "</action>\n"
    )


def _check_xml(text: str, path: Path) -> None:
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        raise IntegrationError(f"{path} is not well-formed XML ({exc}); left as it is") from None
    if root.tag != "actions":
        raise IntegrationError(f"{path} is not a Thunar actions file; left as it is")


def _ours(text: str) -> list[re.Match[str]]:
    return [m for m in _ACTION_RE.finditer(text) if f"<unique-id>{UNIQUE_ID}</unique-id>" in m.group(0)]


def without_ours(text: str) -> str:
    """``text`` with our action elements (and the line ends that followed them) cut out."""
    for m in reversed(_ours(text)):
        text = text[: m.start()] + text[m.end() :]
    return text


def with_ours(text: str, block: str) -> str:
    """``text`` with exactly one copy of ``block``: in place of an older one, else before ``</actions>``."""
    found = _ours(text)
    if len(found) == 1:
        m = found[0]
        return text[: m.start()] + block + text[m.end() :]
    text = without_ours(text)
    end = text.rfind("</actions>")
    if end < 0:
        raise IntegrationError("no </actions> element")
    return text[:end] + block + text[end:]


def system_uca(config_dirs: list[Path]) -> str | None:
    """The system-wide uca.xml Thunar reads when the user has none, or None."""
    for d in config_dirs:
        p = d / "Thunar" / "uca.xml"
        if p.is_file():
            try:
                return p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
    return None


@dataclass
class ThunarItem:
    """Our action in ``path`` (``~/.config/Thunar/uca.xml``). ``command`` None: for removal only."""

    path: Path
    command: str | None
    config_dirs: list[Path]
    component: str = "Thunar custom action"

    @property
    def location(self) -> str:
        return f"{self.path} (action {UNIQUE_ID})"

    def key(self) -> dict[str, Any]:
        return {"type": "thunar", "path": str(self.path)}

    def _starting_text(self) -> str:
        return system_uca(self.config_dirs) or EMPTY

    def _read(self) -> str | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise IntegrationError(f"{self.path} cannot be read ({exc}); left as it is") from None
        _check_xml(text, self.path)
        return text

    def state(self) -> str:
        text = self._read()
        found = _ours(text) if text is not None else []
        if not found:
            return ABSENT
        if self.command is None:
            return INSTALLED
        return INSTALLED if [m.group(0) for m in found] == [action_block(self.command)] else OUTDATED

    def apply(self, journal: Journal) -> bool:
        if self.command is None:
            raise IntegrationError(f"{self.path}: nothing to write")
        text = self._read()
        base = text if text is not None else self._starting_text()
        new = with_ours(base, action_block(self.command))
        _check_xml(new, self.path)  # never leave Thunar a file it cannot read
        if text is None:
            journal.add_file(self.path)
        mode = (self.path.stat().st_mode & 0o777) if text is not None else 0o644
        return write_if_changed(self.path, new.encode("utf-8"), mode, journal)

    def remove(self, journal: Journal) -> bool:
        text = self._read()
        if text is None or not _ours(text):
            return False
        rest = without_ours(text)
        _check_xml(rest, self.path)
        if str(self.path) in journal.files and rest in (self._starting_text(), EMPTY):
            # Install made this file and nothing of the user's went in since: without it Thunar reads
            # the system file again, as it did before.
            self.path.unlink()
            return True
        mode = self.path.stat().st_mode & 0o777
        write_if_changed(self.path, rest.encode("utf-8"), mode, Journal())
        return True


def config_dirs_from_env() -> list[Path]:
    """``$XDG_CONFIG_DIRS`` (default ``/etc/xdg``) as paths, in order."""
    raw = os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    return [Path(p) for p in raw.split(":") if p]
