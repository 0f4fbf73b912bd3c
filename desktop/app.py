"""Starting the app: ``lookalike`` (no arguments) or ``lookalike app [--similar FILE…]``.

Order matters for the first paint: a running app on this library gets the request and this process
leaves at once; otherwise the window is built from light modules only and shown, and only then does
a background thread import the engine (torch, onnxruntime, pymilvus), open the library and start the
service. The search field takes typing from the start; a query typed before the library is open runs
as soon as it is.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from desktop import ipc


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="lookalike app", description="Open the Lookalike window.")
    ap.add_argument(
        "--similar", nargs="+", metavar="FILE", default=[], help="start with items like these files"
    )
    ap.add_argument("--home", type=Path, default=None, help="library data folder (default: $LOOKALIKE_HOME)")
    return ap.parse_args(list(argv))


def _display_missing() -> bool:
    """On Linux without X11/Wayland, Qt would abort the process: say so instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def build(home: Path, opener: Callable[[], Any] | None = None, similar: Sequence[str] = ()) -> Any:
    """Create (but do not show) the window, the bridge and the IPC server for the library at ``home``.

    Returns the window; ``window.ipc_server`` is None when another app already serves this library.
    Used by :func:`run_app` and by the tests.
    """
    from desktop.bridge import EngineBridge
    from desktop.ipc_server import IpcServer, serve_queries
    from desktop.main_window import MainWindow
    from desktop.session import open_session

    paste_dir = Path(tempfile.mkdtemp(prefix="lookalike-paste-"))
    bridge = EngineBridge(opener or (lambda: open_session(home)))
    window = MainWindow(bridge, paste_dir)
    bridge.setParent(window)
    server = IpcServer(home, window)
    window.ipc_server = server if server.listen() else None
    server.activateRequested.connect(window.bring_to_front)
    server.similarRequested.connect(window.show_similar_from_elsewhere)
    serve_queries(server, bridge)  # `lookalike similar FILE --json` while the app owns the library
    window.finished.connect(server.close)
    # A window whose library would not open (another process has it) must not take requests it cannot
    # answer: `lookalike similar` then falls back to the command line. Listening again on a retry.
    window.bridge.openFailed.connect(lambda _r: server.close())
    window.bridge.opened.connect(lambda _s: server.is_listening or server.listen())
    window.finished.connect(lambda: shutil.rmtree(paste_dir, ignore_errors=True))
    if similar:
        window.find_similar([str(Path(p).resolve()) for p in similar])  # runs once the library is open
    return window


#: Modules whose source PySide6 still reads to pick their ``__feature__`` switches: ours that use Qt
#: (and the test helpers that do). Every other module is known not to use those switches.
_QT_MODULES = ("desktop", "tests", "testkit", "PySide6", "__main__")


def skip_source_scans() -> bool:
    """Stop PySide6 reading the source of every module imported after it.

    PySide6's ``__feature__`` support (shibokensupport.feature) looks, for each newly imported module,
    whether its source mentions "PySide" (``inspect.getsource``: the whole file read and split into
    lines), to know which of its per-module switches (snake_case, true_property) apply there. The
    engine loads about 1,200 modules after the window (pymilvus, pandas, ONNX Runtime, ...), on its
    opener thread; those reads cost ~0.15-0.2 s of CPU under the interpreter lock, before the library
    opens. Lookalike uses no ``__feature__`` switch, and a module that does not mention PySide gets
    "none" either way, so the check keeps its answer for our own modules and says "no" for the rest
    without reading them. Returns False (and changes nothing) where PySide6's internals differ.
    """
    feature = sys.modules.get("shibokensupport.feature")
    check = getattr(feature, "_mod_uses_pyside", None)
    if feature is None or not callable(check) or getattr(check, "_lookalike", False):
        return False

    def uses_pyside(module: Any) -> bool:
        name = getattr(module, "__name__", "")
        return bool(isinstance(name, str) and name.startswith(_QT_MODULES) and check(module))

    uses_pyside._lookalike = True  # type: ignore[attr-defined]  # applied once
    setattr(feature, "_mod_uses_pyside", uses_pyside)  # noqa: B010 - a module attribute, by design
    return True


def identify(app: Any) -> None:
    """Name the application as the desktop knows it: its name, its icon, and the .desktop file's name
    (``resources/``, ``lookalike integrate install``), by which Wayland compositors and desktop shells
    match the window to its launcher, its icon and a pinned dock entry."""
    from desktop.icons import app_icon
    from desktop.integration import APP_ID

    app.setApplicationName("Lookalike")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())


def run_app(argv: Sequence[str]) -> int:
    """Run the app until it quits; returns the exit status."""
    args = parse_args(argv)
    request = ["app", "--similar", *map(str, args.similar)] if args.similar else ["app"]
    if args.home is not None:
        os.environ["LOOKALIKE_HOME"] = str(args.home.expanduser().resolve())
    from engine.storage.settings import data_dir

    home = data_dir()
    if ipc.forward_to_running_app(request, home=home):
        return 0
    from engine.core.logs import setup_logging

    setup_logging(home)  # the libraries' messages go to lookalike.log, not a terminal nobody reads
    if _display_missing():
        print(
            "lookalike: no display to open the window on (DISPLAY / WAYLAND_DISPLAY are not set); "
            "see `lookalike --help` for the command line",
            file=sys.stderr,
        )
        return 1
    from desktop.system_libs import platform_problem

    problem = platform_problem()
    if problem is not None:  # Qt would abort with "Could not load the Qt platform plugin" and no package
        print(f"lookalike: {problem}", file=sys.stderr)
        return 1

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    skip_source_scans()  # before the window's and the engine's imports
    app = cast(
        QApplication, QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "lookalike"])
    )
    identify(app)
    app.setQuitOnLastWindowClosed(False)  # the window's `finished` quits, after the service has stopped
    window = build(home, similar=args.similar)
    if window.ipc_server is None and ipc.forward_to_running_app(request, home=home):
        return 0  # another app started on this library at the same moment: it has the request now
    window.finished.connect(app.quit)
    _quit_on_signals(window)
    # The engine's threads (niced by the service) hand the interpreter back after 1 ms instead of 5: with
    # several of them busy, the window's thread waited up to 5 ms on each (bench_app: 57 -> 41-45 ms).
    sys.setswitchinterval(0.001)
    window.show()
    app.processEvents()  # the first paint, before the engine's imports compete for the interpreter
    QTimer.singleShot(0, window.bridge.open)
    return int(app.exec())


def _quit_on_signals(window: Any) -> None:
    """SIGTERM (logout, ``kill``) and Ctrl+C quit like the window's Quit: the service writes what it
    has and stops. Python handles signals only between bytecodes, so a timer wakes it up regularly
    while Qt's event loop (C++) runs."""
    import signal

    from PySide6.QtCore import QTimer

    def handler(_signum: int, _frame: Any) -> None:
        window.quit_app()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)
