"""The service's parts on their own: the request executor (the Future API), the scheduler's yield rule,
the store's flush window and the model bookkeeping. The service as a whole is tests/engine/test_service.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.service.batches import StoreFlush
from engine.service.executor import Executor, ServiceStoppedError
from engine.service.model_use import ModelUse
from engine.service.scheduler import Scheduler


def test_requests_run_in_order_on_the_thread_that_runs_them_and_errors_come_back() -> None:
    ex = Executor()
    threads: list[str] = []

    def job(lib: object, n: int) -> int:
        threads.append(threading.current_thread().name)
        if n == 2:
            raise ValueError("two")
        return n * 10

    futures = [ex.submit(job, (n,), {}) for n in range(4)]
    futures[3].cancel()  # a superseded search: never runs
    runner = threading.Thread(target=lambda: ex.run_pending(lib=None), name="core")  # type: ignore[arg-type]
    runner.start()
    runner.join()
    assert [f.result() for f in futures[:2]] == [0, 10]
    with pytest.raises(ValueError, match="two"):
        futures[2].result()
    assert futures[3].cancelled() and threads == ["core"] * 3


def test_after_close_requests_fail_and_waiting_ones_fail_on_shutdown() -> None:
    ex = Executor()
    waiting = ex.submit(lambda lib: 1, (), {})
    ex.close()
    late = ex.submit(lambda lib: 2, (), {})
    with pytest.raises(ServiceStoppedError):
        late.result(timeout=1)
    ex.fail_pending()
    with pytest.raises(ServiceStoppedError):
        waiting.result(timeout=1)


def test_a_batch_yields_to_a_request_once_it_has_waited_long_enough() -> None:
    ex = Executor()
    sched = Scheduler(ex, max_interactive_wait=0.05)
    assert not sched.should_yield()
    ex.submit(lambda lib: None, (), {})
    assert not sched.should_yield()  # just arrived: the file in hand finishes first
    time.sleep(0.06)
    assert sched.should_yield()
    ex.run_pending(lib=None)  # type: ignore[arg-type]
    assert not sched.should_yield()
    sched.pause()
    assert sched.should_yield() and not sched.scan_cancelled()  # a pause lets a scan finish
    sched.resume()
    sched.cancel()
    assert sched.should_yield() and sched.scan_cancelled()


def test_a_wake_ends_the_sleep_at_once() -> None:
    ex = Executor()
    threading.Timer(0.05, ex.wake).start()
    t = time.monotonic()
    ex.sleep(10.0)
    assert time.monotonic() - t < 5.0


def test_rescans_keep_their_order_without_repeats() -> None:
    sched = Scheduler(Executor(), max_interactive_wait=0.5)
    sched.rescan(["/a", "/b"])
    sched.rescan(["/b", "/c"])
    sched.forget_rescan("/a")
    assert [sched.next_rescan() for _ in range(3)] == ["/b", "/c", None]
    sched.rescan(["/x"])
    sched.rescan(["/y"], replace=True)
    assert [sched.next_rescan() for _ in range(2)] == ["/y", None]


def test_a_cancelled_backlog_stays_cancelled_until_the_user_takes_it_up() -> None:
    """A cancel is not undone by the service's own re-reads of the queue (a folder scan, a model file
    appearing such as the encoder's int8 copy); resume, retry and a user rescan take the backlog up."""
    sched = Scheduler(Executor(), max_interactive_wait=0.5)
    assert sched.work.has_work()
    sched.cancel()
    sched.take_controls()
    assert not sched.work.has_work()
    sched.work.reset()  # a scan the service ran by itself
    sched.work.reset(unblock=True)  # a model's files changed
    assert not sched.work.has_work()
    sched.work.add_fresh([7])  # a file the watcher saw after the cancel is still indexed
    assert sched.work.has_work()
    sched.work.fresh.clear()
    sched.take_up_backlog()  # the user's rescan or a new folder
    sched.take_controls()
    assert sched.work.has_work()
    sched.cancel()
    sched.take_controls()
    sched.resume()
    sched.take_controls()
    assert sched.work.has_work()


class _Store:
    def __init__(self) -> None:
        self.flushes = 0

    def flush(self) -> None:
        self.flushes += 1


def test_the_store_is_flushed_at_most_once_per_window_and_for_real_when_asked(monkeypatch) -> None:
    import engine.service.batches as batches

    monkeypatch.setattr(batches, "FLUSH_EVERY_S", 60.0)
    store = _Store()
    flush = StoreFlush(SimpleNamespace(store=store))  # type: ignore[arg-type]
    for _ in range(5):
        flush.soon()  # what each batch's index_pending calls
    assert store.flushes == 0 and flush.dirty
    flush.now()
    flush.now()  # nothing written since: no second flush
    assert store.flushes == 1 and not flush.dirty
    monkeypatch.setattr(batches, "FLUSH_EVERY_S", 0.0)
    flush.soon()
    assert store.flushes == 2


def test_models_unload_when_idle_and_a_newly_installed_one_is_noticed() -> None:
    ready = {"m1": True, "m2": False}
    unloaded: list[bool] = []
    lib = SimpleNamespace(
        # No speech model, and a models folder that does not exist: only "installed or not" changes.
        settings=SimpleNamespace(
            model_ids=lambda: ["m1", "m2"], speech=False, models_dir=Path("/nonexistent")
        ),
        model_ready=lambda m: ready[m],
        unload_models=lambda: unloaded.append(True),
    )
    use = ModelUse(lib, idle_unload_s=0.0)  # type: ignore[arg-type]
    assert not use.installed_changed()  # the first look only takes note
    use.wait_for({"m2": (3, "lookalike models download m2")})
    assert use.warnings() == ("3 files wait for m2: lookalike models download m2",)
    ready["m2"] = True
    assert use.installed_changed() and use.warnings() == ()
    assert not use.installed_changed()
    assert use.seconds_to_unload() is None and not use.unload_if_idle()
    use.used()
    assert use.unload_if_idle() and unloaded == [True] and not use.loaded
