"""Reads and small writes the app asks of the library, run on the engine core thread via ``service.call``.

Qt-free: each function takes the Library first, as ``Service.call`` passes it, and returns plain data
the GUI can show. The GUI thread never calls these directly.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FolderInfo:
    """A library folder and its files by state ("indexed", "pending", "failed", "offline")."""

    path: str
    online: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def folder_infos(lib: Any) -> list[FolderInfo]:
    """Each library folder with its per-state file counts, in the settings' order."""
    out = []
    for folder in lib.settings.folders:
        states = Counter(row.state for row in lib.catalog.under(folder))
        out.append(FolderInfo(folder, Path(folder).is_dir(), dict(states)))
    return out


def failures(lib: Any, limit: int = 5000) -> list[tuple[str, str]]:
    """Files that could not be indexed, with the reason for each: (path, reason)."""
    from engine.storage import catalog as cat  # here, not at the top: this module is imported by the GUI

    return [(r.path, r.error or "unknown error") for r in lib.catalog.in_state(cat.FAILED, limit=limit)]


def search_for_command_line(lib: Any, text: str, **options: Any) -> dict[str, Any]:
    """``lookalike search`` run by the app that owns the library (desktop.ipc's "search" request): the
    search box (engine.search.understand.search) with the CLI's options, as JSON for the reply:
    ``results`` (Result.to_json), ``understood`` (its JSON), ``describe`` (its line for people) and
    ``nothing`` (the "no photos from …" message, or None).

    Raises what the search raises (LookalikeError for an unreadable date, ModelMissingError)."""
    from engine.search.understand import search

    kw = {k: v for k, v in options.items() if v is not None}
    results, understood = search(lib, text, **kw)
    return {
        "results": [r.to_json() for r in results],
        "understood": understood.to_json(),
        "describe": understood.describe(),
        "nothing": understood.nothing,
    }


def set_keep_running_in_tray(lib: Any, value: bool) -> bool:
    """Save the setting; returns the new value."""
    lib.settings.keep_running_in_tray = bool(value)
    lib.settings.save()
    return lib.settings.keep_running_in_tray


#: What the window asks of a text search (desktop.search_controller.LIMIT), so the warm-up's search
#: costs what the first real one will.
SEARCH_LIMIT = 500
#: The phrase the warm-up searches for: plain words (not a kind like "photo", a date or a place), so every
#: retriever runs; which words matters not, the first search's one-off costs do.
WARM_PHRASE = "red car"
#: Retriever groups that read the vector store: only the core thread may use it, so :func:`prepare`
#: leaves them to :func:`warm_up`.
_STORE_GROUPS = frozenset({"visual", "speech"})


def prepare(lib: Any) -> list[str]:
    """What the first text search needs that the vector store does not, for a thread of its own while
    the store opens: the image-text model (its text side loads on first use, so one phrase is
    encoded), then one search by the retrievers that read the catalog only (query understanding's
    place index, the folder-name index, the words and sound-tag indexes are built and kept in
    ``lib.memo`` for the searches that follow). Returns what it loaded (for tests and logs).

    Never touches ``lib.store``. Raises what loading the model or reading the catalog raises
    (ModelFileError, StoreError from a damaged catalog); a model that is not installed is skipped.
    """
    from engine.search.ranking import search
    from engine.search.retrievers import RETRIEVERS

    loaded = []
    if lib.model_ready(lib.settings.image_text_model):
        lib.image_text_encoder().encode_texts([WARM_PHRASE])
        loaded.append(lib.settings.image_text_model)
    store_free = [r for r in RETRIEVERS if r.group not in _STORE_GROUPS]
    search(lib, WARM_PHRASE, limit=SEARCH_LIMIT, retrievers=store_free)
    loaded.append("catalog indexes")
    return loaded


def warm_up(lib: Any, prepared: Future | None = None) -> list[str]:
    """Load what the first text search needs, in the order it needs it (core thread): what ``prepared``
    (:func:`prepare` running on its own thread) loads, waited for; else the image-text model here; the
    vector store and the image collection, loaded into memory; then one search by the retrievers that
    read the store (its first search, the library sample the cutoff compares scores with). Returns
    what it loaded (for tests and logs).

    Raises what opening the store or loading the model raises (StoreError, ModelFileError); a model
    that is not installed is skipped (the search, or the first-run dialog, says so). An error of
    ``prepared`` is not raised again here: the first search meets it and reports it.
    """
    loaded: list[str] = []
    if prepared is not None:
        with contextlib.suppress(Exception):  # its step fails again in the search, which reports it
            loaded += prepared.result(timeout=_PREPARED_WAIT_S)
    encoder = None
    if lib.model_ready(lib.settings.image_text_model):
        encoder = lib.image_text_encoder()
        if lib.settings.image_text_model not in loaded:
            encoder.encode_texts([WARM_PHRASE])
            loaded.append(lib.settings.image_text_model)
    store = lib.store
    loaded.append("store")
    if encoder is not None and store.has_collection(lib.image_collection):
        from engine.search.api import search_text

        store.ensure_collection(lib.image_collection, encoder.dim)  # an existing one is loaded
        loaded.append(lib.image_collection)
        search_text(lib, WARM_PHRASE, limit=SEARCH_LIMIT, only=sorted(_STORE_GROUPS))
        loaded.append("first search")
    return loaded


#: How long the warm-up waits for :func:`prepare` (a model load: seconds at most; a hung one must not
#: hold the core thread for good).
_PREPARED_WAIT_S = 60.0
