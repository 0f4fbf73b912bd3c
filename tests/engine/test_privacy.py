"""The data folder is private to its user (issue 12 row 10): made 0700 with 0600 files under the usual
umask 022, and an existing one that others could read is tightened on open, with a note in the log."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.media import make_library

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_a_new_library_is_private(
    tmp_path: Path, tiny_models: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None, capsys
) -> None:
    home = tmp_path / "data" / "lookalike"
    monkeypatch.setenv("LOOKALIKE_HOME", str(home))
    monkeypatch.setenv("LOOKALIKE_MODELS", str(tiny_models))
    make_library(tmp_path / "pics", 3)
    assert main(["index", "--json", "--fast", str(tmp_path / "pics")]) == 0
    assert json.loads(capsys.readouterr().out)["indexed"] == 3

    assert mode(home) == 0o700
    assert mode(home.parent) == 0o755  # parents are not ours to change
    for name in ("catalog.sqlite", "settings.toml", "library.lock"):
        assert mode(home / name) == 0o600, name
    for suffix in ("-wal", "-shm"):  # SQLite gives them the database's mode (while it is open)
        side = home / f"catalog.sqlite{suffix}"
        if side.exists():
            assert mode(side) == 0o600, side
    for name in ("vectors.db", "thumbnails"):
        assert mode(home / name) == 0o700, name
    # Whatever is below: nobody else can reach it, whatever its own bits.
    for p in home.rglob("*"):
        assert not p.is_symlink()
    assert not mode(home) & 0o077


def test_an_existing_readable_library_is_tightened_on_open(
    home: Path, tmp_path: Path, umask_022: None, caplog, capsys
) -> None:
    make_library(tmp_path / "pics", 2)
    assert main(["index", "-q", "--fast", str(tmp_path / "pics")]) == 0
    capsys.readouterr()
    # As an older Lookalike left it: everything readable by others.
    for p in [home, *home.rglob("*")]:
        if not p.is_symlink():
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    (home / "logs").mkdir()
    (home / "logs" / "lookalike.log").write_text("a log line\n")
    os.chmod(home / "logs" / "lookalike.log", 0o644)
    outside = tmp_path / "pics" / "photo_000.jpg"
    link = home / "link-to-a-photo"
    link.symlink_to(outside)
    outside_mode = mode(outside)

    with caplog.at_level(logging.WARNING, logger="engine.storage.privacy"):
        assert main(["status"]) == 0
    assert any("private" in r.getMessage() for r in caplog.records)
    for p in [home, *home.rglob("*")]:
        if p.is_symlink():
            continue
        want = 0o700 if p.is_dir() else 0o600
        assert mode(p) & 0o077 == 0, p
        if p.parent == home or p == home:
            assert mode(p) == want, p
    assert mode(outside) == outside_mode  # a link is never followed

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="engine.storage.privacy"):
        assert main(["status"]) == 0
    assert not caplog.records  # said once


def test_settings_are_saved_private_even_over_a_readable_file(tmp_path: Path, umask_022: None) -> None:
    from engine.storage.settings import Settings

    home = tmp_path / "h"
    home.mkdir(mode=0o755)
    (home / "settings.toml").write_text("workers = 2\n")
    os.chmod(home / "settings.toml", 0o644)
    s = Settings.load(home)
    s.store_token = "secret"
    s.save()
    assert mode(home / "settings.toml") == 0o600
    assert mode(home) == 0o700
