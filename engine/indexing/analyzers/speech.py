"""The speech analyzer: what is said in sounds and video soundtracks, timed, searchable by words and meaning.

For each file: the audio is read at 16 kHz in windows of a few minutes (flat memory for a 10-hour
recording); Silero VAD finds the speech in each window, and only when it finds some is Whisper loaded
and run, on those regions alone. So music, noise and silence cost the VAD pass and nothing more.

What it writes, in the crash-safe order: the segments' MiniLM vectors (collection ``speech__<text model>``,
keys ``file_id << 16 | seq``, ``t`` = the segment's start) are upserted first, then the segments replace
the file's transcript in the catalog (``engine.storage.transcripts``); the runner marks it done last. A
kill anywhere re-runs the file, and upserts by key make that harmless.

A model that is installed but damaged (a truncated or replaced ``model.bin``, a folder that is not a
CTranslate2 Whisper) is the model's problem, not the files': :meth:`SpeechAnalyzer.ready` says the stage
waits for the model and why, the files stay pending, and once a good copy is installed (its files'
stamp changes) they are transcribed. A copy that failed to load is remembered in the catalog with its
stamp, so ``lookalike status`` (another process) can say why too, and no later batch retries it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

import numpy as np

from engine.core.vectors import KIND_SPEECH
from engine.errors import LookalikeError, ModelFileError
from engine.indexing.analyzers.base import Analyzer, Inputs, register
from engine.media.kinds import Kind

if TYPE_CHECKING:
    from engine.library import Library
    from engine.storage.catalog import FileRow

#: Audio read per step: bounded memory, and Whisper sees whole sentences (about 19 MB at 16 kHz).
WINDOW_S = 300.0
#: Segments longer than this are not split further; Whisper's own segments are usually 2–10 s.
MAX_SEGMENTS = 50_000
#: Catalog meta key: {model id: {"stamp": files' stamp, "why": reason}} of the copies that did not load.
PROBLEMS_META = "speech.model_problems"

T = TypeVar("T")


def _problems(lib: Library) -> dict[str, dict[str, str]]:
    try:
        value = json.loads(lib.catalog.get_meta(PROBLEMS_META) or "{}")
    except ValueError:  # unreadable: as if nothing had failed (the next load tries again)
        return {}
    return value if isinstance(value, dict) else {}


def model_problem(lib: Library, model_id: str) -> str | None:
    """Why the installed copy of ``model_id`` cannot be used (None when nothing is known against it):
    its files differ in size from what was installed, or this very copy failed to load before."""
    from engine.models import registry
    from engine.models.stamps import model_stamp, stamp_text

    try:
        registry.require(lib.settings.models_dir, model_id)
    except ModelFileError as exc:
        return f"model {model_id} is damaged: {exc}"
    known = _problems(lib).get(model_id)
    if known and known.get("stamp") == stamp_text(model_stamp(lib.settings.models_dir, model_id)):
        return str(known.get("why") or f"model {model_id} cannot be loaded")
    return None


def _note_problem(lib: Library, model_id: str, exc: ModelFileError) -> str:
    """Remember that this copy of ``model_id`` does not load (until its files change); the reason."""
    from engine.models.stamps import model_stamp, stamp_text

    why = (
        f"model {model_id} cannot be loaded: {exc} "
        f"(install it again: lookalike models download {model_id} --force)"
    )
    problems = _problems(lib)
    problems[model_id] = {"stamp": stamp_text(model_stamp(lib.settings.models_dir, model_id)), "why": why}
    lib.catalog.set_meta(PROBLEMS_META, json.dumps(problems))
    return why


def _load(lib: Library, model_id: str, load: Callable[[], T]) -> T:
    """``load()``, with a copy that does not load remembered; raises ModelFileError with the reason
    (the runner then leaves the file pending: the stage waits for the model)."""
    try:
        return load()
    except ModelFileError as exc:
        raise ModelFileError(_note_problem(lib, model_id, exc)) from exc


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
            problem = model_problem(lib, model_id)
            if problem is not None:
                return problem
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
                    whisper = _load(lib, lib.settings.speech_model, lib.speech_model)
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
            encoder = _load(lib, lib.settings.text_model, lib.text_encoder)
            vectors = encoder.encode([s.text for s in spoken])
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
