"""What is said (issue 17): Silero VAD on real speech and non-speech, the transcription stage end to end on
a tiny random-weight Whisper in CTranslate2's format, and the search half on known transcripts with the
real MiniLM (a paraphrase finds the right moment)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli.main import main
from engine.library import Library
from engine.models.speech import SAMPLE_RATE, Segment, detect_speech
from tests.conftest import SHARED_ASSETS
from tests.engine.test_audio_decode import make_sound

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (Debian: espeak-ng)")
ESC50 = SHARED_ASSETS / "data" / "esc50_subset"


def speak(text: str, dest: Path) -> np.ndarray:
    """``text`` spoken by espeak-ng, as 16 kHz mono float32."""
    import soxr

    subprocess.run([ESPEAK, "-w", str(dest), text], check=True, capture_output=True)
    wave, sr = sf.read(dest, dtype="float32", always_2d=False)
    return soxr.resample(wave, sr, SAMPLE_RATE).astype(np.float32)


def place(speech: np.ndarray, at_s: float, total_s: float, noise: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros(int(total_s * SAMPLE_RATE), dtype=np.float32) if noise is None else noise.copy()
    i = int(at_s * SAMPLE_RATE)
    out[i : i + len(speech)] += speech[: len(out) - i]
    return out


def esc50_clip(category: str) -> np.ndarray:
    import soxr

    rows = [line.split(",") for line in (ESC50 / "esc50_subset.csv").read_text().splitlines()[1:]]
    name = next(r[0] for r in rows if r[3] == category)
    wave, sr = sf.read(ESC50 / "audio" / name, dtype="float32", always_2d=False)
    return soxr.resample(wave, sr, SAMPLE_RATE).astype(np.float32)


# -- voice activity --------------------------------------------------------------------------------


@needs_espeak
def test_vad_finds_speech_where_it_is(tmp_path: Path) -> None:
    speech = speak("The meeting moved to Thursday afternoon at three o'clock.", tmp_path / "s.wav")
    seconds = len(speech) / SAMPLE_RATE
    audio = place(speech, 4.0, 4.0 + seconds + 4.0)
    regions = detect_speech(audio)
    assert len(regions) == 1
    start, end = regions[0]
    assert abs(start - 4.0) <= 0.5 and abs(end - (4.0 + seconds)) <= 0.5


@needs_espeak
@pytest.mark.skipif(not ESC50.is_dir(), reason="shared ESC-50 clips not found (../shared/assets)")
def test_vad_finds_speech_in_noise(tmp_path: Path) -> None:
    speech = speak("Please remember to book the flight to Tokyo on Friday.", tmp_path / "s.wav")
    rain = esc50_clip("rain")
    rain = np.tile(rain, 3)[: int(12 * SAMPLE_RATE)] * 0.3
    regions = detect_speech(place(speech, 3.0, 12.0, noise=rain))
    assert regions, "speech mixed into rain was not found"
    start, end = regions[0][0], regions[-1][1]
    assert abs(start - 3.0) <= 0.5 and abs(end - (3.0 + len(speech) / SAMPLE_RATE)) <= 0.5


@pytest.mark.parametrize("kind", ["silence", "tone", "chirp", "white"])
def test_vad_skips_non_speech(kind: str) -> None:
    if kind == "silence":
        audio = np.zeros(SAMPLE_RATE * 8, dtype=np.float32)
    else:
        audio = make_sound(kind, SAMPLE_RATE, 8.0, seed=3).astype(np.float32) * 0.5
    assert detect_speech(audio) == []


@pytest.mark.skipif(not ESC50.is_dir(), reason="shared ESC-50 clips not found (../shared/assets)")
def test_vad_skips_nearly_every_real_non_speech_sound() -> None:
    """The 100 ESC-50 clips hold no speech: at most a few (animal calls) may get past the VAD, and
    they go to Whisper, whose no-speech rule drops what it hears there."""
    import soxr

    rows = [line.split(",") for line in (ESC50 / "esc50_subset.csv").read_text().splitlines()[1:]]
    flagged = []
    for r in rows:
        wave, sr = sf.read(ESC50 / "audio" / r[0], dtype="float32", always_2d=False)
        if detect_speech(soxr.resample(wave, sr, SAMPLE_RATE).astype(np.float32)):
            flagged.append(r[3])
    assert len(flagged) <= 3, flagged
    assert not {"rain", "engine", "chainsaw", "clock_tick", "sea_waves", "church_bells"} & set(flagged)


# -- the stage end to end on a tiny Whisper ------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.models.tiny_whisper import write_tiny_whisper

    return write_tiny_whisper(tmp_path_factory.mktemp("whisper") / "whisper-base", "whisper-base")


@pytest.fixture
def speech_home(home: Path, tiny_whisper: Path) -> Path:
    shutil.copytree(tiny_whisper, home / "models" / "whisper-base")
    return home


def cli_json(capsys: pytest.CaptureFixture[str], *args: str):
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@needs_espeak
def test_speech_stage_end_to_end_on_a_tiny_model(speech_home: Path, tmp_path: Path, capsys) -> None:
    lib_dir = tmp_path / "sounds"
    lib_dir.mkdir()
    voice = speak("Good morning, this is a voice memo about the garden.", tmp_path / "v.wav")
    sf.write(lib_dir / "memo.wav", place(voice, 1.0, 6.0), SAMPLE_RATE)
    sf.write(lib_dir / "tone.wav", make_sound("tone", 32_000, 4.0, seed=1), 32_000)

    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["indexed"] == 2
    status = cli_json(capsys, "status")
    speech = status["analyzers"]["speech"]
    assert speech["done"] == 2 and speech["pending"] == 0 and speech["failed"] == 0

    memo = str((lib_dir / "memo.wav").resolve())
    segs = cli_json(capsys, "transcript", memo)
    # Random weights say random words, but they are timed within the file and stored.
    assert segs and all(0.0 <= s["start"] <= s["end"] <= 6.0 for s in segs)
    assert cli_json(capsys, "transcript", str(lib_dir / "tone.wav")) == []
    with Library.open(speech_home) as lib:
        assert lib.store.count(lib.speech_collection) == len(segs)

    # Subtitles beside the file.
    assert main(["transcript", memo, "--srt"]) == 0
    assert "memo.srt" in capsys.readouterr().out
    srt = (lib_dir / "memo.srt").read_text()
    assert srt.startswith("1\n00:00:") and " --> " in srt

    # Turned off: the stage waits with the reason, and nothing more is transcribed.
    from engine.storage.settings import Settings

    settings = Settings.load(speech_home)
    settings.speech = False
    settings.save()
    sf.write(lib_dir / "memo2.wav", place(voice, 0.5, 5.0), SAMPLE_RATE)
    cli_json(capsys, "index", str(lib_dir))
    status = cli_json(capsys, "status")
    assert status["analyzers"]["speech"]["pending"] == 1


def test_files_without_speech_never_load_whisper(speech_home: Path, tmp_path: Path, capsys) -> None:
    lib_dir = tmp_path / "sounds"
    lib_dir.mkdir()
    for i, kind in enumerate(["tone", "white", "chirp"]):
        sf.write(lib_dir / f"{kind}.wav", make_sound(kind, 32_000, 4.0, seed=i), 32_000)
    with Library.open(speech_home) as lib:
        lib.add_folder(lib_dir)
        from engine.indexing.analysis import run_pending_analyses
        from engine.indexing.pipeline import index_pending
        from engine.indexing.scan import scan

        scan(lib)
        index_pending(lib)
        report = run_pending_analyses(lib, only="speech")
        assert report.done == 3 and report.failed == 0
        assert not any(k.startswith("speech:") for k in lib._encoders)


def test_a_speech_stage_killed_midway_resumes(speech_home: Path, tmp_path: Path, monkeypatch) -> None:
    """Cancel after the first file: it stays done, the rest stay pending, and the next run does only them."""
    lib_dir = tmp_path / "sounds"
    lib_dir.mkdir()
    for i in range(4):
        sf.write(lib_dir / f"s{i}.wav", make_sound("tone", 32_000, 2.0, seed=i), 32_000)
    from engine.indexing.analysis import run_pending_analyses
    from engine.indexing.analyzers import speech as speech_mod
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan

    seen: list[str] = []
    finished: list[str] = []
    real = speech_mod.SpeechAnalyzer.analyze

    def counting(self, lib, row, inputs):  # type: ignore[no-untyped-def]
        seen.append(row.path)
        real(self, lib, row, inputs)
        finished.append(row.path)

    monkeypatch.setattr(speech_mod.SpeechAnalyzer, "analyze", counting)
    with Library.open(speech_home) as lib:
        lib.add_folder(lib_dir)
        scan(lib)
        index_pending(lib)
        first = run_pending_analyses(lib, only="speech", cancel=lambda: len(finished) >= 1)
        assert first.cancelled and first.done == 1
        rest = run_pending_analyses(lib, only="speech")
        assert rest.done == 3
        assert len(seen) == 4 and len(set(seen)) == 4


# -- the search half, on known transcripts with the real MiniLM ------------------------------------


@pytest.fixture
def real_minilm_home(speech_home: Path) -> Path:
    from engine.models.manifest import write_manifest
    from tests.engine.test_minilm import REAL_REASON, real_minilm_folder

    folder = real_minilm_folder()
    if folder is None:
        pytest.skip(REAL_REASON)
    dest = speech_home / "models" / "all-minilm-l6-v2"
    shutil.rmtree(dest)
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("README.md", "SHA256SUMS"))
    write_manifest(dest, "all-minilm-l6-v2", source=str(folder))
    return speech_home


KNOWN = {
    "interview.wav": [
        Segment(3.0, 7.5, "Thanks for coming in, let's start with your background."),
        Segment(12.0, 16.0, "Next week I need to book the flight to Tokyo on Friday."),
        Segment(20.0, 24.0, "The budget for the garden project is still open."),
    ],
    "lecture.wav": [
        Segment(1.0, 5.0, "Today we discuss photosynthesis in green plants."),
        Segment(8.0, 12.0, "Chlorophyll absorbs red and blue light."),
    ],
}


@needs_espeak
def test_what_was_said_is_found_by_words_and_by_meaning(
    real_minilm_home: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from engine.models.speech import WhisperTranscriber

    lib_dir = tmp_path / "recordings"
    lib_dir.mkdir()
    voice = speak("This is a recording with some speech in it.", tmp_path / "v.wav")
    # Two lengths, so the stand-in below knows which file it is given.
    lengths = {"interview.wav": 26.0, "lecture.wav": 14.0}
    for name, seconds in lengths.items():
        sf.write(lib_dir / name, place(voice, 0.5, seconds), SAMPLE_RATE)

    def known(self, audio, regions, *, language=None):  # type: ignore[no-untyped-def]
        # The transcript a real Whisper would give of that file.
        name = "interview.wav" if len(audio) > 20 * SAMPLE_RATE else "lecture.wav"
        return "en", KNOWN[name]

    monkeypatch.setattr(WhisperTranscriber, "transcribe", known)
    cli_json(capsys, "index", str(lib_dir))

    # Exact words: the segment that says them, at its moment.
    hits = cli_json(capsys, "search", "flight to Tokyo", "-n", "5")
    top = hits[0]
    assert Path(top["path"]).name == "interview.wav"
    assert top["t"] == pytest.approx(12.0)
    said = next(r for r in top["reasons"] if r["retriever"] == "said")
    assert "Tokyo" in said["detail"]["said"]
    # The words around the moment come along, for the preview.
    assert said["detail"]["before"].startswith("Thanks for coming in")
    assert said["detail"]["after"].startswith("The budget")

    # A paraphrase, no word in common with the segment but its meaning.
    hits = cli_json(capsys, "search", "when we talked about travelling to Japan", "-n", "5")
    assert Path(hits[0]["path"]).name == "interview.wav"
    assert hits[0]["t"] == pytest.approx(12.0)
    hits = cli_json(capsys, "search", "how do leaves use sunlight", "-n", "5")
    assert Path(hits[0]["path"]).name == "lecture.wav"


def write_talking_clip(path: Path, voice: np.ndarray | None, seconds: float) -> None:
    """An MP4 of a plain picture with ``voice`` (16 kHz mono) as its AAC soundtrack (None: no audio)."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 96, 64, "yuv420p"
        audio = None
        if voice is not None:
            audio = out.add_stream("aac", rate=SAMPLE_RATE)
            audio.layout = "mono"
        frame_img = np.full((64, 96, 3), (40, 90, 160), dtype=np.uint8)
        for _ in range(int(seconds * 10)):
            for packet in video.encode(av.VideoFrame.from_ndarray(frame_img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if audio is not None and voice is not None:
            pcm = np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)
            pcm[: min(len(voice), len(pcm))] = voice[: len(pcm)]
            step = 1024
            for i in range(0, len(pcm), step):
                chunk = pcm[i : i + step]
                frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                frame.sample_rate = SAMPLE_RATE
                frame.pts = i
                for packet in audio.encode(frame):
                    out.mux(packet)
            for packet in audio.encode():
                out.mux(packet)


@needs_espeak
def test_speech_in_a_video_soundtrack_and_a_silent_clip(speech_home: Path, tmp_path: Path, capsys) -> None:
    from tests.engine.videogen import has_encoder

    if not has_encoder("libx264"):
        pytest.skip("this FFmpeg build cannot write H.264")
    lib_dir = tmp_path / "clips"
    lib_dir.mkdir()
    voice = speak("Welcome to the family picnic by the lake, everyone is here.", tmp_path / "v.wav")
    write_talking_clip(
        lib_dir / "picnic.mp4", np.concatenate([np.zeros(SAMPLE_RATE, np.float32), voice]), 6.0
    )
    write_talking_clip(lib_dir / "silent.mp4", None, 3.0)
    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["indexed"] == 2
    speech = cli_json(capsys, "status")["analyzers"]["speech"]
    assert speech["done"] == 2 and speech["failed"] == 0
    segs = cli_json(capsys, "transcript", str(lib_dir / "picnic.mp4"))
    assert segs and all(0.0 <= s["start"] <= s["end"] <= 6.5 for s in segs)
    assert cli_json(capsys, "transcript", str(lib_dir / "silent.mp4")) == []


def _real_whisper() -> Path | None:
    """Real Whisper weights in CTranslate2 format: $LOOKALIKE_REAL_WHISPER, or ../shared/assets/models/
    faster-whisper-base (none exist on the machine this was written on)."""
    import os

    for cand in (os.environ.get("LOOKALIKE_REAL_WHISPER"), SHARED_ASSETS / "models" / "faster-whisper-base"):
        if cand and (Path(cand) / "model.bin").is_file():
            return Path(cand)
    return None


@pytest.mark.real_weights
@needs_espeak
def test_real_whisper_hears_the_words(tmp_path: Path) -> None:
    folder = _real_whisper()
    if folder is None:
        pytest.skip(
            "real Whisper weights not found "
            "($LOOKALIKE_REAL_WHISPER or ../shared/assets/models/faster-whisper-base)"
        )
    from engine.models.speech import WhisperTranscriber

    audio = place(speak("Please book the flight to Tokyo on Friday.", tmp_path / "s.wav"), 1.0, 8.0)
    language, segs = WhisperTranscriber(folder, "whisper-base").transcribe(audio, detect_speech(audio))
    words = " ".join(s.text for s in segs).lower()
    assert language == "en"
    assert "tokyo" in words and "friday" in words and "flight" in words
