"""Analyzers: the things Lookalike learns about each file (see base.py for the interface).

Importing this package registers the built-in analyzers. A new analyzer module registers itself at
import and is listed in BUILTIN_MODULES (one line), so the registry always holds every analyzer, and
no heavy library is imported here (each analyzer imports its model inside ``analyze``/``ready``).
"""

from __future__ import annotations

import importlib
import logging

from engine.indexing.analyzers.base import (
    ANALYZERS,
    Analyzer,
    Inputs,
    all_analyzers,
    analyzers_for,
    get_analyzer,
    register,
    slow_analyzers,
    unregister,
)

BUILTIN_MODULES: tuple[str, ...] = (
    "engine.indexing.analyzers.embeddings",
    "engine.indexing.analyzers.metadata",
    "engine.indexing.analyzers.speech",
    "engine.indexing.analyzers.hashes",
    "engine.indexing.analyzers.ocr",
)

for _module in BUILTIN_MODULES:
    try:
        importlib.import_module(_module)
    except ImportError as _exc:  # one analyzer's missing optional dependency must not stop the others
        logging.getLogger(__name__).warning("analyzer module %s not loaded: %s", _module, _exc)

__all__ = [
    "ANALYZERS",
    "BUILTIN_MODULES",
    "Analyzer",
    "Inputs",
    "all_analyzers",
    "analyzers_for",
    "get_analyzer",
    "register",
    "slow_analyzers",
    "unregister",
]
