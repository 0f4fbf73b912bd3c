"""Speech stage cost on this machine: hours of audio per hour for VAD alone, Whisper per size on
CTranslate2 int8 (random weights of the real shapes) beside transformers' Whisper in torch fp32 on the
same audio, and the whole stage through the library; and the share of a mixed library VAD skips.

Random weights never say "end of text", so each 30 s window's decoding is capped at the tokens real
speech has (``--tokens-per-s``, 3.3 ≈ 150 words a minute): the figure is what real weights cost on
speech, not what a random model's babble would. Random weights also emit timestamp tokens at random
(whisper-small's put one at ~7 s into every window, so faster-whisper moved on 7 s at a time and ran
its encoder 4x as often as on speech: the "3 h/h" of the first measurement), so timestamps are
suppressed in every run here. No real Whisper weights can be had here.

The library row (``--library``, on by default) indexes a folder of espeak-ng sentence files through the
real library (scan and embeddings untimed, then the speech stage: decode at 16 kHz, VAD, Whisper,
MiniLM, store and catalog writes), beside its ceiling in the same run: the VAD and the transcriber
alone (the library's own WhisperTranscriber, the same calls) on the same audio, decoded beforehand.

    python bench/bench_speech.py [--sizes tiny,base,small] [--minutes 2] [--threads 1]
                                 [--no-library] [--library-size base] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.models.speech import SAMPLE_RATE, detect_speech  # noqa: E402

SENTENCES = [
    "Good morning everyone, thanks for joining the call today.",
    "We need to book the flight to Tokyo before Friday.",
    "The garden project is going well, the tomatoes are growing.",
    "Can you send me the slides from the meeting last week?",
    "I think the budget should be reviewed again in March.",
]
ESC50 = Path(__file__).resolve().parent.parent.parent / "shared" / "assets" / "data" / "esc50_subset"


def speech_audio(minutes: float, tmp: Path) -> np.ndarray:
    """``minutes`` of espeak-ng sentences with short pauses, 16 kHz mono."""
    import soundfile as sf
    import soxr

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is needed (Debian: apt install espeak-ng)")
    parts = []
    for i, text in enumerate(SENTENCES):
        wav = tmp / f"s{i}.wav"
        subprocess.run([espeak, "-w", str(wav), text], check=True, capture_output=True)
        w, sr = sf.read(wav, dtype="float32")
        pause = np.zeros(SAMPLE_RATE // 2, np.float32)
        parts += [soxr.resample(w, sr, SAMPLE_RATE).astype(np.float32), pause]
    one = np.concatenate(parts)
    n = int(minutes * 60 * SAMPLE_RATE)
    return np.tile(one, n // len(one) + 1)[:n]


def rate(audio_s: float, wall_s: float) -> str:
    return f"{audio_s / wall_s:8.0f} h/h  ({wall_s:6.2f} s for {audio_s / 60:.1f} min)"


def bench_vad(audio: np.ndarray) -> float:
    t = time.perf_counter()
    detect_speech(audio)
    return time.perf_counter() - t


def no_timestamps(model: object) -> list[int]:
    """``suppress_tokens`` for a faster-whisper model: its default set plus every timestamp token."""
    tok = model.hf_tokenizer  # type: ignore[attr-defined]
    return [-1, *range(tok.token_to_id("<|0.00|>"), tok.get_vocab_size())]


def guard_random_weights(max_tokens: int) -> None:
    """Every faster-whisper transcribe from here on (the library's too) decodes at most ``max_tokens``
    per window and no timestamp tokens: what random weights need to cost what real ones do on speech."""
    from faster_whisper import WhisperModel

    real = WhisperModel.transcribe
    if getattr(real, "_bench_guard", False):
        return

    def transcribe(self, audio, **kw):  # type: ignore[no-untyped-def]
        kw.setdefault("max_new_tokens", max_tokens)
        kw["suppress_tokens"] = no_timestamps(self)
        return real(self, audio, **kw)

    transcribe._bench_guard = True  # type: ignore[attr-defined]
    WhisperModel.transcribe = transcribe  # type: ignore[method-assign]


def bench_ct2(folder: Path, audio: np.ndarray, threads: int, max_tokens: int) -> float:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=threads)
    regions = detect_speech(audio)
    clips = [x for a, b in regions for x in (a, b)]
    t = time.perf_counter()
    segments, _ = model.transcribe(
        audio,
        language="en",
        beam_size=1,
        temperature=0.0,
        condition_on_previous_text=False,
        clip_timestamps=clips,
        max_new_tokens=max_tokens,
        without_timestamps=True,
    )
    for _ in segments:
        pass
    return time.perf_counter() - t


def bench_transformers(shape: str, audio: np.ndarray, threads: int, max_tokens: int) -> float:
    """transformers' Whisper (torch fp32) of the same shape, 30 s windows, the same token cap."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration

    from engine.models.tiny_whisper import REAL_VOCAB, whisper_config

    # Whisper's own ids: 50257 end of text, 50258 start of transcript.
    cfg = whisper_config(shape, REAL_VOCAB, sot=50258, eot=50257)
    torch.set_num_threads(threads)
    model = WhisperForConditionalGeneration(cfg).eval()
    fe = WhisperFeatureExtractor(feature_size=80)
    win = 30 * SAMPLE_RATE
    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(audio), win):
            feats = fe(audio[i : i + win], sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
            model.generate(feats, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False)
    return time.perf_counter() - t


def speech_files(folder: Path, n: int, tmp: Path) -> list[Path]:
    """``n`` WAV files of espeak-ng sentences (two sentences each, with pauses and a second of quiet
    room noise around them), at 22.05 kHz as espeak writes them: the library resamples them."""
    import soundfile as sf

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        sys.exit("espeak-ng is needed (Debian: apt install espeak-ng)")
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        parts: list[np.ndarray] = []
        sr = 22_050
        for j in range(2):
            wav = tmp / f"f{i}_{j}.wav"
            text = SENTENCES[(2 * i + j) % len(SENTENCES)]
            subprocess.run([espeak, "-s", str(150 + 10 * (i % 4)), "-w", str(wav), text], check=True)
            w, sr = sf.read(wav, dtype="float32")
            parts += [np.zeros(sr, np.float32), w]
        parts.append(np.zeros(sr, np.float32))
        x = np.concatenate(parts)
        x += rng.normal(0, 0.003, x.size).astype(np.float32)
        p = folder / f"memo_{i:02d}.wav"
        sf.write(p, x, sr)
        out.append(p)
    return out


def bench_library(size: str, whisper: Path, files: list[Path], work: Path) -> tuple[float, float, float]:
    """(audio seconds, library wall seconds, ceiling wall seconds): the speech stage through the library
    on ``files``, then the VAD and the library's transcriber alone on the same audio, decoded first."""
    from engine.indexing.analysis import run_pending_analyses
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.media.audio import load_audio
    from engine.models.manifest import write_manifest
    from engine.models.tiny import write_tiny_models
    from engine.storage.settings import Settings

    home = work / f"home-speech-{size}"
    shutil.rmtree(home, ignore_errors=True)
    (home / "models").mkdir(parents=True)
    write_tiny_models(home / "models", ["panns-mobilenetv1", "all-minilm-l6-v2"])
    minilm = ESC50.parent.parent / "models" / "all-MiniLM-L6-v2"
    if minilm.is_dir():  # the real text model: its cost per segment is the real one
        dest = home / "models" / "all-minilm-l6-v2"
        shutil.rmtree(dest)
        shutil.copytree(minilm, dest, ignore=shutil.ignore_patterns("README.md", "SHA256SUMS"))
        write_manifest(dest, "all-minilm-l6-v2", source=str(minilm))
    shutil.copytree(whisper, home / "models" / f"whisper-{size}")
    settings = Settings(home=home, speech_model=f"whisper-{size}", ocr=False)
    with Library(settings) as lib:
        lib.add_folder(files[0].parent)
        scan(lib)
        index_pending(lib)  # the embeddings: not this stage's cost
        transcriber = lib.speech_model()  # loaded once a session, before the clock
        lib.text_encoder().encode(["warm up"])
        _ = lib.store
        t = time.perf_counter()
        report = run_pending_analyses(lib, only="speech")
        wall = time.perf_counter() - t
        assert report.done == len(files) and not report.failed, report
        audios = [load_audio(p, sr=SAMPLE_RATE) for p in files]
        t = time.perf_counter()
        for a in audios:
            transcriber.transcribe(a, detect_speech(a))
        ceiling = time.perf_counter() - t
    return sum(len(a) for a in audios) / SAMPLE_RATE, wall, ceiling


def skipped_share() -> tuple[int, int]:
    """(clips VAD passes to Whisper, clips) over the ESC-50 subset: a library of sounds with no speech."""
    import soundfile as sf
    import soxr

    files = sorted((ESC50 / "audio").glob("*.wav"))
    flagged = 0
    for f in files:
        w, sr = sf.read(f, dtype="float32", always_2d=False)
        if detect_speech(soxr.resample(w, sr, SAMPLE_RATE).astype(np.float32)):
            flagged += 1
    return flagged, len(files)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,base,small")
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens-per-s", type=float, default=3.3)
    ap.add_argument("--no-transformers", action="store_true")
    ap.add_argument("--no-library", action="store_true", help="leave out the through-the-library row")
    ap.add_argument("--library-size", default="base", help="the Whisper size the library row runs")
    ap.add_argument("--library-files", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2, help="library row and its ceiling, this many times")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average) on {os.cpu_count()} cores; threads {args.threads}")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        audio = speech_audio(args.minutes, tmp)
        seconds = len(audio) / SAMPLE_RATE
        max_tokens = int(args.tokens_per_s * 30)
        guard_random_weights(max_tokens)
        print(f"speech audio: {seconds / 60:.1f} min of espeak-ng sentences; {max_tokens} tokens/30 s window")
        print(f"VAD alone (Silero v6, ONNX):          {rate(seconds, bench_vad(audio))}")
        if ESC50.is_dir():
            flagged, n = skipped_share()
            share = 100 * (n - flagged) / n
            print(f"VAD on ESC-50 (no speech): {n - flagged}/{n} clips skipped ({share:.0f} %)")
        from engine.models.tiny_whisper import write_tiny_whisper

        for size in args.sizes.split(","):
            folder = write_tiny_whisper(tmp / f"whisper-{size}", f"whisper-{size}", shape=size)
            ct2 = bench_ct2(folder, audio, args.threads, max_tokens)
            print(f"whisper-{size:<5} CTranslate2 int8:       {rate(seconds, ct2)}")
            if not args.no_transformers:
                hf = bench_transformers(size, audio, args.threads, max_tokens)
                slower = f"({hf / ct2:.1f}x slower)"
                print(f"whisper-{size:<5} transformers fp32:      {rate(seconds, hf)}  {slower}")
            if not (size == args.library_size and not args.no_library):
                shutil.rmtree(folder)
        if not args.no_library:
            # The library's threads, as the app runs it (the stage runs on the service's one core thread).
            os.environ["LOOKALIKE_THREADS"] = str(args.threads)
            size = args.library_size
            folder = tmp / f"whisper-{size}"
            if not folder.is_dir():
                folder = write_tiny_whisper(folder, f"whisper-{size}", shape=size)
            files = speech_files(tmp / "memos", args.library_files, tmp)
            ratios = []
            for rnd in range(max(1, args.rounds)):
                audio_s, wall, ceiling = bench_library(size, folder, files, tmp)
                ratios.append(ceiling / wall)
                print(
                    f"whisper-{size:<5} through the library:   {rate(audio_s, wall)}  "
                    f"ceiling (VAD + transcriber alone) {audio_s / ceiling:.0f} h/h: {ceiling / wall:.0%}"
                    f"  [round {rnd + 1}, load {os.getloadavg()[0]:.1f}]"
                )
            print(f"library / ceiling, median of {len(ratios)}: {np.median(ratios):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
