"""What an installed model's files look like on disk, cheaply: a stamp that changes when they change.

A model that is present but cannot be loaded (a damaged ``model.bin``, a converter's output of another
version) is not the fault of the files waiting for it, and nothing can be done about it until the user
installs it again. The stamp lets a caller remember "this copy does not load" and notice, from one
``stat`` per file, that a new copy arrived (``models download --force``, ``models install --from``,
files copied in by hand), so the work waiting for the model is taken up without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path

#: (file name, size, mtime in ns) of every file in the model's folder, sorted by name.
Stamp = tuple[tuple[str, int, int], ...]


def folder_stamp(folder: Path) -> Stamp:
    """The stamp of the files directly in ``folder``; () when the folder is missing or unreadable."""
    out: list[tuple[str, int, int]] = []
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                try:
                    if e.is_file():
                        st = e.stat()
                        out.append((e.name, int(st.st_size), int(st.st_mtime_ns)))
                except OSError:  # removed while listing: the next stamp says so
                    continue
    except OSError:
        return ()
    return tuple(sorted(out))


def model_stamp(models_dir: Path, model_id: str) -> Stamp:
    """The stamp of model ``model_id``'s folder in ``models_dir``."""
    return folder_stamp(Path(models_dir) / model_id)


def stamp_text(stamp: Stamp) -> str:
    """A stamp as one line of text (what a catalog meta value stores)."""
    return ";".join(f"{n}:{s}:{m}" for n, s, m in stamp)
