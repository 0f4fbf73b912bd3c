"""Names and folders: ``receipt`` finds ``receipt_hotel_2022.jpg``, ``Porto`` finds ``2019 Porto trip/``.

File names come from the catalog's full-text ``names`` table (the words of each file's stem, kept by
the catalog as files are added, moved and removed; case- and accent-insensitive). Folder names come
from an in-memory index of the library's folders (engine.search.folder_names), which needs no table to
keep in step with moves and renames. A hit is a good match when every content word of the query (and
every quoted phrase) is in the file's name or in one of its folders' names; files matching only some of
the words are candidates the fusion may still place, but not "good".
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import numpy as np

from engine.search.folder_names import folder_index
from engine.search.query import fold
from engine.search.retrievers.base import Candidate, Reason, Retriever, admits
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery

#: Words that name nothing in a file name ("a photo of the beach" looks for "beach").
_STOP = "a an and are at be by for from in into is it of on or the to with without my our your this that"
STOP_WORDS = frozenset(f"{_STOP} photo photos picture pictures image images video videos clip clips".split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: "_" splits words, as in names
#: Files one term's name query returns at most (a word in 1000s of names is no help past the first).
_FTS_LIMIT = 500


def content_terms(query: ParsedQuery) -> list[tuple[str, bool]]:
    """(term, is_phrase) pairs worth looking for in names: the loose words minus stop words and single
    letters, then the quoted phrases (kept whole: they were asked for exactly)."""
    words = [w for w in query.words if len(w) > 1 and fold(w) not in STOP_WORDS]
    return [*((w, False) for w in words), *((p, True) for p in query.phrases)]


def _popcount(masks: np.ndarray) -> np.ndarray:
    """Set bits per mask (masks have one bit per query term: a handful)."""
    out = np.zeros(len(masks), dtype=np.int64)
    m = masks.copy()
    while m.any():
        out += m & 1
        m >>= 1
    return out


def _prefix_ok(term: str, *, last: bool) -> bool:
    """Whether a word may match the start of a longer one: words of 4+ letters, the last word from 3
    (it may be half typed), and any length in scripts written without spaces (東京 in 東京タワー)."""
    if any(ord(c) >= 0x2E80 for c in term):
        return True
    return len(term) >= 4 or (last and len(term) >= 3)


def _fts_expr(term: str, phrase: bool, prefix: bool) -> str | None:
    words = [w for w in _WORD.findall(fold(term))]
    if not words:
        return None
    if phrase:
        return '"' + " ".join(words) + '"'
    return " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"' + ("*" if prefix else "")


def _stem_tokens(path: str) -> list[str]:
    stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return _WORD.findall(stem)


def term_in_tokens(term: str, phrase: bool, prefix: bool, tokens: Sequence[str]) -> str | None:
    """The tokens (as written) that ``term`` matches in ``tokens``, joined by spaces; None if none."""
    folded = [fold(t) for t in tokens]
    want = [fold(w) for w in _WORD.findall(term)]
    if not want:
        return None
    n = len(want)
    for i in range(len(folded) - n + 1):
        window = folded[i : i + n]
        if window[:-1] == want[:-1] and (
            window[-1] == want[-1] or (prefix and not phrase and window[-1].startswith(want[-1]))
        ):
            return " ".join(tokens[i : i + n])
    return None


class NamesRetriever(Retriever):
    """File and folder names (see the module docstring)."""

    name = "names"
    group = "names"
    lexical = True

    def retrieve(
        self,
        lib: Library,
        query: ParsedQuery,
        *,
        limit: int,
        kinds: Sequence[str] | None,
        folder: str | None,
    ) -> list[Candidate]:
        terms = content_terms(query)
        if not terms:
            return []
        folders = folder_index(lib)
        last = sum(not ph for _, ph in terms) - 1  # the last loose word may be half typed
        prefixes = [not ph and _prefix_ok(t, last=i == last) for i, (t, ph) in enumerate(terms)]
        exprs = [_fts_expr(t, ph, pre) for (t, ph), pre in zip(terms, prefixes, strict=True)]
        # Per hit: (file id, the term's bit, whether it is in the file's own name), as numpy arrays: a
        # word may be in thousands of names and folders, and Python loops over those cost ~10 ms.
        ids: list[np.ndarray] = []
        bits: list[np.ndarray] = []
        named: list[np.ndarray] = []
        matched_folders: list[tuple[str, str]] = []

        def add(found: Sequence[int] | np.ndarray, bit: int, in_name: bool) -> None:
            arr = np.asarray(found, dtype=np.int64)
            ids.append(arr)
            bits.append(np.full(len(arr), bit, dtype=np.int64))
            named.append(np.full(len(arr), bit if in_name else 0, dtype=np.int64))

        for ti, ((term, phrase), prefix, expr) in enumerate(zip(terms, prefixes, exprs, strict=True)):
            if expr is None:
                continue
            add(self._stems(lib, expr, _FTS_LIMIT), 1 << ti, True)
            for path, base in folders.matching(term, phrase=phrase, prefix=prefix):
                matched_folders.append((path, base))
                add(folders.files.get(path, np.zeros(0, np.int64)), 1 << ti, False)
        if len(terms) > 1 and all(exprs):
            # Files with every term in their own name, found whole even when single terms hit more
            # files than one term's query returns.
            every = (1 << len(terms)) - 1
            add(self._stems(lib, " AND ".join(f"({e})" for e in exprs), 8 * limit), every, True)
        all_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        if not len(all_ids):
            return []
        order = np.argsort(all_ids, kind="stable")
        all_ids = all_ids[order]
        starts = np.flatnonzero(np.r_[True, all_ids[1:] != all_ids[:-1]])
        fids = all_ids[starts]
        masks = np.bitwise_or.reduceat(np.concatenate(bits)[order], starts)
        name_masks = np.bitwise_or.reduceat(np.concatenate(named)[order], starts)
        # Files matching more terms first, then more of them in the file's own name, then by id.
        ranked = np.lexsort((fids, -_popcount(name_masks), -_popcount(masks)))
        out: list[Candidate] = []
        start, step = 0, 2 * limit  # rows are fetched a few more than needed at a time, then more
        while start < len(ranked):
            chunk = ranked[start : start + step]
            start, step = start + step, step * 4
            rows = lib.catalog.get_many(int(fids[i]) for i in chunk)
            for i in chunk:
                row = rows.get(int(fids[i]))
                if row is None or not admits(row, kinds, folder, query.allowed):
                    continue
                mask, name_mask = int(masks[i]), int(name_masks[i])
                via = None
                if not name_mask:  # the reason names the folder that matched
                    via = next((b for p, b in matched_folders if row.path.startswith(p + os.sep)), None)
                out.append(self._candidate(row, terms, mask, name_mask, via))
                if len(out) >= limit:
                    return out
        return out

    def _candidate(
        self, row: cat.FileRow, terms: list[tuple[str, bool]], mask: int, name_mask: int, folder: str | None
    ) -> Candidate:
        share = mask.bit_count() / len(terms)
        score = share + (0.05 if name_mask else 0.0)
        good = mask.bit_count() == len(terms)
        if name_mask:
            tokens = _stem_tokens(row.path)
            hits = [ti for ti in range(len(terms)) if name_mask >> ti & 1]
            parts = [term_in_tokens(*terms[ti], True, tokens) or terms[ti][0] for ti in hits]
            detail = {"name": " ".join(parts), "where": "file"}
        else:
            detail = {"folder": folder or "", "where": "folder"}
        return Candidate(row.id, score, None, [], [Reason(self.name, score, detail, good=good)], good)

    @staticmethod
    def _stems(lib: Library, expr: str, limit: int) -> list[int]:
        try:
            rows = lib.catalog.query("SELECT rowid FROM names WHERE names MATCH ? LIMIT ?", (expr, limit))
        except sqlite3.OperationalError:  # an FTS syntax the folding did not foresee: no name hits
            return []
        return [int(r[0]) for r in rows]

    def having(self, lib: Library, terms: Sequence[str], file_ids: Collection[int]) -> set[int]:
        """Files whose name, or the name of a folder they are in (inside the library), has a term."""
        roots = [r.rstrip("/") for r in lib.settings.folders]
        out: set[int] = set()
        for fid, row in lib.catalog.get_many(file_ids).items():
            root = max((r for r in roots if row.path.startswith(r + "/")), key=len, default="")
            parts = row.path[len(root) :].strip("/").split("/")
            groups = [_stem_tokens(parts[-1]), *(_WORD.findall(p) for p in parts[:-1])]
            for term in terms:
                phrase = " " in term.strip()
                if any(term_in_tokens(term, phrase, False, g) for g in groups):
                    out.add(fid)
                    break
        return out
