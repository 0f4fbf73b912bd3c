"""What every stage of watching asks of a path: which library folder holds it, and is it excluded."""

from __future__ import annotations

import os
from collections.abc import Iterable

from engine.media.kinds import is_excluded


def root_of(path: str, folders: Iterable[str]) -> str | None:
    """The library folder that contains ``path`` (the innermost one when folders nest), or None."""
    best: str | None = None
    for f in folders:
        if (path == f or path.startswith(f.rstrip(os.sep) + os.sep)) and (best is None or len(f) > len(best)):
            best = f
    return best


def is_excluded_path(path: str, root: str, excludes: list[str]) -> bool:
    """True if any part of ``path`` below ``root`` matches an exclusion pattern (``.git``, ``*.part`` …)."""
    rel = path[len(root) :].lstrip(os.sep)
    return any(is_excluded(part, excludes) for part in rel.split(os.sep) if part)
