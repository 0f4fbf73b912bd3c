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
        self._ready: tuple[tuple[str, bool, tuple[tuple[str, int, int], ...]], ...] = ()
        #: Models that files wait for: model id -> (files, how to install it).
        self.waiting: dict[str, tuple[int, str]] = {}
        #: Slower stages that wait for their model: analyzer name -> why (a damaged speech model).
        self.stages_waiting: dict[str, str] = {}

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
        """True when a model of the library's roles (or the speech model, while speech is on) was
        installed, removed or replaced since the last call (the first call only takes note); the files
        waiting for a model are then forgotten here. Replaced: a damaged copy that stays "installed"
        but whose files changed (``models download --force``) wakes the stages that waited for it."""
        from engine.models.stamps import model_stamp

        s = self.lib.settings
        ids = [*s.model_ids(), *([s.speech_model] if s.speech else [])]
        ready = tuple((m, self.lib.model_ready(m), model_stamp(s.models_dir, m)) for m in ids)
        first = not self._ready
        changed, self._ready = ready != self._ready, ready
        if changed and not first:
            self.waiting.clear()
            self.stages_waiting.clear()
            return True
        return False

    def stages_wait(self, waiting: dict[str, str]) -> None:
        """Note the slower stages that wait for a model that is there but cannot be used (damaged, does
        not load: ``AnalysisReport.waiting``), for the warnings. A stage turned off in the settings, or
        waiting for an optional model never installed (speech), is the user's choice, not a warning:
        ``lookalike status`` says it."""
        for name, why in waiting.items():
            if not why.startswith("turned off") and "is not installed" not in why:
                self.stages_waiting[name] = why

    def wait_for(self, waiting: dict[str, tuple[int, str]]) -> None:
        """Add an indexing batch's files left waiting for a model (``IndexReport.waiting``)."""
        for model, (n, fix) in waiting.items():
            had, _ = self.waiting.get(model, (0, fix))
            self.waiting[model] = (had + n, fix)

    def warnings(self) -> tuple[str, ...]:
        from engine.indexing.analyzers import get_analyzer

        out = [f"{n} files wait for {m}: {fix}" for m, (n, fix) in self.waiting.items()]
        for name, why in self.stages_waiting.items():
            an = get_analyzer(name)
            out.append(f"{(an.label if an else name).capitalize()} waits: {why}")
        return tuple(out)
