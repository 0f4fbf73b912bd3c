"""Names and folders: ``receipt`` finds ``receipt_hotel_2022.jpg``, ``Porto`` finds ``2019 Porto trip/``.

File names come from the catalog's full-text ``names`` table (the words of each file's stem, kept by
the catalog as files are added, moved and removed; case- and accent-insensitive). Folder names come
from an in-memory index of the library's folders (engine.search.folder_names), which needs no table to
keep in step with moves and renames. A hit is a good match when every content word of the query (and
every quoted phrase) is in the file's name or in one of its folders' names; files matching only some of
the words are candidates the fusion may still place, but not "good".
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from engine.search.folder_names import folder_index
from engine.search.query import fold
from engine.search.results import in_folder
from engine.search.retrievers.base import Candidate, Reason, Retriever
from engine.storage import catalog as cat

if TYPE_CHECKING:
    from engine.library import Library
    from engine.search.query import ParsedQuery

#: Words that name nothing in a file name ("a photo of the beach" looks for "beach").
_STOP = "a an and are at be by for from in into is it of on or the to with without my our your this that"
STOP_WORDS = frozenset(f"{_STOP} photo photos picture pictures image images video videos clip clips".split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: "_" splits words, as in names
#: Files one term's name query returns at most (a word in 1000s of names is no help past the first).
_FTS_LIMIT = 2000


def content_terms(query: ParsedQuery) -> list[tuple[str, bool]]:
    """(term, is_phrase) pairs worth looking for in names: the loose words minus stop words and single
    letters, then the quoted phrases (kept whole: they were asked for exactly)."""
    words = [w for w in query.words if len(w) > 1 and fold(w) not in STOP_WORDS]
    return [*((w, False) for w in words), *((p, True) for p in query.phrases)]


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
        # Per file, as bit masks over the terms: which it matched at all, which in its own name; and the
        # first folder that matched (for the reason). Masks keep this cheap when a word is in 1000s.
        found: dict[int, int] = {}
        in_name: dict[int, int] = {}
        via_folder: dict[int, str] = {}
        last = sum(not ph for _, ph in terms) - 1  # the last loose word may be half typed
        prefixes = [not ph and _prefix_ok(t, last=i == last) for i, (t, ph) in enumerate(terms)]
        exprs = [_fts_expr(t, ph, pre) for (t, ph), pre in zip(terms, prefixes, strict=True)]
        for ti, ((term, phrase), prefix, expr) in enumerate(zip(terms, prefixes, exprs, strict=True)):
            bit = 1 << ti
            if expr is None:
                continue
            for fid in self._stems(lib, expr, _FTS_LIMIT):
                found[fid] = found.get(fid, 0) | bit
                in_name[fid] = in_name.get(fid, 0) | bit
            for path, base in folders.matching(term, phrase=phrase, prefix=prefix):
                for fid in folders.files.get(path, ()):
                    found[fid] = found.get(fid, 0) | bit
                    via_folder.setdefault(fid, base)
        if len(terms) > 1 and all(exprs):
            # Files with every term in their own name, found whole even when single terms hit more
            # files than one term's query returns.
            every = (1 << len(terms)) - 1
            for fid in self._stems(lib, " AND ".join(f"({e})" for e in exprs), 8 * limit):
                found[fid] = found.get(fid, 0) | every
                in_name[fid] = every
        if not found:
            return []

        # Files matching more terms first, then more of them in the file's own name. Bucketed by the
        # number of terms, so only the buckets the answer needs are sorted (a word may be in 1000s).
        buckets: list[list[int]] = [[] for _ in range(len(terms) + 1)]
        for fid, mask in found.items():
            buckets[mask.bit_count()].append(fid)
        out: list[Candidate] = []
        step = max(4 * limit, 200)
        for bucket in reversed(buckets):
            bucket.sort(key=lambda fid: (-in_name.get(fid, 0).bit_count(), fid))
            for start in range(0, len(bucket), step):
                chunk = bucket[start : start + step]
                rows = lib.catalog.get_many(chunk)
                for fid in chunk:
                    row = rows.get(fid)
                    if row is None or row.state != cat.INDEXED or (kinds and row.kind not in kinds):
                        continue
                    if not in_folder(row.path, folder):
                        continue
                    if query.allowed is not None and fid not in query.allowed:
                        continue
                    mask, name_mask = found[fid], in_name.get(fid, 0)
                    out.append(self._candidate(row, terms, mask, name_mask, via_folder.get(fid)))
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
