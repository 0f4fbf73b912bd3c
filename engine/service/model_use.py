"""The models as the service uses them: loaded on first use, unloaded after ``idle_unload_s`` without
use (hundreds of MB the computer gets back while nothing changes), and watched for being installed,
so that files waiting for a missing model are taken up as soon as it arrives."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.library import Library


class ModelUse:
    """Core thread only."""

    def __init__(self, lib: Library, idle_unload_s: float) -> None:
        self.lib = lib
        self.idle_unload_s = idle_unload_s
        #: True from the first use (a request, a batch) until :meth:`unload_if_idle` unloads them.
        self.loaded = False
        self._last_use = time.monotonic()
        self._ready: tuple[bool, ...] = ()
        #: Models that files wait for: model id -> (files, how to install it).
        self.waiting: dict[str, tuple[int, str]] = {}

    def used(self) -> None:
        """The models (may) have been loaded and used just now."""
        self.loaded = True
        self._last_use = time.monotonic()

    def unload_if_idle(self) -> bool:
        """Unload the encoders when unused for ``idle_unload_s``; True when it did."""
        if self.loaded and time.monotonic() - self._last_use >= self.idle_unload_s:
            self.lib.unload_models()
            self.loaded = False
            return True
        return False

    def seconds_to_unload(self) -> float | None:
        """Seconds until :meth:`unload_if_idle` would unload them; None when nothing is loaded."""
        if not self.loaded:
            return None
        return max(0.0, self._last_use + self.idle_unload_s - time.monotonic())

    def installed_changed(self) -> bool:
        """True when a model of the library's roles was installed or removed since the last call (the
        first call only takes note); the files waiting for a model are then forgotten here."""
        ready = tuple(self.lib.model_ready(m) for m in self.lib.settings.model_ids())
        first = not self._ready
        changed, self._ready = ready != self._ready, ready
        if changed and not first:
            self.waiting.clear()
            return True
        return False

    def wait_for(self, waiting: dict[str, tuple[int, str]]) -> None:
        """Add an indexing batch's files left waiting for a model (``IndexReport.waiting``)."""
        for model, (n, fix) in waiting.items():
            had, _ = self.waiting.get(model, (0, fix))
            self.waiting[model] = (had + n, fix)

    def warnings(self) -> tuple[str, ...]:
        return tuple(f"{n} files wait for {m}: {fix}" for m, (n, fix) in self.waiting.items())
