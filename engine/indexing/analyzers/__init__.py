"""Analyzers: the things Lookalike learns about each file (see base.py for the interface).

Importing this package registers the built-in analyzers. A new analyzer module registers itself at
import and is listed in registry.BUILTIN_MODULES (one line), so the registry always holds every analyzer, and
no heavy library is imported here (each analyzer imports its model inside ``analyze``/``ready``).
"""

from __future__ import annotations

from engine.indexing.analyzers.base import ANALYZERS, Analyzer, Inputs, register, unregister
from engine.indexing.analyzers.registry import (
    BUILTIN_MODULES,
    all_analyzers,
    analyzers_for,
    get_analyzer,
    load_builtins,
    slow_analyzers,
)

load_builtins()

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
