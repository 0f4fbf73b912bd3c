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
        assert warm_up(lib) == [lib.settings.image_text_model, "store", collection]


def test_warm_up_skips_what_the_library_lacks(bare_home: Path) -> None:
    from desktop.library_queries import warm_up
    from engine.library import Library

    with Library.open(bare_home) as lib:  # no models installed, nothing indexed
        assert warm_up(lib) == ["store"]


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
        assert collection in session.warmed.result(timeout=120)
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
