"""What a storm of changes does to watching (found by bench/bench_storm.py): events the OS drops when its
queue overflows must lead to a rescan, and a file renamed or moved while its indexing batch decodes (it
fails with "file not found") must not stay failed at its new path."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.storage.settings import DEFAULT_EXCLUDES
from engine.watch.observers import EventHandler, Watcher
from engine.watch.queue import DELETED, ChangeQueue
from tests.engine.test_service import lib, services, wait_for, wait_synced  # noqa: F401 (fixtures)
from tests.media import make_library, save_photo

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")


def overflow(watcher: Watcher) -> None:
    """What the kernel sends when its inotify queue is full and events were dropped."""
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent

    fd = watcher._native._inotify_fd
    fd.handle_event(InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b""))


@linux_only
def test_an_overflowed_event_queue_is_reported_by_check(tmp_path: Path) -> None:
    w = Watcher(ChangeQueue(0.0), DEFAULT_EXCLUDES)
    try:
        w.watch(str(tmp_path))
        assert w.check() == []
        overflow(w)
        assert w.check() == [str(tmp_path)]
        assert w.check() == []  # reported once
    finally:
        w.stop()


@linux_only
def test_changes_whose_events_were_dropped_are_found_by_a_rescan(
    lib,  # noqa: F811
    services,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "pics"
    paths = make_library(folder, 4)
    svc = services(lib, folder)
    wait_synced(svc)

    deaf = threading.Event()
    real = EventHandler.dispatch
    monkeypatch.setattr(EventHandler, "dispatch", lambda self, ev: None if deaf.is_set() else real(self, ev))
    deaf.set()  # the events of these changes are lost, as in an overflow
    save_photo(folder / "new.jpg", 50)
    paths[0].unlink()
    os.rename(paths[1], folder / "renamed.jpg")
    time.sleep(0.5)
    deaf.clear()
    overflow(svc._health.watcher)
    wait_synced(svc)


@linux_only
def test_a_rescan_settles_rows_waiting_in_limbo(
    lib,  # noqa: F811
    services,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "pics"
    paths = make_library(folder, 3)
    svc = services(lib, folder, move_grace=3.0)
    wait_synced(svc)
    fid = lib.catalog.by_path(str(paths[0])).id

    deaf = threading.Event()
    real = EventHandler.dispatch
    monkeypatch.setattr(EventHandler, "dispatch", lambda self, ev: None if deaf.is_set() else real(self, ev))
    deaf.set()
    os.rename(paths[0], folder / "renamed.jpg")
    time.sleep(0.5)
    deaf.clear()
    # Only the first half of the rename got through (the rest was dropped): its row waits in limbo for
    # its content to reappear; then the rescan that the overflow asks for finds it renamed.
    svc._queue.put(str(paths[0]), DELETED)
    wait_for(lambda: svc._applier.limbo_size, what="the row in limbo")
    overflow(svc._health.watcher)
    wait_synced(svc)
    time.sleep(3.5)  # past the grace period: the row the rescan re-pointed must not be removed
    wait_synced(svc)
    assert lib.catalog.by_path(str(folder / "renamed.jpg")).id == fid


@pytest.fixture
def slow_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding slow enough that the renames below land while the batch holding the files runs."""
    import engine.indexing.pipeline as indexer

    real = indexer.load_photo

    def slow(*args, **kwargs):
        time.sleep(0.1)
        return real(*args, **kwargs)

    monkeypatch.setattr(indexer, "load_photo", slow)


@pytest.mark.parametrize("what", ["files", "folder"])
def test_files_moved_while_their_batch_decodes_end_indexed(
    lib,  # noqa: F811
    services,  # noqa: F811
    tmp_path: Path,
    slow_decode,
    what: str,
) -> None:
    folder = tmp_path / "pics"
    paths = make_library(folder / "trip", 24)
    svc = services(lib, folder, batch_size=8)
    wait_for(lambda: svc.progress().state == "indexing", what="indexing to start")
    if what == "files":
        for p in paths:
            os.rename(p, p.with_name("renamed_" + p.name))
    else:
        os.rename(folder / "trip", folder / "holiday")
    p = wait_synced(svc, timeout=60)
    assert p.failed_total == 0
