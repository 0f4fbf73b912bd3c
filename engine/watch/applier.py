"""Applying queued changes to the catalog, on the thread that owns the catalog and the store.

The disk is the truth: each entry is looked at again. New and changed files become pending rows,
renamed and moved ones are re-pointed (keeping their vectors), vanished ones wait a grace period in a
limbo, where a move the observers saw as a delete and a create finds them by content.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.indexing.scan import LinkPolicy, walk_media
from engine.media.images import quick_hash
from engine.media.kinds import kind_of_file
from engine.storage import catalog as cat
from engine.watch.paths import is_excluded_path, root_of
from engine.watch.queue import Change, Move

if TYPE_CHECKING:
    from engine.library import Library


@dataclass
class Applied:
    """What one round of changes did."""

    #: Row ids of new or changed files, to index before the backlog.
    fresh: list[int] = field(default_factory=list)
    moved: int = 0
    #: Rows whose files vanished (held in limbo, removed after the grace period unless they reappear).
    vanished: int = 0
    #: Paths still being written: look again later.
    growing: list[str] = field(default_factory=list)


class ChangeApplier:
    """Turns queued changes into catalog updates; runs on the thread that owns the catalog and store.

    Vanished rows wait ``grace`` seconds in a limbo before their rows and vectors are removed: if the
    same content appears under another path meanwhile (a move the watcher saw as delete + create), the
    row is re-pointed and keeps its vectors. Nothing here decodes or embeds.
    """

    def __init__(self, lib: Library, *, quiet_period: float, grace: float) -> None:
        self.lib = lib
        self.quiet_period = quiet_period
        self.grace = grace
        self._limbo: dict[int, tuple[cat.FileRow, float]] = {}
        # (size, hash) -> ids in limbo: a folder of 10k files moved between two watches is 10k lookups,
        # not 10k scans of the limbo.
        self._limbo_keys: dict[tuple[int, str], list[int]] = {}
        # New files found during one apply(), inserted together (one transaction, not one per file).
        self._adds: list[tuple[str, int, float, str]] = []

    @property
    def limbo_size(self) -> int:
        return len(self._limbo)

    def _folders(self) -> list[str]:
        return list(self.lib.settings.folders)

    def _online(self, root: str) -> bool:
        return os.path.isdir(root)

    # -- moves ------------------------------------------------------------------------------------------

    def _apply_move(self, mv: Move, out: Applied) -> None:
        catalog = self.lib.catalog
        folders = self._folders()
        rows = catalog.under(mv.src)
        one = catalog.by_path(mv.src)
        if one is not None:
            rows.append(one)
        if not rows:
            return
        dest_root = root_of(mv.dest, folders)
        if dest_root is None or is_excluded_path(mv.dest, dest_root, self.lib.settings.excludes):
            # Moved out of the library or into an excluded place (the trash): its files are gone.
            self._vanish(rows, out)
            return
        moves = []
        for row in rows:
            # The old size and mtime are kept on purpose: the destination is looked at next, and a file
            # changed since the move then differs and is re-indexed; an unchanged one keeps its vectors.
            moves.append((row.id, mv.dest + row.path[len(mv.src) :], row.size, row.mtime))
            self._unlimbo(row.id)
        # One transaction for the whole folder; rows replaced at the destination lose their vectors.
        dropped = catalog.move_many(moves)
        self.lib.delete_vectors(dropped)
        for fid in dropped:
            self._unlimbo(fid)
        # A failed row may have failed because this very move took its file from under the running batch
        # ("file not found"): try it again at its new path. A really broken file just fails again.
        retry = [row.id for row in rows if row.state == cat.FAILED]
        if retry:
            catalog.set_state(retry, cat.PENDING)
            out.fresh += retry
        out.moved += len(moves)

    # -- vanished ---------------------------------------------------------------------------------------

    def _vanish(self, rows: Iterable[cat.FileRow], out: Applied) -> None:
        now = time.monotonic()
        for row in rows:
            if row.state == cat.OFFLINE or row.id in self._limbo:
                continue
            self._limbo[row.id] = (row, now)
            if row.hash and row.state == cat.INDEXED:
                self._limbo_keys.setdefault((row.size, row.hash), []).append(row.id)
            out.vanished += 1

    def _unlimbo(self, fid: int) -> cat.FileRow | None:
        entry = self._limbo.pop(fid, None)
        if entry is None:
            return None
        row = entry[0]
        if row.hash:
            ids = self._limbo_keys.get((row.size, row.hash), [])
            if fid in ids:
                ids.remove(fid)
                if not ids:
                    del self._limbo_keys[(row.size, row.hash)]
        return row

    def _gone_path(self, path: str, out: Applied) -> None:
        root = root_of(path, self._folders())
        if root is None or not self._online(root):
            # Outside the library now, or its whole folder vanished: that is the offline case, where
            # entries are kept, never a deletion.
            return
        catalog = self.lib.catalog
        rows = catalog.under(path)
        one = catalog.by_path(path)
        if one is not None:
            rows.append(one)
        self._vanish([r for r in rows if not os.path.lexists(r.path)], out)

    def expire(self, *, force: bool = False) -> int:
        """Remove rows (vectors first, then the row) that have been gone for the grace period; returns
        how many. ``force`` removes every row in limbo whose file is still missing."""
        now = time.monotonic()
        folders = self._folders()
        doomed: list[int] = []
        for fid, (row, since) in list(self._limbo.items()):
            if not force and now - since < self.grace:
                continue
            self._unlimbo(fid)
            root = root_of(row.path, folders)
            if root is None or not self._online(root) or os.path.lexists(row.path):
                continue  # folder removed or offline (handled elsewhere), or the file is back
            doomed.append(fid)
        if doomed:
            self.lib.delete_vectors(doomed)  # vectors first: a crash here leaves rows the next scan removes
            self.lib.catalog.remove(doomed)
        return len(doomed)

    def forget_under(self, folder: str) -> None:
        prefix = folder.rstrip(os.sep) + os.sep
        for fid, (row, _) in list(self._limbo.items()):
            if row.path.startswith(prefix):
                self._unlimbo(fid)

    def _take_from_limbo(self, size: int, digest: str) -> cat.FileRow | None:
        ids = self._limbo_keys.get((size, digest))
        return self._unlimbo(ids[0]) if ids else None

    def _orphan_with(self, size: int, digest: str) -> cat.FileRow | None:
        """An indexed row with this content whose file is gone but whose deletion has not been seen yet
        (events from two watches can arrive in either order)."""
        folders = self._folders()
        for row in self.lib.catalog.by_hash(digest):
            root = root_of(row.path, folders)
            if (
                row.state == cat.INDEXED
                and row.size == size
                and root is not None
                and self._online(root)
                and not os.path.lexists(row.path)
            ):
                self._unlimbo(row.id)
                return row
        return None

    # -- present ----------------------------------------------------------------------------------------

    def _present_file(self, path: str, st: os.stat_result, kind: str, out: Applied, final: bool) -> None:
        age = time.time() - st.st_mtime
        if not final and 0 <= age < self.quiet_period:
            # Written less than a quiet period ago, yet no event since: still being copied by something
            # that writes in bursts. Look again later rather than embed half a file.
            out.growing.append(path)
            return
        catalog = self.lib.catalog
        row = catalog.by_path(path)
        if row is not None:
            self._unlimbo(row.id)
            if row.state == cat.OFFLINE:
                return  # its folder's return is handled by a rescan that restores the rows
            if (row.size, row.mtime) != (st.st_size, st.st_mtime):
                self._adds.append((path, st.st_size, st.st_mtime, kind))
            elif row.state == cat.PENDING:
                out.fresh.append(row.id)
            return
        try:
            digest: str | None = quick_hash(path)
        except OSError:
            digest = None
        match = None
        if digest is not None:
            match = self._take_from_limbo(st.st_size, digest) or self._orphan_with(st.st_size, digest)
        if match is not None:
            self.lib.delete_vectors(catalog.move(match.id, path, st.st_size, st.st_mtime))
            out.moved += 1
        else:
            self._adds.append((path, st.st_size, st.st_mtime, kind))

    def _present_dir(self, path: str, out: Applied, final: bool, links: LinkPolicy) -> None:
        excludes = self.lib.settings.excludes
        seen: set[str] = set()
        for fpath, st, kind in walk_media(Path(path), excludes, links=links):
            seen.add(fpath)
            self._present_file(fpath, st, kind.value, out, final)
        # Files that were in this folder's rows but are not on disk any more (a folder replaced by
        # another of the same name, or deletions that raced the move).
        rows = self.lib.catalog.under(path)
        self._vanish([r for r in rows if r.path not in seen and not os.path.lexists(r.path)], out)

    # -- entry point ------------------------------------------------------------------------------------

    def apply(self, moves: list[Move], changes: list[Change], *, final: bool = False) -> Applied:
        """Apply the moves in order, then look at each changed path on disk.

        ``final`` (when stopping): record files as they are even if written moments ago; a file still
        being written then has a pending row whose size the next start sees change.

        Never raises for one bad path: an unreadable file or folder is skipped (the next scan reports it).
        Catalog and store errors (LookalikeError, sqlite3.Error) do reach the caller.
        """
        out = Applied()
        self._adds = []
        for mv in moves:
            self._apply_move(mv, out)
        folders = self._folders()
        excludes = self.lib.settings.excludes
        # The scan's link policy, so that watching never finds what a scan would not (issue 12, row 3).
        links = LinkPolicy(folders)
        present: list[str] = []
        for ch in changes:
            root = root_of(ch.path, folders)
            if root is None or is_excluded_path(ch.path, root, excludes):
                continue
            if os.path.lexists(ch.path):
                present.append(ch.path)
            else:
                self._gone_path(ch.path, out)
        # Vanished rows first, then present files: a file moved between two watched folders then finds
        # its old row in limbo and keeps its vectors.
        for path in present:
            try:
                st = os.stat(path)
            except OSError:
                self._gone_path(path, out)
                continue
            if os.path.islink(path) and not links.follows(path):
                continue
            if stat.S_ISDIR(st.st_mode):
                self._present_dir(path, out, final, links)
            elif stat.S_ISREG(st.st_mode):
                kind = kind_of_file(path)  # an animated GIF/WebP is a clip
                if kind is not None:
                    self._present_file(path, st, kind.value, out, final)
        if self._adds:
            # New rows, and changed rows reset to pending (the same id, so the vectors are replaced).
            out.fresh += self.lib.catalog.add_many(self._adds)
            self._adds = []
        out.fresh = list(dict.fromkeys(out.fresh))
        return out
