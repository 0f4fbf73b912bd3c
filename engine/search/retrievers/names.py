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
_FTS_LIMIT = 5000


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
        # Per file: the terms it matched, and what matched each (a word of its name, or a folder).
        matched: dict[int, dict[int, tuple[str, str]]] = {}
        for ti, (term, phrase) in enumerate(terms):
            prefix = not phrase and _prefix_ok(term, last=ti == len(query.words) - 1)
            expr = _fts_expr(term, phrase, prefix)
            if expr is None:
                continue
            for fid in self._stems(lib, expr):
                matched.setdefault(fid, {})[ti] = ("file", term)
            for path, base in folders.matching(term, phrase=phrase, prefix=prefix):
                for fid in lib.catalog.ids_under(path):
                    matched.setdefault(fid, {}).setdefault(ti, ("folder", base))
        if not matched:
            return []
        ranked = sorted(
            matched.items(),
            key=lambda kv: (-len(kv[1]), -sum(w == "file" for w, _ in kv[1].values()), kv[0]),
        )
        out: list[Candidate] = []
        for start in range(0, len(ranked), max(4 * limit, 200)):
            chunk = ranked[start : start + max(4 * limit, 200)]
            rows = lib.catalog.get_many(fid for fid, _ in chunk)
            for fid, hits in chunk:
                row = rows.get(fid)
                if row is None or row.state != cat.INDEXED or (kinds and row.kind not in kinds):
                    continue
                if not in_folder(row.path, folder):
                    continue
                if query.allowed is not None and fid not in query.allowed:
                    continue
                out.append(self._candidate(row, hits, terms))
                if len(out) >= limit:
                    return out
        return out

    def _candidate(
        self, row: cat.FileRow, hits: dict[int, tuple[str, str]], terms: list[tuple[str, bool]]
    ) -> Candidate:
        share = len(hits) / len(terms)
        in_name = [ti for ti, (where, _) in hits.items() if where == "file"]
        score = share + (0.05 if in_name else 0.0)
        good = len(hits) == len(terms)
        if in_name:
            tokens = _stem_tokens(row.path)
            parts = [term_in_tokens(*terms[ti], True, tokens) or terms[ti][0] for ti in sorted(in_name)]
            detail = {"name": " ".join(parts), "where": "file"}
        else:
            first = hits[min(hits)]
            detail = {"folder": first[1], "where": "folder"}
        return Candidate(row.id, score, None, [], [Reason(self.name, score, detail, good=good)], good)

    @staticmethod
    def _stems(lib: Library, expr: str) -> list[int]:
        try:
            rows = lib.catalog.query(
                "SELECT rowid FROM names WHERE names MATCH ? LIMIT ?", (expr, _FTS_LIMIT)
            )
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
