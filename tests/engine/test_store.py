"""VectorStore against Milvus Lite and, marked ``milvus_server``, a real Milvus 2.3.5 server.

The behaviour tests run on both backends through the ``backend`` fixture; the Lite facts follow: those
of both Lite engines (process lock, reopening), then those of the installed one only, since a venv holds
one milvus-lite: the native 2.5.x (private Unix socket, durability under SIGKILL, no server left behind,
index per size, the upgrade of a 3.2 library) or the pure-Python 3.2.x (index sidecars, flush policy,
the token in front of its gRPC port). CI runs the 2.5.x ones on Linux; the 3.2.x ones run wherever
3.2 is installed (Windows, or a second venv: see docs/architecture.md).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from engine.errors import LibraryBusyError, StoreError
from engine.storage import milvus_lite, store_lite32, store_native
from engine.storage import store as store_mod
from engine.storage.store import AUTO_FLUSH_ROWS, BUSY_MESSAGE, Hit, VectorStore, vector_id
from testkit import milvus_server

REPO = Path(__file__).resolve().parents[2]
DIM = 16
ENGINE = milvus_lite.engine_name()
lite3_only = pytest.mark.skipif(ENGINE != "lite3", reason="a Milvus Lite 3.2 fact (2.5 installed)")
lite2_only = pytest.mark.skipif(ENGINE != "lite2", reason="a Milvus Lite 2.5 fact (3.2 installed)")
LEGACY = Path(__file__).resolve().parent / "legacy" / "lite3_2_2"


# ── fixtures ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="session")
def milvus_server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus 2.3.5 server for the session (LOOKALIKE_TEST_MILVUS_URI, or one we start)."""
    given = os.environ.get("LOOKALIKE_TEST_MILVUS_URI")
    if given:
        yield given
        return
    try:
        server = milvus_server.start(tmp_path_factory.mktemp("milvus-server"))
    except milvus_server.ServerUnavailable as err:
        pytest.skip(f"no Milvus server: {err}")
    try:
        yield server.uri
    finally:
        server.stop()


@dataclass
class Backend:
    kind: str  # "lite" or "server"
    uri: str  # "" for Lite
    lite_path: Path
    collection: str  # unique per test, so tests can share one server

    def open(self) -> VectorStore:
        return VectorStore.open(self.uri, lite_path=self.lite_path)


@pytest.fixture(params=["lite", pytest.param("server", marks=pytest.mark.milvus_server)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "lite":
        yield Backend("lite", "", tmp_path / "vectors", name)
        return
    uri = request.getfixturevalue("milvus_server_uri")
    yield Backend("server", uri, tmp_path / "unused", name)
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    if client.has_collection(name):
        client.drop_collection(name)
    client.close()


@pytest.fixture
def store(backend: Backend) -> Iterator[VectorStore]:
    s = backend.open()
    s.ensure_collection(backend.collection, DIM)
    yield s
    s.close()


@pytest.fixture
def lite(tmp_path: Path) -> Backend:
    return Backend("lite", "", tmp_path / "vectors", "images")


# ── data ────────────────────────────────────────────────────────────────────────────────────


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def at_angle(q: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine similarity to unit ``q`` is exactly cos(angle)."""
    u = rng.standard_normal(q.shape).astype(np.float32)
    u -= (u @ q) * q
    u /= np.linalg.norm(u)
    return (np.cos(angle) * q + np.sin(angle) * u).astype(np.float32)


def put(s: VectorStore, name: str, rows: list[tuple[int, int, float, int, np.ndarray]]) -> None:
    """Upsert (file_id, seq, t, kind, vector) rows."""
    s.upsert(
        name,
        ids=[vector_id(f, seq) for f, seq, _, _, _ in rows],
        file_ids=[f for f, _, _, _, _ in rows],
        ts=[t for _, _, t, _, _ in rows],
        kinds=[k for _, _, _, k, _ in rows],
        vectors=np.stack([v for _, _, _, _, v in rows]),
    )


def photos(rng: np.random.Generator, n: int, kind: int = 0) -> tuple[np.ndarray, list]:
    vecs = unit(rng, n)
    return vecs, [(f, 0, 0.0, kind, vecs[f]) for f in range(n)]


def run_py(code: str, *, stdin: int | None = None) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO, env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


# ── ids ─────────────────────────────────────────────────────────────────────────────────────


def test_vector_id_packs_file_and_seq() -> None:
    assert vector_id(0, 0) == 0
    assert vector_id(3, 7) == (3 << 16) | 7
    assert vector_id(5, 65535) >> 16 == 5
    for bad in (-1, 65536):
        with pytest.raises(ValueError):
            vector_id(1, bad)
    with pytest.raises(ValueError):
        vector_id(-1, 0)


# ── behaviour on both backends ──────────────────────────────────────────────────────────────


def test_identical_query_is_first_with_score_one(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    vecs, rows = photos(np.random.default_rng(1), 200)
    put(store, c, rows)
    for _ in ("unflushed", "flushed"):
        hits = store.search(c, vecs[[17, 42]], 5)
        assert [h[0].file_id for h in hits] == [17, 42]
        assert hits[0][0] == Hit(id=vector_id(17, 0), file_id=17, t=0.0, score=pytest.approx(1.0, abs=1e-4))
        assert all(len(h) == 5 for h in hits)
        scores = [h.score for h in hits[0]]
        assert scores == sorted(scores, reverse=True)
        store.flush()
    assert store.is_lite == (backend.kind == "lite")


def test_reupsert_same_keys_makes_no_duplicates_even_after_reopen(
    backend: Backend, store: VectorStore
) -> None:
    c = backend.collection
    vecs, rows = photos(np.random.default_rng(2), 50)
    put(store, c, rows)
    put(store, c, rows)  # a crash between store and catalog: the indexer redoes the batch
    store.flush()
    put(store, c, rows)
    assert store.count(c) == 50
    hits = store.search(c, vecs[:1], 50)[0]
    assert len({h.id for h in hits}) == len(hits) == 50
    store.close()

    again = backend.open()
    try:
        put(again, c, rows)  # after a restart, unknown to this process yet: attached on first use
        assert again.count(c) == 50
        assert len({h.id for h in again.search(c, vecs[:1], 50)[0]}) == 50
    finally:
        again.close()


def test_upsert_replaces_the_row_with_that_key(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    rng = np.random.default_rng(3)
    old, new = unit(rng, 2)
    put(store, c, [(9, 0, 1.0, 1, old)])
    put(store, c, [(9, 0, 2.5, 1, new)])
    ts, vecs = store.get_vectors(c, 9)
    assert ts.tolist() == [2.5]
    np.testing.assert_allclose(vecs[0], new, atol=1e-6)
    assert store.search(c, new[None], 1)[0][0].score == pytest.approx(1.0, abs=1e-4)


def test_repeated_id_in_one_call_keeps_the_last_row(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    a, b = unit(np.random.default_rng(4), 2)
    store.upsert(c, [vector_id(1, 0)] * 2, [1, 1], [0.0, 3.0], [0, 0], np.stack([a, b]))
    assert store.count(c) == 1
    ts, _ = store.get_vectors(c, 1)
    assert ts.tolist() == [3.0]


def test_kinds_and_file_ids_filters(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    rng = np.random.default_rng(5)
    vecs = unit(rng, 60)
    kinds = [f % 3 for f in range(60)]
    put(store, c, [(f, 0, 0.0, kinds[f], vecs[f]) for f in range(60)])
    store.flush()
    q = vecs[:1]  # file 0, kind 0

    hits = store.search(c, q, 10, kinds=[1])[0]
    assert len(hits) == 10 and all(kinds[h.file_id] == 1 for h in hits)
    hits = store.search(c, q, 10, kinds=[1, 2])[0]
    assert all(kinds[h.file_id] in (1, 2) for h in hits)
    # a selective filter still finds every match (all IVF cells are probed under a filter)
    assert sorted(h.file_id for h in store.search(c, q, 10, file_ids=[5, 33, 59])[0]) == [5, 33, 59]
    assert [h.file_id for h in store.search(c, q, 10, kinds=[0], file_ids=[0, 1, 3])[0]] == [0, 3]
    assert store.search(c, q, 10, file_ids=[])[0] == []
    assert store.search(c, q, 10, kinds=[7])[0] == []


def test_group_by_file_gives_each_file_once_at_its_best_moment(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    rng = np.random.default_rng(6)
    q = unit(rng, 1)[0]
    rows, best_t = [], {}
    for f in range(6):  # file f's best frame scores cos(0.1 (f+1)); its other frames much less
        best_t[f] = float((2 * f + 1) % 5)
        for seq in range(5):
            angle = 0.1 * (f + 1) if seq == best_t[f] else 1.2 + 0.05 * seq
            rows.append((f, seq, float(seq), 1, at_angle(q, angle, rng)))
    put(store, c, rows)
    store.flush()

    hits = store.search(c, q[None], 4, group_by_file=True)[0]
    assert [h.file_id for h in hits] == [0, 1, 2, 3]
    assert [h.t for h in hits] == [best_t[f] for f in range(4)]
    assert hits[0].score == pytest.approx(np.cos(0.1), abs=1e-4)
    # without grouping, the same file comes back several times
    assert len({h.file_id for h in store.search(c, q[None], 12)[0]}) < 12
    # more files asked than exist: every file once
    assert sorted(h.file_id for h in store.search(c, q[None], 50, group_by_file=True)[0]) == list(range(6))
    assert [h.file_id for h in store.search(c, q[None], 3, group_by_file=True, file_ids=[4, 5])[0]] == [4, 5]


def test_group_by_file_when_one_long_video_dominates(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    rng = np.random.default_rng(7)
    q = unit(rng, 1)[0]
    # 300 frames of one video all beat every photo; a fixed over-fetch would see only that video
    rows = [(100, s, 2.0 * s, 1, at_angle(q, 0.1 + 0.001 * abs(s - 120), rng)) for s in range(300)]
    rows += [(f, 0, 0.0, 0, at_angle(q, 0.5 + 0.05 * f, rng)) for f in range(6)]
    put(store, c, rows)
    store.flush()
    hits = store.search(c, q[None], 4, group_by_file=True)[0]
    assert [h.file_id for h in hits] == [100, 0, 1, 2]
    assert hits[0].t == 240.0


def test_delete_files_removes_them_from_search_and_count(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    rng = np.random.default_rng(8)
    vecs = unit(rng, 30)
    put(store, c, [(f // 3, f % 3, float(f % 3), 1, vecs[f]) for f in range(30)])  # 10 files x 3
    store.flush()
    store.delete_files(c, [2, 4, 999])
    found = {h.file_id for h in store.search(c, vecs[:1], 30)[0]}  # the very next read
    assert found == set(range(10)) - {2, 4}
    assert store.count(c) == 24
    assert store.search(c, vecs[6:7], 1)[0][0].file_id != 2
    assert len(store.get_vectors(c, 2)[0]) == 0
    store.delete_files(c, [])
    assert store.count(c) == 24


def test_drop_collection_forgets_its_vectors(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    vecs, rows = photos(np.random.default_rng(10), 20)
    put(store, c, rows)
    store.flush()
    store.drop_collection(c)
    assert not store.has_collection(c)
    store.drop_collection(c)  # a second drop is harmless
    store.ensure_collection(c, DIM)
    assert store.count(c) == 0
    assert store.search(c, vecs[:1], 5) == [[]]


def test_get_vectors_returns_one_file_ordered_by_t(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    vecs = unit(np.random.default_rng(9), 4)
    put(
        store,
        c,
        [(5, 0, 4.0, 1, vecs[0]), (5, 1, 0.0, 1, vecs[1]), (5, 2, 2.0, 1, vecs[2]), (6, 0, 0.0, 0, vecs[3])],
    )
    ts, got = store.get_vectors(c, 5)
    assert ts.tolist() == [0.0, 2.0, 4.0]
    assert got.dtype == np.float32 and got.shape == (3, DIM)
    np.testing.assert_allclose(got, vecs[[1, 2, 0]], atol=1e-6)
    ts, got = store.get_vectors(c, 77)
    assert ts.shape == (0,) and got.shape == (0, DIM)


def test_existing_collection_is_usable_without_ensure(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    vecs, rows = photos(np.random.default_rng(10), 20)
    put(store, c, rows)
    store.close()
    again = backend.open()
    try:
        assert again.has_collection(c) and not again.has_collection("t_nothing_here")
        assert again.search(c, vecs[3:4], 1)[0][0].file_id == 3  # loaded on first use
        again.ensure_collection(c, DIM)  # idempotent
        assert again.count(c) == 20
        with pytest.raises(StoreError, match="no vector collection"):
            again.count("t_nothing_here")
    finally:
        again.close()


def test_bad_input_and_wrong_dimension(backend: Backend, store: VectorStore) -> None:
    c = backend.collection
    v = unit(np.random.default_rng(11), 2)
    with pytest.raises(StoreError, match="16-d vectors but the model makes 8-d"):
        store.ensure_collection(c, 8)
    with pytest.raises(ValueError):
        store.upsert(c, [1], [1], [0.0], [0], unit(np.random.default_rng(0), 1, 8))
    with pytest.raises(ValueError):
        store.upsert(c, [1, 2], [1], [0.0], [0], v)
    with pytest.raises(ValueError):
        store.upsert(c, [1], [1], [0.0], [0], np.zeros((1, DIM), np.float32))
    with pytest.raises(ValueError):
        store.upsert(c, [1], [1], [0.0], [300], v[:1])
    with pytest.raises(ValueError):
        store.search(c, v[0], 3)  # 1-D
    with pytest.raises(ValueError):
        store.search(c, v, 0)
    assert store.search(c, v[:0], 3) == []
    assert store.count(c) == 0


def test_closed_store_refuses_work_and_closes_twice(backend: Backend) -> None:
    s = backend.open()
    s.ensure_collection(backend.collection, DIM)
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.count(backend.collection)


def test_unreachable_server_is_a_store_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(StoreError, match="Could not connect to the Milvus server"):
        VectorStore.open(f"http://127.0.0.1:{port}")


# ── Milvus Lite facts ───────────────────────────────────────────────────────────────────────


def test_reopen_in_a_new_process_finds_the_data_loaded(lite: Backend) -> None:
    vecs, rows = photos(np.random.default_rng(12), 40)
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        put(s, "images", rows)
    np.save(lite.lite_path.parent / "q.npy", vecs[7:8])
    proc = run_py(f"""
        import json, numpy as np
        from pathlib import Path
        from engine.storage.store import VectorStore
        s = VectorStore.open("", lite_path=Path({str(lite.lite_path)!r}))
        q = np.load({str(lite.lite_path.parent / "q.npy")!r})
        hit = s.search("images", q, 1)[0][0]  # collections start released: the store loads them
        print(json.dumps([hit.file_id, hit.score, s.count("images")]))
        s.close()
    """)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    file_id, score, count = json.loads(out)
    assert (file_id, count) == (7, 40)
    assert score == pytest.approx(1.0, abs=1e-4)


@lite3_only
def test_rows_in_the_log_after_a_kill_are_flushed_on_open(lite: Backend) -> None:
    proc = run_py(f"""
        import os, numpy as np
        from pathlib import Path
        from engine.storage.store import VectorStore
        s = VectorStore.open("", lite_path=Path({str(lite.lite_path)!r}))
        s.ensure_collection("images", {DIM})
        v = np.random.default_rng(0).standard_normal((100, {DIM})).astype(np.float32)
        s.upsert("images", range(100), range(100), [0.0] * 100, [0] * 100, v)
        os._exit(0)  # killed before any flush: the rows are only in the write-ahead log
    """)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    data = lite.lite_path / "collections" / "images" / "partitions"
    assert not list(data.glob("*/data/*.parquet"))
    with lite.open() as s:
        assert list(data.glob("*/data/*.parquet"))  # flushed once after opening
        assert s.count("images") == 100


@lite3_only
def test_more_than_auto_flush_rows_unflushed_triggers_a_flush(lite: Backend) -> None:
    data = lite.lite_path / "collections" / "images" / "partitions"
    rng = np.random.default_rng(13)
    n = AUTO_FLUSH_ROWS // 2
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        s.upsert("images", range(n), range(n), [0.0] * n, [0] * n, unit(rng, n))
        assert not list(data.glob("*/data/*.parquet"))
        s.upsert("images", range(n, 3 * n), range(n, 3 * n), [0.0] * 2 * n, [0] * 2 * n, unit(rng, 2 * n))
        assert list(data.glob("*/data/*.parquet"))  # flushed without being asked
        assert s.count("images") == 3 * n


@lite3_only
def test_truncated_index_sidecars_are_rebuilt(lite: Backend, caplog: pytest.LogCaptureFixture) -> None:
    vecs, rows = photos(np.random.default_rng(14), 300)
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        put(s, "images", rows)
    sidecars = list(lite.lite_path.glob("collections/images/partitions/*/indexes/*.idx"))
    assert sidecars
    for f in sidecars:  # what a kill right after a flush can leave behind
        with open(f, "r+b") as fh:
            fh.truncate(f.stat().st_size // 2)

    with caplog.at_level(logging.WARNING, logger="engine.storage.store_lite32"), lite.open() as s:
        s.ensure_collection("images", DIM)
        hit = s.search("images", vecs[123:124], 1)[0][0]
        assert (hit.file_id, hit.score) == (123, pytest.approx(1.0, abs=1e-4))
        assert s.count("images") == 300
    assert re.search(r"deleting \d+ index sidecar", caplog.text)
    caplog.clear()
    # rebuilt whole
    with caplog.at_level(logging.WARNING, logger="engine.storage.store_lite32"), lite.open() as s:
        assert s.search("images", vecs[5:6], 1)[0][0].file_id == 5
    assert "sidecar" not in caplog.text


def test_library_open_in_another_process_is_busy(lite: Backend) -> None:
    holder = run_py(
        f"""
        import sys
        from pathlib import Path
        from engine.storage.store import VectorStore
        s = VectorStore.open("", lite_path=Path({str(lite.lite_path)!r}))
        print("open", flush=True)
        sys.stdin.read()
        s.close()
        """,
        stdin=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(LibraryBusyError) as err:
            VectorStore.open("", lite_path=lite.lite_path)
        assert str(err.value) == BUSY_MESSAGE
    finally:
        holder.communicate(input="", timeout=30)
    with lite.open() as s:  # the holder is gone: the library opens again
        assert s.is_lite


@lite3_only
def test_lite_port_refuses_calls_without_our_token(lite: Backend) -> None:
    import grpc
    from pymilvus import MilvusClient, MilvusException
    from pymilvus.grpc_gen import milvus_pb2, milvus_pb2_grpc

    with lite.open() as s:
        s.ensure_collection("images", DIM)
        assert s.endpoint.startswith("http://127.0.0.1:")
        target = s.endpoint.removeprefix("http://")
        with grpc.insecure_channel(target) as channel:
            stub = milvus_pb2_grpc.MilvusServiceStub(channel)
            for metadata in (None, [("authorization", base64.b64encode(b"a guess").decode())]):
                with pytest.raises(grpc.RpcError) as err:
                    stub.ShowCollections(milvus_pb2.ShowCollectionsRequest(), metadata=metadata, timeout=10)
                assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(MilvusException):
            MilvusClient(uri=s.endpoint, token="a guess", timeout=5).list_collections()
        assert s.count("images") == 0  # and our own client gets through


@lite3_only
def test_falls_back_to_plain_lite_when_internals_move(
    lite: Backend, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def moved(path: Path) -> None:
        raise ImportError("No module named 'milvus_lite.adapter.grpc.servicer'")

    monkeypatch.setattr(store_lite32._LiteServer, "start", staticmethod(moved))
    vecs, rows = photos(np.random.default_rng(15), 10)
    with caplog.at_level(logging.WARNING, logger="engine.storage.store_lite32"), lite.open() as s:
        s.ensure_collection("images", DIM)
        put(s, "images", rows)
        assert s.search("images", vecs[4:5], 1)[0][0].file_id == 4
    assert "internals changed" in caplog.text
    monkeypatch.undo()
    with lite.open() as s:  # the fallback server let go of the database on close
        assert s.count("images") == 10


# ── Milvus Lite 2.5 (native) facts ──────────────────────────────────────────────────────────


def _server_pid(lite: Backend) -> int:
    return int((lite.lite_path / milvus_lite.PID_NAME).read_text())


def _gone(pid: int, wait_s: float = 30.0) -> bool:
    """Whether process ``pid`` has ended (polled up to ``wait_s``: a liveness check, not a timing one)."""
    import time

    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        try:  # a zombie of ours counts as ended
            if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@lite2_only
def test_native_socket_is_private_and_goes_with_the_store(lite: Backend) -> None:
    with lite.open() as s:
        assert s.engine == "lite2" and s.endpoint.startswith("unix:")
        sock = Path(s.endpoint.removeprefix("unix:"))
        assert sock.parent == lite.lite_path and sock.is_socket()
        assert lite.lite_path.stat().st_mode & 0o777 == 0o700  # nobody else may even reach the socket
        assert sock.stat().st_mode & 0o777 == 0o600
        pid = _server_pid(lite)
    assert not sock.exists()
    assert _gone(pid)


@lite2_only
def test_native_socket_of_a_deep_folder_is_in_a_private_temp_folder(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "vectors"  # longer than a socket address may be
    with VectorStore.open("", lite_path=deep) as s:
        sock = Path(s.endpoint.removeprefix("unix:"))
        assert not sock.is_relative_to(deep) and len(str(sock)) <= 100
        assert sock.parent.stat().st_mode & 0o777 == 0o700
        s.ensure_collection("images", DIM)
        assert s.count("images") == 0
    assert not sock.parent.exists()


@lite2_only
def test_native_second_open_in_the_same_process_is_busy(lite: Backend) -> None:
    with lite.open():
        with pytest.raises(LibraryBusyError) as err:
            lite.open()
        assert str(err.value) == BUSY_MESSAGE
    with lite.open() as s:
        assert s.is_lite


@lite2_only
def test_native_sigkill_loses_no_acknowledged_write_and_leaves_no_server(lite: Backend) -> None:
    proc = run_py(f"""
        import os, signal, numpy as np
        from pathlib import Path
        from engine.storage.store import VectorStore
        s = VectorStore.open("", lite_path=Path({str(lite.lite_path)!r}))
        s.ensure_collection("images", {DIM})
        v = np.random.default_rng(0).standard_normal((300, {DIM})).astype(np.float32)
        s.upsert("images", range(300), range(300), [0.0] * 300, [0] * 300, v)
        s.delete_files("images", [1, 2])
        s.upsert("images", [5], [5], [7.5], [1], v[9:10])
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no flush, no close
    """)
    out, err = proc.communicate(timeout=60)
    assert out.strip() == "written", err
    assert proc.returncode == -9
    orphan = _server_pid(lite)
    with lite.open() as s:  # at once: an orphaned server still running is waited for (or killed)
        assert _gone(orphan, wait_s=0.0) or _gone(orphan)
        assert s.count("images") == 298
        ts, vecs = s.get_vectors("images", 5)
        assert ts.tolist() == [7.5]
        v = np.random.default_rng(0).standard_normal((300, DIM)).astype(np.float32)
        np.testing.assert_allclose(vecs[0], v[9], atol=1e-6)
        assert s.search("images", v[100:101], 1)[0][0].file_id == 100
        assert s.get_vectors("images", 1)[0].shape == (0,)
    assert _gone(orphan)


def clustered(rng: np.random.Generator, n: int, centres: int = 40, dim: int = DIM) -> np.ndarray:
    """Unit vectors in Gaussian clusters of uneven size (a library's shape, not IVF's uniform worst case)."""
    c = unit(rng, centres, dim)
    which = rng.choice(centres, size=n, p=(w := 1.0 / np.arange(1, centres + 1)) / w.sum())
    v = c[which] + rng.standard_normal((n, dim)).astype(np.float32) * (0.6 / np.sqrt(dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def small_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cells past 600 rows, 8 of them, 4 probed, moved 100 rows a step: the layout at test size."""
    monkeypatch.setattr(store_native, "CELLS_MIN_ROWS", 600)
    monkeypatch.setattr(store_native, "CELLS", 8)
    monkeypatch.setattr(store_native, "NPROBE", 4)
    monkeypatch.setattr(store_native, "MOVE_CHUNK", 100)


def _recall10(s: VectorStore, vecs: np.ndarray, queries: np.ndarray) -> float:
    exact = np.argsort(-(queries @ vecs.T), axis=1)[:, :10]
    hits = s.search("images", queries, 10)
    found = [len({h.file_id for h in hs} & set(e.tolist())) / 10 for hs, e in zip(hits, exact, strict=True)]
    return float(np.mean(found))


@lite2_only
def test_native_lite_ivf_is_not_built(lite: Backend) -> None:
    """The fact behind the cells: 2.5.1 accepts IVF_FLAT, never builds it and ignores nprobe (an
    nprobe no built IVF accepts goes through). If this starts failing, a newer Milvus Lite builds its
    indexes and the cells may give way to IVF_FLAT."""
    vecs = clustered(np.random.default_rng(30), 3000)
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        c = s._client
        c.release_collection("images")
        c.drop_index("images", "vector")
        params = c.prepare_index_params()
        params.add_index(
            field_name="vector", index_type="IVF_FLAT", metric_type="COSINE", params={"nlist": 16}
        )
        c.create_index("images", params, sync=False)
        c.load_collection("images")
        s.upsert("images", range(3000), range(3000), [0.0] * 3000, [0] * 3000, vecs)
        c.flush("images")
        assert int(c.describe_index("images", "vector").get("indexed_rows", 0)) == 0
        probe = {"metric_type": "COSINE", "params": {"nprobe": 100_000}}
        c.search("images", data=[vecs[0]], limit=1, search_params=probe)


@lite2_only
def test_native_collection_goes_to_cells_past_the_limit(lite: Backend, small_cells: None) -> None:
    both = clustered(np.random.default_rng(16), 2060)
    vecs, queries = both[:2000], both[2000:]  # queries held out of the same clusters
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        s.upsert("images", range(500), range(500), [0.0] * 500, [0] * 500, vecs[:500])
        s.flush()
        assert s.index_of("images") == "FLAT"
        s.upsert("images", range(500, 2000), range(500, 2000), [0.0] * 1500, [0] * 1500, vecs[500:])
        s.flush()  # past the limit: the layout is made in the background
        assert s.wait_for_index(120)
        assert s.index_of("images") == "CELLS 8"
        assert s.count("images") == 2000
        assert store_native._count_one(s, "images") == 0  # every row moved into its cell
        assert s.collections() == ["images"]  # the cells are not listed
        assert _recall10(s, vecs, queries) >= 0.99
        hits = s.search("images", vecs[[3, 777]], 1)
        assert [h[0].file_id for h in hits] == [3, 777]
        # Writes go to the cells: a re-upsert replaces, a new vector for a key moves it, deletes reach them.
        s.upsert("images", range(100), range(100), [0.0] * 100, [0] * 100, vecs[:100])
        s.upsert("images", [5], [5], [0.0], [0], vecs[1999:2000])
        assert s.count("images") == 2000
        ts, got = s.get_vectors("images", 5)
        assert len(got) == 1 and float(got[0] @ vecs[1999]) > 0.999
        s.delete_files("images", list(range(10, 20)))
        assert s.count("images") == 1990
        assert s.file_ids("images") == set(range(2000)) - set(range(10, 20))
        assert not {h.file_id for h in s.search("images", vecs[10:20], 5)[0]} & set(range(10, 20))
        grouped = s.search("images", queries[:5], 10, group_by_file=True)
        assert all(len({h.file_id for h in g}) == 10 for g in grouped)
        assert len(s.search("images", vecs[:1], 50, kinds=[0])[0]) == 50
    with lite.open() as s:  # the layout is kept with the data
        assert s.index_of("images") == "CELLS 8"
        assert s.count("images") == 1990
        assert s.search("images", vecs[500:501], 1)[0][0].file_id == 500
        s.drop_collection("images")
        assert s._client.list_collections() == []
    assert store_native.native_index(10)[0] == "FLAT"
    assert store_native.native_index(store_native.CELLS_MIN_ROWS + 1) == ("CELLS", store_native.CELLS)


_KILL_MID_MOVE = """
import sys, time
import numpy as np
from engine.storage import store_native
from engine.storage.store import VectorStore
store_native.CELLS_MIN_ROWS, store_native.CELLS, store_native.NPROBE, store_native.MOVE_CHUNK = 600, 8, 4, 50
real = store_native._insert_into_cells
def slow(store, cells, rows):
    real(store, cells, rows)
    print("moved", flush=True)
    time.sleep(5)  # killed here: the chunk is in its cells and still in main
store_native._insert_into_cells = slow
vecs = np.load(sys.argv[1])
s = VectorStore.open("", lite_path=sys.argv[2])
s.ensure_collection("images", vecs.shape[1])
s.upsert("images", range(len(vecs)), range(len(vecs)), [0.0] * len(vecs), [0] * len(vecs), vecs)
s.flush()
time.sleep(600)
"""


@lite2_only
def test_native_kill_while_moving_into_cells_leaves_a_store_that_opens(
    lite: Backend, small_cells: None, tmp_path: Path
) -> None:
    both = clustered(np.random.default_rng(18), 1540)
    vecs, queries = both[:1500], both[1500:]
    np.save(tmp_path / "v.npy", vecs)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILL_MID_MOVE, str(tmp_path / "v.npy"), str(lite.lite_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    seen = 0
    while seen < 3:  # a few chunks moved, then SIGKILL while one is in both places
        line = proc.stdout.readline()
        assert line, "the child ended before moving rows"
        seen += line.startswith("moved")
    proc.kill()
    proc.wait()
    _gone(_server_pid(lite))
    assert (lite.lite_path / ".cells-images.moving").exists()  # killed mid-chunk
    with lite.open() as s:
        assert s.index_of("images") == "CELLS 8"
        assert s.count("images") == 1500  # the chunk in both places is counted once
        assert s.search("images", vecs[42:43], 1)[0][0].file_id == 42
        assert s.wait_for_index(120)  # the move resumes and finishes
        assert store_native._count_one(s, "images") == 0
        assert s.count("images") == 1500
        assert s.file_ids("images") == set(range(1500))
        assert _recall10(s, vecs, queries) >= 0.99


@lite2_only
def test_native_layout_left_unfinished_is_dropped(lite: Backend, small_cells: None) -> None:
    """Cells made but no centroids written (a kill before the layout was ready): dropped on open, the rows
    stay in main and are searched exactly."""
    vecs = clustered(np.random.default_rng(20), 300)
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        s.upsert("images", range(300), range(300), [0.0] * 300, [0] * 300, vecs)
        for k in range(3):
            store_native._create_plain(s, store_native.cell_name("images", k), DIM)
    with lite.open() as s:
        assert s.index_of("images") == "FLAT"
        assert s._client.list_collections() == ["images"]
        assert s.count("images") == 300


# ── the upgrade of a 3.2 library ────────────────────────────────────────────────────────────


def _expected_lite3() -> dict[str, list[dict]]:
    return json.loads((LEGACY / "expected.json").read_text())


def test_lite3_files_are_read_without_the_3_2_package(tmp_path: Path) -> None:
    """The 3.2.2 format as the fixture (made by tests/engine/legacy/make_lite3_library.py) holds it: flushed
    rows, a delete file, an upsert over a flushed row, and rows and a delete only in the write-ahead log."""
    folder = LEGACY / "vectors.db"
    assert milvus_lite.has_lite3_data(folder)
    assert milvus_lite.lite3_collections(folder) == ["images", "sounds"]
    want = _expected_lite3()
    got = milvus_lite.read_lite3_collection(folder, "images")
    assert got.dim == DIM and sorted(got.ids.tolist()) == [r["id"] for r in want["images"]]
    by_id = {r["id"]: r for r in want["images"]}
    for i, f, t, k, v in zip(got.ids, got.file_ids, got.ts, got.kinds, got.vectors, strict=True):
        r = by_id[int(i)]
        assert (int(f), float(t), int(k)) == (r["file_id"], r["t"], r["kind"])
        np.testing.assert_allclose(v, r["vector"], rtol=0, atol=0)
    assert by_id[vector_id(5, 0)]["vector"] == got.vectors[list(got.ids).index(vector_id(5, 0))].tolist()
    sounds = milvus_lite.read_lite3_collection(folder, "sounds")
    assert (sounds.dim, len(sounds.ids)) == (8, 0)

    # A write-ahead log cut by a kill mid-batch: its whole batches are kept, the rest is as if unwritten.
    cut = tmp_path / "vectors.db"
    shutil.copytree(folder, cut)
    wal = cut / "collections" / "images" / "wal" / "wal_data_000003.arrow"
    wal.write_bytes(wal.read_bytes()[: wal.stat().st_size - 200])
    partial = milvus_lite.read_lite3_collection(cut, "images")
    assert set(partial.ids.tolist()) < set(got.ids.tolist())


@lite2_only
def test_lite3_library_is_migrated_without_re_embedding(tmp_path: Path) -> None:
    lite_path = tmp_path / "vectors.db"
    shutil.copytree(LEGACY / "vectors.db", lite_path)
    want = _expected_lite3()["images"]
    with VectorStore.open("", lite_path=lite_path) as s:
        assert s.collections() == ["images", "sounds"]
        assert s.count("images") == len(want) and s.count("sounds") == 0
        for r in want[::7]:
            ts, vecs = s.get_vectors("images", r["file_id"])
            assert r["t"] in ts.tolist()
            v = np.asarray(r["vector"], dtype=np.float32)
            cos = (vecs @ v) / (np.linalg.norm(vecs, axis=1) * np.linalg.norm(v))
            assert cos.max() == pytest.approx(1.0, abs=1e-6)
            assert s.search("images", v[None], 1)[0][0].id == r["id"]
        assert s.get_vectors("images", 7)[0].shape == (0,)  # deleted in the old log: stays deleted
    assert not (lite_path / "collections").exists()
    aside = lite_path / milvus_lite.LITE3_ASIDE
    assert (aside / "collections" / "images" / "manifest.json").is_file()  # kept aside, not deleted
    with VectorStore.open("", lite_path=lite_path) as s:  # opens again without copying again
        assert s.count("images") == len(want)


@lite2_only
def test_lite3_migration_cut_short_is_redone_not_doubled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite_path = tmp_path / "vectors.db"
    shutil.copytree(LEGACY / "vectors.db", lite_path)

    def cannot_move(folder: Path) -> Path:
        raise OSError("disk full")

    monkeypatch.setattr(milvus_lite, "set_lite3_aside", cannot_move)
    with pytest.raises(StoreError, match="aside"):
        VectorStore.open("", lite_path=lite_path)
    assert (lite_path / "collections" / "images" / "manifest.json").is_file()  # the old files stay
    monkeypatch.undo()
    with VectorStore.open("", lite_path=lite_path) as s:
        assert s.count("images") == len(_expected_lite3()["images"])


@lite2_only
def test_lite3_copy_that_does_not_match_keeps_the_old_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lite_path = tmp_path / "vectors.db"
    shutil.copytree(LEGACY / "vectors.db", lite_path)
    upsert = VectorStore.upsert

    def garbled(self, name, ids, file_ids, ts, kinds, vectors):  # type: ignore[no-untyped-def]
        vectors = np.array(vectors)
        vectors[:, 0] += 1.0  # stored, but not what was read
        return upsert(self, name, ids, file_ids, ts, kinds, vectors)

    monkeypatch.setattr(VectorStore, "upsert", garbled)
    with pytest.raises(StoreError, match="changed its vectors"):
        VectorStore.open("", lite_path=lite_path)
    assert (lite_path / "collections").is_dir() and not (lite_path / milvus_lite.LITE3_ASIDE).exists()


@lite2_only
def test_native_damaged_database_file_is_named_not_read_as_empty(lite: Backend) -> None:
    vecs, rows = photos(np.random.default_rng(17), 12)
    with lite.open() as s:
        s.ensure_collection("images", DIM)
        put(s, "images", rows)
    db = lite.lite_path / milvus_lite.DB_NAME
    size = db.stat().st_size
    with open(db, "r+b") as f:  # unchecked, 2.5.1 would list the collection and count 0 rows in it
        f.seek(size // 3)
        f.write(np.random.default_rng(0).bytes(size // 3))
    with pytest.raises(StoreError, match="is damaged"):
        lite.open()
    assert not (lite.lite_path / milvus_lite.SOCKET_NAME).exists()
    with pytest.raises(StoreError, match="is damaged"):  # and the lock was let go
        lite.open()
