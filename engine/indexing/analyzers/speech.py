"""The speech analyzer: what is said in sounds and video soundtracks, timed, searchable by words and meaning.

For each file: the audio is read at 16 kHz in windows of a few minutes (flat memory for a 10-hour
recording); Silero VAD finds the speech in each window, and only when it finds some is Whisper loaded
and run, on those regions alone. So music, noise and silence cost the VAD pass and nothing more.

What it writes, in the crash-safe order: the segments' MiniLM vectors (collection ``speech__<text model>``,
keys ``file_id << 16 | seq``, ``t`` = the segment's start) are upserted first, then the segments replace
the file's transcript in the catalog (``engine.storage.transcripts``); the runner marks it done last. A
kill anywhere re-runs the file, and upserts by key make that harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from engine.core.vectors import KIND_SPEECH
from engine.errors import LookalikeError
from engine.indexing.analyzers.base import Analyzer, Inputs, register
from engine.media.kinds import Kind

if TYPE_CHECKING:
    from engine.library import Library
    from engine.storage.catalog import FileRow

#: Audio read per step: bounded memory, and Whisper sees whole sentences (about 19 MB at 16 kHz).
WINDOW_S = 300.0
#: Segments longer than this are not split further; Whisper's own segments are usually 2–10 s.
MAX_SEGMENTS = 50_000


class SpeechAnalyzer(Analyzer):
    name: ClassVar[str] = "speech"
    version: ClassVar[int] = 1
    kinds: ClassVar[frozenset[str]] = frozenset({Kind.SOUND.value, Kind.VIDEO.value})
    needs: ClassVar[str] = "audio"
    produces: ClassVar[str] = "timed transcript segments (full text + MiniLM vectors)"
    # After the embeddings, metadata and text in pictures: the slowest stage goes last.
    priority: ClassVar[int] = 40
    label: ClassVar[str] = "transcribing speech"

    def ready(self, lib: Library) -> str | None:
        if not lib.settings.speech:
            return "turned off in settings (speech = false)"
        for model_id in (lib.settings.speech_model, lib.settings.text_model):
            if not lib.model_ready(model_id):
                return f"model {model_id} is not installed (lookalike models download {model_id})"
        return None

    def analyze(self, lib: Library, row: FileRow, inputs: Inputs) -> None:
        from engine.media.audio import iter_audio_chunks
        from engine.models.speech import SAMPLE_RATE, detect_speech
        from engine.storage import transcripts
        from engine.storage.store import vector_id

        spoken: list[transcripts.SpokenSegment] = []
        language: str | None = None
        offset = 0.0
        try:
            chunks = iter_audio_chunks(row.path, sr=SAMPLE_RATE, chunk_s=WINDOW_S)
            for window in chunks:
                if inputs():
                    return  # cancelled: the runner leaves the file pending
                regions = detect_speech(window)
                if regions:
                    whisper = lib.speech_model()
                    language, segs = whisper.transcribe(window, regions, language=language)
                    for s in segs:
                        spoken.append(
                            transcripts.SpokenSegment(
                                row.id, len(spoken), offset + s.start, offset + s.end, s.text, language
                            )
                        )
                offset += len(window) / SAMPLE_RATE
                if len(spoken) >= MAX_SEGMENTS:
                    break
        except LookalikeError as exc:
            if row.kind == Kind.VIDEO.value and "no audio" in str(exc).lower():
                spoken = []  # a silent clip: nothing was said
            else:
                raise
        name = lib.speech_collection
        store = lib.store
        if store.has_collection(name):
            store.delete_files(name, [row.id])
        if spoken:
            vectors = lib.text_encoder().encode([s.text for s in spoken])
            store.ensure_collection(name, vectors.shape[1])
            store.upsert(
                name,
                ids=[vector_id(row.id, s.seq) for s in spoken],
                file_ids=[row.id] * len(spoken),
                ts=[s.start for s in spoken],
                kinds=[KIND_SPEECH] * len(spoken),
                vectors=np.asarray(vectors, dtype=np.float32),
            )
        transcripts.replace(lib.catalog, row.id, spoken)


SPEECH = register(SpeechAnalyzer())
