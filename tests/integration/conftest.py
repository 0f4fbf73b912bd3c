"""Fixtures for the desktop-integration tests: a throwaway user home with its XDG folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty ``$HOME`` with the XDG variables pointing into it (and system config dirs that are
    empty, so the machine's own /etc/xdg/Thunar/uca.xml does not leak in)."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "etc-xdg"))
    return home


def snapshot(root: Path, *, times: bool = False) -> dict[str, tuple]:
    """Everything under ``root``: kind, permission bits and content of each entry (and mtimes when
    ``times``), keyed by relative path. Two equal snapshots mean nothing visible changed."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            kind = "dir" if p.is_dir() else "file"
            entry: tuple = (kind, st.st_mode & 0o7777, None if kind == "dir" else p.read_bytes())
            if times:
                entry += (st.st_mtime_ns,)
            out[rel] = entry
    return out
