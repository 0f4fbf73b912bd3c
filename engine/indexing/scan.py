"""Scanning folders into the catalog: size/mtime reconciliation, move detection by content hash, offline
folders kept.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.progress import CancelFn, never
from engine.media.images import quick_hash
from engine.media.kinds import Kind, is_excluded, kind_of, kind_of_file
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library


@dataclass
class ScanReport:
    seen: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    moved: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Library folders found missing (an unplugged drive): their rows are kept, in state offline.
    offline: list[str] = field(default_factory=list)
    cancelled: bool = False


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


class LinkPolicy:
    """Which symbolic links the library follows: the one rule that the scan and the watcher share.

    A link is followed when what it points to exists and lies outside every library folder, and holds
    none of them: a folder or a file on another drive, linked into the library. A link to something
    inside the library is not: that content is indexed once, under its real path. Without this rule a
    link to a library folder's parent (``ln -s .. lib/sub/up``) made the watcher, walking ``lib/sub``
    alone, index the whole library a second time under ``lib/sub/up/`` (issue 12, row 3), and a link
    between two subfolders gave each photo two rows, depending on which path a walk met first.
    """

    def __init__(self, folders: Iterable[str | Path]) -> None:
        self.roots = tuple(os.path.realpath(f) for f in folders)

    def follows(self, link: str) -> bool:
        """True when the link at ``link`` is to be followed; False for a broken or looping one too."""
        try:
            target = os.path.realpath(link, strict=True)
        except (OSError, ValueError):  # broken, a loop of links, or a name the OS refuses
            return False
        return not any(_within(target, r) or _within(r, target) for r in self.roots)


def walk_media(
    root: Path,
    excludes: list[str],
    errors: list[tuple[str, str]] | None = None,
    *,
    links: LinkPolicy | None = None,
) -> Iterator[tuple[str, os.stat_result, Kind]]:
    """Yield (path, stat, kind) for every media file under ``root``.

    Excluded names are skipped; symbolic links are followed as ``links`` says (default: the policy of a
    library whose only folder is ``root``), folders among them once (a loop is cut by remembering each
    folder's device and inode); unreadable folders are reported in ``errors`` and skipped.
    """
    links = links or LinkPolicy([root])
    seen_dirs: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            entries = list(os.scandir(d))
        except OSError as exc:
            if errors is not None:
                errors.append((d, f"cannot read folder: {exc.strerror or exc}"))
            continue
        for e in entries:
            if is_excluded(e.name, excludes):
                continue
            try:
                if e.is_symlink() and not links.follows(e.path):
                    continue
                if e.is_dir(follow_symlinks=True):
                    stack.append(e.path)
                    continue
                kind = kind_of(e.name)
                if kind is None:
                    continue
                s = e.stat(follow_symlinks=True)
                if stat.S_ISREG(s.st_mode):
                    yield e.path, s, kind
            except OSError as exc:
                if errors is not None:
                    errors.append((e.path, f"cannot read: {exc.strerror or exc}"))


def _folder_online(root: Path, has_rows: bool) -> bool:
    """False for a missing folder, and for an empty one that has rows: what an unmounted drive's mount
    point looks like. Emptying it for real is seen file by file by the watcher instead."""
    try:
        with os.scandir(root) as it:
            return not has_rows or next(it, None) is not None
    except OSError:
        return False


def _restore_offline(catalog: cat.Catalog, known: dict[str, cat.FileRow]) -> None:
    """Rows of a folder that is back: offline becomes the state the row had, as far as its columns
    tell (an error means failed; a hash, model and time mean indexed; anything else is redone)."""
    back: dict[str, list[int]] = {}
    for r in known.values():
        if r.state == cat.OFFLINE:
            was_indexed = bool(r.hash and r.model and r.indexed_at)
            r.state = cat.FAILED if r.error else cat.INDEXED if was_indexed else cat.PENDING
            back.setdefault(r.state, []).append(r.id)
    for state, ids in back.items():
        catalog.set_state(ids, state)


def scan(lib: Library, folders: list[str] | None = None, *, cancel: CancelFn | None = None) -> ScanReport:
    """Bring the catalog in line with the disk for ``folders`` (default: the library's folders).

    New and changed files become pending rows; files gone from disk lose their rows and vectors, unless
    the same content reappears under another path (a move or rename), in which case the row is re-pointed
    and its vectors are kept. Only size and mtime are compared; content is hashed only to confirm a move.
    A missing folder (or an empty one that has rows: an unmounted drive) keeps its rows, marked offline,
    and they come back when the folder does. ``cancel()`` is checked while walking: a cancelled folder
    changes nothing and the report says ``cancelled``.
    """
    report = ScanReport()
    folders = folders if folders is not None else list(lib.settings.folders)
    catalog = lib.catalog
    cancel = cancel or never
    links = LinkPolicy(lib.settings.folders)
    for folder in folders:
        root = Path(folder)
        known = {r.path: r for r in catalog.under(str(root))}
        if not _folder_online(root, bool(known)):
            # An unplugged drive or a deleted folder: keep its entries, offline (searches skip them).
            catalog.set_state([r.id for r in known.values() if r.state != cat.OFFLINE], cat.OFFLINE)
            report.offline.append(folder)
            why = "is empty (drive not mounted?)" if root.is_dir() else "not found"
            report.unreadable.append((folder, f"folder {why}; its files are kept in the index, offline"))
            continue
        _restore_offline(catalog, known)
        new: list[tuple[str, os.stat_result, Kind]] = []
        changed: list[tuple[str, int, float, str]] = []
        for path, st, kind in walk_media(root, lib.settings.excludes, report.unreadable, links=links):
            report.seen += 1
            if report.seen % 1000 == 0 and cancel():
                report.cancelled = True
                return report
            row = known.pop(path, None)
            if row is None or row.size != st.st_size or row.mtime != st.st_mtime:
                kind = kind_of_file(path) or kind  # an animated GIF/WebP is a clip (read when new or changed)
            if row is None:
                new.append((path, st, kind))
            elif row.size != st.st_size or row.mtime != st.st_mtime:
                changed.append((path, st.st_size, st.st_mtime, kind.value))
        catalog.add_many(changed)
        report.changed += len(changed)
        gone = list(known.values())
        # Move detection: a new file with the size and content hash of a vanished indexed row.
        by_size: dict[int, list[cat.FileRow]] = {}
        for r in gone:
            if r.hash and r.state == cat.INDEXED:
                by_size.setdefault(r.size, []).append(r)
        added: list[tuple[str, int, float, str]] = []
        for path, st, kind in new:
            candidates = by_size.get(st.st_size)
            match = None
            if candidates:
                try:
                    digest = quick_hash(path)
                except OSError:
                    digest = None
                match = next((r for r in candidates if r.hash == digest), None)
            if match is not None:
                candidates.remove(match)  # type: ignore[union-attr]
                gone.remove(match)
                lib.delete_vectors(catalog.move(match.id, path, st.st_size, st.st_mtime))
                report.moved += 1
            else:
                added.append((path, st.st_size, st.st_mtime, kind.value))
        catalog.add_many(added)
        report.added += len(added)
        if gone:
            ids = [r.id for r in gone]
            lib.delete_vectors(ids)  # vectors first: a crash here leaves rows that the next scan removes
            catalog.remove(ids)
            report.removed += len(ids)
    return report
