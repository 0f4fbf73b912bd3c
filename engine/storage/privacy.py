"""The data folder is private to its user: the folder and its subfolders 0700, its files 0600.

A library lists a person's files and holds their thumbnails (and ``settings.toml`` may hold a server
token), so with the usual umask 022 every local user could read it. :func:`make_private_home` creates
the folder 0700 and tightens an existing one on open. The folder's own 0700 is what keeps others out
(nobody else can even traverse it); the files' 0600 is defence in depth, for a folder later copied or
re-permissioned.

Cost on every open: the folder and its top-level entries (a dozen ``stat`` calls). A walk of the whole
tree (100k thumbnails) happens only when something at the top was found open to others: a library made
before this check, or by hand. Files that other components create later inside a private subfolder
(Milvus Lite's segments, thumbnails) may carry the umask's 0644, yet cannot be reached through it.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
#: Permission bits that let the group or other users in.
_OPEN_TO_OTHERS = 0o077


def create_private_file(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 if it does not exist (SQLite then gives its -wal and
    -shm files the database's own mode). Raises OSError when it cannot be created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def make_private_dir(path: Path) -> None:
    """Create folder ``path`` (and missing parents inside an existing one) as 0700; tighten it if it
    exists. Raises OSError when it cannot be created."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, [])


def make_private_home(home: Path, subfolders: tuple[str, ...] = ()) -> list[str]:
    """Create the data folder ``home`` 0700 (its parents keep the umask's mode) and its ``subfolders``
    0700; tighten an existing folder, its top-level entries, and everything below an entry that was
    open to others. Returns the paths made private (logged once, as a note).

    Entries that cannot be changed (another owner, a read-only disk) are logged and left; symbolic links
    are never followed. Raises OSError only when ``home`` itself cannot be created.
    """
    home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if os.name == "nt":  # Windows: the user profile's ACLs already keep others out; chmod cannot
        return []
    changed: list[str] = []
    home_was_open = _tighten(home, changed)
    for name in subfolders:
        sub = home / name
        if not sub.exists() and not sub.is_symlink():
            try:
                sub.mkdir(mode=PRIVATE_DIR)
            except OSError as exc:
                log.warning("could not create %s: %s", sub, exc)
    try:
        entries = list(os.scandir(home))
    except OSError as exc:
        log.warning("could not list %s to check its permissions: %s", home, exc)
        entries = []
    for entry in entries:
        if entry.is_symlink():
            continue
        was_open = _tighten(Path(entry.path), changed)
        if (was_open or home_was_open) and entry.is_dir(follow_symlinks=False):
            _tighten_tree(Path(entry.path), changed)
    if changed and home_was_open:
        log.warning(
            "made the library folder %s private to its user: %d file(s) and folder(s) were readable "
            "by other users (now folders 0700, files 0600)",
            home,
            len(changed),
        )
    elif changed:
        # The folder itself was 0700, so nobody else could reach these (files a library wrote with the
        # umask's mode: the vector server's, thumbnails): tightened all the same, but no alarm to show
        # on every start.
        log.info("tightened %d entries inside the private library folder %s", len(changed), home)
    return changed


def _tighten_tree(root: Path, changed: list[str]) -> None:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in (*dirnames, *filenames):
            p = Path(dirpath, name)
            if not p.is_symlink():
                _tighten(p, changed)


def _tighten(path: Path, changed: list[str]) -> bool:
    """Remove group and other permissions from ``path`` (folders 0700, files 0600 at most); True when
    it had any. Failures are logged, not raised."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode) or not st.st_mode & _OPEN_TO_OTHERS:
        return False
    want = PRIVATE_DIR if stat.S_ISDIR(st.st_mode) else PRIVATE_FILE
    try:
        os.chmod(path, want)
    except OSError as exc:
        log.warning("could not make %s private: %s", path, exc)
        return True
    changed.append(str(path))
    return True
