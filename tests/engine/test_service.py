"""The indexing service end to end on photos: every change to the folders ends with the catalog and the
vector store equal to the disk, checked as (path, content) pairs and stored vectors, not counts."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.indexing.scan import walk_media
from engine.media.images import load_photo, quick_hash
from engine.service.core import Service, ServiceProgress
from tests.media import make_library, save_photo

QUIET = 0.3


# -- helpers -------------------------------------------------------------------------------------------


@pytest.fixture
def lib(home: Path):
    from engine.library import Library

    lib = Library.open(home)
    yield lib
    lib.close()


@pytest.fixture
def services():
    """Start services through this; they are stopped at the end of the test whatever happens."""
    started: list[Service] = []

    def start(lib, *folders: Path, **kw) -> Service:
        for f in folders:
            lib.add_folder(f)
        opts = {"quiet_period": QUIET, "batch_size": 4, "health_interval": 0.1, "poll_interval": 0.1}
        opts.update(kw)
        svc = Service(lib, **opts)
        svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


def wait_for(cond, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert value, f"timed out waiting for {what}"
    return value


def out_of_sync(lib) -> list[str]:
    """Differences between the disk and the library (empty when equal). Runs on the core thread.

    Disk: path -> content hash of every photo in the library folders (exclusions applied). Catalog: the
    same map over indexed rows, and no row in any other state. Store: each indexed row has exactly one
    vector, equal to what the encoder makes of the file on disk now, and no other vectors exist.
    """
    disk = {}
    for folder in lib.settings.folders:
        if os.path.isdir(folder):
            disk.update({p: quick_hash(p) for p, _, _ in walk_media(Path(folder), lib.settings.excludes)})
    rows = list(lib.catalog.iter_all())
    indexed = {r.path: r.hash for r in rows if r.state == "indexed"}
    problems = [f"{r.path} is {r.state}" for r in rows if r.state != "indexed"]
    problems += [f"not indexed: {p}" for p in sorted(disk.keys() - indexed.keys())]
    problems += [f"indexed but not on disk: {p}" for p in sorted(indexed.keys() - disk.keys())]
    problems += [f"stale content: {p}" for p in sorted(disk.keys() & indexed.keys()) if disk[p] != indexed[p]]
    if problems:
        return problems
    store, name = lib.store, lib.image_collection
    if not rows:
        return [] if not store.has_collection(name) or store.count(name) == 0 else ["vectors without rows"]
    if store.count(name) != len(rows):
        return [f"{store.count(name)} vectors for {len(rows)} indexed rows"]
    enc = lib.image_text_encoder()
    for r in rows:
        _, vecs = store.get_vectors(name, r.id)
        if len(vecs) != 1:
            return [f"{r.path} has {len(vecs)} vectors"]
        now = enc.encode_images([load_photo(r.path, min_side=enc.image_size)])[0]
        cos = float(vecs[0] @ now / (np.linalg.norm(vecs[0]) * np.linalg.norm(now)))
        if cos < 0.999:
            problems.append(f"{r.path}: stored vector is not this content's (cosine {cos:.3f})")
    return problems


def wait_synced(svc: Service, timeout: float = 30.0) -> ServiceProgress:
    """Wait until the service is quiet and the library equals the disk; fail with the differences."""
    last: list[str] = ["not checked"]

    def settled() -> bool:
        p = svc.progress()
        # Reading text in photos, finding duplicates… fill in behind and say nothing of the disk: the
        # library is in sync once no change waits, whether or not those stages are still at work.
        if p.state not in ("idle", "analyzing") or p.queued or p.changes:
            return False
        last[:] = svc.call(out_of_sync).result(timeout=30)
        return not last

    deadline = time.monotonic() + timeout
    while not settled():
        assert time.monotonic() < deadline, f"not in sync with the disk: {last[:10]}; {svc.progress()}"
        time.sleep(0.05)
    return svc.progress()


def row_id(lib, path: Path) -> int:
    row = lib.catalog.by_path(str(path))
    assert row is not None, path
    return row.id


# -- following changes -----------------------------------------------------------------------------------


def test_create_modify_rename_move_delete_are_followed(lib, services, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_library(a, 3)
    b.mkdir()
    svc = services(lib, a, b)
    p = wait_synced(svc)
    assert p.done == 3 and p.watch_mode == "native"

    new = save_photo(a / "new.jpg", 10)
    p = wait_synced(svc)
    assert p.done == 4

    save_photo(a / "photo_001.jpg", 11)  # same path, new content: re-embedded
    p = wait_synced(svc)
    assert p.done == 5

    # A rename and a move to another library folder keep the row (same id, so the same vectors).
    fid = row_id(lib, new)
    os.rename(new, a / "renamed.jpg")
    wait_synced(svc)
    assert row_id(lib, a / "renamed.jpg") == fid
    os.rename(a / "renamed.jpg", b / "moved.jpg")
    p = wait_synced(svc)
    assert row_id(lib, b / "moved.jpg") == fid
    assert p.done == 5  # nothing was embedded again

    (a / "photo_002.jpg").unlink()
    p = wait_synced(svc)
    assert p.failed == 0


def test_directory_move_rename_and_delete(lib, services, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    inner = make_library(a / "trip" / "day1", 3)
    b.mkdir()
    svc = services(lib, a, b)
    wait_synced(svc)
    ids = {p.name: row_id(lib, p) for p in inner}

    os.rename(a / "trip", a / "holiday")  # a directory rename: one DirMovedEvent
    wait_synced(svc)
    assert {n: row_id(lib, a / "holiday" / "day1" / n) for n in ids} == ids

    shutil.move(a / "holiday", b / "holiday")  # to another library folder: delete + create, matched
    p = wait_synced(svc)
    assert {n: row_id(lib, b / "holiday" / "day1" / n) for n in ids} == ids
    assert p.done == 3

    shutil.rmtree(b / "holiday")
    wait_synced(svc)
    assert lib.catalog.counts() == {}


def test_a_file_written_slowly_is_indexed_once_complete(lib, services, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    src = save_photo(tmp_path / "src.jpg", 5, size=(800, 600))
    data = src.read_bytes()
    svc = services(lib, folder, quiet_period=1.0)
    wait_synced(svc)
    with open(folder / "slow.jpg", "wb") as f:
        for i in range(0, len(data), 2048):
            f.write(data[i : i + 2048])
            f.flush()
            time.sleep(0.02)  # much shorter than the quiet period: each write restarts it
    p = wait_synced(svc)
    assert (p.done, p.failed) == (1, 0)  # never embedded half a file


def test_create_then_delete_burst_leaves_nothing(lib, services, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    svc = services(lib, folder)
    wait_synced(svc)
    for i in range(5):
        save_photo(folder / f"tmp{i}.jpg", i).unlink()
    save_photo(folder / "kept.jpg", 9)  # written after the burst: once it is in, the burst was seen
    p = wait_synced(svc)
    assert (p.done, p.failed) == (1, 0)
    assert [r.path for r in lib.catalog.iter_all()] == [str(folder / "kept.jpg")]


def test_changes_made_while_stopped_are_found_at_start(lib, services, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    photos = make_library(folder, 5)
    svc = services(lib, folder)
    wait_synced(svc)
    kept = row_id(lib, photos[0])
    svc.stop()

    os.rename(photos[0], folder / "renamed.jpg")
    save_photo(photos[1], 50)
    photos[2].unlink()
    save_photo(folder / "sub" / "new.jpg", 51)

    svc = services(lib)
    p = wait_synced(svc)
    assert p.done == 2  # only the changed file and the new one were embedded
    assert row_id(lib, folder / "renamed.jpg") == kept


@pytest.mark.parametrize("force_polling", [False, True], ids=["native", "polling"])
def test_excluded_folders_symlink_loops_and_the_trash(
    lib, services, tmp_path: Path, force_polling: bool
) -> None:
    folder = tmp_path / "pics"
    photos = make_library(folder, 2)
    (folder / "loop").symlink_to(folder, target_is_directory=True)
    save_photo(folder / ".git" / "x.jpg", 7)
    save_photo(folder / "node_modules" / "y.jpg", 8)
    svc = services(lib, folder, force_polling=force_polling)
    wait_synced(svc)
    assert len(list(lib.catalog.iter_all())) == 2

    save_photo(folder / ".cache" / "z.jpg", 9)
    (folder / ".Trash-1000").mkdir()
    os.rename(photos[0], folder / ".Trash-1000" / photos[0].name)  # moved to the trash: gone
    save_photo(folder / "after.jpg", 10)
    wait_synced(svc)
    assert {Path(r.path).name for r in lib.catalog.iter_all()} == {photos[1].name, "after.jpg"}


@pytest.mark.parametrize("force_polling", [False, True], ids=["native", "polling"])
def test_a_link_to_a_parent_folder_made_while_watching_adds_nothing(
    lib, services, tmp_path: Path, force_polling: bool
) -> None:
    """Issue 12 row 3: ``mkdir lib/sub; ln -s .. lib/sub/up`` while watching indexed every photo a second
    time under lib/sub/up/ until the next full scan; the watcher now keeps the scan's link policy."""
    folder = tmp_path / "pics"
    photos = make_library(folder, 3)
    outside = tmp_path / "elsewhere"
    save_photo(outside / "far.jpg", 11)
    svc = services(lib, folder, force_polling=force_polling)
    wait_synced(svc)
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)
    (folder / "sub" / "again.jpg").symlink_to(photos[0])  # a link to a photo of the library: no copy
    save_photo(folder / "sub" / "new.jpg", 12)  # so we know the watcher has looked at sub/
    wait_for(lambda: lib.catalog.by_path(str(folder / "sub" / "new.jpg")) is not None, what="sub/new.jpg")
    wait_synced(svc)
    first = [*map(str, photos), str(folder / "sub" / "new.jpg")]
    assert sorted(r.path for r in lib.catalog.iter_all()) == sorted(first)
    # A link to a folder outside the library is followed, by the scan and the watcher alike.
    (folder / "far").symlink_to(outside, target_is_directory=True)
    wait_for(lambda: lib.catalog.by_path(str(folder / "far" / "far.jpg")) is not None, what="far/far.jpg")
    wait_synced(svc)
    paths = sorted(r.path for r in lib.catalog.iter_all())
    assert paths == sorted([*first, str(folder / "far" / "far.jpg")])


def test_forced_polling_follows_changes(lib, services, tmp_path: Path) -> None:
    folder = tmp_path / "share"
    photos = make_library(folder, 2)
    svc = services(lib, folder, force_polling=True)
    p = wait_synced(svc)
    assert p.watch_mode == "polling" and p.polling_folders == (str(folder),)
    fid = row_id(lib, photos[0])
    save_photo(folder / "new.jpg", 20)
    os.rename(photos[0], folder / "renamed.jpg")
    save_photo(photos[1], 21)
    p = wait_synced(svc)
    assert row_id(lib, folder / "renamed.jpg") == fid
    assert p.done == 4


def test_polling_can_be_set_per_folder_in_the_settings(lib, services, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    lib.settings.extra["watch_polling"] = [str(b)]
    svc = services(lib, a, b)
    p = wait_synced(svc)
    assert p.watch_mode == "mixed" and p.polling_folders == (str(b),)
    save_photo(b / "x.jpg", 1)
    assert wait_synced(svc).done == 1


def test_a_vanished_folder_goes_offline_and_comes_back(lib, services, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    photos = make_library(drive, 3)
    svc = services(lib, drive)
    wait_synced(svc)
    ids = {p.name: row_id(lib, p) for p in photos}

    os.rename(drive, tmp_path / "unplugged")
    p = wait_for(lambda: svc.progress().offline_folders == (str(drive),), what="the folder to go offline")
    rows = list(lib.catalog.iter_all())
    assert {Path(r.path).name: r.id for r in rows} == ids and {r.state for r in rows} == {"offline"}
    assert svc.search_text("a photo").result(timeout=30) == []  # offline files are not offered

    os.rename(tmp_path / "unplugged", drive)
    p = wait_synced(svc)
    assert p.offline_folders == () and p.done == 3  # came back without being embedded again
    assert {p.name: row_id(lib, p) for p in photos} == ids


def test_startup_with_a_missing_folder_keeps_its_rows_offline(lib, services, tmp_path: Path) -> None:
    drive = tmp_path / "drive"
    make_library(drive, 2)
    svc = services(lib, drive)
    wait_synced(svc)
    svc.stop()
    os.rename(drive, tmp_path / "away")
    svc = services(lib)
    wait_for(lambda: svc.progress().offline_folders == (str(drive),), what="offline at start")
    assert lib.catalog.counts() == {("photo", "offline"): 2}
    os.rename(tmp_path / "away", drive)
    assert wait_synced(svc).done == 0


def test_an_emptied_folder_looks_unmounted_at_start_until_files_return(lib, services, tmp_path: Path) -> None:
    """A folder that has rows but is found empty at start is what an unmounted drive's mount point looks
    like: its rows stay, offline. Once it has files again it is scanned: gone files leave for real."""
    mount = tmp_path / "mnt"
    photos = make_library(mount, 2)
    svc = services(lib, mount)
    wait_synced(svc)
    svc.stop()
    for p in photos:
        p.unlink()
    svc = services(lib)
    wait_for(lambda: svc.progress().offline_folders == (str(mount),), what="offline at start")
    assert lib.catalog.counts() == {("photo", "offline"): 2}
    save_photo(mount / "new.jpg", 60)
    p = wait_synced(svc)
    assert p.offline_folders == () and p.done == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux only")
def test_the_watch_limit_reaches_the_progress_warnings(lib, services, tmp_path: Path, monkeypatch) -> None:
    """inotify_add_watch failing with ENOSPC (fs.inotify.max_user_watches reached) for a new subfolder:
    the folder moves to polling, the snapshot says so with the fix, and changes are still followed."""
    import ctypes
    import errno

    from watchdog.observers import inotify_c

    folder = tmp_path / "pics"
    make_library(folder, 1)
    real = inotify_c.inotify_add_watch
    refused = os.fsencode(folder / "new-album")

    def add_watch(fd: int, path: bytes, mask: int) -> int:
        if path.startswith(refused):
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return real(fd, path, mask)

    monkeypatch.setattr(inotify_c, "inotify_add_watch", add_watch)
    svc = services(lib, folder)
    assert wait_synced(svc).watch_mode == "native"
    save_photo(folder / "new-album" / "a.jpg", 70)
    p = wait_for(lambda: (q := svc.progress()).watch_mode == "polling" and q, what="the fallback")
    assert any("max_user_watches" in w and str(folder) in w for w in p.warnings), p.warnings
    save_photo(folder / "new-album" / "b.jpg", 71)  # inside the folder inotify could not watch
    assert wait_synced(svc).done == 3


def test_without_watching_changes_wait_for_a_rescan(lib, services, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    photos = make_library(folder, 2)
    svc = services(lib, folder, watch=False)
    assert wait_synced(svc).watch_mode == "off"
    fid = row_id(lib, photos[0])
    os.rename(photos[0], folder / "renamed.jpg")
    save_photo(folder / "new.jpg", 80)
    svc.rescan()
    p = wait_synced(svc)
    assert row_id(lib, folder / "renamed.jpg") == fid and p.done == 3


# -- priorities, pause, cancel, models -------------------------------------------------------------------


@pytest.fixture
def slow_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make embedding slow enough that a backlog lasts while the test looks at it."""
    from engine.models.uform import UFormEncoder

    real = UFormEncoder.encode_pixels  # what the indexer calls (decode workers preprocess)

    def slow(self, batch):
        time.sleep(0.03 * len(batch))
        return real(self, batch)

    monkeypatch.setattr(UFormEncoder, "encode_pixels", slow)


def test_requests_run_between_batches_and_new_files_go_first(
    lib, services, tmp_path: Path, slow_encoder
) -> None:
    folder = tmp_path / "pics"
    make_library(folder, 40)
    svc = services(lib, folder, batch_size=2)
    wait_for(lambda: svc.progress().done >= 2, what="indexing to start")

    def pending(lib) -> int:
        return lib.catalog.counts().get(("photo", "pending"), 0)

    # A request does not wait for the backlog: it runs while files are still pending.
    assert svc.call(pending).result(timeout=30) > 0
    assert svc.search_text("a photo").result(timeout=30)

    # A new file is indexed before the backlog that was there first.
    late = save_photo(folder / "late.jpg", 99)
    wait_for(lambda: (r := lib.catalog.by_path(str(late))) is not None and r.state == "indexed", what="late")
    assert svc.call(pending).result(timeout=30) > 0
    wait_synced(svc)


def test_pause_resume_and_cancel(lib, services, tmp_path: Path, slow_encoder) -> None:
    folder = tmp_path / "pics"
    make_library(folder, 16)
    svc = services(lib, folder, batch_size=2)
    wait_for(lambda: svc.progress().done >= 1, what="indexing to start")
    svc.pause()
    p = wait_for(lambda: (q := svc.progress()).state == "paused" and q, what="paused")
    assert p.queued > 0
    # Searches still work while paused.
    assert svc.search_text("a photo").result(timeout=30)
    assert svc.progress().done == p.done  # and nothing was indexed meanwhile
    svc.resume()
    wait_for(lambda: svc.progress().done > p.done, what="indexing again")

    svc.cancel_current()
    p = wait_for(
        lambda: (q := svc.progress()).backlog_cancelled and q.state == "idle" and q, what="cancelled"
    )
    assert lib.catalog.counts().get(("photo", "pending"), 0) > 0  # left pending, not lost
    save_photo(folder / "after-cancel.jpg", 77)  # new changes are still indexed
    wait_for(lambda: svc.progress().done == p.done + 1 and svc.progress().state == "idle", what="new file")
    svc.resume()
    assert not wait_synced(svc).backlog_cancelled


def test_models_are_unloaded_when_idle_and_reload_on_demand(lib, services, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    photos = make_library(folder, 3)
    unloads: list[float] = []
    real = lib.unload_models

    def spy() -> None:
        unloads.append(time.monotonic())
        real()

    lib.unload_models = spy
    svc = services(lib, folder, idle_unload_s=0.3)
    wait_for(lambda: unloads and not svc.progress().models_loaded, what="models to be unloaded")
    results = svc.search_similar([photos[0]], limit=2).result(timeout=30)
    assert [r.path for r in results][0] != str(photos[0]) and len(results) == 2
    assert svc.progress().models_loaded
    wait_for(lambda: len(unloads) >= 2, what="a second unload")


def test_add_remove_folder_and_retry_failed(lib, services, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_library(a, 2)
    make_library(b, 2, start_seed=10)
    good = save_photo(tmp_path / "good.jpg", 3).read_bytes()
    broken = b / "broken.jpg"
    broken.write_bytes(b"XX" + good[2:])  # same size as the good one, not a JPEG
    old = time.time() - 60
    os.utime(broken, (old, old))
    svc = services(lib, a)
    wait_synced(svc)

    assert svc.add_folder(b).result(timeout=30) == b.resolve()
    p = wait_for(lambda: (q := svc.progress()).failed == 1 and q.state == "idle" and q, what="b indexed")
    assert p.failed_total == 1 and p.indexed_total == 4

    # Repaired in place with the same size and mtime: the watcher sees nothing to redo, a retry does.
    broken.write_bytes(good)
    os.utime(broken, (old, old))
    assert svc.retry_failed().result(timeout=30) == 1
    wait_synced(svc)

    assert svc.remove_folder(b).result(timeout=30) == 3
    wait_synced(svc)
    assert all(r.path.startswith(str(a)) for r in lib.catalog.iter_all())
    with pytest.raises(Exception, match="Not a folder"):
        svc.add_folder(tmp_path / "nope").result(timeout=30)


def test_stop_finishes_cleanly_and_later_requests_fail(lib, services, tmp_path: Path) -> None:
    from engine.service.core import ServiceStoppedError

    folder = tmp_path / "pics"
    make_library(folder, 4)
    svc = services(lib, folder, quiet_period=60.0)
    wait_for(lambda: svc.progress().indexed_total == 4 and svc.progress().state == "idle", what="indexed")
    save_photo(folder / "seen.jpg", 40)
    wait_for(lambda: svc.progress().changes == 1, what="the change to be seen")  # and still quiet-waiting
    svc.stop()
    assert svc.progress().state == "stopped"
    # The change seen before the stop was recorded (pending, for the next start), not dropped.
    row = lib.catalog.by_path(str(folder / "seen.jpg"))
    assert row is not None and row.state == "pending"
    with pytest.raises(ServiceStoppedError):
        svc.search_text("x").result(timeout=5)


def test_a_store_error_is_reported_and_the_batch_retried(lib, services, tmp_path: Path) -> None:
    from engine.errors import StoreError

    folder = tmp_path / "pics"
    make_library(folder, 3)
    store = lib.store
    real = store.ensure_collection
    calls: list[str] = []

    def flaky(name: str, dim: int) -> None:
        calls.append(name)
        if len(calls) == 1:
            raise StoreError("the vector store is unreachable (test)")
        real(name, dim)

    store.ensure_collection = flaky
    svc = services(lib, folder)
    p = wait_synced(svc)
    assert any("unreachable" in w for w in p.warnings), p.warnings
    assert (p.done, p.failed) == (3, 0)  # the batch was redone, not turned into failed files


# -- crash and CLI ---------------------------------------------------------------------------------------

SLOW_CHILD = """
import sys, time
from engine.models.uform import UFormEncoder
real = UFormEncoder.encode_pixels
def slow(self, batch):
    time.sleep(0.05 * len(batch))
    return real(self, batch)
UFormEncoder.encode_pixels = slow
from engine.cli.watch import main
sys.exit(main(sys.argv[1:]))
"""


def _watch_process(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, LOOKALIKE_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_CHILD,
            "--json",
            "--quiet-period",
            str(QUIET),
            "--interval",
            "0.05",
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def _read_until(proc: subprocess.Popen, cond, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        snap = json.loads(line)
        if cond(snap):
            return snap
        assert time.monotonic() < deadline, f"no matching progress line; last: {snap}"
    raise AssertionError(
        f"the watch process ended: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}"
    )


def test_kill_9_mid_queue_loses_nothing(home: Path, services, tmp_path: Path) -> None:
    from engine.library import Library

    folder = tmp_path / "pics"
    make_library(folder, 24)
    proc = _watch_process(home, "--batch-size", "2", str(folder))
    try:
        _read_until(proc, lambda s: s["state"] == "indexing" and s["done"] >= 4)
        save_photo(folder / "late.jpg", 80)  # a change in the queue when the process dies
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    with Library.open(home) as lib:
        states = {r.state for r in lib.catalog.iter_all()}
        assert states == {"indexed", "pending"}, states  # it really was killed mid-queue
        svc = services(lib)
        wait_synced(svc)
        svc.stop()


def test_watch_command_stops_cleanly_on_ctrl_c(home: Path, tmp_path: Path) -> None:
    from engine.library import Library

    folder = tmp_path / "pics"
    make_library(folder, 3)
    proc = _watch_process(home, str(folder))
    try:
        _read_until(proc, lambda s: s["state"] == "idle" and s["indexed_total"] == 3)
        save_photo(folder / "new.jpg", 30)
        _read_until(proc, lambda s: s["state"] == "idle" and s["indexed_total"] == 4)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1])["state"] == "stopped"
    assert "Stopped: 4 indexed, 0 failed" in err and "Traceback" not in err
    with Library.open(home) as lib:
        assert lib.catalog.counts() == {("photo", "indexed"): 4}


def test_format_progress() -> None:
    from engine.cli.watch import format_progress

    p = ServiceProgress(
        state="indexing",
        queued=1234,
        done=56,
        failed=2,
        current="/pics/IMG_0001.jpg",
        rate=12.34,
        eta=100.0,
        watch_mode="native",
        offline_folders=("/media/usb",),
        warnings=("w",),
    )
    line = format_progress(p)
    assert line == (
        "indexing · 1,234 queued · 56 done · 2 failed · 12.3 files/s · ETA 1:40 · native · "
        "1 folder offline · 1 warning · IMG_0001.jpg"
    )
    assert len(format_progress(p, width=30)) == 30
    idle = ServiceProgress(state="idle", indexed_total=10, watch_mode="polling")
    assert format_progress(idle) == "idle · 10 indexed · polling"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
def test_indexing_runs_at_background_priority_and_the_caller_does_not(lib, services, tmp_path: Path) -> None:
    """The window's thread must win the CPU over indexing: the core thread and the threads it starts
    (decode pools, the vector store's server) run niced; the thread that started the service does not."""
    import os
    import threading

    from engine.service.core import BACKGROUND_NICE

    def nice_here() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def nice_of_a_new_thread(_lib) -> tuple[int, int]:
        seen: list[int] = []
        t = threading.Thread(target=lambda: seen.append(nice_here()))
        t.start()
        t.join()
        return nice_here(), seen[0]

    before = nice_here()
    svc = services(lib, tmp_path)
    core, child = svc.call(nice_of_a_new_thread).result(timeout=30)
    assert core >= BACKGROUND_NICE and child >= BACKGROUND_NICE
    assert nice_here() == before
