"""Sound waveforms: the envelope of a stream, its picture, the cache, and the indexer making them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from engine.errors import DecodeError
from engine.media.waveform import (
    HEIGHT,
    MAX_BINS,
    WIDTH,
    Envelope,
    make_waveform_file,
    render_waveform,
    waveform_key,
    waveform_path,
)

SR = 32_000


def burst_at(seconds: float, start: float, length: float, amp: float = 0.8) -> np.ndarray:
    """Silence with a sine burst from ``start`` for ``length`` seconds."""
    x = np.zeros(int(seconds * SR), np.float32)
    t = np.arange(int(length * SR)) / SR
    x[int(start * SR) : int(start * SR) + len(t)] = amp * np.sin(2 * np.pi * 440 * t)
    return x


def feed(x: np.ndarray, sizes: list[int]) -> Envelope:
    env = Envelope(SR)
    i, k = 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        env.add(x[i : i + n])
        i, k = i + n, k + 1
    return env


def test_the_envelope_puts_the_sound_where_it_is_in_time() -> None:
    x = burst_at(20.0, start=15.0, length=2.0)
    shape = feed(x, [SR * 10]).shape()
    assert len(shape.high) == WIDTH and shape.seconds == pytest.approx(20.0)
    loud = np.flatnonzero(shape.high > 0.5)
    # 15..17 s of 20 s: columns 192..217 of 256.
    assert loud.min() == pytest.approx(192, abs=2) and loud.max() == pytest.approx(217, abs=2)
    assert shape.high[:180].max() == 0 and shape.low[loud].min() < -0.7
    assert shape.rms[loud].mean() == pytest.approx(0.8 / np.sqrt(2), rel=0.05)


def test_chunk_boundaries_do_not_change_the_envelope() -> None:
    x = np.random.default_rng(0).standard_normal(SR * 7).astype(np.float32) * 0.2
    whole = feed(x, [len(x)]).shape()
    ragged = feed(x, [1, 999, 31_337, 64 * 1000 + 7]).shape()
    np.testing.assert_allclose(ragged.high, whole.high)
    np.testing.assert_allclose(ragged.low, whole.low)
    np.testing.assert_allclose(ragged.rms, whole.rms, rtol=1e-5)


def test_a_long_recording_stays_small_and_in_place() -> None:
    # An hour (as 10 s chunks) with a click at 45 minutes: bins merge, memory stays flat, the click
    # is still three quarters of the way along.
    env = Envelope(SR)
    quiet = np.full(SR * 10, 0.01, np.float32)
    for i in range(360):
        chunk = quiet.copy()
        if i == 270:
            chunk[100] = 1.0
        env.add(chunk)
        assert len(env._low) <= MAX_BINS
    shape = env.shape()
    assert shape.seconds == pytest.approx(3600.0)
    assert int(np.argmax(shape.high)) == pytest.approx(0.75 * WIDTH, abs=1)


def test_a_short_click_has_fewer_columns() -> None:
    shape = feed(np.ones(640, np.float32), [640]).shape()
    assert len(shape.high) == 10  # 640 samples in bins of 64
    img = render_waveform(shape)
    assert img.size == (WIDTH, HEIGHT)


def test_the_picture_shows_loud_and_silent_parts() -> None:
    img = np.asarray(render_waveform(feed(burst_at(10.0, 5.0, 5.0), [SR]).shape()))
    alpha = img[..., 3] > 0
    painted = alpha.sum(axis=0)  # painted pixels per column
    assert painted[: WIDTH // 2 - 2].max() <= 3  # silence: a thin line through the middle
    assert painted[WIDTH // 2 + 2 :].min() > HEIGHT * 0.8  # a full-scale sine: nearly the whole height
    assert set(np.unique(img[..., 3])) <= {0, 110, 255}
    silent = np.asarray(render_waveform(feed(np.zeros(SR, np.float32), [SR]).shape()))
    assert (silent[..., 3] > 0).sum(axis=0).max() <= 3  # silence is not amplified into noise


def test_different_sounds_draw_different_pictures() -> None:
    a = np.asarray(render_waveform(feed(burst_at(5.0, 0.5, 1.0), [SR]).shape()))
    b = np.asarray(render_waveform(feed(burst_at(5.0, 3.0, 1.5), [SR]).shape()))
    assert (a[..., 3] != b[..., 3]).mean() > 0.2


def test_made_on_first_display_then_cached(tmp_path: Path) -> None:
    src = tmp_path / "dog.wav"
    sf.write(src, burst_at(4.0, 1.0, 1.0), SR)
    key = waveform_key(str(src), src.stat().st_size, src.stat().st_mtime)
    cache = tmp_path / "thumbs"
    made = make_waveform_file(cache, key, src)
    assert made == waveform_path(cache, key) and made.suffix == ".png"
    with Image.open(made) as im:
        assert im.size == (WIDTH, HEIGHT) and im.mode == "RGBA"
    stamp = made.stat().st_mtime_ns
    assert make_waveform_file(cache, key, src).stat().st_mtime_ns == stamp  # not made again
    assert not list(made.parent.glob(".*.tmp"))
    (tmp_path / "not-audio.wav").write_bytes(b"hello")
    with pytest.raises(DecodeError):
        make_waveform_file(cache, "other", tmp_path / "not-audio.wav")


def test_keys_change_with_the_file() -> None:
    k = waveform_key("/a/dog.wav", 100, 1.0)
    assert k != waveform_key("/a/dog.wav", 101, 1.0) and k != waveform_key("/a/dog.wav", 100, 2.0)
    assert len(k) == 40


def test_indexing_saves_each_sounds_waveform(home: Path, tmp_path: Path, capsys) -> None:
    from engine.cli.main import main
    from engine.library import Library

    folder = tmp_path / "sounds"
    folder.mkdir()
    sf.write(folder / "early.wav", burst_at(4.0, 0.2, 1.0), SR)
    sf.write(folder / "late.wav", burst_at(4.0, 2.5, 1.0), SR)
    (folder / "broken.wav").write_bytes(b"RIFF....WAVEfmt nothing")
    assert main(["index", str(folder), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["indexed"] == 2 and summary["failed"] == 1  # a bad sound fails alone
    with Library.open(home) as lib:
        rows = {Path(r.path).name: r for r in lib.catalog.iter_all() if r.state == "indexed"}
        cache = lib.settings.thumbnails_dir
    pictures = {}
    for name, row in rows.items():
        f = waveform_path(cache, waveform_key(row.path, row.size, row.mtime))
        assert f.is_file(), name
        pictures[name] = np.asarray(Image.open(f))[..., 3] > 0
    # Each file's own shape: the burst early in one, late in the other.
    early, late = pictures["early.wav"].sum(axis=0), pictures["late.wav"].sum(axis=0)
    assert early[: WIDTH // 4].max() > HEIGHT // 2 and late[: WIDTH // 4].max() <= 3
    assert late[-WIDTH // 3 :].max() > HEIGHT // 2
