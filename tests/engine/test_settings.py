"""Settings are type-checked on load: a wrong value is one clear line naming the key, the value and what
is expected, never a traceback later (and never a scan of ``/`` for ``folders = "/tmp/lib"``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.errors import LookalikeError
from engine.storage.settings import Settings


def write(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "settings.toml").write_text(text, encoding="utf-8")


BAD = [
    ('folders = "/tmp/lib"', "folders", "list"),
    ("folders = [1, 2]", "folders", "string"),
    ('folders = ["relative/pics"]', "folders", "absolute"),
    ('workers = "four"', "workers", "whole number"),
    ("workers = -3", "workers", "whole number"),
    ("workers = 2.5", "workers", "whole number"),
    ("workers = true", "workers", "whole number"),
    ("excludes = 5", "excludes", "list"),
    ('excludes = ["*.tmp", 3]', "excludes", "string"),
    ("store_uri = 123", "store_uri", "string"),
    ("store_token = []", "store_token", "string"),
    ("device = 7", "device", "auto"),
    ('device = "tpu9"', "device", "auto"),
    ('device = "cuda:x"', "device", "auto"),
    ('image_precision = "fp64"', "image_precision", "int8"),
    ('keep_running_in_tray = "yes"', "keep_running_in_tray", "true or false"),
    ("image_text_model = 3", "image_text_model", "string"),
]


@pytest.mark.parametrize(("line", "key", "expected"), BAD, ids=[b[0] for b in BAD])
def test_a_wrong_value_is_one_line_naming_key_value_and_expectation(
    tmp_path: Path, line: str, key: str, expected: str
) -> None:
    write(tmp_path, line + "\n")
    with pytest.raises(LookalikeError) as err:
        Settings.load(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    assert key in msg and expected in msg
    assert line.split("=", 1)[1].strip().strip('"') in msg  # the value as written
    assert str(tmp_path / "settings.toml") in msg


GOOD = [
    ('device = "cuda:1"', "device", "cuda:1"),
    ('device = "CPU"', "device", "cpu"),
    ('device = "mps"', "device", "mps"),
    ("workers = 0", "workers", 0),
    ("workers = 6", "workers", 6),
    ('image_precision = "fp32"', "image_precision", "fp32"),
    ("excludes = []", "excludes", []),
]


@pytest.mark.parametrize(("line", "key", "value"), GOOD, ids=[g[0] for g in GOOD])
def test_good_values_load(tmp_path: Path, line: str, key: str, value: object) -> None:
    write(tmp_path, line + "\n")
    assert getattr(Settings.load(tmp_path), key) == value


def test_a_folder_with_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    write(tmp_path / "h", 'folders = ["~/Pictures"]\n')
    assert Settings.load(tmp_path / "h").folders == [str(tmp_path / "me" / "Pictures")]


def test_settings_file_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "settings.toml").mkdir()
    with pytest.raises(LookalikeError, match="settings.toml.*is a folder"):
        Settings.load(tmp_path)


def test_unknown_keys_are_kept_and_warned_about_not_fatal(tmp_path: Path, caplog) -> None:
    write(tmp_path, 'colour = "blue"\nwatch_polling = true\n')
    with caplog.at_level(logging.WARNING, logger="engine.storage.settings"):
        s = Settings.load(tmp_path)
    assert s.extra == {"colour": "blue", "watch_polling": True}
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "colour" in warned and "watch_polling" not in warned  # a key the engine reads is known
    s.save()
    assert 'colour = "blue"' in (tmp_path / "settings.toml").read_text()


def test_cli_prints_the_message_and_exits_1_without_scanning_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    home = tmp_path / "home"
    write(home, 'folders = "/tmp/lib"\n')
    monkeypatch.setenv("LOOKALIKE_HOME", str(home))
    import engine.indexing.scan as scan_mod

    def no_scan(*a: object, **k: object) -> None:
        raise AssertionError("scanned despite bad settings")

    monkeypatch.setattr(scan_mod, "scan", no_scan)
    for argv in (["index"], ["status"], ["search", "x"], ["models", "list"]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code == 1, argv
        assert err.startswith("lookalike: ") and "folders" in err and "/tmp/lib" in err
        assert len(err.strip().splitlines()) == 1
    assert not (home / "catalog.sqlite").exists()  # nothing was opened


def test_app_session_reports_the_message(tmp_path: Path) -> None:
    from desktop.session import open_session

    home = tmp_path / "home"
    write(home, "workers = -3\n")
    with pytest.raises(LookalikeError, match="workers"):
        open_session(home, warm_up=False)
