"""Analyzers: the registry, per (file, analyzer) state in the catalog, the v3 -> v4 upgrade, and the
runner of the slower analyzers (with a test analyzer registered here)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from engine.core.progress import Progress
from engine.errors import DecodeError, ModelMissingError
from engine.indexing.analysis import analysis_counts, has_pending_analyses, run_pending_analyses
from engine.indexing.analyzers import (
    Analyzer,
    Inputs,
    all_analyzers,
    analyzers_for,
    register,
    slow_analyzers,
    unregister,
)
from engine.indexing.analyzers.embeddings import PHOTO_EMBEDDING, SOUND_EMBEDDING, VIDEO_EMBEDDING
from engine.library import Library
from engine.storage import analyses
from engine.storage import catalog as cat

REPO = Path(__file__).resolve().parents[2]
#: The runs below take only the analyzers registered here (the real ones have tests of their own).
MINE = ("test_bytes", "test_later")


class ByteCount(Analyzer):
    """Test analyzer: stores each file's byte count in a side table; fails on files that say 'bad'."""

    name = "test_bytes"
    kinds = frozenset({"photo", "sound"})
    needs = "file"
    produces = "a byte count per file"
    priority = 50
    label = "counting bytes"
    seen: ClassVar[list[str]] = []
    cancel_after: ClassVar[int | None] = None

    def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
        data = Path(row.path).read_bytes()
        ByteCount.seen.append(os.path.basename(row.path))
        if b"bad" in data:
            raise DecodeError("this file says bad")
        if b"boom" in data:
            raise ZeroDivisionError("division by zero")
        lib.catalog.execute("CREATE TABLE IF NOT EXISTS test_bytes (file_id INTEGER PRIMARY KEY, n INTEGER)")
        lib.catalog.execute("INSERT OR REPLACE INTO test_bytes VALUES (?, ?)", (row.id, len(data)))


class Later(Analyzer):
    """A second, lower-priority test analyzer: runs after ByteCount, on photos only."""

    name = "test_later"
    kinds = frozenset({"photo"})
    priority = 60
    label = "looking later"
    seen: ClassVar[list[str]] = []

    def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
        Later.seen.append(os.path.basename(row.path))


@pytest.fixture
def test_analyzers() -> Iterator[tuple[ByteCount, Later]]:
    ByteCount.seen, Later.seen = [], []
    a, b = register(ByteCount()), register(Later())
    yield a, b
    unregister(a.name)
    unregister(b.name)


def _files(folder: Path, names: dict[str, bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, data in names.items():
        (folder / name).write_bytes(data)
        out.append(folder / name)
    return out


def _add_indexed(lib: Library, paths: list[Path]) -> list[int]:
    """Catalog rows marked indexed as the pipeline leaves them (embedding done), without a model."""
    from engine.indexing.analyzers.embeddings import embedding_for
    from engine.media.kinds import kind_of

    ids = []
    for p in paths:
        st = p.stat()
        kind = kind_of(p).value  # type: ignore[union-attr]
        fid = lib.catalog.add(str(p), st.st_size, st.st_mtime, kind)
        an = embedding_for(kind)
        assert an is not None
        with lib.catalog.transaction():
            lib.catalog.mark_indexed(fid, digest=None, model="test")
            analyses.record(lib.catalog, fid, an.name, an.version, analyses.DONE)
        ids.append(fid)
    return ids


def _state(lib: Library, file_id: int, analyzer: str) -> tuple[str, str | None] | None:
    rows = lib.catalog.query(
        "SELECT state, error FROM analyses WHERE file_id=? AND analyzer=?", (file_id, analyzer)
    )
    return rows[0] if rows else None


# -- the registry ------------------------------------------------------------------------------------


def test_the_embeddings_are_the_first_analyzers_and_each_kind_has_one() -> None:
    names = [a.name for a in all_analyzers()]
    assert names[:3] == sorted(["photo_embedding", "sound_embedding", "video_embedding"])
    for kind, an in (("photo", PHOTO_EMBEDDING), ("video", VIDEO_EMBEDDING), ("sound", SOUND_EMBEDDING)):
        assert analyzers_for(kind)[0] is an
        assert an.embedding and an.priority == 0 and an.version >= 1 and an.label


def test_a_malformed_analyzer_is_refused() -> None:
    class NoKinds(Analyzer):
        name = "x"
        label = "x"

    with pytest.raises(ValueError, match="kinds"):
        register(NoKinds())

    class BadNeeds(Analyzer):
        name = "y"
        label = "y"
        kinds = frozenset({"photo"})
        needs = "telepathy"

    with pytest.raises(ValueError, match="needs"):
        register(BadNeeds())
    assert "x" not in {a.name for a in all_analyzers()} and "y" not in {a.name for a in all_analyzers()}


def test_the_package_imports_no_heavy_library() -> None:
    code = (
        "import sys, engine.indexing.analysis, engine.indexing.analyzers; "
        "heavy = {'torch', 'onnxruntime', 'pymilvus', 'av', 'rapidocr_onnxruntime', 'cv2', 'PIL'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the upgrade from schema 3 -----------------------------------------------------------------------


def _dump(db: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(db)
    try:
        return {
            "files": con.execute("SELECT * FROM files ORDER BY id").fetchall(),
            "meta": con.execute("SELECT * FROM meta ORDER BY key").fetchall(),
            "sound_tags": con.execute("SELECT * FROM sound_tags ORDER BY file_id").fetchall(),
        }
    finally:
        con.close()


def test_a_catalog_made_by_schema_3_code_is_upgraded_losing_nothing(tmp_path: Path) -> None:
    import numpy as np

    from tests.engine.legacy import catalog_v3

    db = tmp_path / "catalog.sqlite"
    old = catalog_v3.Catalog(db)
    ids = {
        name: old.add(f"/lib/{name}", 10 + i, 100.0 + i, kind)
        for i, (name, kind) in enumerate(
            [
                ("beach.jpg", "photo"),
                ("pending.jpg", "photo"),
                ("broken.jpg", "photo"),
                ("party.mp4", "video"),
                ("rain.wav", "sound"),
                ("away.jpg", "photo"),
                ("away broken.jpg", "photo"),
                ("away new.jpg", "photo"),
            ]
        )
    }
    for name in ("beach.jpg", "party.mp4", "rain.wav", "away.jpg"):
        old.mark_indexed(
            ids[name], digest=f"h-{name}", model="uform3-image-text-english-small", duration=None
        )
    old.mark_failed(ids["broken.jpg"], "truncated JPEG")
    old.mark_failed(ids["away broken.jpg"], "not a picture")
    old.set_tags(ids["rain.wav"], "panns-mobilenetv1", np.linspace(0, 1, 527))
    old.set_state([ids["away.jpg"], ids["away broken.jpg"], ids["away new.jpg"]], catalog_v3.OFFLINE)
    old.set_meta("library_id", "abc")
    old.close()
    before = _dump(db)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 3

    new = cat.Catalog(db)
    assert new.query("PRAGMA user_version")[0][0] == cat.SCHEMA_VERSION == 4
    after = _dump(db)
    assert after == before  # every row, column, tag and setting as it was
    assert new.search_names("beach") == [ids["beach.jpg"]]
    got = {
        (fid, a): (v, s, e)
        for fid, a, v, s, e in new.query("SELECT file_id, analyzer, version, state, error FROM analyses")
    }
    assert got == {
        (ids["beach.jpg"], "photo_embedding"): (1, "done", None),
        (ids["party.mp4"], "video_embedding"): (1, "done", None),
        (ids["rain.wav"], "sound_embedding"): (1, "done", None),
        (ids["broken.jpg"], "photo_embedding"): (1, "failed", "truncated JPEG"),
        (ids["away.jpg"], "photo_embedding"): (1, "done", None),
        (ids["away broken.jpg"], "photo_embedding"): (1, "failed", "not a picture"),
    }
    # Counted as the user sees them: nothing redone, the pending file still pending.
    assert analyses.counts(new, "photo_embedding", 1, {"photo"}, embedding=True) == {
        "done": 1,
        "pending": 1,
        "failed": 1,
    }
    # A slow analyzer is pending for every indexed file it takes, and for nothing else.
    assert analyses.counts(new, "test_bytes", 1, {"photo", "sound"}) == {"done": 0, "pending": 2, "failed": 0}
    assert {r.path for r in analyses.pending_rows(new, "test_bytes", 1, {"photo", "sound"})} == {
        "/lib/beach.jpg",
        "/lib/rain.wav",
    }
    new.close()
    # Opening again changes nothing more.
    again = cat.Catalog(db)
    assert len(again.query("SELECT * FROM analyses")) == 6
    again.close()


# -- running the slow analyzers ---------------------------------------------------------------------------


def test_pending_analyses_run_in_priority_then_file_order_and_record_each_outcome(
    bare_home: Path, tmp_path: Path, test_analyzers: tuple[ByteCount, Later]
) -> None:
    paths = _files(
        tmp_path / "lib",
        {"a.jpg": b"aaaa", "b.jpg": b"bad", "c.wav": b"cc", "d.jpg": b"boom", "e.mp4": b"video"},
    )
    events: list[tuple[str, int, int, int]] = []
    with Library.open(bare_home) as lib:
        ids = _add_indexed(lib, paths)
        lib.catalog.add(str(tmp_path / "lib" / "f.jpg"), 1, 1.0, "photo")  # pending: not embedded yet
        assert has_pending_analyses(lib, only=MINE)
        report = run_pending_analyses(
            lib, progress=lambda p: events.append((p.phase, p.total, p.done, p.failed)), only=MINE
        )
        assert (report.done, report.failed, report.cancelled) == (5, 2, False)
        assert ByteCount.seen == ["a.jpg", "b.jpg", "c.wav", "d.jpg"]  # the video is not its kind
        assert Later.seen == ["a.jpg", "b.jpg", "d.jpg"]  # after the higher priority, in file order
        assert report.by_analyzer == {"test_bytes": (2, 2), "test_later": (3, 0)}
        assert sorted(report.failures) == [
            ("test_bytes", str(paths[1]), "this file says bad"),
            ("test_bytes", str(paths[3]), "ZeroDivisionError: division by zero"),
        ]
        assert _state(lib, ids[0], "test_bytes") == ("done", None)
        assert _state(lib, ids[1], "test_bytes") == ("failed", "this file says bad")
        assert lib.catalog.query("SELECT file_id, n FROM test_bytes ORDER BY file_id") == [
            (ids[0], 4),
            (ids[2], 2),
        ]
        # One stage per analyzer, with its label and its own totals, then the end.
        assert events[0] == ("counting bytes", 4, 0, 0)
        assert ("counting bytes", 4, 2, 2) in events
        assert ("looking later", 3, 3, 0) in events
        assert events[-1][0] == "done"

        counts = analysis_counts(lib)
        assert counts["test_bytes"] == {"done": 2, "pending": 0, "failed": 2}
        assert counts["test_later"] == {"done": 3, "pending": 0, "failed": 0}
        assert counts["photo_embedding"] == {"done": 3, "pending": 1, "failed": 0}
        assert counts["video_embedding"] == {"done": 1, "pending": 0, "failed": 0}

        # Nothing left: a second run does nothing; a failure waits for retry.
        assert not has_pending_analyses(lib, only=MINE)
        again = run_pending_analyses(lib, only=MINE)
        assert (again.done, again.failed) == (0, 0) and len(ByteCount.seen) == 4
        assert lib.catalog.retry_failed() == 2
        assert analysis_counts(lib)["test_bytes"]["pending"] == 2
        retried = run_pending_analyses(lib, only="test_bytes")
        assert ByteCount.seen[4:] == ["b.jpg", "d.jpg"] and retried.failed == 2


def test_a_new_version_reruns_that_analyzer_alone_and_a_changed_file_reruns_all(
    bare_home: Path, tmp_path: Path, test_analyzers: tuple[ByteCount, Later], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _files(tmp_path / "lib", {"a.jpg": b"aaaa", "b.jpg": b"bb"})
    with Library.open(bare_home) as lib:
        ids = _add_indexed(lib, paths)
        run_pending_analyses(lib, only=MINE)
        ByteCount.seen.clear()
        Later.seen.clear()

        monkeypatch.setattr(Later, "version", 2)
        assert analysis_counts(lib)["test_later"]["pending"] == 2
        report = run_pending_analyses(lib, only=MINE)
        assert Later.seen == ["a.jpg", "b.jpg"] and ByteCount.seen == [] and report.done == 2

        # The content of b changes: the scan resets it, everything learnt from it goes.
        paths[1].write_bytes(b"bbbbbb")
        st = paths[1].stat()
        lib.catalog.add(str(paths[1]), st.st_size, st.st_mtime + 1, "photo")
        assert lib.catalog.query("SELECT analyzer FROM analyses WHERE file_id=?", (ids[1],)) == []
        assert lib.catalog.get(ids[1]).state == cat.PENDING  # type: ignore[union-attr]
        assert analysis_counts(lib)["test_bytes"] == {
            "done": 1,
            "pending": 0,
            "failed": 0,
        }  # not embedded yet

        # Removing a file drops its analyses.
        lib.catalog.remove([ids[0]])
        assert lib.catalog.query("SELECT * FROM analyses WHERE file_id=?", (ids[0],)) == []


def test_a_file_changed_while_analyzed_is_not_marked_done(
    bare_home: Path, tmp_path: Path, test_analyzers: tuple[ByteCount, Later]
) -> None:
    paths = _files(tmp_path / "lib", {"a.jpg": b"aaaa"})

    class Racing(ByteCount):
        name = "test_racing"
        label = "racing"

        def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
            lib.catalog.add(row.path, row.size + 1, row.mtime, row.kind)  # the watcher saw it change

    register(Racing())
    try:
        with Library.open(bare_home) as lib:
            (fid,) = _add_indexed(lib, paths)
            report = run_pending_analyses(lib, only=["test_racing"])
            assert report.done == 0 and _state(lib, fid, "test_racing") is None
    finally:
        unregister("test_racing")


def test_cancel_limit_readiness_and_a_missing_model(
    bare_home: Path, tmp_path: Path, test_analyzers: tuple[ByteCount, Later]
) -> None:
    paths = _files(tmp_path / "lib", {f"{i}.jpg": b"x" * (i + 1) for i in range(6)})
    with Library.open(bare_home) as lib:
        _add_indexed(lib, paths)

        n = [0]

        def stop_after_two() -> bool:
            return n[0] >= 2

        def count(p: Progress) -> None:
            n[0] = p.done + p.failed

        report = run_pending_analyses(lib, only="test_bytes", cancel=stop_after_two, progress=count)
        assert report.cancelled and report.done == 2
        resumed = run_pending_analyses(lib, only="test_bytes")
        assert resumed.done == 4 and ByteCount.seen == [f"{i}.jpg" for i in range(6)]  # none twice

        limited = run_pending_analyses(lib, limit=4, only=MINE)
        assert limited.done == 4 and limited.limited and Later.seen == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]

        class Off(Later):
            name = "test_off"
            label = "off"

            def ready(self, lib: Library) -> str | None:
                return "turned off by the setting ocr = false"

        class NoModel(Later):
            name = "test_nomodel"
            label = "no model"

            def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
                raise ModelMissingError("model tiny-ocr is not installed: lookalike models download tiny-ocr")

        class SeesCancel(Later):
            name = "test_sees_cancel"
            label = "sees cancel"

            def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
                if inputs():  # stops part way: its output is partial
                    return

        class OffForSounds(Off):
            name = "test_off_sounds"
            kinds = frozenset({"sound"})

        for a in (Off(), NoModel(), SeesCancel(), OffForSounds()):
            register(a)
        try:
            # Not said for an analyzer no file waits for (this library has no sounds).
            report = run_pending_analyses(lib, only=["test_off", "test_nomodel", "test_off_sounds"])
            assert report.waiting == {
                "test_off": "turned off by the setting ocr = false",
                "test_nomodel": "model tiny-ocr is not installed: lookalike models download tiny-ocr",
            }
            assert report.done == report.failed == 0
            assert analysis_counts(lib)["test_nomodel"] == {"done": 0, "pending": 6, "failed": 0}

            flips = iter([False, True])  # the runner's check passes, then analyze sees the cancel
            report = run_pending_analyses(lib, only="test_sees_cancel", cancel=lambda: next(flips, True))
            assert report.cancelled and report.done == 0
            assert analysis_counts(lib)["test_sees_cancel"]["pending"] == 6
        finally:
            for name in ("test_off", "test_nomodel", "test_sees_cancel", "test_off_sounds"):
                unregister(name)


def test_a_batch_analyzer_gets_groups_and_a_failing_batch_falls_back_to_single_files(
    bare_home: Path, tmp_path: Path
) -> None:
    paths = _files(tmp_path / "lib", {f"{i}.jpg": (b"bad" if i == 4 else b"ok") for i in range(7)})
    calls: list[list[str]] = []

    class Batched(Analyzer):
        name = "test_batched"
        kinds = frozenset({"photo"})
        label = "in batches"
        batch_size = 3

        def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
            calls.append([os.path.basename(row.path)])
            if Path(row.path).read_bytes() == b"bad":
                raise DecodeError("bad file")

        def analyze_many(self, lib: Library, rows, cancel):  # type: ignore[no-untyped-def]
            names = [os.path.basename(r.path) for r in rows]
            calls.append(names)
            if any(Path(r.path).read_bytes() == b"bad" for r in rows):
                raise RuntimeError("the batch call broke")
            if "6.jpg" in names:
                return {}  # stopped on cancel before this one: stays pending
            return {r.id: None for r in rows}

    register(Batched())
    try:
        with Library.open(bare_home) as lib:
            _add_indexed(lib, paths)
            report = run_pending_analyses(lib, only="test_batched")
            assert calls == [
                ["0.jpg", "1.jpg", "2.jpg"],
                ["3.jpg", "4.jpg", "5.jpg"],  # raises: each file on its own
                ["3.jpg"],
                ["4.jpg"],
                ["5.jpg"],
                ["6.jpg"],
            ]
            assert (report.done, report.failed, report.cancelled) == (5, 1, True)
            assert report.failures == [("test_batched", str(paths[4]), "bad file")]
            assert analysis_counts(lib)["test_batched"] == {"done": 5, "pending": 1, "failed": 1}
    finally:
        unregister("test_batched")


_KILL_SCRIPT = r"""
import os, sys, time
from pathlib import Path
from engine.indexing.analysis import run_pending_analyses
from engine.indexing.analyzers import Analyzer, register
from engine.library import Library

log = Path(sys.argv[1])

class Slow(Analyzer):
    name = "test_slow"
    kinds = frozenset({"photo"})
    label = "slowly"

    def analyze(self, lib, row, inputs):
        time.sleep(0.05)
        with log.open("a") as f:
            f.write(os.path.basename(row.path) + "\n")

register(Slow())
with Library.open() as lib:
    r = run_pending_analyses(lib, only='test_slow')
print(r.done)
"""


@pytest.mark.slow
def test_sigkill_mid_analysis_redoes_at_most_the_file_in_hand(bare_home: Path, tmp_path: Path) -> None:
    paths = _files(tmp_path / "lib", {f"{i:03d}.jpg": b"x" for i in range(60)})
    with Library.open(bare_home) as lib:
        _add_indexed(lib, paths)
    log = tmp_path / "log.txt"
    env = {**os.environ, "LOOKALIKE_HOME": str(bare_home), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(log)], env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if log.exists() and len(log.read_text().splitlines()) >= 10:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    first = log.read_text().splitlines()
    assert 10 <= len(first) < 60

    out = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(log)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    seen = log.read_text().splitlines()
    assert sorted(set(seen)) == [p.name for p in paths]
    assert len(seen) - 60 <= 1  # only a file whose result was not recorded yet runs twice
    assert int(out.stdout.strip()) == 60 - len(set(first)) + (len(seen) - 60)
    with Library.open(bare_home) as lib:
        rows = lib.catalog.query(
            "SELECT state, COUNT(*) FROM analyses WHERE analyzer='test_slow' GROUP BY state"
        )
        assert rows == [("done", 60)]


# -- the embeddings on the interface ----------------------------------------------------------------------


def test_a_new_embedding_version_reembeds_its_kind_alone_and_keeps_the_slow_results(
    home: Path, tmp_path: Path, test_analyzers: tuple[ByteCount, Later], monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from tests.media import make_library

    make_library(tmp_path / "pics", 4)
    with Library.open(home) as lib:
        lib.add_folder(tmp_path / "pics")
        scan(lib)
        first = index_pending(lib)
        assert first.indexed == 4
        assert analysis_counts(lib)["photo_embedding"] == {"done": 4, "pending": 0, "failed": 0}
        assert run_pending_analyses(lib, only=MINE).done == 8  # both test analyzers, 4 photos each
        vectors = lib.store.count(lib.image_collection)

        monkeypatch.setattr(type(PHOTO_EMBEDDING), "version", 2)
        assert analysis_counts(lib)["photo_embedding"]["pending"] == 4
        again = index_pending(lib)
        assert again.indexed == 4
        assert lib.store.count(lib.image_collection) == vectors  # replaced, not duplicated
        got = lib.catalog.query("SELECT DISTINCT version FROM analyses WHERE analyzer='photo_embedding'")
        assert got == [(2,)]
        assert run_pending_analyses(lib, only=MINE).done == 0  # the slow analyses were kept
        assert analysis_counts(lib)["test_bytes"] == {"done": 4, "pending": 0, "failed": 0}


def test_status_json_shows_each_analyzer(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.main import main
    from tests.media import make_library

    make_library(tmp_path / "pics", 3)
    assert main(["index", "--json", "--fast", str(tmp_path / "pics")]) == 0
    assert json.loads(capsys.readouterr().out)["analyses"] is None  # --fast: embeddings only
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["analyzers"]["photo_embedding"] == {"done": 3, "pending": 0, "failed": 0}
    slow = [a.name for a in slow_analyzers() if a.name in status["analyzers"] and "photo" in a.kinds]
    waiting = set(status["analyzers_not_ready"])
    assert all(status["analyzers"][n]["pending"] == 3 for n in slow)  # left for later

    ByteCount.seen = []
    register(ByteCount())
    try:
        assert main(["index", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
    finally:
        unregister("test_bytes")
    assert summary["indexed"] == 0 and summary["analyses"]["by_analyzer"]["test_bytes"] == {
        "done": 3,
        "failed": 0,
    }
    assert len(ByteCount.seen) == 3 and not summary["analyses"]["cancelled"]
    assert set(summary["analyses"]["waiting"]) <= waiting
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["analyzers"]["photo_embedding"] == {"done": 3, "pending": 0, "failed": 0}
    assert status["analyzers"]["sound_embedding"] == {"done": 0, "pending": 0, "failed": 0}


# -- in the service ------------------------------------------------------------------------------------


class Slowish(Analyzer):
    """Test analyzer for the service: a little slow per file, so pause and requests land mid-run."""

    name = "test_slowish"
    kinds = frozenset({"photo"})
    label = "reading slowly"
    seen: ClassVar[list[str]] = []

    def analyze(self, lib: Library, row: cat.FileRow, inputs: Inputs) -> None:
        time.sleep(0.1)
        Slowish.seen.append(os.path.basename(row.path))


def test_the_service_analyzes_behind_the_embeddings_in_small_batches(home: Path, tmp_path: Path) -> None:
    from engine.service.core import Service
    from tests.media import make_library

    Slowish.seen = []
    register(Slowish())
    make_library(tmp_path / "pics", 20)
    lib = Library.open(home)
    lib.add_folder(tmp_path / "pics")
    svc = Service(lib, watch=False, batch_size=4, health_interval=0.1)
    stages: set[tuple[str, int]] = set()
    try:
        svc.start()

        def analyzing() -> bool:
            p = svc.progress()
            if p.state == "analyzing":
                stages.add((p.stage, p.stage_total))
            return p.state == "analyzing" and p.stage == "reading slowly" and p.stage_done >= 3

        deadline = time.monotonic() + 60
        while not analyzing():
            assert time.monotonic() < deadline, svc.progress()
            time.sleep(0.01)
        # Every photo is searchable (embedded) before the slow analyzer started.
        assert svc.progress().indexed_total == 20
        assert ("reading slowly", 20) in stages
        # A request runs between files, not after the rest of the stage.
        assert svc.call(lambda lib: len(Slowish.seen)).result(timeout=10) < 20

        svc.pause()
        time.sleep(0.5)
        paused_at = len(Slowish.seen)
        time.sleep(0.5)
        assert len(Slowish.seen) == paused_at < 20 and svc.progress().state == "paused"
        svc.resume()

        deadline = time.monotonic() + 60
        while (p := svc.progress()).state != "idle" or p.analyses.get("test_slowish", {}).get("done") != 20:
            assert time.monotonic() < deadline, p
            time.sleep(0.05)
        assert sorted(Slowish.seen) == sorted(set(Slowish.seen)) and len(Slowish.seen) == 20  # none twice
        assert p.analyses["photo_embedding"] == {"done": 20, "pending": 0, "failed": 0}
        assert p.to_json()["analyses"]["test_slowish"]["pending"] == 0
    finally:
        svc.stop()
        lib.close()
        unregister("test_slowish")
