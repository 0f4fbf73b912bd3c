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

    def transcribe(
        self, audio: np.ndarray, regions: Sequence[tuple[float, float]], *, language: str | None = None
    ) -> tuple[str | None, list[Segment]]:
        """(language, segments) for the speech ``regions`` of 16 kHz mono ``audio``.

        Only the regions are decoded (``clip_timestamps``), so the time Whisper spends is the speech's,
        not the file's. The language is detected once per call when not given. Segment times are clamped
        to the audio's length (a random-weight test model can claim any time).
        """
        if not regions:
            return language, []
        duration = len(audio) / SAMPLE_RATE
        clips: list[float] = []
        for a, b in regions:
            clips += [round(max(0.0, a), 3), round(min(duration, b), 3)]
        with self._lock:
            segments, info = self._model.transcribe(
                np.ascontiguousarray(audio, dtype=np.float32),
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
        return getattr(info, "language", language), out
