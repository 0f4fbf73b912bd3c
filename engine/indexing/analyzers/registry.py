"""Which analyzers there are: the built-in modules, loaded once, and the lists the runner and the CLI
read (in run order). Apart from base.py so that the interface never imports the analyzers built on it.
"""

from __future__ import annotations

import importlib
import logging
import threading

from engine.indexing.analyzers.base import ANALYZERS, Analyzer, _lock

#: Every built-in analyzer module; each registers its analyzer when imported. A new one is one line here.
BUILTIN_MODULES: tuple[str, ...] = (
    "engine.indexing.analyzers.embeddings",
    "engine.indexing.analyzers.metadata",
    "engine.indexing.analyzers.speech",
    "engine.indexing.analyzers.hashes",
    "engine.indexing.analyzers.ocr",
    "engine.indexing.analyzers.reembed",
)

_loaded_builtins = False
_load_lock = threading.Lock()


def load_builtins() -> None:
    """Import every built-in analyzer module once (cheap after the first call). One module's missing
    optional dependency is logged and the others still load."""
    global _loaded_builtins
    if _loaded_builtins:
        return
    with _load_lock:
        if _loaded_builtins:
            return
        for module in BUILTIN_MODULES:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                logging.getLogger(__name__).warning("analyzer module %s not loaded: %s", module, exc)
        _loaded_builtins = True


def _loaded() -> list[Analyzer]:
    load_builtins()
    with _lock:
        return sorted(ANALYZERS.values(), key=lambda a: (a.priority, a.name))


def all_analyzers() -> list[Analyzer]:
    """Every analyzer, in run order (priority, then name)."""
    return _loaded()


def analyzers_for(kind: str) -> list[Analyzer]:
    """The analyzers that take files of ``kind`` (a Kind value), in run order."""
    kind = getattr(kind, "value", kind)
    return [a for a in _loaded() if kind in a.kinds]


def slow_analyzers() -> list[Analyzer]:
    """The analyzers run by run_pending_analyses (everything but the embeddings), in run order."""
    return [a for a in _loaded() if not a.embedding]


def get_analyzer(name: str) -> Analyzer | None:
    _loaded()
    return ANALYZERS.get(name)
