"""The library's folders by name, in memory, for the names retriever (``Porto`` → ``2019 Porto trip/``).

Built from the catalog's paths (every parent folder of every file, inside the library's folders) and
rebuilt when the catalog connection has written since (SQLite's ``total_changes()``), but no more often
than 50 times its own build time (at 100k files a build is ~0.1 s, so while indexing it is redone at
most every few seconds; a small library's folders are always current). Keeping it in memory instead of
in a side table means nothing has to follow moves, renames and removals: the paths are the truth.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.search.query import fold
from engine.storage.catalog import py_path

if TYPE_CHECKING:
    from engine.library import Library

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: "_" splits words, as in names
_lock = threading.Lock()
_MEMO = "search:folder_names"


@dataclass
class FolderIndex:
    """Folders inside the library (its root folders and their ancestors left out: they hold every file
    of the root, so their names say nothing), with the folded words of each folder's own name."""

    #: (folder path, its name as written, the folded words of its name)
    folders: list[tuple[str, str, list[str]]] = field(default_factory=list)
    stamp: int = -1
    built_at: float = 0.0
    build_s: float = 0.0
    roots: list[str] = field(default_factory=list)

    def matching(self, term: str, *, phrase: bool, prefix: bool) -> list[tuple[str, str]]:
        """(path, name) of the folders whose name has ``term``: as a whole word (or a word starting
        with it when ``prefix``), or the words of a phrase in a row."""
        want = _WORD.findall(fold(term))
        if not want:
            return []
        n = len(want)
        out = []
        for path, name, words in self.folders:
            for i in range(len(words) - n + 1):
                w = words[i : i + n]
                if w[:-1] == want[:-1] and (w[-1] == want[-1] or (prefix and w[-1].startswith(want[-1]))):
                    out.append((path, name))
                    break
        return out


def build(paths: list[str], roots: list[str]) -> FolderIndex:
    """The folder index of ``paths`` (files) under ``roots`` (the library's folders)."""
    roots = [r.rstrip(os.sep) for r in roots]
    parents = {os.path.dirname(p) for p in paths}
    folders: set[str] = set()
    for d in parents:
        root = max((r for r in roots if d == r or d.startswith(r + os.sep)), key=len, default=None)
        if root is None:
            continue
        while d != root and d.startswith(root + os.sep) and d not in folders:
            folders.add(d)
            d = os.path.dirname(d)
    entries = []
    for d in sorted(folders):
        name = os.path.basename(d)
        entries.append((d, name, _WORD.findall(fold(name))))
    return FolderIndex(entries)


def folder_index(lib: Library) -> FolderIndex:
    """The library's current folder index (see the module docstring)."""
    stamp = int(lib.catalog.query("SELECT total_changes()")[0][0])
    now = time.monotonic()
    with _lock:
        index: FolderIndex | None = lib.memo.get(_MEMO)
        roots = list(lib.settings.folders)
        fresh = index is not None and (index.stamp == stamp or now - index.built_at < 50 * index.build_s)
        if index is not None and fresh and index.roots == roots:
            return index
        started = time.perf_counter()
        paths = [py_path(r[0]) for r in lib.catalog.query("SELECT path FROM files")]
        index = build(paths, roots)
        index.stamp, index.built_at = stamp, now
        index.build_s = time.perf_counter() - started
        index.roots = roots
        lib.memo[_MEMO] = index
        return index
