"""What was said in each file: timed transcript segments, with a full-text index over their words.

Table ``speech_segments`` holds one row per segment (file, order, start and end seconds, text, the
language Whisper detected); ``speech_fts`` is an FTS5 index over the text (external content, kept in
step by triggers), case- and accent-insensitive, so typed words and quoted phrases find the moment they
were said. The segments' meaning (MiniLM vectors) lives in the vector store beside the other spaces
(engine.search.retrievers.speech reads both).

Rows of a file that leaves the catalog or changes are removed through the catalog's on_remove / on_reset
hooks; reads join ``files`` and keep indexed files only, so a stale row never surfaces.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from engine.storage.catalog import INDEXED, Catalog

_SCHEMA = """
CREATE TABLE IF NOT EXISTS speech_segments (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    lang TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS speech_segments_file ON speech_segments(file_id, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS speech_fts USING fts5(
    text, content='speech_segments', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS speech_segments_ai AFTER INSERT ON speech_segments BEGIN
    INSERT INTO speech_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS speech_segments_ad AFTER DELETE ON speech_segments BEGIN
    INSERT INTO speech_fts(speech_fts, rowid, text) VALUES ('delete', old.id, old.text);
END
"""


@dataclass(frozen=True)
class SpokenSegment:
    file_id: int
    seq: int
    start: float
    end: float
    text: str
    lang: str | None = None


@dataclass(frozen=True)
class SpeechHit:
    """A segment whose words match a query: the FTS rank as a score (higher is better)."""

    segment: SpokenSegment
    score: float


_ready: weakref.WeakKeyDictionary[Catalog, bool] = weakref.WeakKeyDictionary()
_ready_lock = threading.Lock()


def ensure_tables(catalog: Catalog) -> None:
    """Create the tables once per catalog and hook removals (idempotent, cheap after the first call)."""
    if _ready.get(catalog):
        return
    with _ready_lock:
        if _ready.get(catalog):
            return
        with catalog.transaction():
            for stmt in re.split(r";\s*\n(?=CREATE)", _SCHEMA.strip()):
                catalog.execute(stmt)
            # Rows of files removed while no hook was registered (another process, an older version).
            catalog.execute("DELETE FROM speech_segments WHERE file_id NOT IN (SELECT id FROM files)")
        def hook(ids: list[int], cat: Catalog = catalog) -> None:
            forget(cat, ids)

        catalog.on_remove(hook)
        catalog.on_reset(hook)
        _ready[catalog] = True


def forget(catalog: Catalog, file_ids: Sequence[int]) -> None:
    """Drop the transcripts of these files (joins the caller's transaction, e.g. a remove hook's)."""
    ids = list(file_ids)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        catalog.execute(f"DELETE FROM speech_segments WHERE file_id IN ({','.join('?' * len(chunk))})", chunk)


def replace(catalog: Catalog, file_id: int, segments: Sequence[SpokenSegment]) -> None:
    """Store a file's transcript, replacing any earlier one, in one transaction (idempotent)."""
    ensure_tables(catalog)
    with catalog.transaction():
        forget(catalog, [file_id])
        for s in segments:
            catalog.execute(
                "INSERT INTO speech_segments(file_id, seq, start, end, text, lang) VALUES (?,?,?,?,?,?)",
                (file_id, s.seq, s.start, s.end, s.text, s.lang),
            )


def transcript(catalog: Catalog, file_id: int) -> list[SpokenSegment]:
    """A file's segments in time order ([] when it has none, or no speech)."""
    ensure_tables(catalog)
    rows = catalog.query(
        "SELECT file_id, seq, start, end, text, lang FROM speech_segments WHERE file_id=? ORDER BY seq",
        (file_id,),
    )
    return [SpokenSegment(*r) for r in rows]


def segments(catalog: Catalog, keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], SpokenSegment]:
    """Segments by (file_id, seq), for vector hits."""
    ensure_tables(catalog)
    out: dict[tuple[int, int], SpokenSegment] = {}
    by_file: dict[int, list[int]] = {}
    for fid, seq in keys:
        by_file.setdefault(fid, []).append(seq)
    for fid, seqs in by_file.items():
        marks = ",".join("?" * len(seqs))
        for r in catalog.query(
            "SELECT file_id, seq, start, end, text, lang FROM speech_segments "
            f"WHERE file_id=? AND seq IN ({marks})",
            (fid, *seqs),
        ):
            out[(r[0], r[1])] = SpokenSegment(*r)
    return out


def _fts_expr(words: Sequence[str], phrases: Sequence[str]) -> str:
    """An FTS5 query: every loose word (the last as a prefix, for typing) and every phrase exactly."""
    parts: list[str] = []
    clean = [re.sub(r'["*^():]', " ", w).strip() for w in words]
    clean = [w for w in clean if w]
    for i, w in enumerate(clean):
        for token in w.split():
            parts.append(f'"{token}"' + ("*" if i == len(clean) - 1 else ""))
    for p in phrases:
        p = re.sub(r'["*^():]', " ", p).strip()
        if p:
            parts.append(f'"{p}"')
    return " AND ".join(parts)


def search(
    catalog: Catalog, words: Sequence[str], phrases: Sequence[str] = (), *, limit: int = 200
) -> list[SpeechHit]:
    """Segments containing every word (the last one as a prefix) and every phrase, best first."""
    ensure_tables(catalog)
    expr = _fts_expr(words, phrases)
    if not expr:
        return []
    import sqlite3

    try:
        rows = catalog.query(
            "SELECT s.file_id, s.seq, s.start, s.end, s.text, s.lang, bm25(speech_fts) "
            "FROM speech_fts JOIN speech_segments s ON s.id = speech_fts.rowid "
            "JOIN files f ON f.id = s.file_id "
            "WHERE speech_fts MATCH ? AND f.state = ? ORDER BY bm25(speech_fts) LIMIT ?",
            (expr, INDEXED, limit),
        )
    except sqlite3.OperationalError:  # an FTS syntax the cleaning above missed: no hits, not a crash
        return []
    # bm25 is lower-is-better and negative; flip it so higher is better.
    return [SpeechHit(SpokenSegment(*r[:6]), -float(r[6])) for r in rows]


def files_with_words(catalog: Catalog, terms: Sequence[str], file_ids: Sequence[int]) -> set[int]:
    """Which of ``file_ids`` said one of ``terms`` (for ``-word`` exclusions)."""
    ensure_tables(catalog)
    out: set[int] = set()
    wanted = set(file_ids)
    for term in terms:
        for hit in search(catalog, [], [term], limit=10_000):
            if hit.segment.file_id in wanted:
                out.add(hit.segment.file_id)
    return out


def count_files(catalog: Catalog) -> int:
    ensure_tables(catalog)
    return int(catalog.query("SELECT COUNT(DISTINCT file_id) FROM speech_segments")[0][0])
