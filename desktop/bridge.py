"""The one place where engine futures and progress become Qt signals.

The engine never imports Qt. Its :class:`engine.service.core.Service` runs work on its own core thread and
hands back ``concurrent.futures.Future``\\ s and progress snapshots; this module turns a future into a
:class:`Task` whose signals arrive on the GUI thread, polls ``Service.progress()`` on a QTimer, and
opens the library (heavy imports: torch, pymilvus, onnxruntime) on a background thread after the
window is painted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from desktop.qt_compat import emit

if TYPE_CHECKING:  # the engine loads on the opener's thread, never at the GUI's import
    from desktop.session import Session
    from engine.service.core import Service, ServiceProgress


def describe(exc: BaseException) -> str:
    """An engine exception as people read it: its message (engine messages are written for people),
    else its class name. Code that must tell errors apart tests the class, never this text."""
    return str(exc) or exc.__class__.__name__


class Task(QObject):
    """One piece of engine work, seen from the GUI thread.

    The future's callback runs on whatever thread finished it; it only emits the private ``_done``
    signal, which Qt queues to this object's (the GUI) thread, always (so connecting right after
    creating the task never misses a result). :meth:`discard` makes a superseded task
    silent, so a stale result never reaches the view.

    Signals:
        finished(object): the work's return value.
        errored(object): the exception it raised, as raised (a :class:`engine.errors.ModelMissingError`
            stays one; :func:`describe` gives the text for people).
    """

    finished = Signal(object)
    errored = Signal(object)
    _done = Signal()

    def __init__(self, future: Future, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.future = future
        self.discarded = False
        # Queued even when emitted on this thread: a future that is already done calls back inside
        # add_done_callback, before the caller has connected to finished/errored.
        self._done.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        future.add_done_callback(lambda _f: self._emit_done())

    def _emit_done(self) -> None:
        # RuntimeError: the Task was deleted with its parent (app closing), so nobody is listening.
        with contextlib.suppress(RuntimeError):
            emit(self._done)

    def discard(self) -> None:
        """Forget this task: its result or error is dropped, and the work is cancelled if not started."""
        self.discarded = True
        self.future.cancel()
        try:
            self.finished.disconnect()
            self.errored.disconnect()
        except (RuntimeError, TypeError):  # nothing was connected
            pass

    @property
    def done(self) -> bool:
        return self.future.done()

    @Slot()
    def _deliver(self) -> None:
        if not self.discarded and not self.future.cancelled():
            exc = self.future.exception()
            if exc is None:
                emit(self.finished, self.future.result())
            else:
                emit(self.errored, exc)
        self.deleteLater()


def run_in_thread(fn: Callable[[], Any], name: str) -> Future:
    """Run ``fn`` on a new daemon thread; its result or exception lands in the returned future."""
    fut: Future = Future()

    def target() -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to the GUI as an errored signal
            fut.set_exception(exc)

    threading.Thread(target=target, name=name, daemon=True).start()
    return fut


class EngineBridge(QObject):
    """Owns the engine service for the GUI: opens it, forwards calls, polls its progress, stops it.

    ``opener`` runs on a background thread and returns a started :class:`desktop.session.Session`;
    nothing heavy is imported on the GUI thread. :meth:`shutdown` closes the session (service stopped,
    its batch in hand written, library closed) on a background thread too.

    Signals:
        opened(object): the :class:`~desktop.session.Session`, once the library is open and the service
            started.
        openFailed(str): the library could not be opened (busy, damaged); the reason for people (the
            exception itself is :attr:`open_exc`).
        progressed(object): a new ``Service.progress()`` snapshot (only when it changed).
        stopped(): the service has stopped after :meth:`shutdown`; everything is written.
    """

    opened = Signal(object)
    openFailed = Signal(str)
    progressed = Signal(object)
    stopped = Signal()

    POLL_MS = 250

    def __init__(self, opener: Callable[[], Session], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._opener = opener
        self.session: Session | None = None
        self._last_progress: ServiceProgress | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.POLL_MS)
        self._timer.timeout.connect(self.poll_progress)
        self._closing = False
        self._opening = False
        self._stop_timeout = 30.0
        #: What the last open raised, or None.
        self.open_exc: BaseException | None = None

    @property
    def open_error(self) -> str | None:
        """Why the last open failed, for people; None when it did not."""
        return None if self.open_exc is None else describe(self.open_exc)

    @property
    def service(self) -> Service | None:
        return None if self.session is None else self.session.service

    @property
    def is_open(self) -> bool:
        return self.session is not None

    def open(self) -> None:
        """Open the library on a background thread; ``opened`` or ``openFailed`` follows."""
        if self._opening or self.session is not None or self._closing:
            return
        self._opening = True
        self.open_exc = None
        task = Task(run_in_thread(self._opener, "lookalike-open"), self)
        task.finished.connect(self._on_opened)
        task.errored.connect(self._on_open_failed)

    def _on_open_failed(self, exc: BaseException) -> None:
        self._opening = False
        self.open_exc = exc
        if self._closing:
            emit(self.stopped)
        emit(self.openFailed, describe(exc))

    def _on_opened(self, session: Session) -> None:
        self._opening = False
        self.session = session
        if self._closing:  # closed while it was opening: stop it now
            self._stop_service()
            return
        self._timer.start()
        self.poll_progress()
        emit(self.opened, session)

    # -- work ------------------------------------------------------------------------------------------

    def submit(self, future: Future) -> Task:
        return Task(future, self)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """``fn(lib, *args, **kwargs)`` on the engine core thread."""
        return self.submit(self.require().call(fn, *args, **kwargs))

    def search_text(self, text: str, **kw: Any) -> Task:
        return self.submit(self.require().search_text(text, **kw))

    def search_similar(self, paths: list[str], **kw: Any) -> Task:
        return self.submit(self.require().search_similar(paths, **kw))

    def require(self) -> Service:
        """The service; RuntimeError when the library is not open (yet, or any more)."""
        if self.session is None:
            raise RuntimeError("the library is not open yet")
        return self.session.service

    # -- progress --------------------------------------------------------------------------------------

    @Slot()
    def poll_progress(self) -> None:
        """Read the service's progress snapshot; emit ``progressed`` when it changed."""
        if self.session is None:
            return
        snap = self.session.service.progress()
        if snap != self._last_progress:
            self._last_progress = snap
            emit(self.progressed, snap)

    @property
    def last_progress(self) -> ServiceProgress | None:
        return self._last_progress

    # -- shutdown --------------------------------------------------------------------------------------

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop the service on a background thread (it finishes the batch in hand and writes it);
        ``stopped`` follows. Safe to call before the library has opened, and more than once."""
        if self._closing:
            return
        self._closing = True
        self._stop_timeout = timeout
        self._timer.stop()
        if self.session is not None:
            self._stop_service()
        elif not self._opening:
            QTimer.singleShot(0, lambda: emit(self.stopped))
        # else: _on_opened / _on_open_failed finish the job when the open completes.

    def _stop_service(self) -> None:
        session, timeout = self.session, self._stop_timeout
        assert session is not None  # called only once the library is open
        task = Task(run_in_thread(lambda: session.close(timeout), "lookalike-stop"), self)
        task.finished.connect(lambda _r: emit(self.stopped))
        task.errored.connect(lambda _e: emit(self.stopped))
