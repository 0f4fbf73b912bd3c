"""Desktop tests: Qt offscreen (set before Qt loads), the fake service, and an app window on a library."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any PySide6 import

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from tests.desktop.fake_service import FakeService  # noqa: E402
from tests.media import make_library  # noqa: E402

OPEN_TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def _empty_clipboard_after_test(qapp: Any) -> Iterator[None]:
    """Leave the clipboard empty: clipboard data still owned when the process exits makes the offscreen
    platform crash in its destructors (SIGSEGV after pytest's summary, failing the run)."""
    yield
    from PySide6.QtGui import QGuiApplication

    QGuiApplication.clipboard().clear()


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    """Eight synthetic photos in a folder."""
    return make_library(tmp_path / "Pictures", 8)


@pytest.fixture
def make_window(qtbot: Any) -> Iterator[Callable[..., Any]]:
    """Build the real app window on a library folder; ``service_factory`` picks the service (fake by
    default, ``engine.service.core.Service`` for the real one).

    The window is shown and its library opened; at teardown it quits and waits for the service to
    stop (so every test leaves no engine thread and no library lock behind).
    """
    from desktop.app import build
    from desktop.session import open_session

    windows: list[Any] = []

    def factory(
        home: Path,
        service_factory: Callable[[Any], Any] | None = FakeService,
        *,
        open_library: bool = True,
        similar: tuple[str, ...] = (),
    ) -> Any:
        window = build(home, lambda: open_session(home, service_factory=service_factory), similar=similar)
        windows.append(window)
        window.show()
        if open_library:
            with qtbot.waitSignal(window.bridge.opened, timeout=OPEN_TIMEOUT_MS):
                window.bridge.open()
        return window

    yield factory
    for w in windows:
        if not w.is_finished:
            w.quit_app()
            qtbot.waitUntil(lambda w=w: w.is_finished, timeout=60_000)
        w.deleteLater()


@pytest.fixture
def window(make_window: Callable[..., Any], home: Path) -> Any:
    """The app window on a fake service over ``home`` (tiny models installed), library open."""
    return make_window(home)
