"""Real pixels: the app under Xvfb shows thumbnails in its grid, not blank tiles; sound tiles show each
sound's own waveform; the preview plays a recording and a clip from their moments.

Skips when Xvfb is not installed (``apt-get install xvfb``) or Qt's xcb plugin cannot load. Set
``LOOKALIKE_UPDATE_SCREENSHOTS=1`` to copy the screenshots into docs/screenshots/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.media import make_library

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO.parent / "shared" / "assets" / "data"
#: Public-domain and CC0 pictures (scikit-image sample data) and a CC0 clip, used when present.
FREE_PICTURES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "horse.png", "camera.png"]
FREE_CLIP = ASSETS / "videos_libscan" / "vid3.mp4"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (apt-get install xvfb)"),
]


@pytest.fixture
def display(tmp_path: Path):
    """A private Xvfb display; yields its DISPLAY value."""
    for n in range(90, 120):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            break
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        sock = Path(f"/tmp/.X11-unix/X{n}")
        for _ in range(200):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not sock.exists():
            pytest.skip("Xvfb did not start")
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_media(folder: Path) -> None:
    """A small library: free real pictures (when the shared assets have them), synthetic ones, a clip
    and a sound."""
    folder.mkdir(parents=True)
    pictures = ASSETS / "skimage_clip_captions" / "images"
    for name in FREE_PICTURES:
        if (pictures / name).is_file():
            shutil.copy(pictures / name, folder / name)
    make_library(folder, 6)
    if FREE_CLIP.is_file():
        shutil.copy(FREE_CLIP, folder / "smoke-over-hills.mp4")
    t = np.linspace(0, 2.0, 32000, endpoint=False)
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    with wave.open(str(folder / "tone.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(tone.tobytes())
    for name, samples in SOUNDS.items():
        write_wav(folder / name, samples())


SR = 16000


def write_wav(path: Path, x: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes())


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * SR)) / SR


def _knocks(seconds: float, at: list[float], seed: int = 0) -> np.ndarray:
    """Sharp, fast-decaying noise bursts (a knock, a bark's onset) at ``at`` seconds."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * SR)) * 0.01
    for a in at:
        n = int(0.25 * SR)
        i = int(a * SR)
        x[i : i + n] += rng.standard_normal(n) * 0.8 * np.exp(-_t(0.25) * 18)[: len(x[i : i + n])]
    return x


#: Synthetic sounds with different shapes (no recording's licence to mind): what tells them apart at a glance.
SOUNDS = {
    "door-knock.wav": lambda: _knocks(3.0, [0.3, 0.7, 1.1]),
    "barks.wav": lambda: _knocks(4.0, [0.2, 0.5, 1.6, 1.9, 3.1], seed=1),
    "bell.wav": lambda: 0.8 * np.sin(2 * np.pi * 660 * _t(4.0)) * np.exp(-_t(4.0) * 1.2),
    "chirps.wav": lambda: (
        0.6 * np.sin(2 * np.pi * (2000 + 3000 * (_t(3.0) % 0.5)) * _t(3.0)) * ((_t(3.0) % 0.5) < 0.2)
    ),
    "rain-swell.wav": lambda: (
        np.random.default_rng(2).standard_normal(5 * SR) * 0.3 * np.sin(np.pi * _t(5.0) / 5)
    ),
    # A minute of quiet room tone with knocking from 30 s: find-similar by a knock lands in that segment.
    "field-recording.wav": lambda: _knocks(60.0, [31.0, 32.5, 34.0, 36.0, 37.5], seed=3),
}


def test_grid_shows_real_thumbnails(display: str, home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "Library"
    make_media(folder)
    out = tmp_path / "shots"
    env = dict(
        os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", LOOKALIKE_HOME=str(home), PYTHONPATH=str(REPO)
    )
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [
        sys.executable,
        "-m",
        "tests.desktop.screenshot_app",
        "--home",
        str(home),
        "--folder",
        str(folder),
        "--out",
        str(out),
        "--sound-query",
        str(tmp_path / "knock-query.wav"),
    ]
    write_wav(tmp_path / "knock-query.wav", _knocks(2.0, [0.2, 0.6, 1.0], seed=4))
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    if proc.returncode != 0 and "platform plugin" in proc.stderr and "xcb" in proc.stderr:
        pytest.skip(f"Qt's xcb platform plugin cannot load here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-3000:]

    shot = np.asarray(Image.open(out / "results.png").convert("RGB")).astype(np.float32)
    tiles = json.loads((out / "tiles.json").read_text())
    photos = [t for t in tiles if t["kind"] == "photo"]
    assert len(photos) >= 4, tiles
    for t in photos:
        crop = shot[t["y"] : t["y"] + t["h"], t["x"] : t["x"] + t["w"]]
        assert crop.size, t
        # A blank or placeholder tile is one flat colour with a thin grey glyph; a photo is not.
        assert crop.std() > 20, f"tile at {t} looks blank (std {crop.std():.1f})"
        colours = len(np.unique(crop.reshape(-1, 3).astype(np.uint8), axis=0))
        assert colours > 200, f"tile at {t} has only {colours} colours"
    check_sounds_and_playback(out)
    if os.environ.get("LOOKALIKE_UPDATE_SCREENSHOTS"):
        dest = REPO / "docs" / "screenshots"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("results.png", "folders.png", "first-run.png", "sounds.png", "video.png"):
            if (out / name).is_file():
                shutil.copy(out / name, dest / name)


def check_sounds_and_playback(out: Path) -> None:
    """Each sound tile is its own waveform (the accent colour, a different shape per sound); the preview
    played inline from the moment where QtMultimedia is installed."""
    from desktop import media_player

    shot = np.asarray(Image.open(out / "sounds.png").convert("RGB")).astype(np.int16)
    tiles = json.loads((out / "sound-tiles.json").read_text())
    assert len(tiles) >= len(SOUNDS), tiles
    shapes = {}
    for t in tiles:
        crop = shot[t["y"] : t["y"] + t["h"], t["x"] : t["x"] + t["w"]]
        wave_px = np.abs(crop - np.array([61, 124, 242])).sum(axis=2) < 60
        assert wave_px.sum() > 200, f"{t['name']}: no waveform drawn ({wave_px.sum()} pixels)"
        shapes[t["name"]] = wave_px.sum(axis=0)  # painted height per column: the sound's shape
    names = sorted(shapes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if len(shapes[a]) == len(shapes[b]):
                assert np.abs(shapes[a] - shapes[b]).mean() > 2, f"{a} and {b} look the same"
    played = json.loads((out / "playback.json").read_text())
    assert played, "nothing played"
    for p in played:
        assert p["inline"] == media_player.multimedia_available(), p
        if p["inline"]:
            assert p["position"] > p["t"] + 0.5, p
