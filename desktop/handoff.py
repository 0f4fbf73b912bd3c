"""``lookalike integrate open [FILE…]``: what every file-manager entry runs.

With the app running on this library, the files go over its local socket (:mod:`desktop.ipc`, a plain
socket, no Qt) and this process exits at once; the app comes to the front and shows the items like all
of the files together. Without one, this process becomes the app, started with the files
(``lookalike app --similar FILE…``). With no files (the launcher in a menu), it brings up the window.

It lives beside the app, not in :mod:`desktop.integration` (which never imports Qt): starting the
app is the one thing the file-manager command may do that needs Qt. :mod:`desktop.launcher` hands
:func:`open_files` to the integration's command line.

Why not ``lookalike similar FILE`` itself: when no app runs, that is the command-line search, which
prints results to a terminal that a file manager does not have.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from engine.core.text import for_terminal


def usable_files(files: Sequence[str]) -> tuple[list[str], list[str]]:
    """``files`` as absolute paths, split into regular files and the rest (folders, vanished files)."""
    ok: list[str] = []
    skipped: list[str] = []
    for f in files:
        if f.startswith("file://"):  # a launcher that ignored %F and passed a URI
            from urllib.parse import unquote, urlparse

            f = unquote(urlparse(f).path)
        p = Path(f).expanduser()
        (ok if p.is_file() else skipped).append(str(p.resolve()) if p.exists() else str(p.absolute()))
    return ok, skipped


def open_files(files: Sequence[str], home: Path | None = None) -> int:
    """Hand ``files`` to the running app, or start it with them; returns the exit status.

    Files that are not regular files are left out with a note on stderr (file managers show stderr
    nowhere, so the window still comes up rather than nothing happening).
    """
    paths, skipped = usable_files(files)
    for s in skipped:
        print(f"lookalike: not a file, left out: {for_terminal(s)}", file=sys.stderr)
    from desktop.ipc import forward_to_running_app

    request = ["similar", *paths] if paths else []
    if forward_to_running_app(request, home=home):
        return 0
    from desktop.app import run_app  # no Qt at import; run_app imports it once it is needed

    argv = ["--home", str(home)] if home is not None else []
    return run_app(argv + (["--similar", *paths] if paths else []))
