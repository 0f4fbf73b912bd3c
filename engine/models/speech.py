"""Speech: where it is (Silero VAD) and what is said (Whisper through faster-whisper / CTranslate2).

Voice activity detection runs first on every sound and soundtrack, so music, noise and silence cost only
its pass (about 1 ms of CPU per second of audio here): Silero VAD v6 ships inside the faster-whisper
wheel as ONNX, a real model that needs no download. Only the regions it finds are given to Whisper.

Whisper runs through faster-whisper on CTranslate2 (int8 on the CPU): on this 2-core machine it is the
fast CPU runtime (transformers' Whisper in fp32 torch is several times slower per second of audio, see
docs/benchmarks.md "Speech"). The weights are the CTranslate2 conversions of OpenAI's checkpoints
(``Systran/faster-whisper-*``), fetched through the model manager like every other model.

Audio comes in at 16 kHz mono float32, the rate both models take.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelFileError

SAMPLE_RATE = 16_000
#: Speech regions closer than this are merged: one sentence with a breath in it stays one region.
MERGE_GAP_S = 0.6
#: Regions shorter than this are dropped: on the 100 ESC-50 clips (no speech in any) Silero flags 13
#: stretches of 0.5–0.9 s (chainsaws, coughs, a dog, a hen) and 3 longer ones (insects, pigs); a spoken
#: phrase is longer than a second. With the threshold below, 98 of the 100 clips cost only the VAD pass.
MIN_SPEECH_S = 1.0
#: Silero's speech probability threshold (its default is 0.5; 0.6 drops most animal calls).
THRESHOLD = 0.6


@dataclass(frozen=True)
class Segment:
    """One transcribed stretch of speech: seconds from the start of the file, and the words."""

    start: float
    end: float
    text: str


def detect_speech(audio: np.ndarray, *, threshold: float = THRESHOLD) -> list[tuple[float, float]]:
    """Speech regions of 16 kHz mono ``audio`` as (start, end) seconds, merged across short pauses.

    Raises ModelFileError when faster-whisper (which carries the VAD model) is not installed.
    """
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise ModelFileError(f"speech detection needs faster-whisper: {exc}") from exc
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.size < SAMPLE_RATE // 10:
        return []
    options = VadOptions(
        threshold=threshold,
        min_speech_duration_ms=250,
        min_silence_duration_ms=300,
        speech_pad_ms=200,
    )
    with _vad_lock:  # the ONNX session behind it is one per process
        stamps = get_speech_timestamps(audio, options)
    regions: list[tuple[float, float]] = []
    for s in stamps:
        start, end = s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE
        if regions and start - regions[-1][1] < MERGE_GAP_S:
            regions[-1] = (regions[-1][0], end)
        else:
            regions.append((start, end))
    return [(a, b) for a, b in regions if b - a >= MIN_SPEECH_S]


_vad_lock = threading.Lock()


class WhisperTranscriber:
    """A Whisper model in CTranslate2 format (a folder with model.bin, config.json, tokenizer.json and
    a vocabulary file) behind :meth:`transcribe`.

    Raises ModelFileError when the folder is not such a model.
    """

    def __init__(self, folder: Path, model_id: str, *, device: str = "cpu", threads: int = 1) -> None:
        self.folder = Path(folder)
        self.model_id = model_id
        missing = [
            n for n in ("model.bin", "config.json", "tokenizer.json") if not (self.folder / n).is_file()
        ]
        if missing:
            raise ModelFileError(f"{self.folder} is not a CTranslate2 Whisper model: no {', '.join(missing)}")
        try:
            from faster_whisper import WhisperModel

            ct2_device = "cuda" if device.startswith("cuda") else "cpu"
            compute = "int8_float16" if ct2_device == "cuda" else "int8"
            self._model: Any = WhisperModel(
                str(self.folder), device=ct2_device, compute_type=compute, cpu_threads=threads, num_workers=1
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelFileError(f"cannot load the Whisper model in {self.folder}: {exc}") from exc
        self._lock = threading.Lock()
        self._last_encoding: tuple[np.ndarray, Any] | None = None

    def transcribe(
        self, audio: np.ndarray, regions: Sequence[tuple[float, float]], *, language: str | None = None
    ) -> tuple[str | None, list[Segment]]:
        """(language, segments) for the speech ``regions`` of 16 kHz mono ``audio``.

        Only the regions are decoded (``clip_timestamps``), so the time Whisper spends is the speech's,
        not the file's. Regions close enough to share one 30 s window are decoded as one clip with the
        audio between them silenced (see :func:`pack_regions`): Whisper pads every clip to 30 s and
        encodes it, so a memo of two sentences costs one encoder pass instead of two. The language,
        when not given, is detected from the encoding of the first window, which transcribing then
        reuses (faster-whisper's own detection encodes a window of its own first). Segment times are
        in seconds of ``audio``, clamped to its length (a random-weight test model can claim any time).
        """
        if not regions:
            return language, []
        duration = len(audio) / SAMPLE_RATE
        clipped = [(max(0.0, a), min(duration, b)) for a, b in regions]
        packed = pack_regions([(a, b) for a, b in clipped if b > a])
        if not packed:
            return language, []
        samples = _silence_between(np.ascontiguousarray(audio, dtype=np.float32), packed)
        clips: list[float] = []
        for a, b, _ in packed:
            clips += [round(a, 3), round(b, 3)]
        with self._lock:
            self._model.encode = self._encode_reusing  # instance attribute: faster-whisper's self.encode
            try:
                if language is None and self._model.model.is_multilingual:
                    language = self._first_window_language(samples, clips[0], clips[1])
                segments, info = self._model.transcribe(
                    samples,
                    language=language,
                    beam_size=1,
                    best_of=1,
                    temperature=0.0,
                    condition_on_previous_text=False,
                    vad_filter=False,
                    clip_timestamps=clips,
                    without_timestamps=False,
                )
                out: list[Segment] = []
                for s in segments:
                    text = s.text.strip()
                    # Whisper's own rule against hallucinated text in noise: no speech and low confidence.
                    if not text or (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0):
                        continue
                    start = min(max(0.0, float(s.start)), duration)
                    end = min(max(start, float(s.end)), duration)
                    out.append(Segment(start, end, text))
            finally:
                self._last_encoding = None  # ~3 MB for base: not kept between files
                del self._model.encode
        return getattr(info, "language", language), out

    def _first_window_language(self, audio: np.ndarray, start: float, end: float) -> str:
        """The language Whisper hears in the first window that transcribing ``audio`` from the clip
        ``start``..``end`` will encode: the same features, sliced and padded as faster-whisper's
        ``generate_segments`` slices its first window, so that encoding is made once and reused."""
        from faster_whisper.audio import pad_or_trim

        extractor = self._model.feature_extractor
        features = extractor(audio)  # the whole audio, as transcribe computes them (one normalisation)
        fps = self._model.frames_per_second
        content = features.shape[-1] - 1
        seek, stop = round(start * fps), round(end * fps)
        size = max(1, min(extractor.nb_max_frames, content - seek, stop - seek))
        encoding = self._model.encode(pad_or_trim(features[:, seek : seek + size]))
        token, _probability = self._model.model.detect_language(encoding)[0][0]
        return str(token)[2:-2]  # "<|en|>" -> "en"

    def _encode_reusing(self, features: np.ndarray) -> Any:
        """WhisperModel.encode, with the last window's encoding reused when the same window comes again
        (the first window: once for the language, once to transcribe)."""
        from faster_whisper import WhisperModel

        last = self._last_encoding
        if last is not None and last[0].shape == features.shape and np.array_equal(last[0], features):
            return last[1]
        out = WhisperModel.encode(self._model, features)
        self._last_encoding = (np.array(features, copy=True), out)
        return out


#: Speech regions are packed into one Whisper window while the packed clip stays this long (a window is
#: 30 s; the margin keeps its last frame inside after rounding to 10 ms frames).
PACK_S = 29.5
#: ... and while the pause between two regions is at most this long: Whisper then hears a pause it is
#: used to in speech, never a long silence (where real Whisper is known to invent words).
MAX_PAUSE_S = 3.0


#: A clip for Whisper: (start, end, the speech regions in it), seconds.
Clip = tuple[float, float, list[tuple[float, float]]]


def pack_regions(regions: Sequence[tuple[float, float]]) -> list[Clip]:
    """Sorted speech ``regions`` (seconds) grouped into clips for Whisper: (start, end, the regions in it).

    Consecutive regions share a clip while it spans at most PACK_S and no pause in it exceeds
    MAX_PAUSE_S; a region longer than a window is a clip of its own (Whisper walks it window by window).
    """
    out: list[Clip] = []
    for a, b in sorted(regions):
        if out and b - out[-1][0] <= PACK_S and a - out[-1][1] <= MAX_PAUSE_S:
            start, _, members = out[-1]
            out[-1] = (start, max(b, out[-1][1]), [*members, (a, b)])
        else:
            out.append((a, b, [(a, b)]))
    return out


def _silence_between(audio: np.ndarray, packed: Sequence[Clip]) -> np.ndarray:
    """``audio`` with the pauses inside packed clips set to zero (a copy when there are any), so Whisper
    hears only what the VAD called speech, as when each region was its own clip."""
    pauses = [
        (round(prev_end * SAMPLE_RATE), round(next_start * SAMPLE_RATE))
        for _, _, members in packed
        for (_, prev_end), (next_start, _) in zip(members, members[1:], strict=False)
        if next_start > prev_end
    ]
    if not pauses:
        return audio
    out = audio.copy()
    for i, j in pauses:
        out[i:j] = 0.0
    return out
