"""End to end on photos, through the CLI a user types and the engine it drives (tiny models)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.media import make_library, recompressed_copy, save_photo


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def index_json(capsys: pytest.CaptureFixture[str], *folders: Path) -> dict:
    code, out, err = run_cli(capsys, "index", "--json", *map(str, folders))
    assert code == 0, err
    return json.loads(out)


def catalog_rows(home: Path) -> dict[str, tuple[str, str | None]]:
    from engine.storage.catalog import Catalog

    c = Catalog(home / "catalog.sqlite")
    try:
        return {r.path: (r.state, r.error) for r in c.iter_all()}
    finally:
        c.close()


def test_index_then_search_returns_the_folder_files(home: Path, tmp_path: Path, capsys) -> None:
    photos = make_library(tmp_path / "pics", 6)
    summary = index_json(capsys, tmp_path / "pics")
    assert summary["indexed"] == 6 and summary["failed"] == 0

    code, out, _ = run_cli(capsys, "search", "a red car", "--json", "-n", "10")
    assert code == 0
    found = {r["path"] for r in json.loads(out)}
    assert found == {str(p.resolve()) for p in photos}
    assert all(r["kind"] == "photo" for r in json.loads(out))

    code, out, _ = run_cli(capsys, "search", "a red car", "-n", "3")
    assert code == 0 and len(out.strip().splitlines()) == 3


def test_recompressed_copy_is_nearest_neighbour(home: Path, tmp_path: Path, capsys) -> None:
    photos = make_library(tmp_path / "pics", 8)
    index_json(capsys, tmp_path / "pics")
    for target in (photos[2], photos[5]):
        outside = recompressed_copy(target, tmp_path / "elsewhere" / f"copy of {target.name}")
        code, out, err = run_cli(capsys, "similar", str(outside), "--json", "-n", "3")
        assert code == 0, err
        results = json.loads(out)
        assert results[0]["path"] == str(target.resolve())
        assert results[0]["score"] > results[1]["score"]


def test_similar_on_an_indexed_file_leaves_itself_out(home: Path, tmp_path: Path, capsys) -> None:
    photos = make_library(tmp_path / "pics", 5)
    copy = recompressed_copy(photos[1], tmp_path / "pics" / "zz_copy.jpg")
    index_json(capsys, tmp_path / "pics")
    code, out, _ = run_cli(capsys, "similar", str(photos[1]), "--json", "-n", "2")
    results = json.loads(out)
    assert str(photos[1].resolve()) not in [r["path"] for r in results]
    assert results[0]["path"] == str(copy.resolve())


def test_reindex_unchanged_folder_embeds_nothing(home: Path, tmp_path: Path, capsys) -> None:
    make_library(tmp_path / "pics", 4)
    assert index_json(capsys, tmp_path / "pics")["indexed"] == 4
    again = index_json(capsys)
    assert again["indexed"] == 0 and again["scan"]["added"] == 0 and again["scan"]["changed"] == 0


def test_modified_file_is_reembedded_and_deleted_file_disappears(home: Path, tmp_path: Path, capsys) -> None:
    photos = make_library(tmp_path / "pics", 5)
    index_json(capsys, tmp_path / "pics")
    # Replace photo 0 with a picture of another scene, and delete photo 3.
    save_photo(photos[0], seed=999, quality=90)
    os.utime(photos[0], (time.time() + 5, time.time() + 5))
    photos[3].unlink()
    summary = index_json(capsys)
    assert summary["scan"]["changed"] == 1 and summary["scan"]["removed"] == 1
    assert summary["indexed"] == 1

    probe = save_photo(tmp_path / "probe" / "scene999.png", seed=999)
    code, out, _ = run_cli(capsys, "similar", str(probe), "--json", "-n", "10")
    results = json.loads(out)
    assert results[0]["path"] == str(photos[0].resolve())
    assert str(photos[3].resolve()) not in {r["path"] for r in results}
    assert len(results) == 4


def test_renamed_file_keeps_its_vectors(home: Path, tmp_path: Path, capsys) -> None:
    photos = make_library(tmp_path / "pics", 3)
    index_json(capsys, tmp_path / "pics")
    moved = tmp_path / "pics" / "sub" / "renamed.jpg"
    moved.parent.mkdir()
    photos[1].rename(moved)
    summary = index_json(capsys)
    assert summary["scan"]["moved"] == 1 and summary["indexed"] == 0
    rows = catalog_rows(home)
    assert rows[str(moved.resolve())][0] == "indexed" and str(photos[1].resolve()) not in rows


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Each bad file and a word its error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    bad: dict[str, str] = {}
    (folder / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty"
    good = save_photo(folder / "tmp_full.jpg", 7, quality=90).read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "tmp_full.jpg").unlink()
    bad["truncated.jpg"] = "truncated"
    (folder / "notes.jpg").write_text("this is a text file, not a photo\n")
    bad["notes.jpg"] = "not a readable image"
    # A decompression bomb: a tiny PNG that claims 30000 x 30000 pixels.
    from PIL import Image

    Image.new("1", (30000, 30000)).save(folder / "bomb.png", optimize=True)
    bad["bomb.png"] = "too large"
    locked = save_photo(folder / "locked.jpg", 8)
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # running as root: permissions do not stop us
        locked.chmod(0o644)
    else:
        bad["locked.jpg"] = "permission"
    return bad


def test_bad_inputs_fail_with_reasons_and_the_rest_is_indexed(home: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mixed"
    bad = _bad_inputs(folder)
    odd_names = ["beach 🏖️ day.jpg", "two  spaces .jpg", "new\nline.jpg", "ünïcödé.png"]
    for i, name in enumerate(odd_names):
        save_photo(folder / name, 100 + i, quality=90)
    summary = index_json(capsys, folder)
    rows = catalog_rows(home)
    for name, word in bad.items():
        state, error = rows[str((folder / name).resolve())]
        assert state == "failed", name
        assert word in error.lower(), (name, error)
    for name in odd_names:
        assert rows[str((folder / name).resolve())] == ("indexed", None), name
    assert summary["failed"] == len(bad)
    assert {Path(f["path"]).name for f in summary["failures"]} == set(bad)

    code, out, _ = run_cli(capsys, "status")
    assert "truncated.jpg" in out and "failed" in out
    # Fixing a file and retrying indexes it.
    save_photo(folder / "truncated.jpg", 55, quality=90)
    run_cli(capsys, "retry")
    assert index_json(capsys)["indexed"] >= 1
    assert catalog_rows(home)[str((folder / "truncated.jpg").resolve())][0] == "indexed"


def test_missing_model_says_which_and_how(bare_home: Path, tmp_path: Path, capsys) -> None:
    make_library(tmp_path / "pics", 2)
    summary = index_json(capsys, tmp_path / "pics")
    assert summary["indexed"] == 0
    assert "uform3-image-text-english-small" in summary["waiting"]
    assert "lookalike models download" in summary["waiting"]["uform3-image-text-english-small"]["fix"]
    code, _, err = run_cli(capsys, "search", "cat")
    assert code != 0
    assert "lookalike models download uform3-image-text-english-small" in err
    assert len(err.strip().splitlines()) == 1


def _cli(home: Path, *args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, LOOKALIKE_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_second_process_gets_a_clear_message(home: Path, tmp_path: Path) -> None:
    from engine.library import Library

    make_library(tmp_path / "pics", 1)
    with Library.open(home):
        proc = _cli(home, "index", str(tmp_path / "pics"))
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "open in another Lookalike process" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_sigkill_mid_indexing_loses_nothing(home: Path, tmp_path: Path) -> None:
    from engine.storage.catalog import Catalog

    n = 60
    make_library(tmp_path / "pics", n)
    proc = _cli(home, "index", "--quiet", str(tmp_path / "pics"))
    # Kill once some files are indexed (the catalog is readable while the indexer runs: WAL).
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if (home / "catalog.sqlite").exists():
            c = Catalog(home / "catalog.sqlite")
            done = c.counts().get(("photo", "indexed"), 0)
            c.close()
            if done >= 5:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    finish = _cli(home, "index", "--json")
    out, err = finish.communicate(timeout=300)
    assert finish.returncode == 0, err
    summary = json.loads(out)
    rows = catalog_rows(home)
    assert len(rows) == n and all(state == "indexed" for state, _ in rows.values())
    assert summary["scan"]["added"] == 0

    from engine.library import Library

    with Library.open(home) as lib:
        assert lib.store.count(lib.image_collection) == n  # no duplicate vectors
