"""Reads and small writes the app asks of the library, run on the engine core thread via ``service.call``.

Qt-free: each function takes the Library first, as ``Service.call`` passes it, and returns plain data
the GUI can show. The GUI thread never calls these directly.
"""

from __future__ import annotations

from collections import Counter
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


def set_keep_running_in_tray(lib: Any, value: bool) -> bool:
    """Save the setting; returns the new value."""
    lib.settings.keep_running_in_tray = bool(value)
    lib.settings.save()
    return lib.settings.keep_running_in_tray


def warm_up(lib: Any) -> list[str]:
    """Load what the first text search needs, in the order it needs it: the image-text model (its
    text side loads on first use, so one phrase is encoded), the vector store, and the image
    collection, loaded into memory. Returns what it loaded (for tests and logs).

    Raises what opening the store or loading the model raises (StoreError, ModelFileError); a model
    that is not installed is skipped (the search, or the first-run dialog, says so).
    """
    loaded = []
    encoder = None
    if lib.model_ready(lib.settings.image_text_model):
        encoder = lib.image_text_encoder()
        encoder.encode_texts(["a photo"])
        loaded.append(lib.settings.image_text_model)
    store = lib.store
    loaded.append("store")
    if encoder is not None and store.has_collection(lib.image_collection):
        store.ensure_collection(lib.image_collection, encoder.dim)  # an existing one is loaded
        loaded.append(lib.image_collection)
    return loaded
