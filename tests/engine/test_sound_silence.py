"""Sound duplicates and silence: different recordings padded with silence never group on it (their
all-zero padding used to match bit for bit), while a copy of one in another format or gain still does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.media import hashes as H
from testkit.dupe_edits import ASSETS

ESC50 = ASSETS / "esc50_subset" / "audio"
#: Two different cow recordings (waveform correlation -0.004): about 1.5 s of sound, then zeros to 5 s.
COWS = ("2-103426-A-3.wav", "2-103427-A-3.wav")


def _lib(home: Path):
    from engine.library import Library

    return Library.open(home)


def _analyze(lib, paths: list[Path]) -> None:
    from engine.indexing.analyzers.hashes import analyze_file

    ids = lib.catalog.add_many([(str(p), p.stat().st_size, p.stat().st_mtime, "sound") for p in paths])
    for fid in ids:
        row = lib.catalog.get(fid)
        assert row is not None
        analyze_file(lib, row)


def _groups(lib) -> list[set[str]]:
    from engine.storage.duplicates import list_groups

    return [{Path(f.path).name for f in g.files} for g in list_groups(lib.catalog, "sound")]


def _burst(seed: int, rate: int, sound_s: float = 1.2, total_s: float = 5.0) -> np.ndarray:
    """A short burst of chirps and noise, then digital silence to ``total_s`` (an ESC-50-like clip)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sound_s * rate)) / rate
    x = rng.normal(0, 0.05, len(t))
    for _ in range(4):
        f0, f1 = rng.uniform(300, 2500, 2)
        start, length = rng.uniform(0, sound_s - 0.3), rng.uniform(0.2, 0.6)
        m = (t >= start) & (t < start + length)
        x[m] += np.sin(2 * np.pi * (f0 + (f1 - f0) * (t[m] - start) / length) * t[m]) * rng.uniform(0.2, 0.5)
    x *= np.hanning(len(x)) ** 0.2  # fade in and out, as a recording does
    out = np.zeros(int(total_s * rate), dtype=np.float32)
    out[: len(x)] = x / np.abs(x).max() * 0.8
    return out


def test_silent_frames_fingerprint_as_zero_and_are_left_out_of_the_match() -> None:
    rate = 8000
    a, b = _burst(1, rate), _burst(2, rate)
    fa, fb = H.sound_fingerprint(a, rate), H.sound_fingerprint(b, rate)
    # Over three quarters of each is silence: 0, and every one of those agreed before.
    assert (fa == 0).mean() > 0.7 and (fb == 0).mean() > 0.7
    ber, _, overlap = H.fingerprint_match(fa, fb)
    assert ber > 0.35 and overlap > 0.9
    # The same burst at a third of the gain, with a little noise in the silence: the same sound frames.
    rng = np.random.default_rng(0)
    quiet = (0.3 * a + rng.normal(0, 1e-5, len(a))).astype(np.float32)
    ber, off, _ = H.fingerprint_match(fa, H.sound_fingerprint(quiet, rate))
    assert ber < 0.1 and off == 0.0
    # Two recordings of nothing but silence share no sound, so nothing lines up.
    z = np.zeros(5 * rate, dtype=np.float32)
    assert H.fingerprint_match(H.sound_fingerprint(z, rate), H.sound_fingerprint(z, rate)) == (1.0, 0.0, 0.0)


def test_different_bursts_padded_with_silence_do_not_group_and_a_reencoded_copy_does(
    home: Path, tmp_path: Path
) -> None:
    import soundfile as sf

    rate = 22050
    a, b = _burst(1, rate), _burst(2, rate)
    sf.write(tmp_path / "a.wav", a, rate)
    sf.write(tmp_path / "b.wav", b, rate)
    sf.write(tmp_path / "a.ogg", a, rate, format="OGG", subtype="VORBIS")  # lossy: noise in the silence
    sf.write(tmp_path / "a_trim.flac", 0.5 * a[int(0.2 * rate) :], rate)  # trimmed and quieter
    with _lib(home) as lib:
        _analyze(lib, [tmp_path / n for n in ("a.wav", "b.wav", "a.ogg", "a_trim.flac")])
        assert _groups(lib) == [{"a.wav", "a.ogg", "a_trim.flac"}]


@pytest.mark.skipif(not all((ESC50 / n).is_file() for n in COWS), reason="shared/assets ESC-50 cows absent")
def test_two_esc50_cows_do_not_group_and_a_copy_of_one_does(home: Path, tmp_path: Path) -> None:
    import soundfile as sf

    for n in COWS:
        shutil.copy(ESC50 / n, tmp_path / n)
    x, rate = sf.read(ESC50 / COWS[0], dtype="float32")
    sf.write(tmp_path / "cow_copy.ogg", 0.6 * x, rate, format="OGG", subtype="VORBIS")
    with _lib(home) as lib:
        _analyze(lib, [tmp_path / n for n in (*COWS, "cow_copy.ogg")])
        assert _groups(lib) == [{COWS[0], "cow_copy.ogg"}]
