"""Install, uninstall and status over a list of items, with a manifest of what was written.

An item is one thing the integration owns: a whole file (:class:`FileItem`), our action inside a file
the user also owns (Thunar's ``uca.xml``), or a registry value (Windows). Each can say whether it is
there as it should be, write itself only when that changes something, and remove itself.

The manifest (JSON, in the per-user data folder) lists the items written and the folders (or registry
keys) that did not exist before, so that ``uninstall`` removes exactly those, even after the plan
changed between versions; ``install`` also removes items a previous install wrote that the current plan
no longer has. Writing only what differs is what makes a second ``install`` a no-op: no file is touched,
so mtimes and caches stay as they are.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from desktop.integration import IntegrationError

ABSENT = "absent"
INSTALLED = "installed"
OUTDATED = "outdated"  # there, but not what install would write now (e.g. the app moved): install again
BROKEN = "broken"  # cannot be read or changed safely; the reason is in the status line

MANIFEST_VERSION = 1


@dataclass
class Journal:
    """What an install created, oldest first: folders and registry keys (uninstall removes them once
    empty), and shared files that did not exist before (uninstall deletes them when only what install
    started them with is left)."""

    dirs: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add_dirs(self, dirs: Sequence[Path]) -> None:
        for d in dirs:
            if str(d) not in self.dirs:
                self.dirs.append(str(d))

    def add_key(self, key: str) -> None:
        if key not in self.keys:
            self.keys.append(key)

    def add_file(self, path: Path) -> None:
        if str(path) not in self.files:
            self.files.append(str(path))


class Item(Protocol):
    """One owned thing. ``component`` names it for people, ``location`` says where it is."""

    component: str

    @property
    def location(self) -> str: ...

    def key(self) -> dict[str, Any]:
        """Its identity in the manifest (JSON): enough for :func:`restore` to remove it later."""
        ...

    def state(self) -> str:
        """ABSENT, INSTALLED, OUTDATED; raises IntegrationError when it cannot tell (BROKEN)."""
        ...

    def apply(self, journal: Journal) -> bool:
        """Make it as it should be; True if anything was written. Raises IntegrationError or OSError."""
        ...

    def remove(self, journal: Journal) -> bool:
        """Take it away; True if anything was removed. Raises IntegrationError or OSError."""
        ...


def missing_parents(path: Path) -> list[Path]:
    """The ancestors of ``path`` (itself included) that do not exist, outermost first."""
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    return missing[::-1]


def write_if_changed(path: Path, content: bytes, mode: int, journal: Journal) -> bool:
    """Write ``content`` to ``path`` with permission bits ``mode`` unless it is already exactly that.

    The write goes to a temporary file in the same folder and is renamed over the target, so a file
    manager reading the folder never sees half a file.
    """
    try:
        current: bytes | None = path.read_bytes()
    except FileNotFoundError:
        current = None
    if current == content:
        if (path.stat().st_mode & 0o777) == mode:
            return False
        os.chmod(path, mode)
        return True
    journal.add_dirs(missing_parents(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


@dataclass
class FileItem:
    """A whole file that is ours (its name is ours too). ``content`` None: known from a manifest only,
    so it can be removed but not written."""

    path: Path
    content: bytes | None
    component: str
    executable: bool = False

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def mode(self) -> int:
        return 0o755 if self.executable else 0o644

    def key(self) -> dict[str, Any]:
        return {"type": "file", "path": str(self.path)}

    def state(self) -> str:
        if not self.path.is_file():
            return ABSENT
        if self.content is None:
            return INSTALLED
        same = self.path.read_bytes() == self.content and (self.path.stat().st_mode & 0o777) == self.mode
        return INSTALLED if same else OUTDATED

    def apply(self, journal: Journal) -> bool:
        if self.content is None:
            raise IntegrationError(f"{self.path}: nothing to write")
        return write_if_changed(self.path, self.content, self.mode, journal)

    def remove(self, journal: Journal) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


@dataclass
class Manifest:
    """What an install wrote: item keys, created containers, and platform state (e.g. caches)."""

    platform: str
    items: list[dict[str, Any]] = field(default_factory=list)
    journal: Journal = field(default_factory=Journal)
    state: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        data = {
            "version": MANIFEST_VERSION,
            "platform": self.platform,
            "items": self.items,
            "created_dirs": self.journal.dirs,
            "created_keys": self.journal.keys,
            "created_files": self.journal.files,
            "state": self.state,
        }
        return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def load(cls, path: Path, platform: str) -> Manifest:
        """The manifest at ``path``; an empty one when there is none. Raises IntegrationError when the
        file exists but is not a manifest (it is left alone)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(platform)
        except (OSError, ValueError) as exc:
            raise IntegrationError(f"{path} cannot be read ({exc}); move it away and try again") from None
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            raise IntegrationError(f"{path} is not a Lookalike integration manifest this version reads")
        return cls(
            platform=str(data.get("platform", platform)),
            items=list(data.get("items", [])),
            journal=Journal(
                list(data.get("created_dirs", [])),
                list(data.get("created_keys", [])),
                list(data.get("created_files", [])),
            ),
            state=dict(data.get("state", {})),
        )


@dataclass
class Outcome:
    """What one install/uninstall did, line by line, for the CLI."""

    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class StatusLine:
    component: str
    location: str
    state: str
    detail: str = ""


#: Called after items changed: ``(action, manifest)`` with action "install" or "uninstall". Platforms
#: refresh caches here (and record in ``manifest.state`` what they created), or delete registry keys.
AfterChange = Callable[[str, Manifest], None]


@dataclass
class Integration:
    """One platform's integration: the items install writes now, and where the manifest lives."""

    platform: str
    items: list[Item]
    manifest_path: Path
    #: An item from a manifest key, able at least to remove itself.
    restore: Callable[[dict[str, Any]], Item]
    after_change: AfterChange | None = None
    #: Facts for the status header (the command the actions run, …).
    facts: dict[str, str] = field(default_factory=dict)

    def _restore_all(self, keys: Sequence[dict[str, Any]]) -> list[Item]:
        """Items for manifest keys: the plan's own item where it has one (it knows its name)."""
        planned = {json.dumps(it.key(), sort_keys=True): it for it in self.items}
        return [planned.get(json.dumps(k, sort_keys=True)) or self.restore(k) for k in keys]

    def install(self) -> Outcome:
        """Write every item that is not as it should be; remove items an earlier install wrote that the
        plan no longer has. Idempotent: a second run writes nothing."""
        out = Outcome()
        manifest = Manifest.load(self.manifest_path, self.platform)
        wanted = [it.key() for it in self.items]
        kept: list[dict[str, Any]] = []
        for old in self._restore_all([k for k in manifest.items if k not in wanted]):
            try:
                if old.remove(manifest.journal):
                    out.changed.append(f"removed  {old.component}: {old.location} (no longer installed)")
            except (OSError, IntegrationError) as exc:
                out.errors.append(f"{old.component}: {old.location}: {exc}")
                kept.append(old.key())
        written: list[dict[str, Any]] = []
        for it in self.items:
            try:
                changed = it.apply(manifest.journal)
            except (OSError, IntegrationError) as exc:
                out.errors.append(f"{it.component}: {it.location}: {exc}")
                if it.key() in manifest.items:
                    written.append(it.key())  # an earlier install wrote it: uninstall must still know
                continue
            written.append(it.key())
            (out.changed if changed else out.unchanged).append(f"{it.component}: {it.location}")
        manifest.items = kept + written
        if out.changed and self.after_change:
            self.after_change("install", manifest)
        self._save(manifest)
        return out

    def uninstall(self) -> Outcome:
        """Remove every item the manifest lists (and any of the current plan's, in case the manifest was
        lost), then the folders and keys install created, once empty, and the manifest."""
        out = Outcome()
        manifest = Manifest.load(self.manifest_path, self.platform)
        keys = list(manifest.items) + [it.key() for it in self.items if it.key() not in manifest.items]
        for it in self._restore_all(keys):
            try:
                (out.changed if it.remove(manifest.journal) else out.unchanged).append(
                    f"{it.component}: {it.location}"
                )
            except (OSError, IntegrationError) as exc:
                out.errors.append(f"{it.component}: {it.location}: {exc}")
        if self.after_change:
            self.after_change("uninstall", manifest)
        if out.errors:
            self._save(manifest)  # keep the record of what is still there
            return out
        self.manifest_path.unlink(missing_ok=True)
        for d in reversed(manifest.journal.dirs):
            with contextlib.suppress(OSError):  # rmdir only removes empty folders: the user's things stay
                os.rmdir(d)
        return out

    def status(self) -> list[StatusLine]:
        """Each item of the plan with its state; items only an earlier install left are listed too."""
        lines: list[StatusLine] = []
        for it in self.items:
            try:
                lines.append(StatusLine(it.component, it.location, it.state()))
            except (OSError, IntegrationError) as exc:
                lines.append(StatusLine(it.component, it.location, BROKEN, str(exc)))
        try:
            manifest = Manifest.load(self.manifest_path, self.platform)
        except IntegrationError as exc:
            lines.append(StatusLine("manifest", str(self.manifest_path), BROKEN, str(exc)))
            return lines
        wanted = [it.key() for it in self.items]
        for it in self._restore_all([k for k in manifest.items if k not in wanted]):
            try:
                state = it.state()
            except (OSError, IntegrationError):
                state = BROKEN
            if state != ABSENT:
                lines.append(StatusLine(it.component, it.location, state, "left by an earlier install"))
        return lines

    def _save(self, manifest: Manifest) -> None:
        # The manifest's own folder may be new: record it first, so the saved manifest lists it.
        manifest.journal.add_dirs(missing_parents(self.manifest_path.parent))
        write_if_changed(self.manifest_path, manifest.to_bytes(), 0o644, Journal())
