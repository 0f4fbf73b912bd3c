"""Run the real app on a small library under a real display server and take screenshots.

``python -m tests.desktop.screenshot_app --home HOME --folder FOLDER --out DIR`` (with ``DISPLAY`` set and
``QT_QPA_PLATFORM=xcb``): adds FOLDER, waits until it is indexed, searches, selects the first result,
waits for every visible tile's thumbnail and the preview, and grabs the screen (the X server's
pixels, not a widget render). Writes ``results.png``, ``folders.png``, ``first-run.png`` and
``tiles.json`` (each visible tile's thumbnail rectangle in ``results.png`` and its kind). With
``--sound-query FILE``: the sounds like FILE (waveform tiles), the long recording playing in the
preview with its timeline (``sounds.png``, ``sound-tiles.json``); then the clip playing from its
moment, its tile scrubbed under the pointer (``video.png``, ``playback.json``: what played from where).
Exits non-zero with a message if a step does not finish within its deadline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget


def wait_for(
    app: QApplication, cond: Callable[[], bool], what: str, timeout: float = 90.0, state: Any = None
) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshot_app: timed out waiting for {what} ({state() if state else ''})")
        app.processEvents()
        time.sleep(0.02)


def grab(app: QApplication, widget: QWidget, path: Path) -> None:
    """The display's pixels where ``widget`` is on screen."""
    for _ in range(20):  # let the X server catch up with the last paints
        app.processEvents()
        time.sleep(0.02)
    g = widget.frameGeometry()
    shot = QGuiApplication.primaryScreen().grabWindow(0, g.x(), g.y(), g.width(), g.height())
    if shot.isNull() or not shot.save(str(path)):
        raise SystemExit(f"screenshot_app: could not grab {path.name}")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--folder", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--query", default="beach")
    ap.add_argument("--sound-query", type=Path, default=None)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    from desktop.app import build
    from desktop.first_run import ModelsDialog
    from desktop.icons import app_icon
    from desktop.session import open_session
    from engine.media.kinds import kind_of
    from engine.service.core import Service

    app = QApplication(["lookalike"])
    app.setWindowIcon(app_icon())
    expected = sum(1 for p in args.folder.iterdir() if kind_of(p) is not None)
    window = build(args.home, lambda: open_session(args.home, service_factory=lambda lib: Service(lib)))
    window.setGeometry(QRect(0, 0, 1240, 760))
    window.show()
    window.bridge.open()
    wait_for(app, lambda: window.bridge.is_open, "the library to open")
    window.menus.add_folder(str(args.folder))
    p: Callable[[], Any] = lambda: window.bridge.last_progress  # noqa: E731
    wait_for(
        app,
        lambda: p() is not None and p().state == "idle" and p().indexed_total + p().failed_total >= expected,
        "indexing",
        state=p,
    )

    window.search_bar.field.setText(args.query)
    window.search_text(args.query)
    wait_for(app, lambda: window.model.rowCount() >= expected, "results")
    view, model = window.view, window.model
    first_photo = next(i for i in range(model.rowCount()) if model.result(i).kind == "photo")
    view.setCurrentIndex(model.index(first_photo, 0))

    def visible_rows() -> list[int]:
        area = view.viewport().rect()
        return [i for i in range(model.rowCount()) if view.visualRect(model.index(i, 0)).intersects(area)]

    def thumbs_ready() -> bool:
        for i in visible_rows():
            r = model.result(i)
            req = model._requests[i]
            if (
                req is not None
                and window.loader.cached(req.key) is None
                and not window.loader.has_failed(req.key)
            ):
                return False
            if r.kind == "photo" and window.loader.cached(req.key) is None:
                return False
        return True

    view.viewport().update()
    wait_for(app, thumbs_ready, "thumbnails")
    wait_for(app, lambda: window.preview.image.pixmap is not None, "the preview image")
    grab(app, window, args.out / "results.png")
    origin = window.frameGeometry().topLeft()
    tiles = []
    # Only tiles whose thumbnail is wholly in view: a tile cut off by the bottom edge shows a sliver.
    area = view.viewport().rect()
    for i in visible_rows():
        rect = view.visualRect(model.index(i, 0))
        if not area.contains(rect.adjusted(12, 12, -12, 12 + 130 - rect.height())):
            continue
        top_left = view.viewport().mapTo(window, rect.topLeft()) + (window.geometry().topLeft() - origin)
        # The thumbnail area painted by TileDelegate: the tile minus its margins, THUMB_H tall.
        tiles.append(
            {
                "kind": model.result(i).kind,
                "x": top_left.x() + 12,
                "y": top_left.y() + 12,
                "w": rect.width() - 24,
                "h": 130,
            }
        )
    (args.out / "tiles.json").write_text(json.dumps(tiles))

    if args.sound_query is not None:
        shoot_playback(app, window, args)

    window.menus.show_folders()
    dialog = window.menus.folders_dialog
    wait_for(app, lambda: dialog.table.rowCount() == 1, "the folders dialog")
    dialog.move(60, 60)
    grab(app, dialog, args.out / "folders.png")
    dialog.close()

    missing = ["uform3-image-text-english-small", "panns-mobilenetv1", "all-minilm-l6-v2"]
    first_run = ModelsDialog(args.home / "models", missing, window)
    first_run.resize(640, first_run.sizeHint().height())
    first_run.move(60, 60)
    first_run.show()
    grab(app, first_run, args.out / "first-run.png")
    first_run.close()

    window.quit_app()
    wait_for(app, lambda: window.is_finished, "the service to stop")
    return 0


def tile_rects(window: Any, rows: list[int]) -> list[dict]:
    """The thumbnail area of tiles ``rows`` in a grab of the window (see TileDelegate.paint)."""
    view, model = window.view, window.model
    origin = window.frameGeometry().topLeft()
    out = []
    for i in rows:
        rect = view.visualRect(model.index(i, 0))
        top_left = view.viewport().mapTo(window, rect.topLeft()) + (window.geometry().topLeft() - origin)
        r = model.result(i)
        out.append(
            {
                "kind": r.kind,
                "name": r.name,
                "x": top_left.x() + 12,
                "y": top_left.y() + 12,
                "w": rect.width() - 24,
                "h": 130,
            }
        )
    return out


def answer(app: QApplication, window: Any, run: Callable[[], None], what: str) -> None:
    """Run a search and wait for its answer; show the closest items when none is a good match (the
    test models' scores mean nothing)."""
    got: list[Any] = []
    window.searches.answered.connect(got.append)
    run()
    wait_for(app, lambda: bool(got), what)
    window.searches.answered.disconnect(got.append)
    if window.model.rowCount() == 0 and got[-1].weak:
        window.show_weak()


def play_and_wait(app: QApplication, window: Any, what: str) -> dict:
    """Play the preview's result from its moment; wait until the playhead is past it. Returns what played."""
    r = window.preview.result
    window.preview.play()
    player = window.preview.playback.player
    if player is None:
        return {"name": r.name, "inline": False}
    start = r.t or 0.0
    wait_for(app, lambda: player.position() > start + 0.6, what, timeout=30)
    return {"name": r.name, "inline": True, "t": start, "position": player.position(), "kind": r.kind}


def shoot_playback(app: QApplication, window: Any, args: argparse.Namespace) -> None:
    """sounds.png (waveform tiles, a long recording playing with its timeline) and video.png (the clip
    playing from its moment, its tile scrubbed)."""
    view, model, loader = window.view, window.model, window.loader
    played = []
    answer(app, window, lambda: window.find_similar([str(args.sound_query)]), "the sounds like the query")
    rows = [i for i in range(model.rowCount()) if model.result(i).kind == "sound"]
    long = next((i for i in rows if model.result(i).duration and model.result(i).duration >= 30), rows[0])
    view.setCurrentIndex(model.index(long, 0))
    wait_for(
        app,
        lambda: all(
            loader.cached(model._requests[i].key) or loader.has_failed(model._requests[i].key) for i in rows
        ),
        "the waveforms",
    )
    wait_for(app, lambda: window.preview.image.pixmap is not None, "the preview's waveform")
    played.append(play_and_wait(app, window, "the recording to play"))
    grab(app, window, args.out / "sounds.png")
    (args.out / "sound-tiles.json").write_text(json.dumps(tile_rects(window, rows)))
    window.preview.stop()

    answer(app, window, lambda: window.search_text(args.query), "the results again")
    video = next((i for i in range(model.rowCount()) if model.result(i).kind == "video"), None)
    if video is not None:
        view.setCurrentIndex(model.index(video, 0))
        played.append(play_and_wait(app, window, "the clip to play"))
        time.sleep(0.5)  # a few frames on screen
        rect = view.visualRect(model.index(video, 0))
        view.scrubber.hover(QPoint(rect.left() + rect.width() * 9 // 10, rect.center().y()))
        scrubbed = view.scrubber.frame(video)
        wait_for(
            app, lambda: view.scrubber.frame(video) is not None or len(view.scrubber._wanted) == 0, "a frame"
        )
        grab(app, window, args.out / "video.png")
        played[-1]["scrubbed_to"] = getattr(view.scrubber.frame(video) or scrubbed, "t", None)
        window.preview.stop()
    (args.out / "playback.json").write_text(json.dumps(played))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
