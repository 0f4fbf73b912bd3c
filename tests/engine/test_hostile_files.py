"""Files that used to stop a whole library (issue 12, rows 1 and 2): a name that is not valid UTF-8 and a
sound whose samples overflow the model. Each must be indexed (or fail alone, with its reason) while the
rest of the library is indexed as usual, on every run."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from engine.cli.main import main
from engine.library import Library
from engine.storage import catalog as cat
from tests.engine.test_audio_decode import make_sound

needs_bytes_names = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="this file system only takes valid Unicode names"
)


def photo(path: Path, color: tuple[int, int, int]) -> None:
    Image.new("RGB", (64, 48), color).save(path, quality=90)


def cli_json(capsys: pytest.CaptureFixture[str], *args: str):
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@needs_bytes_names
def test_a_name_that_is_not_utf8_is_indexed_like_any_other(home: Path, tmp_path: Path, capsys) -> None:
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        photo(lib_dir / f"ok{i}.jpg", color)
    # A Latin-1 name from an old drive: the byte 0xff is not UTF-8.
    bad = os.fsdecode(os.path.join(os.fsencode(lib_dir), b"caf\xe9 \xff.jpg"))
    photo(Path(bad), (220, 220, 20))

    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["indexed"] == 4 and summary["failed"] == 0

    with Library.open(home) as lib:
        row = lib.catalog.by_path(bad)
        assert row is not None and row.state == cat.INDEXED
        # Stored faithfully: the same bytes come back, so the file can be opened again by its path.
        assert os.fsencode(row.path) == os.path.join(os.fsencode(lib_dir), b"caf\xe9 \xff.jpg")
        assert Path(row.path).is_file()
        assert len(lib.catalog.under(str(lib_dir))) == 4

    # A second run sees nothing new (the odd row is found again, not re-added).
    again = cli_json(capsys, "index", str(lib_dir))
    assert again["indexed"] == 0 and again["failed"] == 0

    # Searching by example finds it, and the plain-text output prints its name escaped, not a crash.
    results = cli_json(capsys, "similar", bad, "-n", "4")
    assert all(isinstance(r["path"], str) for r in results)
    assert main(["status"]) == 0
    out, _ = capsys.readouterr()
    assert "indexed" in out

    # Renaming it to a valid name follows the move; deleting it removes its row.
    os.rename(bad, lib_dir / "renamed.jpg")
    moved = cli_json(capsys, "index", str(lib_dir))
    assert moved["failed"] == 0
    with Library.open(home) as lib:
        assert lib.catalog.by_path(bad) is None
        assert lib.catalog.by_path(str(lib_dir / "renamed.jpg")).state == cat.INDEXED


@needs_bytes_names
def test_a_non_utf8_folder_name_is_scanned(home: Path, tmp_path: Path, capsys) -> None:
    lib_dir = tmp_path / "lib"
    odd = os.fsdecode(os.path.join(os.fsencode(lib_dir), b"\x8e\xa9\x91\xee"))  # Shift-JIS bytes
    os.makedirs(odd)
    photo(Path(odd) / "a.jpg", (10, 120, 200))
    photo(lib_dir / "b.jpg", (200, 120, 10))
    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["indexed"] == 2
    with Library.open(home) as lib:
        assert {Path(r.path).name for r in lib.catalog.under(odd)} == {"a.jpg"}
        assert len(lib.catalog.under(str(lib_dir))) == 2


def test_a_sound_of_huge_samples_does_not_stop_the_library(home: Path, tmp_path: Path, capsys) -> None:
    lib_dir = tmp_path / "sounds"
    lib_dir.mkdir()
    for i, kind in enumerate(["tone", "white", "chirp"]):
        sf.write(lib_dir / f"{i}_{kind}.wav", make_sound(kind, 32_000, 3.0, seed=i), 32_000)
    rng = np.random.default_rng(0)
    loud = (rng.choice([-1.0, 1.0], size=32_000 * 3) * 3e38).astype(np.float32)
    sf.write(lib_dir / "1_overflow.wav", loud, 32_000, subtype="FLOAT")

    summary = cli_json(capsys, "index", str(lib_dir))
    # The loud file is indexed too (its samples are clipped to a few times full scale), and above all
    # the files after it are: nothing is left pending to crash the next run.
    assert summary["indexed"] + summary["failed"] == 4
    assert summary["indexed"] >= 3
    with Library.open(home) as lib:
        assert not lib.catalog.in_state(cat.PENDING)
    again = cli_json(capsys, "index", str(lib_dir))
    assert again["indexed"] == 0 and again["failed"] == 0


def test_any_error_from_one_file_becomes_its_failure(
    home: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that refuses one file's vectors (here: a ValueError, as for non-finite vectors) fails that
    file with the reason; the others are indexed."""
    from engine.storage.store import VectorStore

    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    for i, color in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        photo(lib_dir / f"p{i}.jpg", color)
    real = VectorStore.upsert
    refused: list[int] = []

    def upsert(self, collection, *, ids, file_ids, **kw):  # type: ignore[no-untyped-def]
        # One file's vectors are bad: every write that holds them is refused (a batch of files too).
        if not refused:
            refused.append(file_ids[0])
        if refused[0] in file_ids:
            raise ValueError("vectors must be finite and non-zero (cosine is undefined otherwise)")
        return real(self, collection, ids=ids, file_ids=file_ids, **kw)

    monkeypatch.setattr(VectorStore, "upsert", upsert)
    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["indexed"] == 2 and summary["failed"] == 1
    with Library.open(home) as lib:
        failed = lib.catalog.in_state(cat.FAILED)
        assert len(failed) == 1 and "finite" in (failed[0].error or "")


def test_output_cut_short_by_the_reader_is_not_a_traceback(home: Path, tmp_path: Path) -> None:
    """``lookalike search … | head -1``: the pipe closes early; the command stops quietly."""
    import subprocess

    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    for i in range(30):
        photo(lib_dir / f"p{i:02d}.jpg", (i * 8, 100, 200 - i * 5))
    assert main(["index", str(lib_dir), "--fast"]) == 0
    env = {**os.environ, "LOOKALIKE_HOME": str(home)}
    code = "import sys; from engine.cli.main import main; sys.exit(main(['search', 'a photo', '-n', '30']))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first line (as `| head` is after its lines)
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
