"""Text read in pictures (OCR), per file and per video moment, with the indexes that find it.

Table ``texts`` holds one row per line read: file, ``t`` (seconds into a video, -1 for a photo), the
text as read, its box (four corners as fractions 0..1 of the picture's width and height), the
recognizer's confidence and the source (``"ocr"``). Two derived columns feed the indexes:

- ``texts_fts`` (FTS5, ``unicode61 remove_diacritics 2``) over ``text``: whole words, prefixes and
  quoted phrases, case- and accent-insensitive;
- ``texts_tri`` (FTS5 ``trigram``) over ``squash``: the text case-folded, accents removed, and only its
  letters and digits kept. OCR glues words ("SONYERICSSON", "J.P.Morgan"), so a typed word is looked
  for *inside* these runs; the same index gives the candidates for one OCR slip in words of 6+ letters
  (a word of n letters has n-2 trigrams; one edit spoils at most three, so a candidate shares at least
  one and is then checked by edit distance <= 1). Chinese and Japanese have no spaces, so trigram
  finds runs of 3+ characters; 1-2 character CJK words use LIKE over ``squash``.

SQLite's trigram tokenizer only learnt ``remove_diacritics`` in 3.45, hence the normalised column.
Rows of a file that leaves the catalog or changes are dropped through the catalog's on_remove /
on_reset hooks, in the same transaction.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import unicodedata
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.storage.catalog import Catalog

#: ``t`` of a photo's text (a video moment's is its time in seconds).
PHOTO_T = -1.0

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS texts (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL,
        t REAL NOT NULL DEFAULT -1,
        text TEXT NOT NULL,
        squash TEXT NOT NULL,
        box TEXT NOT NULL,
        confidence REAL NOT NULL,
        source TEXT NOT NULL DEFAULT 'ocr'
    )""",
    "CREATE INDEX IF NOT EXISTS texts_file ON texts(file_id, t)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS texts_fts USING fts5(
        text, content='texts', content_rowid='id', tokenize='unicode61 remove_diacritics 2')""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS texts_tri USING fts5(
        squash, content='texts', content_rowid='id', tokenize='trigram')""",
    """CREATE TRIGGER IF NOT EXISTS texts_ai AFTER INSERT ON texts BEGIN
        INSERT INTO texts_fts(rowid, text) VALUES (new.id, new.text);
        INSERT INTO texts_tri(rowid, squash) VALUES (new.id, new.squash);
    END""",
    """CREATE TRIGGER IF NOT EXISTS texts_ad AFTER DELETE ON texts BEGIN
        INSERT INTO texts_fts(texts_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO texts_tri(texts_tri, rowid, squash) VALUES ('delete', old.id, old.squash);
    END""",
]

#: Scores of one term's match in a line: a whole word, a prefix of one (typing), inside a run of
#: letters, one letter off. A file's score adds its terms' best scores, weighed by confidence.
WHOLE, PREFIX, INSIDE, SLIP = 1.0, 0.9, 0.8, 0.5
#: Words at least this long tolerate one OCR slip.
SLIP_MIN = 6
#: Candidate lines read per term before ranking (keeps a common word's query bounded).
_CANDIDATES = 5000


@dataclass(frozen=True)
class TextRow:
    """One line read in a picture. ``box``: four (x, y) corners as fractions of the picture."""

    text: str
    box: tuple[tuple[float, float], ...]
    confidence: float
    t: float = PHOTO_T
    source: str = "ocr"


@dataclass
class TextHit:
    """A file (and moment) whose text matches a query.

    ``text`` is the best matching line; ``box`` the part of it that matched (corners as fractions of
    the picture; the matched word's share of the line when the match is inside it); ``boxes`` every
    matched part; ``matched`` the words as read that matched, in query order.
    """

    file_id: int
    t: float
    text: str
    box: list[list[float]]
    score: float
    matched: list[str] = field(default_factory=list)
    boxes: list[list[list[float]]] = field(default_factory=list)


# -- normalisation ---------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Case-folded, Latin/Greek/Cyrillic accents removed (é -> e), full-width forms made plain (NFKC).
    Japanese voicing marks (が) are kept: only U+0300-U+036F combining marks are dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not 0x300 <= ord(c) <= 0x36F))


def squash(text: str) -> str:
    """:func:`fold`, then only letters and digits: "J.P. Morgan" -> "jpmorgan"."""
    return "".join(c for c in fold(text) if c.isalnum())


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return (
        0x3040 <= o <= 0x30FF  # kana
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF  # CJK unified ideographs
        or 0xAC00 <= o <= 0xD7AF  # Hangul
        or 0xF900 <= o <= 0xFAFF
        or 0x20000 <= o <= 0x2FFFF
    )


def within_one_edit(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by at most one inserted, deleted or replaced character."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la > lb:
        a, b, la, lb = b, a, lb, la
    i = 0
    while i < la and a[i] == b[i]:
        i += 1
    if la == lb:
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _slip_at(word: str, run: str) -> tuple[int, int]:
    """(start, end) of a stretch of ``run`` within one edit of ``word``; (-1, -1) when there is none."""
    n = len(word)
    for size in (n, n - 1, n + 1):
        for i in range(0, len(run) - size + 1):
            if within_one_edit(word, run[i : i + size]):
                return i, i + size
    return -1, -1


def _quote(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


# -- the index --------------------------------------------------------------------------------------

_ready: weakref.WeakKeyDictionary[Catalog, bool] = weakref.WeakKeyDictionary()
_ready_lock = threading.Lock()


@dataclass
class _Line:
    id: int
    file_id: int
    t: float
    text: str
    squash: str
    box: list[list[float]]
    confidence: float


class TextIndex:
    """Text rows of a catalog and their search. Cheap to create (the tables are made once per catalog).
    SQLite errors propagate, except a query the FTS grammar refuses, which finds nothing."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        ensure_tables(catalog)

    # -- writes ---------------------------------------------------------------------------------------

    def replace(self, file_id: int, rows: Iterable[TextRow], *, t: float | None = None) -> int:
        """Store a file's text (all of it, or the rows at moment ``t`` when given), replacing what was
        there, in one transaction: idempotent, so a re-run after a kill leaves one copy. Returns rows."""
        rows = list(rows)
        with self.catalog.transaction():
            if t is None:
                self.catalog.execute("DELETE FROM texts WHERE file_id=?", (file_id,))
            else:
                self.catalog.execute("DELETE FROM texts WHERE file_id=? AND t=?", (file_id, t))
            for r in rows:
                text = r.text.strip()
                if not text:
                    continue
                box = [[round(float(x), 5), round(float(y), 5)] for x, y in r.box]
                self.catalog.execute(
                    "INSERT INTO texts(file_id, t, text, squash, box, confidence, source) "
                    "VALUES (?,?,?,?,?,?,?)",
                    (file_id, float(r.t if t is None else t), text, squash(text), json.dumps(box),
                     float(r.confidence), r.source),
                )
        return len(rows)

    def forget(self, file_ids: Sequence[int]) -> None:
        """Drop these files' text (joins the caller's transaction, e.g. a remove hook's)."""
        forget(self.catalog, file_ids)

    # -- reads ----------------------------------------------------------------------------------------

    def rows(self, file_id: int) -> list[TextRow]:
        """A file's text in the order it was stored (moments in time order)."""
        out = []
        for text, t, box, conf, source in self.catalog.query(
            "SELECT text, t, box, confidence, source FROM texts WHERE file_id=? ORDER BY t, id", (file_id,)
        ):
            out.append(TextRow(text, tuple(tuple(p) for p in json.loads(box)), conf, t, source))
        return out

    def count_files(self) -> int:
        """Files with at least one line of text."""
        return int(self.catalog.query("SELECT COUNT(DISTINCT file_id) FROM texts")[0][0])

    def search(self, terms: Sequence[str], phrases: Sequence[str] = (), limit: int = 100) -> list[TextHit]:
        """Files (and video moments) whose text holds every term and every phrase, best first.

        A term matches a whole word (case and accents ignored), the start of one (the last term, as
        it is being typed), the inside of a run of letters (glued words), or, from 6 letters, with one
        letter off. A phrase matches its exact words in that order in one line (case and accents
        ignored). Each file+moment comes once, with the best line and the matched words' boxes.
        """
        wanted = [w for w in terms if squash(w)]
        phrases = [p for p in phrases if squash(p)]
        if not wanted and not phrases:
            return []
        # For each term: {line id: (score, start, end)} over the line's squashed text.
        per_term: list[dict[int, tuple[float, int, int]]] = []
        lines: dict[int, _Line] = {}
        for i, w in enumerate(wanted):
            per_term.append(self._match_word(w, last=i == len(wanted) - 1, lines=lines))
        for p in phrases:
            per_term.append(self._match_phrase(p, lines))
        if any(not m for m in per_term):
            return []
        # Group by file and moment: every term must match some line of the same picture.
        groups: dict[tuple[int, float], list[tuple[int, float, int, int] | None]] = {}
        for k, matches in enumerate(per_term):
            for lid, (score, a, b) in matches.items():
                line = lines[lid]
                slot = groups.setdefault((line.file_id, line.t), [None] * len(per_term))
                old = slot[k]
                weighted = score * (0.5 + 0.5 * line.confidence)
                if old is None or weighted > old[1]:
                    slot[k] = (lid, weighted, a, b)
        hits: list[TextHit] = []
        for (fid, t), slot in groups.items():
            full = [s for s in slot if s is not None]
            if len(full) < len(slot):
                continue
            best = max(full, key=lambda s: s[1])
            boxes, matched = [], []
            for lid, _, a, b in full:
                boxes.append(_part_box(lines[lid], a, b))
                matched.append(_as_read(lines[lid].text, a, b))
            hits.append(TextHit(fid, t, lines[best[0]].text, boxes[full.index(best)],
                                sum(s[1] for s in full), matched, boxes))
        hits.sort(key=lambda h: (-h.score, h.file_id, h.t))
        return hits[:limit]

    def files_with(self, terms: Sequence[str], file_ids: Iterable[int] | None = None) -> set[int]:
        """Which files' text holds any of ``terms`` (as words or phrases; for ``-word`` exclusions)."""
        out: set[int] = set()
        for term in terms:
            if " " in term.strip():
                found = {h.file_id for h in self.search([], [term], limit=1_000_000)}
            else:
                found = {h.file_id for h in self.search([term], [], limit=1_000_000)}
            out |= found
        return out if file_ids is None else out & set(file_ids)

    # -- matching -------------------------------------------------------------------------------------

    def _fetch(self, sql: str, args: Sequence, lines: dict[int, _Line]) -> list[int]:
        try:
            rows = self.catalog.query(sql, args)
        except sqlite3.OperationalError:  # a query the FTS grammar refuses: no hits, not a crash
            return []
        for r in rows:
            if r[0] not in lines:
                lines[r[0]] = _Line(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6])
        return [r[0] for r in rows]

    _COLS = "t.id, t.file_id, t.t, t.text, t.squash, t.box, t.confidence"

    def _match_word(
        self, word: str, *, last: bool, lines: dict[int, _Line]
    ) -> dict[int, tuple[float, int, int]]:
        sq = squash(word)
        out: dict[int, tuple[float, int, int]] = {}

        def put(lid: int, score: float, a: int, b: int) -> None:
            if lid not in out or out[lid][0] < score:
                out[lid] = (score, a, b)

        cjk = any(_is_cjk(c) for c in sq)
        # Whole words (and the last one as a prefix) through the word index.
        tokens = [tok for tok in re.split(r"\W+", fold(word)) if tok]
        if tokens and not cjk:
            expr = " ".join(_quote(tok) for tok in tokens)
            for lid in self._fetch(
                f"SELECT {self._COLS} FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid "
                "WHERE texts_fts MATCH ? LIMIT ?", (expr, _CANDIDATES), lines):
                a = lines[lid].squash.find(sq)
                put(lid, WHOLE, max(a, 0), max(a, 0) + len(sq) if a >= 0 else len(lines[lid].squash))
            if last and len(sq) >= 2:
                expr = " ".join(_quote(tok) for tok in tokens) + "*"
                for lid in self._fetch(
                    f"SELECT {self._COLS} FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid "
                    "WHERE texts_fts MATCH ? LIMIT ?", (expr, _CANDIDATES), lines):
                    a = lines[lid].squash.find(sq)
                    if a >= 0:
                        put(lid, PREFIX, a, a + len(sq))
        # Inside runs of letters: trigram substring (3+ characters), LIKE for 1-2 CJK characters.
        if len(sq) >= 3:
            ids = self._fetch(
                f"SELECT {self._COLS} FROM texts_tri JOIN texts t ON t.id = texts_tri.rowid "
                "WHERE texts_tri MATCH ? LIMIT ?", (_quote(sq), _CANDIDATES), lines)
        elif cjk:
            pattern = "%" + sq.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            ids = self._fetch(f"SELECT {self._COLS} FROM texts t WHERE t.squash LIKE ? ESCAPE '\\' LIMIT ?",
                              (pattern, _CANDIDATES), lines)
        else:
            ids = []
        for lid in ids:
            a = lines[lid].squash.find(sq)
            if a >= 0:
                put(lid, INSIDE, a, a + len(sq))
        # One OCR slip in a long word: candidates sharing a trigram, then edit distance.
        if len(sq) >= SLIP_MIN and not cjk and sum(c.isalpha() for c in sq) >= SLIP_MIN:
            grams = sorted({sq[i : i + 3] for i in range(len(sq) - 2)})
            expr = " OR ".join(_quote(g) for g in grams)
            for lid in self._fetch(
                f"SELECT {self._COLS} FROM texts_tri JOIN texts t ON t.id = texts_tri.rowid "
                "WHERE texts_tri MATCH ? LIMIT ?", (expr, _CANDIDATES), lines):
                if lid in out:
                    continue
                a, b = _slip_at(sq, lines[lid].squash)
                if a >= 0:
                    put(lid, SLIP, a, b)
        return out

    def _match_phrase(self, phrase: str, lines: dict[int, _Line]) -> dict[int, tuple[float, int, int]]:
        out: dict[int, tuple[float, int, int]] = {}
        tokens = [tok for tok in re.split(r"\W+", fold(phrase)) if tok]
        want = " ".join(tokens)
        sq = squash(phrase)
        if not tokens:
            return out
        if any(_is_cjk(c) for c in sq):
            # No word boundaries to check: the characters in order, as one run.
            pattern = "%" + sq.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            ids = self._fetch(f"SELECT {self._COLS} FROM texts t WHERE t.squash LIKE ? ESCAPE '\\' LIMIT ?",
                              (pattern, _CANDIDATES), lines)
        else:
            ids = self._fetch(
                f"SELECT {self._COLS} FROM texts_fts JOIN texts t ON t.id = texts_fts.rowid "
                "WHERE texts_fts MATCH ? LIMIT ?", (_quote(" ".join(tokens)), _CANDIDATES), lines)
        for lid in ids:
            line_tokens = " ".join(tok for tok in re.split(r"\W+", fold(lines[lid].text)) if tok)
            if f" {want} " in f" {line_tokens} " or (any(_is_cjk(c) for c in sq) and sq in lines[lid].squash):
                a = lines[lid].squash.find(sq)
                out[lid] = (WHOLE, max(a, 0), max(a, 0) + len(sq))
        return out


def _part_box(line: _Line, a: int, b: int) -> list[list[float]]:
    """The share of the line's box that characters a..b of its squashed text take, along the line
    (a line's characters are about evenly spaced; the whole box when the line is short)."""
    n = len(line.squash)
    box = line.box
    if n <= 1 or len(box) != 4 or (a <= 0 and b >= n):
        return box
    f0, f1 = max(0.0, (a - 0.3) / n), min(1.0, (b + 0.3) / n)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = box

    def lerp(p: tuple[float, float], q: tuple[float, float], f: float) -> list[float]:
        return [round(p[0] + (q[0] - p[0]) * f, 5), round(p[1] + (q[1] - p[1]) * f, 5)]

    top0, top1 = (x0, y0), (x1, y1)
    bot0, bot1 = (x3, y3), (x2, y2)
    return [lerp(top0, top1, f0), lerp(top0, top1, f1), lerp(bot0, bot1, f1), lerp(bot0, bot1, f0)]


def _as_read(text: str, a: int, b: int) -> str:
    """The characters of ``text`` behind squashed positions a..b (the word as it was read)."""
    pos = [i for i, c in enumerate(text) if squash(c)]
    # squash() may expand one character (ß -> ss); fall back to the whole line then.
    if len(pos) != len(squash(text)) or a >= len(pos):
        return text
    return text[pos[a] : pos[min(b, len(pos)) - 1] + 1]


def ensure_tables(catalog: Catalog) -> None:
    """Create the tables once per catalog and hook removals and resets (idempotent)."""
    if _ready.get(catalog):
        return
    with _ready_lock:
        if _ready.get(catalog):
            return
        with catalog.transaction():
            for stmt in _SCHEMA:
                catalog.execute(stmt)
            # Rows of files removed while no hook was registered (another process, an older version).
            catalog.execute("DELETE FROM texts WHERE file_id NOT IN (SELECT id FROM files)")
        def drop(ids: list[int], cat: Catalog = catalog) -> None:
            forget(cat, ids)

        catalog.on_remove(drop)
        catalog.on_reset(drop)
        _ready[catalog] = True


def forget(catalog: Catalog, file_ids: Sequence[int]) -> None:
    """Drop the text of these files (joins the caller's transaction)."""
    ids = list(file_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        catalog.execute(f"DELETE FROM texts WHERE file_id IN ({','.join('?' * len(chunk))})", chunk)
