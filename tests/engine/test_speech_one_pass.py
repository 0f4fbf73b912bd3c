"""A short voice memo costs Whisper one encoder pass (issue 18): the language is detected from the first
window's encoding, which transcribing reuses, and the speech regions of a short file share one window.

Run on espeak-ng sentences and the tiny random-weight Whisper (CTranslate2's real format, real
faster-whisper code around it), counting calls to the model's encoder."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from engine.models.speech import (
    MAX_PAUSE_S,
    PACK_S,
    SAMPLE_RATE,
    WhisperTranscriber,
    _silence_between,
    detect_speech,
    pack_regions,
)

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (Debian: espeak-ng)")
#: The arguments the transcriber gave faster-whisper before this change (one clip per region).
OLD_ARGS: dict[str, Any] = dict(
    beam_size=1,
    best_of=1,
    temperature=0.0,
    condition_on_previous_text=False,
    vad_filter=False,
    without_timestamps=False,
)


def speak(text: str, dest: Path) -> np.ndarray:
    import soxr

    assert ESPEAK is not None
    subprocess.run([ESPEAK, "-w", str(dest), text], check=True, capture_output=True)
    wave, sr = sf.read(dest, dtype="float32", always_2d=False)
    return soxr.resample(wave, sr, SAMPLE_RATE).astype(np.float32)


def memo(tmp: Path, *sentences: str, pause_s: float = 1.0, lead_s: float = 1.0) -> np.ndarray:
    """Sentences with ``pause_s`` of quiet room noise between them, as a voice memo."""
    rng = np.random.default_rng(0)
    parts = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)]
    for i, text in enumerate(sentences):
        parts += [speak(text, tmp / f"s{i}.wav"), np.zeros(int(pause_s * SAMPLE_RATE), np.float32)]
    x = np.concatenate(parts)
    return x + rng.normal(0, 0.003, x.size).astype(np.float32)


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.models.tiny_whisper import write_tiny_whisper

    return write_tiny_whisper(tmp_path_factory.mktemp("whisper") / "whisper-base", "whisper-base")


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every encoder pass of every faster-whisper model, counted (one entry each)."""
    from faster_whisper import WhisperModel

    calls: list[int] = []
    real = WhisperModel.encode

    def counting(self: Any, features: np.ndarray) -> Any:
        calls.append(1)
        return real(self, features)

    monkeypatch.setattr(WhisperModel, "encode", counting)
    return calls


class Multilingual:
    """The tiny model's CTranslate2 Whisper, claiming to be multilingual (the random-weight converter
    writes no language ids, and CTranslate2 then refuses ``detect_language``). Its language is a pure
    function of the encoder output, so two encodings of the same window give the same language and
    different windows almost surely do not."""

    is_multilingual = True

    def __init__(self, real: Any) -> None:
        self._real = real
        self.detections = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def detect_language(self, encoder_output: Any) -> list[list[tuple[str, float]]]:
        from faster_whisper.tokenizer import _LANGUAGE_CODES

        self.detections += 1
        x = np.asarray(encoder_output, dtype=np.float64)
        out = []
        for row in x.reshape(x.shape[0], -1):
            code = _LANGUAGE_CODES[int(abs(row.sum()) * 1e3) % len(_LANGUAGE_CODES)]
            out.append([(f"<|{code}|>", 0.9), ("<|en|>", 0.05)])
        return out


def test_regions_share_a_window_while_they_fit() -> None:
    assert pack_regions([(5.8, 9.4), (0.8, 4.9)]) == [(0.8, 9.4, [(0.8, 4.9), (5.8, 9.4)])]
    # A long pause or a clip past one window starts a new clip.
    assert len(pack_regions([(0.8, 4.9), (4.9 + MAX_PAUSE_S + 0.1, 12.0)])) == 2
    assert len(pack_regions([(0.0, 20.0), (21.0, PACK_S + 0.5)])) == 2
    # A region longer than a window is a clip of its own.
    assert pack_regions([(0.0, 70.0)]) == [(0.0, 70.0, [(0.0, 70.0)])]


def test_only_the_pauses_inside_a_clip_are_silenced() -> None:
    audio = np.ones(10 * SAMPLE_RATE, np.float32)
    out = _silence_between(audio, pack_regions([(1.0, 3.0), (4.0, 6.0)]))
    assert audio.min() == 1.0  # the caller's audio is untouched
    assert out[3 * SAMPLE_RATE : 4 * SAMPLE_RATE].max() == 0.0
    assert out[: 3 * SAMPLE_RATE].min() == 1.0 and out[4 * SAMPLE_RATE :].min() == 1.0
    assert _silence_between(audio, pack_regions([(1.0, 6.0)])) is audio  # nothing to silence: no copy


@needs_espeak
def test_a_two_sentence_memo_costs_one_encoder_pass(
    whisper_folder: Path, tmp_path: Path, encodes: list[int]
) -> None:
    audio = memo(tmp_path, "Good morning, this is a memo about the garden.", "Call the plumber on Monday.")
    regions = detect_speech(audio)
    assert len(regions) == 2  # two sentences, a pause the VAD does not bridge

    transcriber = WhisperTranscriber(whisper_folder, "whisper-base")
    model = transcriber._model
    duration = len(audio) / SAMPLE_RATE
    before, _ = model.transcribe(audio, clip_timestamps=[x for r in regions for x in r], **OLD_ARGS)
    old = list(before)
    assert len(encodes) == 2  # before: one pass per region
    encodes.clear()

    language, segs = transcriber.transcribe(audio, regions, language="en")
    assert len(encodes) == 1
    assert language == "en" and segs
    # Times stay seconds of the file, from the first speech on, as the old ones were (random weights put
    # their timestamps anywhere in the window, so only where the window starts is known).
    assert all(regions[0][0] - 0.01 <= s.start <= s.end <= duration for s in segs)
    assert old and all(regions[0][0] - 0.01 <= s.start for s in old)
    assert "encode" not in vars(model)  # the reuse hook is gone after the call


@needs_espeak
def test_the_language_comes_from_the_first_windows_encoding(
    whisper_folder: Path, tmp_path: Path, encodes: list[int]
) -> None:
    audio = memo(tmp_path, "We need to book the flight to Tokyo before Friday.", lead_s=1.0, pause_s=0.3)
    regions = detect_speech(audio)
    assert len(regions) == 1
    duration = len(audio) / SAMPLE_RATE
    # The clip runs to the end of the file: faster-whisper's own detection window is the same window,
    # so the old path and the new one must agree on language, words and times exactly.
    regions = [(regions[0][0], duration)]

    transcriber = WhisperTranscriber(whisper_folder, "whisper-base")
    fake = Multilingual(transcriber._model.model)
    transcriber._model.model = fake
    clips = [round(regions[0][0], 3), round(duration, 3)]
    segments, info = transcriber._model.transcribe(audio, language=None, clip_timestamps=clips, **OLD_ARGS)
    # The transcriber's rules on the old output: empty and no-speech segments dropped, times clamped.
    old = []
    for s in segments:
        if s.text.strip() and not (s.no_speech_prob > 0.6 and s.avg_logprob < -1.0):
            start = min(max(0.0, s.start), duration)
            old.append((start, min(max(start, s.end), duration), s.text.strip()))
    assert len(encodes) == 2 and fake.detections == 1  # before: detection's pass, then the window's
    encodes.clear()
    fake.detections = 0

    language, segs = transcriber.transcribe(audio, regions)
    assert len(encodes) == 1 and fake.detections == 1
    assert language == info.language
    assert [(s.start, s.end, s.text) for s in segs] == old

    # A language already known (the file's earlier windows) is used as given: no detection at all.
    encodes.clear()
    fake.detections = 0
    language, _ = transcriber.transcribe(audio, regions, language="de")
    assert language == "de" and fake.detections == 0 and len(encodes) == 1
