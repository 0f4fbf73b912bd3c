"""The results grid over thousands of results: only the tiles on screen ask for thumbnails."""

from __future__ import annotations

from typing import Any

from desktop.result_model import ResultModel
from desktop.result_view import ResultView
from desktop.thumbnails import ThumbnailLoader


def test_thousands_of_results_load_only_visible_thumbnails(qtbot: Any, tmp_path: Any) -> None:
    from engine.search.api import Result

    loader = ThumbnailLoader(tmp_path)
    asked: list[str] = []
    loader.request = lambda req: asked.append(req.key)  # type: ignore[method-assign]
    model = ResultModel(loader)
    view = ResultView()
    view.setModel(model)
    view.resize(800, 600)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    n = 5000
    model.set_results([Result(i, f"/photos/p{i:05d}.jpg", "photo", 0.5, mtime=float(i)) for i in range(n)])
    qtbot.waitUntil(lambda: len(asked) > 0, timeout=10_000)
    first_screen = set(asked)
    assert len(first_screen) < 60, len(first_screen)  # a screenful of tiles, not 5000
    assert all(k.startswith("photo:/photos/p000") for k in first_screen)
    asked.clear()
    view.scrollToBottom()
    qtbot.waitUntil(lambda: any("p04999" in k for k in asked), timeout=10_000)
    assert len(set(asked)) < 60
    assert not any("p02500" in k for k in asked)  # the middle was never painted, never loaded


def test_a_tile_is_one_call_to_the_model(tmp_path: Any) -> None:
    from engine.search.api import Result

    loader = ThumbnailLoader(tmp_path)
    asked: list[str] = []
    loader.request = lambda req: asked.append(req.key)  # type: ignore[method-assign]
    model = ResultModel(loader)
    model.set_results(
        [
            Result(1, "/photos/beach.jpg", "photo", 0.31, match=0.31),
            Result(2, "/clips/party.mp4", "video", 0.30, t=83.0, match=0.30),
            Result(3, "/sounds/rain.wav", "sound", 0.5, duration=42.0, match=0.5),
        ]
    )
    tiles = [model.tile(i) for i in range(3)]
    assert [t.name for t in tiles] == ["beach.jpg", "party.mp4", "rain.wav"]
    assert [t.kind for t in tiles] == ["photo", "video", "sound"]
    assert [t.badge for t in tiles] == ["", "▶ 1:23", "♪ 0:42"]
    assert all(t.score == model.index(i, 0).data(ResultModel.ScoreRole) for i, t in enumerate(tiles))
    assert all(t.pixmap is None for t in tiles)  # loading: the delegate paints the kind's glyph
    assert len(asked) == 3  # the photo's thumbnail, the video moment's frame, the sound's waveform
