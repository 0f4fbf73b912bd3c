"""Opening the library for the app warms up what the first search needs (real engine, tiny models)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.desktop.fake_service import FakeService

pytestmark = pytest.mark.slow


def store_one_vector(home: Path) -> str:
    """Give the library an image collection with one vector, as indexing one photo would."""
    from engine.core.vectors import KIND_PHOTO
    from engine.library import Library
    from engine.storage.store import vector_id

    with Library.open(home) as lib:
        dim = lib.image_text_encoder().encode_texts(["x"]).shape[1]
        (file_id,) = lib.catalog.add_many([(str(home / "photo.jpg"), 10, 1.0, "photo")])
        lib.store.ensure_collection(lib.image_collection, dim)
        vec = np.ones((1, dim), dtype=np.float32) / np.sqrt(dim)
        lib.store.upsert(
            lib.image_collection, ids=[vector_id(file_id, 0)], file_ids=[file_id], ts=[0.0],
            kinds=[KIND_PHOTO], vectors=vec,
        )  # fmt: skip
        lib.store.flush()
        lib.catalog.mark_indexed(file_id, digest=None, model=lib.settings.image_text_model)
        return lib.image_collection


def test_warm_up_opens_the_store_collections_and_model(home: Path) -> None:
    from desktop.library_queries import warm_up
    from engine.library import Library

    collection = store_one_vector(home)
    with Library.open(home) as lib:
        assert warm_up(lib) == [lib.settings.image_text_model, "store", collection, "first search"]


def test_warm_up_skips_what_the_library_lacks(bare_home: Path) -> None:
    from desktop.library_queries import warm_up
    from engine.library import Library

    with Library.open(bare_home) as lib:  # no models installed, nothing indexed
        assert warm_up(lib) == ["store"]


def test_prepare_loads_the_model_and_catalog_indexes_without_the_store(home: Path) -> None:
    """The side thread's part of the warm-up: the model and the store-free retrievers' indexes, and never
    the vector store (only the core thread may use it once the service runs)."""
    from desktop.library_queries import prepare
    from engine.library import Library
    from engine.search.folder_names import FolderIndex

    folder = home.parent / "Pictures" / "red car trip"
    folder.mkdir(parents=True)
    (folder / "car.jpg").write_bytes(b"")
    store_one_vector(home)
    with Library.open(home) as lib:
        lib.add_folder(home.parent / "Pictures")
        lib.catalog.add_many([(str(folder / "car.jpg"), 0, 1.0, "photo")])
        assert prepare(lib) == [lib.settings.image_text_model, "catalog indexes"]
        assert lib._store is None  # the store was not opened
        assert any(isinstance(v, FolderIndex) for v in lib.memo.values())  # kept for the first search


def test_warm_up_takes_what_prepare_loaded(home: Path) -> None:
    from concurrent.futures import Future

    from desktop.library_queries import warm_up
    from engine.library import Library

    collection = store_one_vector(home)
    failed: Future = Future()
    failed.set_exception(RuntimeError("the side thread broke"))
    with Library.open(home) as lib:
        model = lib.settings.image_text_model
        done: Future = Future()
        done.set_result([model, "catalog indexes"])
        # The model came from the side thread: not loaded (nor listed) twice.
        assert warm_up(lib, done) == [model, "catalog indexes", "store", collection, "first search"]
        # A failed side thread is not this step's error: the warm-up loads the model itself.
        assert warm_up(lib, failed) == [model, "store", collection, "first search"]


def test_a_failed_open_lets_the_side_thread_finish_first(home: Path) -> None:
    """A damaged vector database fails the open; the catalog closes only after the side thread that
    reads it has finished (no thread left using a closed library)."""
    import threading

    from desktop.session import open_session
    from engine.errors import LibraryDamagedError
    from engine.library import Library

    store_one_vector(home)
    with Library.open(home) as lib:
        db = next(p for p in lib.settings.vectors_path.rglob("*.db"))
    db.write_bytes(b"not a database" * 1000)
    with pytest.raises(LibraryDamagedError):
        open_session(home)
    assert not [t for t in threading.enumerate() if t.name == "lookalike-prepare" and t.is_alive()]


def test_open_session_warms_up_before_the_first_query(home: Path) -> None:
    from desktop.session import open_session

    collection = store_one_vector(home)
    session = open_session(home)
    try:
        order: list[str] = []
        assert session.warmed is not None
        session.warmed.add_done_callback(lambda _f: order.append("warm-up"))
        search = session.service.search_text("a photo", limit=5)
        search.add_done_callback(lambda _f: order.append("search"))
        warmed = session.warmed.result(timeout=120)
        assert collection in warmed
        assert "catalog indexes" in warmed  # the side thread's part, done while the store opened
        assert len(search.result(timeout=120)) == 1
        assert order == ["warm-up", "search"]  # first in the core thread's queue
    finally:
        session.close()


def test_no_warm_up_with_a_stand_in_service(home: Path) -> None:
    from desktop.session import open_session

    session = open_session(home, service_factory=FakeService)
    try:
        assert session.warmed is None
        assert session.service.calls == []
    finally:
        session.close()
