"""``lookalike transcript FILE``: what is said in a sound or video, with times (``--json``, ``--srt``).

A file the library has already transcribed is answered from the catalog; any other file (outside the
library, or not transcribed yet) is transcribed now with the library's models, which is what a user
asking for the words of one file expects.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.core.text import for_terminal as _t
from engine.errors import LookalikeError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "transcript",
        help="print what is said in a sound or video file, with times",
        description="Print the transcript of a sound or video file, segment by segment with its times. "
        "Files in the library that were transcribed are answered at once; others are transcribed now.",
    )
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="segments as JSON: start, end, text, language")
    p.add_argument(
        "--srt",
        nargs="?",
        const="",
        metavar="PATH",
        help="write SubRip subtitles (default: beside the file, with .srt); prints where",
    )
    p.set_defaults(func=cmd_transcript)
    return p


def srt_time(t: float) -> str:
    ms = int(round(max(0.0, t) * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def to_srt(segments: list[Any]) -> str:
    blocks = [
        f"{i}\n{srt_time(s.start)} --> {srt_time(max(s.end, s.start + 0.5))}\n{s.text}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(blocks)


def transcribe_file(lib: Any, path: Path) -> list[Any]:
    """Segments of ``path``: stored ones when the library transcribed this content, else made now.
    Raises LookalikeError (not a sound or video, unreadable, model missing)."""
    from engine.indexing.analyzers.speech import SPEECH
    from engine.media.kinds import Kind, kind_of
    from engine.storage import analyses, transcripts

    kind = kind_of(path)
    if kind not in (Kind.SOUND, Kind.VIDEO):
        raise LookalikeError(f"Not a sound or video file Lookalike knows: {path.name}")
    if not path.is_file():
        raise LookalikeError(f"File not found: {path}")
    row = lib.catalog.by_path(str(path.resolve()))
    st = path.stat()
    if row is not None and (row.size, row.mtime) == (st.st_size, st.st_mtime):
        state = lib.catalog.query(
            "SELECT state FROM analyses WHERE file_id=? AND analyzer=? AND version=?",
            (row.id, SPEECH.name, SPEECH.version),
        )
        if state and state[0][0] == analyses.DONE:
            return transcripts.transcript(lib.catalog, row.id)
    why = SPEECH.ready(lib)
    if why is not None and "turned off" not in why:
        raise LookalikeError(f"Cannot transcribe: {why}")
    # Not transcribed yet: the analyzer's steps on this one file, nothing stored.
    from engine.indexing.analyzers.speech import WINDOW_S
    from engine.media.audio import iter_audio_chunks
    from engine.models.speech import SAMPLE_RATE, detect_speech

    out: list[Any] = []
    offset = 0.0
    language = None
    for window in iter_audio_chunks(path, sr=SAMPLE_RATE, chunk_s=WINDOW_S):
        regions = detect_speech(window)
        if regions:
            language, segs = lib.speech_model().transcribe(window, regions, language=language)
            for s in segs:
                out.append(
                    transcripts.SpokenSegment(0, len(out), offset + s.start, offset + s.end, s.text, language)
                )
        offset += len(window) / SAMPLE_RATE
    return out


def cmd_transcript(args: argparse.Namespace) -> int:
    from engine.core.durations import format_duration
    from engine.library import Library

    path = Path(args.file).expanduser()
    with Library.open(args.home) as lib:
        segments = transcribe_file(lib, path)
    if args.srt is not None:
        dest = Path(args.srt) if args.srt else path.with_suffix(".srt")
        dest.write_text(to_srt(segments), encoding="utf-8")
        print(f"Wrote {len(segments)} subtitles to {_t(dest)}")
        return 0
    if args.json:
        print(
            json.dumps(
                [{"start": s.start, "end": s.end, "text": s.text, "language": s.lang} for s in segments],
                indent=2,
            )
        )
        return 0
    if not segments:
        print(f"No speech found in {_t(path.name)}.")
        return 0
    for s in segments:
        start, end = format_duration(s.start, padded=True), format_duration(s.end, padded=True)
        print(f"[{start} → {end}] {_t(s.text)}")
    return 0
