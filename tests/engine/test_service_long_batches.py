"""Long indexing batches in the service (hundreds of files, bounded in time): the pipeline stays full
across files, and still pause, cancel, requests and a kill end a batch at the next file. Everything is
checked by counts and library contents, never by timings."""

from __future__ import annotations

import signal
from pathlib import Path

from engine.indexing.pipeline import ENCODE_BATCH, WRITE_AHEAD, index_pending
from engine.indexing.scan import scan
from tests.engine.test_service import (  # noqa: F401 (fixtures)
    _read_until,
    _watch_process,
    lib,
    services,
    slow_encoder,
    wait_for,
    wait_synced,
)
from tests.media import make_library

#: Files that may still be finished after a stop is asked: the batch being encoded, the batches waiting
#: for the writer and the one it writes (decodes not yet encoded are dropped).
IN_HAND = ENCODE_BATCH * (WRITE_AHEAD + 2)


def counts(lib) -> dict[str, int]:  # noqa: F811
    c = lib.catalog.counts()
    return {s: c.get(("photo", s), 0) for s in ("pending", "indexed", "failed")}


def test_feed_stops_new_files_and_finishes_those_in_hand(lib, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "pics"
    make_library(folder, 12)
    lib.add_folder(folder)
    scan(lib)
    asked = [0]

    def feed() -> bool:
        asked[0] += 1
        return asked[0] <= 4

    report = index_pending(lib, feed=feed)
    # The first file starts without asking; four more are allowed.
    assert (report.indexed, report.failed, report.unstarted, report.cancelled) == (5, 0, 7, False)
    assert counts(lib) == {"pending": 7, "indexed": 5, "failed": 0}
    assert lib.store.count(lib.image_collection) == 5
    # A feed that always says no still lets one file through, so a batch always makes progress.
    assert (index_pending(lib, feed=lambda: False).indexed, counts(lib)["pending"]) == (1, 6)
    report = index_pending(lib)  # the rest is taken up by the next call
    assert (report.indexed, report.unstarted) == (6, 0)


def test_time_bounded_batches_index_everything_in_several_calls(
    lib, services, tmp_path: Path, slow_encoder, monkeypatch  # noqa: F811
) -> None:
    from engine.service.batches import Batches

    calls: list[int] = []
    real = Batches.index

    def counted(self: Batches) -> bool:
        ran = real(self)
        if ran:
            calls.append(1)
        return ran

    monkeypatch.setattr(Batches, "index", counted)
    folder = tmp_path / "pics"
    make_library(folder, 80)
    # 512 files a batch, but no new file after 0.2 s: 80 files at 30 ms each (more than the pipeline's
    # look-ahead, which the first refill starts at once) take several batches.
    svc = services(lib, folder, batch_size=512, batch_seconds=0.2)
    assert wait_synced(svc, timeout=120).done == 80
    assert len(calls) > 1


def test_pause_and_cancel_stop_a_long_batch_at_the_next_files(
    lib, services, tmp_path: Path, slow_encoder  # noqa: F811
) -> None:
    folder = tmp_path / "pics"
    total = 160
    make_library(folder, total)
    # The encoder's int8 copy is made on its first use; made while the service runs, it reads as a model
    # installed, which takes up a cancelled backlog again (by design: files waiting for a model).
    lib.image_text_encoder()
    svc = services(lib, folder, batch_size=512, batch_seconds=60)  # one batch would take them all
    wait_for(lambda: svc.progress().done >= 2, what="indexing to start")
    at_pause = counts(lib)["indexed"]
    svc.pause()
    p = wait_for(lambda: (q := svc.progress()).state == "paused" and q, what="paused")
    after = counts(lib)
    assert at_pause <= after["indexed"] <= at_pause + IN_HAND < total
    assert after["pending"] == total - after["indexed"]  # nothing lost, nothing failed
    # A search is answered while paused in the middle of the backlog, and nothing is indexed meanwhile.
    assert svc.search_text("a photo").result(timeout=30)
    assert counts(lib)["indexed"] == after["indexed"] == p.done

    svc.resume()
    wait_for(lambda: counts(lib)["indexed"] > after["indexed"], what="indexing again")
    at_cancel = counts(lib)["indexed"]
    svc.cancel_current()
    wait_for(lambda: (q := svc.progress()).backlog_cancelled and q.state == "idle", what="cancelled")
    left = counts(lib)
    assert at_cancel <= left["indexed"] <= at_cancel + IN_HAND < total
    assert left["pending"] == total - left["indexed"]
    svc.resume()
    assert wait_synced(svc, timeout=120).done == total


def test_searches_are_answered_while_a_long_batch_runs(
    lib, services, tmp_path: Path, slow_encoder  # noqa: F811
) -> None:
    folder = tmp_path / "pics"
    make_library(folder, 120)
    svc = services(lib, folder, batch_size=512, batch_seconds=60)
    wait_for(lambda: svc.progress().done >= 2, what="indexing to start")
    assert svc.search_text("a photo").result(timeout=30)
    # Answered before the batch that had all 120 files ended: files were still pending after it.
    assert svc.call(lambda lib: counts(lib)["pending"]).result(timeout=30) > 0
    assert wait_synced(svc, timeout=120).done == 120


def test_kill_9_mid_long_batch_leaves_a_library_that_opens_and_finishes(
    home: Path, services, tmp_path: Path  # noqa: F811
) -> None:
    from engine.library import Library

    folder = tmp_path / "pics"
    make_library(folder, 60)
    proc = _watch_process(home, str(folder))  # the default batch: the kill lands inside one batch
    try:
        _read_until(proc, lambda s: s["state"] == "indexing" and s["done"] >= 4)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    with Library.open(home) as lib:  # noqa: F811
        states = {r.state for r in lib.catalog.iter_all()}
        assert states == {"indexed", "pending"}, states  # it really was killed mid-batch
        # Every row marked indexed has its vector (written before the row was marked).
        indexed = [r for r in lib.catalog.iter_all() if r.state == "indexed"]
        for r in indexed:
            assert len(lib.store.get_vectors(lib.image_collection, r.id)[1]) == 1, r.path
        svc = services(lib)
        wait_synced(svc, timeout=120)
        svc.stop()


def test_count_bounded_batches_without_a_time_bound(lib, services, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "pics"
    make_library(folder, 9)
    svc = services(lib, folder, batch_size=4, batch_seconds=0)
    assert wait_synced(svc).done == 9
