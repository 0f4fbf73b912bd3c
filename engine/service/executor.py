"""Requests to the core thread: the service's Future API, and the core thread's wake-ups.

Any thread submits ``fn(lib, *args, **kwargs)`` and gets a :class:`concurrent.futures.Future`; the core
thread runs the requests between its own steps (:meth:`Executor.run_pending`), so the store and the
encoders only ever see one thread. The same condition variable wakes the core thread when a request,
a change on disk or a control (pause, stop) arrives while it sleeps.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from engine.errors import LookalikeError

if TYPE_CHECKING:
    from engine.library import Library

T = TypeVar("T")


class ServiceStoppedError(LookalikeError):
    """The indexing service stopped before it could run this request."""


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    future: Future[Any]
    at: float = field(default_factory=time.monotonic)


class Executor:
    """The queue of requests for the core thread, and its alarm clock. Thread-safe."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._kick = False
        self._jobs: deque[_Job] = deque()
        self._closed = False

    def submit(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Future[T]:
        """Queue ``fn(lib, *args, **kwargs)``; its result or exception comes back in the future, which
        fails with ServiceStoppedError at once when the executor is closed."""
        fut: Future[T] = Future()
        with self._cond:
            if self._closed:
                fut.set_exception(ServiceStoppedError("The indexing service has stopped."))
                return fut
            self._jobs.append(_Job(fn, args, kwargs, fut))
            self._kick = True
            self._cond.notify_all()
        return fut

    def close(self) -> None:
        """Refuse later requests (queued ones still run, or fail in :meth:`fail_pending`); wake up."""
        with self._cond:
            self._closed = True
            self._kick = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def run_pending(self, lib: Library) -> int:
        """Run every queued request, oldest first (core thread only); returns how many ran."""
        ran = 0
        while True:
            with self._cond:
                if not self._jobs:
                    return ran
                job = self._jobs.popleft()
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled by the caller (a superseded search) before it started
            ran += 1
            try:
                result = job.fn(lib, *job.args, **job.kwargs)
            except BaseException as exc:  # the caller's to handle, through the future
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)

    def fail_pending(self) -> None:
        """Fail every queued request with ServiceStoppedError (the service is gone)."""
        with self._cond:
            jobs, self._jobs = list(self._jobs), deque()
        for job in jobs:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(ServiceStoppedError("The indexing service stopped."))

    def oldest_wait(self) -> float | None:
        """Seconds the oldest queued request has waited; None when none waits."""
        with self._cond:
            return time.monotonic() - self._jobs[0].at if self._jobs else None

    def wake(self) -> None:
        """End the core thread's current or next :meth:`sleep` at once."""
        with self._cond:
            self._kick = True
            self._cond.notify_all()

    def sleep(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds, or less when woken (core thread only)."""
        with self._cond:
            if not self._kick:
                self._cond.wait(timeout)
            self._kick = False
