"""An open library as the app sees it: the engine service plus what the GUI needs to know up front.

Qt-free. :func:`open_session` runs on a background thread (it imports the engine, opens the catalog
and starts the service); the GUI gets the finished :class:`Session` through the bridge's ``opened``
signal and never touches ``lib`` itself: every later read or write goes through ``service.call``.

The engine opens its store and loads its models lazily, on first use: in a fresh process that is
about two seconds at 100k items, done one after the other (importing pymilvus and ONNX Runtime, the
Milvus Lite server loading the vectors, the first search building its folder index and its library
sample). Most of it can overlap: while the ``milvus`` process loads the vectors (0.5-0.9 s at 100k,
in another process, with the interpreter lock free) a side thread loads the image-text model and runs
the store-free part of a search (query understanding, names, words, sound tags), which builds those
indexes. What needs the store then runs as the first request in the core thread's queue
(:func:`desktop.library_queries.warm_up`). A query typed while the library opened comes right after it
and waits no longer than it would have; one typed a moment later finds everything ready.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on the opener's thread (open_session), never at the GUI's import
    from engine.library import Library
    from engine.service.core import Service
    from engine.storage.settings import Settings

log = logging.getLogger(__name__)

#: How long a failed open waits for the side thread to let go of the library before closing it.
_PREPARE_JOIN_S = 30.0


@dataclass
class Session:
    """A started service on an open library, and a snapshot of the settings the GUI shows."""

    #: The engine service (tests pass a stand-in with the same methods).
    service: Service
    lib: Library
    home: Path
    thumbnails_dir: Path
    models_dir: Path
    folders: list[str] = field(default_factory=list)
    keep_running_in_tray: bool = False
    #: Model ids the settings use that are not installed (the first-run dialog offers them).
    missing_models: list[str] = field(default_factory=list)
    #: True when an installed model is a random-weight test model: scores mean nothing, so no floor.
    test_models: bool = False
    #: The warm-up on the core thread (:func:`desktop.library_queries.warm_up`), or None without one.
    warmed: Future | None = None
    #: What the user should be told about the library as it opened (e.g. files whose vectors were lost
    #: and are being indexed again).
    notices: list[str] = field(default_factory=list)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the service (it writes the batch in hand; the rest stays queued) and close the library."""
        try:
            self.service.stop(timeout)
        finally:
            self.lib.close()


def required_models(settings: Settings) -> list[str]:
    return settings.model_ids()


def missing_models(settings: Settings) -> list[str]:
    """The settings' model ids that are not installed in the model cache (file checks only)."""
    from engine.models import registry

    return [m for m in required_models(settings) if not registry.is_installed(settings.models_dir, m)]


def open_session(
    home: Path | None = None,
    *,
    service_factory: Callable[[Library], Service] | None = None,
    warm_up: bool | None = None,
) -> Session:
    """Open the library at ``home`` (default: ``$LOOKALIKE_HOME`` or the platform data dir), start its
    service, and describe it. Raises LibraryBusyError when another process has it open, LookalikeError
    when it cannot be opened.

    ``warm_up`` (default: when the real ``engine.service.core.Service`` is used) loads the image-text model
    and the vector store on the core thread right away (see the module docstring).
    """
    from engine.library import Library
    from engine.models import registry

    if warm_up is None:
        warm_up = service_factory is None
    lib = Library.open(home)
    prepared: Future | None = None
    try:
        if warm_up:
            # pymilvus first (0.3-0.6 s, all of it holding the interpreter lock): the side thread starts
            # after it, so it fills the server's load time instead of slowing the store's open.
            import engine.storage.store  # noqa: F401

            prepared = prepare_in_background(lib)
            # Opening the store checks it against the catalog here, before the service starts, so the
            # window can say if vectors were lost (and a damaged store fails the open with Repair).
            _ = lib.store
        if service_factory is None:
            from engine.service.core import Service

            service_factory = Service
        service = service_factory(lib)
        service.start()
    except BaseException:
        if prepared is not None:  # it reads the catalog: let it finish before the library closes
            _wait_quietly(prepared, _PREPARE_JOIN_S)
        lib.close()
        raise
    warmed = None
    if warm_up:
        from desktop.library_queries import warm_up as warm

        # First in the core thread's queue, so it runs before a query typed while the library opened.
        # Its errors are not shown: the same step fails again in the search, which reports it.
        warmed = service.call(warm, prepared)
    s = lib.settings
    return Session(
        service=service,
        lib=lib,
        home=lib.home,
        thumbnails_dir=s.thumbnails_dir,
        models_dir=s.models_dir,
        folders=list(s.folders),
        keep_running_in_tray=bool(s.keep_running_in_tray),
        missing_models=missing_models(s),
        test_models=any(registry.is_test_model(s.models_dir, m) for m in required_models(s)),
        warmed=warmed,
        notices=list(lib.notices),
    )


def prepare_in_background(lib: Library) -> Future:
    """Start :func:`desktop.library_queries.prepare` on a thread of its own; its future gives what it
    loaded. Never fails: an error there is logged and the future holds it (the first search meets the
    same error again and reports it)."""
    import threading

    from desktop.library_queries import prepare

    fut: Future = Future()
    fut.set_running_or_notify_cancel()

    def run() -> None:
        try:
            fut.set_result(prepare(lib))
        except BaseException as exc:  # shown by the search that meets it again, not here
            log.debug("preparing the first search failed: %s", exc, exc_info=True)
            fut.set_exception(exc)

    threading.Thread(target=run, name="lookalike-prepare", daemon=True).start()
    return fut


def _wait_quietly(fut: Future, timeout: float) -> None:
    with contextlib.suppress(BaseException):  # its error belongs to the failed open, already raising
        fut.result(timeout)


def repair_library(home: Path | None = None) -> list[str]:
    """``lookalike repair`` for the app's Repair button (on a background thread): rebuild what is damaged,
    keeping the damaged copy aside. Returns what was done, for people. The next open scans the folders.

    Raises LibraryBusyError when another process has the library open."""
    from engine.indexing.repair import repair
    from engine.storage.settings import Settings

    return repair(Settings.load(home)).lines()
