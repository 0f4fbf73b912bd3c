"""The library's folders by name, in memory, for the names retriever (``Porto`` → ``2019 Porto trip/``).

Built from the catalog's paths (every parent folder of every file, inside the library's folders) and
rebuilt when the catalog connection has written since (SQLite's ``total_changes()``), but no more often
than 50 times its own build time when that is over 20 ms (at 100k files a build is ~0.1 s, so while
indexing it is redone at most every few seconds; a small library's folders are always current). It
holds each folder's file ids too, so a folder match costs no query; the catalog rows fetched for the
results then drop any file removed since. Keeping it in memory instead of
in a side table means nothing has to follow moves, renames and removals: the paths are the truth.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

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

    #: folder path → ids of the files anywhere inside it (when built with ids).
    files: dict[str, np.ndarray] = field(default_factory=dict)
    #: word → indices of the folders whose name has it, and the words sorted (for prefixes).
    postings: dict[str, list[int]] = field(default_factory=dict)
    words_sorted: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, (_, _, words) in enumerate(self.folders):
            for w in dict.fromkeys(words):
                self.postings.setdefault(w, []).append(i)
        self.words_sorted = sorted(self.postings)

    def _with_word(self, word: str, prefix: bool) -> set[int]:
        if not prefix:
            return set(self.postings.get(word, ()))
        out: set[int] = set()
        i = bisect.bisect_left(self.words_sorted, word)
        while i < len(self.words_sorted) and self.words_sorted[i].startswith(word):
            out.update(self.postings[self.words_sorted[i]])
            i += 1
        return out

    def matching(self, term: str, *, phrase: bool, prefix: bool) -> list[tuple[str, str]]:
        """(path, name) of the folders whose name has ``term``: as a whole word (or a word starting
        with it when ``prefix``), or the words of a phrase in a row."""
        want = _WORD.findall(fold(term))
        if not want:
            return []
        n = len(want)
        out = []
        # Only folders having the first word (exactly, or as a prefix when it is the only word) qualify.
        first = self._with_word(want[0], prefix and n == 1)
        for k in sorted(first):
            path, name, words = self.folders[k]
            for i in range(len(words) - n + 1):
                w = words[i : i + n]
                if w[:-1] == want[:-1] and (w[-1] == want[-1] or (prefix and w[-1].startswith(want[-1]))):
                    out.append((path, name))
                    break
        return out


def build(paths: list[str], roots: list[str], ids: list[int] | None = None) -> FolderIndex:
    """The folder index of ``paths`` (files, with their catalog ``ids`` when given) under ``roots``
    (the library's folders)."""
    roots = [r.rstrip(os.sep) for r in roots]
    by_parent: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        by_parent.setdefault(os.path.dirname(p), []).append(ids[i] if ids is not None else -1)
    files: dict[str, list[int]] = {}
    for d, inside in by_parent.items():
        root = max((r for r in roots if d == r or d.startswith(r + os.sep)), key=len, default=None)
        if root is None:
            continue
        while d != root and d.startswith(root + os.sep):  # the file is inside every folder up to the root
            files.setdefault(d, []).extend(inside)
            d = os.path.dirname(d)
    entries = []
    for d in sorted(files):
        name = os.path.basename(d)
        entries.append((d, name, _WORD.findall(fold(name))))
    arrays = {d: np.asarray(f, dtype=np.int64) for d, f in files.items()} if ids is not None else {}
    return FolderIndex(entries, files=arrays)


def folder_index(lib: Library) -> FolderIndex:
    """The library's current folder index (see the module docstring)."""
    stamp = int(lib.catalog.query("SELECT total_changes()")[0][0])
    now = time.monotonic()
    with _lock:
        index: FolderIndex | None = lib.memo.get(_MEMO)
        roots = list(lib.settings.folders)
        # A large library's index may lag its writes by up to 50 builds' time (seconds at 100k files);
        # a small one (a build under 20 ms) is rebuilt at every change.
        lagging_ok = index is not None and index.build_s > 0.02 and now - index.built_at < 50 * index.build_s
        fresh = index is not None and (index.stamp == stamp or lagging_ok)
        if index is not None and fresh and index.roots == roots:
            return index
        started = time.perf_counter()
        rows = lib.catalog.query("SELECT id, path FROM files")
        index = build([py_path(r[1]) for r in rows], roots, [int(r[0]) for r in rows])
        index.stamp, index.built_at = stamp, now
        index.build_s = time.perf_counter() - started
        index.roots = roots
        lib.memo[_MEMO] = index
        return index
