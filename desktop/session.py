"""An open library as the app sees it: the engine service plus what the GUI needs to know up front.

Qt-free. :func:`open_session` runs on a background thread (it imports the engine, opens the catalog
and starts the service); the GUI gets the finished :class:`Session` through the bridge's ``opened``
signal and never touches ``lib`` itself: every later read or write goes through ``service.call``.

The engine opens its store and loads its models lazily, on first use: in a fresh process that is
about two seconds at 100k items (importing torch, pymilvus and ONNX Runtime, opening Milvus Lite,
loading the vectors). So the session warms up as soon as the library is open: loading them is the
first request in the core thread's queue. A query typed while the library opened comes right after it
and waits no longer than it would have; one typed a moment later finds everything ready.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on the opener's thread (open_session), never at the GUI's import
    from engine.library import Library
    from engine.service.core import Service
    from engine.storage.settings import Settings


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
    try:
        if warm_up:
            # Opening the store checks it against the catalog here, before the service starts, so the
            # window can say if vectors were lost (and a damaged store fails the open with Repair).
            _ = lib.store
        if service_factory is None:
            from engine.service.core import Service

            service_factory = Service
        service = service_factory(lib)
        service.start()
    except BaseException:
        lib.close()
        raise
    warmed = None
    if warm_up:
        from desktop.library_queries import warm_up as warm

        # First in the core thread's queue, so it runs before a query typed while the library opened.
        # Its errors are not shown: the same step fails again in the search, which reports it.
        warmed = service.call(warm)
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


def repair_library(home: Path | None = None) -> list[str]:
    """``lookalike repair`` for the app's Repair button (on a background thread): rebuild what is damaged,
    keeping the damaged copy aside. Returns what was done, for people. The next open scans the folders.

    Raises LibraryBusyError when another process has the library open."""
    from engine.indexing.repair import repair
    from engine.storage.settings import Settings

    return repair(Settings.load(home)).lines()
