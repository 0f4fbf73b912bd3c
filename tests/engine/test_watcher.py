"""The change queue, the event filter, the watch-limit fallback and the catalog side of changes."""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import time
from pathlib import Path

import pytest
from watchdog.events import (
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from engine.storage.settings import DEFAULT_EXCLUDES
from engine.watch.applier import ChangeApplier
from engine.watch.observers import NATIVE, POLLING, EventHandler, Watcher
from engine.watch.paths import is_excluded_path, root_of
from engine.watch.queue import CREATED, DELETED, MODIFIED, MOVED_IN, Change, ChangeQueue, Move
from tests.media import save_photo

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def wait_for(cond, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


# -- queue ---------------------------------------------------------------------------------------------


def test_a_burst_of_writes_is_one_entry_taken_after_the_quiet_period() -> None:
    clock = Clock()
    q = ChangeQueue(2.0, clock=clock)
    q.put("/lib/a.jpg", CREATED)
    for _ in range(5):
        clock.t += 1.0  # each write comes before the quiet period is over
        q.put("/lib/a.jpg", MODIFIED)
    assert q.take() == ([], [])
    assert q.next_due_in() == pytest.approx(2.0)
    clock.t += 2.0
    moves, due = q.take()
    assert moves == [] and [(c.path, c.first) for c in due] == [("/lib/a.jpg", CREATED)]
    assert len(q) == 0 and q.next_due_in() is None


def test_create_then_delete_is_nothing_but_delete_then_create_is_kept() -> None:
    clock = Clock()
    q = ChangeQueue(0.5, clock=clock)
    q.put("/lib/tmp.jpg", CREATED)
    q.put("/lib/tmp.jpg", MODIFIED)
    q.put("/lib/tmp.jpg", DELETED)
    q.put("/lib/old.jpg", DELETED)  # a replaced file: its old row must still be looked at
    q.put("/lib/old.jpg", CREATED)
    q.put("/lib/old.jpg", DELETED)
    _, due = q.take(force=True)
    assert [c.path for c in due] == ["/lib/old.jpg"]


def test_moves_are_kept_in_order_and_queued_paths_follow_them() -> None:
    clock = Clock()
    q = ChangeQueue(1.0, clock=clock)
    q.put("/lib/dir/a.jpg", MODIFIED)
    q.put_move("/lib/dir", "/lib/dir2")
    q.put_move("/lib/dir2", "/lib/dir3")
    q.put_move("/lib/x.jpg", "/lib/y.jpg")
    q.put("/lib/y.jpg", DELETED)  # the move's destination is not "born here": the delete is kept
    moves, due = q.take(force=True)
    assert moves == [
        Move("/lib/dir", "/lib/dir2"),
        Move("/lib/dir2", "/lib/dir3"),
        Move("/lib/x.jpg", "/lib/y.jpg"),
    ]
    assert {c.path: c.first for c in due} == {
        "/lib/dir3/a.jpg": MODIFIED,
        "/lib/dir3": MOVED_IN,
        "/lib/y.jpg": MOVED_IN,
    }
    # Moves are taken at once, without waiting for the quiet period.
    q.put_move("/lib/p.jpg", "/lib/q.jpg")
    assert q.next_due_in() == 0.0
    assert q.take()[0] == [Move("/lib/p.jpg", "/lib/q.jpg")]


def test_drop_under_and_again_later() -> None:
    clock = Clock()
    q = ChangeQueue(1.0, clock=clock)
    q.put("/lib/a/1.jpg", CREATED)
    q.put("/lib/ab/2.jpg", CREATED)
    q.put_move("/lib/a/x", "/lib/a/y")
    assert q.drop_under("/lib/a") == 3  # 1.jpg, the move's destination entry and the move
    clock.t += 5
    _, due = q.take()
    assert [c.path for c in due] == ["/lib/ab/2.jpg"]
    q.again_later(["/lib/ab/2.jpg"])
    assert q.take() == ([], [])
    clock.t += 1.0
    assert [c.path for c in q.take()[1]] == ["/lib/ab/2.jpg"]


# -- paths and the event filter ---------------------------------------------------------------------------


def test_root_of_and_exclusions() -> None:
    folders = ["/data/pics", "/data/pics/nested", "/data/pics2"]
    assert root_of("/data/pics/a.jpg", folders) == "/data/pics"
    assert root_of("/data/pics/nested/a.jpg", folders) == "/data/pics/nested"
    assert root_of("/data/pics2/a.jpg", folders) == "/data/pics2"
    assert root_of("/data/pic/a.jpg", folders) is None
    assert is_excluded_path("/data/pics/.git/objects/a.jpg", "/data/pics", DEFAULT_EXCLUDES)
    assert is_excluded_path("/data/pics/.Trash-1000/files/a.jpg", "/data/pics", DEFAULT_EXCLUDES)
    assert is_excluded_path("/data/pics/a.jpg.part", "/data/pics", DEFAULT_EXCLUDES)
    # A hidden folder *above* the library folder does not exclude it.
    assert not is_excluded_path("/home/u/.local/pics/a.jpg", "/home/u/.local/pics", DEFAULT_EXCLUDES)


def test_handler_enqueues_only_media_outside_excluded_folders() -> None:
    q = ChangeQueue(0.0)
    h = EventHandler("/lib", DEFAULT_EXCLUDES, q)
    for ev in [
        FileCreatedEvent("/lib/a.jpg"),
        FileModifiedEvent("/lib/a.jpg"),
        FileClosedEvent("/lib/a.jpg"),
        FileOpenedEvent("/lib/b.jpg"),  # reading changes nothing
        FileCreatedEvent("/lib/notes.txt"),  # not media
        FileCreatedEvent("/lib/.git/c.jpg"),  # excluded folder
        FileCreatedEvent("/lib/d.jpg.crdownload"),  # partial download
        DirModifiedEvent("/lib/sub"),
        FileMovedEvent("/lib/e.jpg.part", "/lib/e.jpg"),  # a finished download: created
        FileMovedEvent("/lib/f.jpg", "/lib/.Trash-1000/files/f.jpg"),  # to the trash: deleted
        FileMovedEvent("/lib/g.jpg", "/lib/h.jpg"),  # rename: a move
        DirMovedEvent("/lib/old", "/lib/new"),
        DirDeletedEvent("/lib/gone"),
        FileDeletedEvent("/elsewhere/i.jpg"),  # not under this root
    ]:
        h.dispatch(ev)
    moves, due = q.take(force=True)
    assert moves == [Move("/lib/g.jpg", "/lib/h.jpg"), Move("/lib/old", "/lib/new")]
    assert {c.path: c.first for c in due} == {
        "/lib/a.jpg": CREATED,
        "/lib/e.jpg": CREATED,
        "/lib/f.jpg": DELETED,
        "/lib/h.jpg": MOVED_IN,
        "/lib/new": MOVED_IN,
        "/lib/gone": DELETED,
    }


# -- observers -------------------------------------------------------------------------------------------


def _watched_events(w: Watcher, q: ChangeQueue, folder: Path, name: str) -> None:
    save_photo(folder / name, 1, size=(64, 48))
    wait_for(
        lambda: any(c.path == str(folder / name) for c in q.take(force=True)[1]), what=f"an event for {name}"
    )


@pytest.mark.parametrize("force_polling", [False, True])
def test_watcher_reports_changes_natively_or_by_polling(tmp_path: Path, force_polling: bool) -> None:
    q = ChangeQueue(0.0)
    w = Watcher(q, DEFAULT_EXCLUDES, force_polling=force_polling, poll_interval=0.1)
    try:
        assert w.watch(str(tmp_path)) == (POLLING if force_polling else NATIVE)
        (tmp_path / "sub").mkdir()
        _watched_events(w, q, tmp_path / "sub", "a.jpg")
        assert w.check() == []
        assert w.modes() == {str(tmp_path): POLLING if force_polling else NATIVE}
    finally:
        w.stop()


@pytest.fixture
def inotify_limit(monkeypatch: pytest.MonkeyPatch):
    """Make inotify_add_watch fail with ENOSPC, as the kernel does at fs.inotify.max_user_watches, for
    paths chosen by the test (at the lowest layer: watchdog's own error handling runs as it would)."""
    from watchdog.observers import inotify_c

    real = inotify_c.inotify_add_watch
    refuse: set[bytes] = set()

    def add_watch(fd: int, path: bytes, mask: int) -> int:
        if any(path == p or path.startswith(p + b"/") for p in refuse):
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return real(fd, path, mask)

    monkeypatch.setattr(inotify_c, "inotify_add_watch", add_watch)
    return refuse


@linux_only
def test_watch_limit_on_a_folder_falls_back_to_polling_with_a_warning(tmp_path: Path, inotify_limit) -> None:
    inotify_limit.add(os.fsencode(tmp_path))
    q = ChangeQueue(0.0)
    w = Watcher(q, DEFAULT_EXCLUDES, poll_interval=0.1)
    try:
        assert w.watch(str(tmp_path)) == POLLING
        [warning] = w.warnings()
        assert "limit" in warning and "max_user_watches" in warning and str(tmp_path) in warning
        _watched_events(w, q, tmp_path, "a.jpg")  # and it still sees changes
    finally:
        w.stop()


@linux_only
def test_watch_limit_hit_by_a_new_subfolder_is_not_silent(tmp_path: Path, inotify_limit) -> None:
    q = ChangeQueue(0.0)
    w = Watcher(q, DEFAULT_EXCLUDES, poll_interval=0.1)
    try:
        assert w.watch(str(tmp_path)) == NATIVE
        assert w.warnings() == []
        inotify_limit.add(os.fsencode(tmp_path / "later"))
        (tmp_path / "later").mkdir()
        # watchdog swallows the failure to watch the new subfolder; the watcher must not.
        replaced = wait_for(w.check, what="the watch limit to be noticed")
        assert replaced == [str(tmp_path)]
        assert w.modes() == {str(tmp_path): POLLING}
        assert any("limit" in x for x in w.warnings())
        _watched_events(w, q, tmp_path / "later", "b.jpg")  # the unwatched subfolder is seen now
    finally:
        w.stop()


def test_no_inotify_instance_at_all_means_polling_everywhere(tmp_path: Path) -> None:
    def refuse(on_limit):
        raise OSError(errno.EMFILE, "inotify instance limit reached")

    q = ChangeQueue(0.0)
    w = Watcher(q, DEFAULT_EXCLUDES, poll_interval=0.1, native_factory=refuse)
    try:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        assert w.watch(str(tmp_path / "a")) == POLLING
        assert w.watch(str(tmp_path / "b")) == POLLING
        assert w.warnings()
    finally:
        w.stop()


def test_a_watch_whose_folder_vanishes_is_reported_by_check(tmp_path: Path) -> None:
    folder = tmp_path / "drive"
    folder.mkdir()
    q = ChangeQueue(0.0)
    w = Watcher(q, DEFAULT_EXCLUDES, poll_interval=0.1)
    try:
        w.watch(str(folder))
        folder.rmdir()
        assert wait_for(w.check, what="the dead watch") == [str(folder)]
        assert w.modes() == {}
    finally:
        w.stop()


# -- applying changes to the catalog ------------------------------------------------------------------------


@pytest.fixture
def lib(home: Path):
    from engine.library import Library

    lib = Library.open(home)
    yield lib
    lib.close()


def test_a_file_written_moments_ago_without_an_event_is_looked_at_again(lib, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    photo = save_photo(folder / "a.jpg", 1)
    lib.add_folder(folder)
    applier = ChangeApplier(lib, quiet_period=60.0, grace=0.0)
    out = applier.apply([], [_change(photo)])
    assert out.growing == [str(photo)] and out.fresh == []
    assert lib.catalog.by_path(str(photo)) is None
    old = time.time() - 120
    os.utime(photo, (old, old))
    out = applier.apply([], [_change(photo)])
    assert out.growing == [] and len(out.fresh) == 1
    assert lib.catalog.by_path(str(photo)).state == "pending"


def test_a_move_between_two_watches_is_matched_by_content(lib, tmp_path: Path) -> None:
    """Two library folders have separate watches: a move between them arrives as a delete and a create.
    The vanished row waits in limbo and the new file takes it over (same id, so the same vectors)."""
    a, b = tmp_path / "a", tmp_path / "b"
    photo = save_photo(a / "x.jpg", 3)
    b.mkdir()
    lib.add_folder(a)
    lib.add_folder(b)
    st = photo.stat()
    [fid] = lib.catalog.add_many([(str(photo), st.st_size, st.st_mtime, "photo")])
    from engine.media.images import quick_hash

    lib.catalog.mark_indexed(fid, digest=quick_hash(photo), model="m")
    moved = b / "x.jpg"
    applier = ChangeApplier(lib, quiet_period=0.0, grace=60.0)
    # Either order: delete first, or create first (the row is then found by its hash).
    for order in ([photo, moved], [moved, photo]):
        os.rename(photo, moved)
        out = applier.apply([], [_change(p) for p in order])
        assert out.moved == 1 and out.fresh == []
        row = lib.catalog.get(fid)
        assert row.path == str(moved) and row.state == "indexed"
        os.rename(moved, photo)
        out = applier.apply([], [_change(photo), _change(moved)])
        assert out.moved == 1 and lib.catalog.get(fid).path == str(photo)
    assert applier.expire(force=True) == 0  # nothing was really deleted


def _change(path: Path) -> Change:
    return Change(str(path), MODIFIED, 0.0, 0.0)
