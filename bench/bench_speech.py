"""Speech stage cost on this machine: hours of audio per hour for VAD alone, Whisper per size on
CTranslate2 int8 (random weights of the real shapes) beside transformers' Whisper in torch fp32 on the
same audio, and the whole stage through the library; and the share of a mixed library VAD skips.

Random weights never say "end of text", so each 30 s window's decoding is capped at the tokens real
speech has (``--tokens-per-s``, 3.3 ≈ 150 words a minute): the figure is what real weights cost on
speech, not what a random model's babble would. No real Whisper weights can be had here.

    python bench/bench_speech.py [--sizes tiny,base,small] [--minutes 2] [--threads 1]
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
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average) on {os.cpu_count()} cores; threads {args.threads}")
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        audio = speech_audio(args.minutes, tmp)
        seconds = len(audio) / SAMPLE_RATE
        max_tokens = int(args.tokens_per_s * 30)
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
            shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
