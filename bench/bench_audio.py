"""Sound indexing throughput: hours of audio indexed per hour of wall time (h/h), with PANNs.

Random weights at FULL size: the real architecture has the real cost whatever its weights, so a
full-width random MobileNetV1 (and Cnn14) checkpoint is written to a temporary folder and loaded
through the real loader. Measured in the same run, so the figures can be compared:

* decode: decode + downmix + resample to 32 kHz alone (the loader's ceiling), per file format;
* model: the encoder alone on pre-decoded 10 s clips (the model's ceiling);
* pipeline: decoding on a loader thread feeding the encoder (the stages overlapped, nothing else);
* library: the same MP3s indexed by the real library (scan, index_pending: each file's first segment
  decoded on the decode pool, the rest read ahead on a reader thread into the encoder on the writer
  thread, then the store and catalog writes), end to end.

The cores are shared with other work, so ``--rounds N`` runs the model, the pipeline and the library
N times back to back and prints each round's ratio of the library to the pipeline (its ceiling: decode
and model overlapped), and their median.

Prints a table and, last, one JSON line. Usage:

    python bench/bench_audio.py [--minutes 6] [--models panns-mobilenetv1,panns-cnn14] [--threads N]
                                [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.media.audio import SAMPLE_RATE, iter_audio_chunks  # noqa: E402

CHUNK_S = 10.0


def make_audio(folder: Path, minutes: float) -> dict[str, list[Path]]:
    """``minutes`` of varied 44.1 kHz stereo audio per format (FLAC, MP3 via libsndfile, M4A/AAC via
    PyAV), split over a few files."""
    import av
    import soundfile as sf

    sr = 44_100
    rng = np.random.default_rng(0)
    files: dict[str, list[Path]] = {"flac": [], "mp3": [], "m4a": []}
    n_files = 3
    seconds = minutes * 60 / n_files
    for i in range(n_files):
        t = np.arange(int(seconds * sr)) / sr
        tone = 0.2 * np.sin(2 * np.pi * (200 + 50 * i) * t * (1 + 0.1 * np.sin(2 * np.pi * 0.1 * t)))
        x = tone + 0.05 * rng.standard_normal(t.size)
        stereo = np.stack([x, np.roll(x, 100)], axis=1).astype(np.float32)
        for ext in ("flac", "mp3"):
            p = folder / f"{i}.{ext}"
            sf.write(p, stereo, sr)
            files[ext].append(p)
        p = folder / f"{i}.m4a"
        out = av.open(str(p), "w", format="mp4")
        stream = out.add_stream("aac", rate=sr, layout="stereo")
        stream.bit_rate = 128_000
        for j in range(0, stereo.shape[0], 1024):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[j : j + 1024].T), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = sr, j
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        out.close()
        files["m4a"].append(p)
    return files


def make_warmup(folder: Path) -> Path:
    """A 5 s MP3 the library benchmark indexes before its clock starts."""
    import soundfile as sf

    sr = 44_100
    t = np.arange(5 * sr) / sr
    p = folder / "warmup.mp3"
    sf.write(p, np.stack([0.2 * np.sin(2 * np.pi * 330 * t)] * 2, axis=1).astype(np.float32), sr)
    return p


def bench_decode(paths: list[Path]) -> tuple[float, float, float]:
    """(audio seconds, wall seconds, CPU seconds) to decode and resample ``paths`` to 32 kHz mono."""
    t0, c0 = time.perf_counter(), time.process_time()
    samples = sum(c.size for p in paths for c in iter_audio_chunks(p, chunk_s=CHUNK_S))
    return samples / SAMPLE_RATE, time.perf_counter() - t0, time.process_time() - c0


def bench_model(encoder, clips: list[np.ndarray], repeat: int = 1) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """(audio seconds, wall seconds, CPU seconds) to encode pre-decoded clips."""
    encoder.encode(clips[: encoder.batch_size])  # warm-up (allocator, kernels)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        for i in range(0, len(clips), encoder.batch_size):
            encoder.encode(clips[i : i + encoder.batch_size])
    return (
        repeat * sum(c.size for c in clips) / SAMPLE_RATE,
        time.perf_counter() - t0,
        time.process_time() - c0,
    )


def bench_pipeline(encoder, paths: list[Path]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """A loader thread decodes into a bounded queue; this thread encodes batches from it."""
    q: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=2 * encoder.batch_size)

    def load() -> None:
        for p in paths:
            for chunk in iter_audio_chunks(p, chunk_s=CHUNK_S):
                q.put(chunk)
        q.put(None)

    t0 = time.perf_counter()
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    seconds, batch, done = 0.0, [], False
    while not done:
        item = q.get()
        if item is None:
            done = True
        else:
            batch.append(item)
        if batch and (done or len(batch) == encoder.batch_size):
            encoder.encode(batch)
            seconds += sum(c.size for c in batch) / SAMPLE_RATE
            batch = []
    loader.join()
    return seconds, time.perf_counter() - t0


def bench_library(
    model_folder: Path, model_id: str, paths: list[Path], work: Path, tag: str = ""
) -> tuple[float, float]:
    """(audio seconds, wall seconds) to index ``paths`` through the real library: scan, then
    index_pending, which streams each file through its reader thread into the encoder, then store and
    catalog writes. The encoder is loaded and one file indexed before the clock starts: a session loads
    its model once, and a fresh library's first store write (its collection's first segment, ~0.4 s)
    comes once a library; the other files are timed."""
    import shutil

    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.storage.settings import Settings

    home, folder = work / f"home-{model_id}{tag}", work / f"library-{model_id}{tag}"
    (home / "models").mkdir(parents=True)
    shutil.copytree(model_folder, home / "models" / model_id)
    folder.mkdir()
    for p in paths:
        shutil.copy(p, folder / p.name)
    make_warmup(folder)
    with Library(Settings(home=home, audio_model=model_id)) as lib:
        lib.add_folder(folder)
        scan(lib)
        lib.audio_encoder()
        _ = lib.store
        warm = index_pending(lib, rows=[r for r in lib.catalog.in_state("pending") if "warmup" in r.path])
        assert warm.indexed == 1, warm.failures
        warm_s = sum(r.duration or 0.0 for r in lib.catalog.in_state("indexed"))
        t0, c0 = time.perf_counter(), time.process_time()
        report = index_pending(lib)
        wall = time.perf_counter() - t0
        LIBRARY_CPU_S[0] = time.process_time() - c0
        assert report.indexed == len(paths) and not report.failed, report.failures
        seconds = sum(r.duration or 0.0 for r in lib.catalog.in_state("indexed")) - warm_s
    return seconds, wall


#: CPU seconds (every thread of this process) of the last library run: what other work on shared cores
#: disturbs least, compared with the decode and model stages' CPU time alone.
LIBRARY_CPU_S = [0.0]


def hph(audio_s: float, wall_s: float) -> float:
    """Hours of audio per hour of wall time."""
    return audio_s / wall_s if wall_s > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=6.0, help="audio per format (default 6)")
    ap.add_argument("--models", default="panns-mobilenetv1,panns-cnn14")
    ap.add_argument(
        "--threads", type=int, default=None, help="inference threads (LOOKALIKE_THREADS; default: cores - 1)"
    )
    ap.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1, help="model, pipeline, library: this many times")
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["LOOKALIKE_THREADS"] = str(args.threads)

    import torch

    from engine.models.panns import CHECKPOINTS, PannsEncoder, read_checkpoint
    from engine.models.tiny_audio import write_tiny_panns

    results: dict[str, object] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "minutes_per_format": args.minutes,
        # Other processes share this machine's cores: the load average says how much to trust the run.
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="bench-audio-") as tmp:
        tmpdir = Path(tmp)
        files = make_audio(tmpdir, args.minutes)

        # h/h: audio hours per wall-clock hour. h/h/core: per hour of CPU time (all threads), which other
        # processes on the machine disturb much less than the wall clock.
        print(f"{'stage':<40} {'audio s':>8} {'wall s':>7} {'h/h':>7} {'h/h/core':>9}")
        decode: dict[str, float] = {}
        decode_cpu: dict[str, float] = {}
        for fmt, paths in files.items():
            audio_s, wall, cpu = bench_decode(paths)
            decode[fmt], decode_cpu[fmt] = round(hph(audio_s, wall), 1), round(hph(audio_s, cpu), 1)
            label = "decode+resample " + fmt
            print(f"{label:<40} {audio_s:8.0f} {wall:7.2f} {decode[fmt]:7.0f} {decode_cpu[fmt]:9.0f}")
        results["decode_hph"] = decode
        results["decode_hph_per_core"] = decode_cpu

        clips = [c for c in iter_audio_chunks(files["flac"][0], chunk_s=CHUNK_S)]
        clips = [c for c in clips if c.size == int(CHUNK_S * SAMPLE_RATE)][:16]
        for model_id in [m for m in args.models.split(",") if m]:
            folder = tmpdir / model_id
            write_tiny_panns(folder, model_id, width=1.0)
            state = read_checkpoint(folder / CHECKPOINTS[model_id][1])
            n_params = sum(v.numel() for k, v in state.items() if not k.startswith("spectrogram_"))
            del state
            encoder = PannsEncoder.load(folder, model_id, batch_size=args.batch, backend=args.backend)
            threads = torch.get_num_threads()
            rounds: list[dict[str, float]] = []
            for rnd in range(max(1, args.rounds)):
                tag = f" r{rnd + 1}" if args.rounds > 1 else ""
                audio_s, wall, cpu = bench_model(encoder, clips)
                model_hph, model_cpu = hph(audio_s, wall), hph(audio_s, cpu)
                label = f"{model_id} model ({encoder.backend}, {threads} thr){tag}"
                print(f"{label:<40} {audio_s:8.0f} {wall:7.2f} {model_hph:7.0f} {model_cpu:9.0f}")
                audio_s, wall = bench_pipeline(encoder, files["mp3"])
                pipe_hph = hph(audio_s, wall)
                print(f"{model_id + ' pipeline mp3' + tag:<40} {audio_s:8.0f} {wall:7.2f} {pipe_hph:7.0f}")
                audio_s, wall = bench_library(folder, model_id, files["mp3"], tmpdir, tag.replace(" ", "-"))
                lib_hph = hph(audio_s, wall)
                lib_cpu = hph(audio_s, LIBRARY_CPU_S[0])
                # Both stages' CPU in series: what the library must spend at the least.
                stages_cpu = 1 / (1 / decode_cpu["mp3"] + 1 / model_cpu)
                print(
                    f"{model_id + ' library mp3 (index)' + tag:<40} {audio_s:8.0f} {wall:7.2f} {lib_hph:7.0f}"
                    f" {lib_cpu:9.0f}   {lib_hph / pipe_hph:.0%} of the pipeline; CPU: "
                    f"{lib_cpu / stages_cpu:.0%} of decode + model alone ({stages_cpu:.0f} h/h/core); "
                    f"load {os.getloadavg()[0]:.1f}"
                )
                rounds.append(
                    {
                        "model": model_hph,
                        "model_cpu": model_cpu,
                        "pipe": pipe_hph,
                        "lib": lib_hph,
                        "cpu_ratio": lib_cpu / stages_cpu,
                    }
                )
            ratios = [r["lib"] / r["pipe"] for r in rounds]
            if len(rounds) > 1:
                print(
                    f"{model_id}: library / pipeline over {len(rounds)} rounds: median "
                    f"{np.median(ratios):.0%} ({', '.join(f'{x:.0%}' for x in ratios)})"
                )
            model_hph = float(np.median([r["model"] for r in rounds]))
            model_cpu = float(np.median([r["model_cpu"] for r in rounds]))
            pipe_hph = float(np.median([r["pipe"] for r in rounds]))
            lib_hph = float(np.median([r["lib"] for r in rounds]))
            results[model_id] = {
                "params": n_params,
                "backend": encoder.backend,
                "threads": threads,
                "batch": args.batch,
                "model_hph": round(model_hph, 1),
                "model_hph_per_core": round(model_cpu, 1),
                "pipeline_mp3_hph": round(pipe_hph, 1),
                "library_mp3_hph": round(lib_hph, 1),
                "library_to_pipeline": round(float(np.median(ratios)), 3),
                "library_to_pipeline_rounds": [round(x, 3) for x in ratios],
                "library_cpu_to_stages": round(float(np.median([r["cpu_ratio"] for r in rounds])), 3),
                "ms_per_10s_clip": round(1000 * CHUNK_S / model_hph, 1),
            }
            del encoder
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
