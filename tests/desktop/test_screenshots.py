"""Real pixels: the app under Xvfb shows thumbnails in its grid, not blank tiles.

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
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    if proc.returncode != 0 and "platform plugin" in proc.stderr and "xcb" in proc.stderr:
        pytest.skip(f"Qt's xcb platform plugin cannot load here: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-3000:]

    shot = np.asarray(Image.open(out / "results.png").convert("RGB")).astype(np.float32)
    tiles = json.loads((out / "tiles.json").read_text())
    photos = [t for t in tiles if t["kind"] == "photo"]
    assert len(photos) >= 6, tiles
    for t in photos:
        crop = shot[t["y"] : t["y"] + t["h"], t["x"] : t["x"] + t["w"]]
        assert crop.size, t
        # A blank or placeholder tile is one flat colour with a thin grey glyph; a photo is not.
        assert crop.std() > 20, f"tile at {t} looks blank (std {crop.std():.1f})"
        colours = len(np.unique(crop.reshape(-1, 3).astype(np.uint8), axis=0))
        assert colours > 200, f"tile at {t} has only {colours} colours"
    if os.environ.get("LOOKALIKE_UPDATE_SCREENSHOTS"):
        dest = REPO / "docs" / "screenshots"
        dest.mkdir(parents=True, exist_ok=True)
        for name in ("results.png", "folders.png", "first-run.png"):
            shutil.copy(out / name, dest / name)
