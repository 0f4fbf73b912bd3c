"""Instrumentation for end-to-end timing: report when the app shows results, from inside its process.

Put this folder on ``PYTHONPATH`` and set ``LOOKALIKE_PROBE=FILE``: every Python process started with
that environment wraps :func:`desktop.app.build` when (and only when) ``desktop.app`` is imported, and
the window it builds appends one JSON line to FILE per event:

- ``{"event": "opened", "t": …}`` when the library is open (the app is ready for requests);
- ``{"event": "started", "t": …, "paths": […]}`` when a query goes to the engine;
- ``{"event": "results", "t": …, "paths": […], "rows": N, "top": [...], "search_s": …}`` once the answer
  is in the window's result model and the window has processed the paint events it caused.

``t`` is ``time.monotonic()``, which on Linux is one clock for every process, so the bench and the
tests compare it with their own readings. Nothing happens without ``LOOKALIKE_PROBE``; the hook is an
import-time finder so processes that never import ``desktop.app`` (the forwarding client) pay nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import sys
import time
from typing import Any

_OUT = os.environ.get("LOOKALIKE_PROBE")


def _write(event: str, **fields: Any) -> None:
    line = json.dumps({"event": event, "t": time.monotonic(), "pid": os.getpid(), **fields})
    with open(_OUT, "a", encoding="utf-8") as f:  # type: ignore[arg-type]
        f.write(line + "\n")


def _instrument(window: Any) -> Any:
    from PySide6.QtWidgets import QApplication

    started: dict[int, float] = {}

    def on_started(q: Any) -> None:
        started[id(q)] = time.monotonic()
        _write("started", paths=list(q.paths), text=q.text)

    def on_answered(answer: Any) -> None:
        # Connected after the window's own handler: the model holds the answer by now. Let the
        # widgets process what that queued (layout, paint) so "shown" means shown.
        QApplication.processEvents()
        m = window.model
        top = [m.result(i).path for i in range(min(m.rowCount(), 5))]
        t0 = started.get(id(answer.query))
        _write(
            "results",
            paths=list(answer.query.paths),
            text=answer.query.text,
            rows=m.rowCount(),
            top=top,
            search_s=None if t0 is None else time.monotonic() - t0,
        )

    window.searches.started.connect(on_started)
    window.searches.answered.connect(on_answered)
    window.bridge.opened.connect(lambda _s: _write("opened"))
    window.bridge.openFailed.connect(lambda reason: _write("open_failed", reason=reason))
    window.finished.connect(lambda: _write("finished"))
    return window


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Any:
        return self.inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.inner.exec_module(module)
        build = module.build

        def probed_build(*args: Any, **kwargs: Any) -> Any:
            return _instrument(build(*args, **kwargs))

        module.build = probed_build


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name != "desktop.app":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


if _OUT:
    sys.meta_path.insert(0, _Finder())
    _write("process", argv=sys.argv)
