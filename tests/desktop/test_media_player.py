"""Inline playback through QtMultimedia (PySide6-Addons): skipped where it is not installed."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from desktop import media_player

pytestmark = pytest.mark.skipif(
    not media_player.multimedia_available(), reason="QtMultimedia is not installed (PySide6-Addons)"
)


def test_plays_a_sound_from_the_matched_moment(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "tone.wav"
    t = np.linspace(0, 3.0, 48000, endpoint=False)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16).tobytes())
    player = media_player.InlinePlayer()
    qtbot.addWidget(player)
    positions: list[int] = []
    player._player.positionChanged.connect(positions.append)
    player.play(str(path), start=2.0, video=False)
    qtbot.waitUntil(lambda: any(p >= 2300 for p in positions), timeout=10_000)
    # It jumped to the moment rather than playing up to it: nothing between the first report and 2 s.
    assert not [p for p in positions if 500 < p < 1900], positions
    assert player.slider.maximum() == 3000
    player.stop()
