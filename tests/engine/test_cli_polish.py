"""What a person sees on a real library, small things: a clip whose container says 1970-01-01 (ffmpeg's
"no date") is not dated 1970, nothing to index says so without an empty bar, and counts are in words
("1 file")."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.media.metadata import parse_iso_datetime
from tests.media import save_photo
from tests.metagen import save_tagged_video

MTIME = 1705312800  # 2024-01-15


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_epoch_creation_times_are_no_dates() -> None:
    assert parse_iso_datetime("1970-01-01T00:00:00.000000Z") is None
    assert parse_iso_datetime("1904-01-01 00:00:00") is None
    assert parse_iso_datetime("1970-01-02T10:00:00Z") is not None  # a real (if old) day stays
    assert parse_iso_datetime("2005-10-26T13:50:16.000000Z") is not None


def test_a_clip_with_no_date_set_is_dated_by_its_file(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = tmp_path / "clips"
    clip = save_tagged_video(clips / "sheep.mp4", 1, tags={"creation_time": "1970-01-01T00:00:00.000000Z"})
    os.utime(clip, (MTIME, MTIME))
    code, out, err = run(capsys, "index", str(clips))
    assert code == 0, err
    code, out, err = run(capsys, "search", "--before", "2000", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, err = run(capsys, "search", "--after", "2024", "--json")
    reasons = [r["reason"] for r in json.loads(out)]
    assert reasons == ["modified 2024-01-15"], reasons


def test_index_says_nothing_new_and_counts_in_words(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pics = tmp_path / "pics"
    save_photo(pics / "one.jpg", 1, quality=90)
    code, out, err = run(capsys, "index", str(pics))
    assert code == 0, err
    assert "Indexed 1 file in" in out and "Reading dates and places: 1 file done, 0 failed." in out
    code, out, err = run(capsys, "index")
    assert code == 0, err
    assert "Nothing new to index." in out and "Indexed 0 files" not in out
    assert "0file" not in err  # no empty progress bar


def test_files_written_inside_the_private_folder_raise_no_alarm(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The vector server writes its files with the umask's mode inside the 0700 data folder: nobody else
    can reach them, so opening the library tightens them without telling the user on every start that
    files 'were readable by other users'."""
    import logging
    import stat

    pics = tmp_path / "pics"
    save_photo(pics / "one.jpg", 1, quality=90)
    assert run(capsys, "index", "-q", "--fast", str(pics))[0] == 0
    assert not stat.S_IMODE(home.stat().st_mode) & 0o077
    inside = home / "vectors.db" / "server.log"
    inside.parent.mkdir(exist_ok=True)
    inside.write_text("a line\n")
    os.chmod(inside.parent, 0o755)
    os.chmod(inside, 0o644)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="engine.storage.privacy"):
        code, out, err = run(capsys, "status")
    assert code == 0
    alarms = [r for r in caplog.records if r.name == "engine.storage.privacy"]
    assert not alarms and "readable by other users" not in err
    assert not stat.S_IMODE(inside.stat().st_mode) & 0o077  # tightened all the same
