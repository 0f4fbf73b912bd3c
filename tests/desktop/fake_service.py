"""A stand-in for engine.service.core.Service with the same API, for GUI tests that need no models.

It runs every request on one worker thread, as the real service does, and records what it was asked
(``calls``), so tests can check which engine function each GUI action reached. Searches answer from
``answers``; folder and error operations act on the real Library (catalog and settings only, so
Milvus is never opened).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.service.core import ServiceProgress


def result_for(path: Path, score: float, file_id: int = 1, kind: str = "photo", **kw: Any) -> Any:
    from engine.search.api import Result

    st = path.stat()
    kw.setdefault("match", score)  # text queries rank by match; the fakes make it the score
    return Result(file_id, str(path), kind, score, size=st.st_size, mtime=st.st_mtime, **kw)


class FakeService:
    """Signals nothing (the real one has no Qt either); ``answers`` maps a query to results:
    ``answers[text]`` for text, ``answers[("similar", path, …)]`` for find-similar; missing keys give []."""

    def __init__(self, lib: Any, **_kw: Any) -> None:
        self.lib = lib
        self.calls: list[tuple[str, tuple, dict]] = []
        self.answers: dict[Any, list[Any]] = {}
        #: When set, searches wait for it (to test that a stale answer never reaches the view).
        self.hold: threading.Event | None = None
        self.fail_with: Exception | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fake-engine")
        self._progress = ServiceProgress(state="idle", watch_mode="native")
        self._lock = threading.Lock()
        self.started = False
        self.stopped = False

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self.started = True

    def stop(self, timeout: float = 30.0) -> None:
        self.calls.append(("stop", (timeout,), {}))
        if self.hold is not None:
            self.hold.set()
        self._pool.shutdown(wait=True)
        self.stopped = True

    # -- requests ----------------------------------------------------------------------------------------

    def _record(self, name: str, *args: Any, **kw: Any) -> None:
        with self._lock:
            self.calls.append((name, args, kw))

    def names(self) -> list[str]:
        with self._lock:
            return [c[0] for c in self.calls]

    def call(self, fn: Any, *args: Any, **kw: Any) -> Future:
        self._record("call", fn.__name__, *args, **kw)
        return self._pool.submit(fn, self.lib, *args, **kw)

    def _answer(self, key: Any) -> list[Any]:
        if self.hold is not None:
            self.hold.wait(30)
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.answers.get(key, []))

    def search_text(self, text: str, **kw: Any) -> Future:
        self._record("search_text", text, **kw)
        return self._pool.submit(self._answer, text)

    def search_similar(self, paths: Any, **kw: Any) -> Future:
        paths = [str(p) for p in paths]
        self._record("search_similar", paths, **kw)
        return self._pool.submit(self._answer, ("similar", *paths))

    def add_folder(self, path: Any) -> Future:
        self._record("add_folder", str(path))
        return self._pool.submit(self.lib.add_folder, path)

    def remove_folder(self, path: Any) -> Future:
        self._record("remove_folder", str(path))

        def remove() -> int:
            p = str(Path(path).resolve())
            self.lib.settings.remove_folder(p)
            self.lib.settings.save()
            return len(self.lib.catalog.remove(sorted(self.lib.catalog.ids_under(p))))

        return self._pool.submit(remove)

    def rescan(self) -> None:
        self._record("rescan")

    def retry_failed(self) -> Future:
        self._record("retry_failed")
        return self._pool.submit(self.lib.catalog.retry_failed)

    def pause(self) -> None:
        self._record("pause")
        self.set_progress(state="paused")

    def resume(self) -> None:
        self._record("resume")
        self.set_progress(state="indexing")

    def cancel_current(self) -> None:
        self._record("cancel_current")

    # -- progress ----------------------------------------------------------------------------------------

    def set_progress(self, **changes: Any) -> None:
        with self._lock:
            self._progress = replace(self._progress, **changes)

    def progress(self) -> ServiceProgress:
        with self._lock:
            return self._progress
