"""The indexing pipeline's overlap (issue 18): sound decoding read ahead of the model, the writer
thread, batched store writes, cancels. Behaviour only: nothing here is timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.media.audio import SAMPLE_RATE, iter_audio_chunks
from engine.models.audio_stream import read_ahead
from tests.engine.test_audio_decode import make_sound

# -- read_ahead -----------------------------------------------------------------------------------------


def test_read_ahead_yields_every_item_in_order_from_another_thread() -> None:
    seen_on: set[int] = set()

    def items() -> Iterator[int]:
        for i in range(50):
            seen_on.add(threading.get_ident())
            yield i

    assert list(read_ahead(items(), depth=3)) == list(range(50))
    assert threading.get_ident() not in seen_on  # pulled by the reader thread, not the consumer


def test_read_ahead_raises_the_readers_error_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("broken at the third")

    got: list[int] = []
    with pytest.raises(ValueError, match="third"):
        for x in read_ahead(items()):
            got.append(x)
    assert got == [1, 2]


def test_read_ahead_stopped_early_stops_its_reader_and_closes_the_source() -> None:
    closed = threading.Event()
    pulled: list[int] = []

    def items() -> Iterator[int]:
        try:
            for i in range(10_000):
                pulled.append(i)
                yield i
        finally:
            closed.set()

    before = threading.active_count()
    stream = read_ahead(items(), depth=2)
    assert next(stream) == 0
    stream.close()  # the consumer gives up (a model error, a cancel)
    assert closed.wait(5)
    assert len(pulled) < 10  # it stopped within a few items of the queue, not at the end
    assert threading.active_count() == before


# -- sounds opened on the pool --------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [3.0, 10.0, 34.5])
def test_opened_audio_gives_the_same_segments_as_streaming(tmp_path: Path, seconds: float) -> None:
    """The first segment decoded ahead plus the rest read ahead are exactly the plain stream's
    segments, for a sound shorter than a segment, exactly one and several."""
    from engine.indexing.media_pipelines import OpenedAudio

    path = tmp_path / "s.flac"
    sf.write(path, make_sound("chirp", 44_100, seconds, seed=3), 44_100)
    plain = list(iter_audio_chunks(path, chunk_s=10.0))
    opened = OpenedAudio(str(path), seconds)
    got = list(opened.chunks())
    assert [c.size for c in got] == [c.size for c in plain]
    for a, b in zip(got, plain, strict=True):
        np.testing.assert_array_equal(a, b)
    assert sum(c.size for c in got) == pytest.approx(seconds * SAMPLE_RATE, abs=SAMPLE_RATE * 0.01)


def test_opened_audio_refuses_a_file_that_is_not_sound(tmp_path: Path) -> None:
    from engine.errors import DecodeError
    from engine.indexing.media_pipelines import OpenedAudio

    bad = tmp_path / "x.mp3"
    bad.write_text("not audio\n")
    with pytest.raises(DecodeError):
        OpenedAudio(str(bad), None)


# -- through the library --------------------------------------------------------------------------------


def _photos(folder: Path, n: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(n):
        arr = rng.integers(0, 255, size=(60, 80, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"p{i:02d}.png")


def _library(home: Path):  # type: ignore[no-untyped-def]
    from engine.library import Library

    return Library.open(home)


def test_a_batch_the_store_refuses_fails_only_the_file_it_cannot_take(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 photos in batches of ENCODE_BATCH: a store that refuses any write holding photo 7's vectors
    makes photo 7 a failed row with the store's reason; the other 19 are indexed, each with its vector."""
    from engine.indexing.pipeline import ENCODE_BATCH, index_pending
    from engine.indexing.scan import scan
    from engine.storage import catalog as cat
    from engine.storage.store import VectorStore

    assert ENCODE_BATCH < 20
    _photos(tmp_path / "pics", 20)
    real = VectorStore.upsert
    calls: list[int] = []
    with _library(home) as lib:
        lib.add_folder(tmp_path / "pics")
        scan(lib)
        bad_id = next(r.id for r in lib.catalog.in_state(cat.PENDING) if r.path.endswith("p07.png"))

        def upsert(self, collection, *, ids, file_ids, **kw):  # type: ignore[no-untyped-def]
            calls.append(len(set(file_ids)))
            if bad_id in list(file_ids):
                raise ValueError("vectors must be finite and non-zero (cosine is undefined otherwise)")
            return real(self, collection, ids=ids, file_ids=file_ids, **kw)

        monkeypatch.setattr(VectorStore, "upsert", upsert)
        report = index_pending(lib)
        assert (report.indexed, report.failed) == (19, 1)
        (failed,) = lib.catalog.in_state(cat.FAILED)
        assert failed.id == bad_id and "finite" in (failed.error or "")
        assert max(calls) > 1  # the store was written a batch at a time, not a file at a time
        assert lib.store.count(lib.image_collection) == 19


def test_an_encoder_error_stops_the_run_and_leaves_no_writer_thread(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that is not one file's (the encoder breaking) comes out of index_pending as it did;
    batches already encoded are written first, the rest stay pending, and no thread is left behind."""
    from engine.indexing import pipeline
    from engine.indexing.scan import scan
    from engine.storage import catalog as cat

    _photos(tmp_path / "pics", 3 * pipeline.ENCODE_BATCH)
    with _library(home) as lib:
        lib.add_folder(tmp_path / "pics")
        scan(lib)
        real = pipeline._encode_batch
        batches: list[int] = []

        def encode(lib, batch):  # type: ignore[no-untyped-def]
            batches.append(len(batch))
            if len(batches) == 2:
                raise RuntimeError("the encoder broke")
            return real(lib, batch)

        monkeypatch.setattr(pipeline, "_encode_batch", encode)
        with pytest.raises(RuntimeError, match="encoder broke"):
            pipeline.index_pending(lib)
        assert not [t for t in threading.enumerate() if t.name == "lookalike-write"]
        assert len(lib.catalog.in_state(cat.INDEXED)) == batches[0]
        assert len(lib.catalog.in_state(cat.PENDING)) == 3 * pipeline.ENCODE_BATCH - batches[0]


def test_sounds_are_embedded_off_the_indexing_thread_and_all_indexed(home: Path, tmp_path: Path) -> None:
    """Sounds (short, one segment, and long) through index_pending: every one indexed with its clip
    vector, its segments when long, and its duration; the model ran on the writer thread."""
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.storage import catalog as cat

    d = tmp_path / "sounds"
    d.mkdir()
    for i, (kind, secs) in enumerate([("tone", 3.0), ("white", 10.0), ("chirp", 4.0), ("clicks", 42.0)]):
        sf.write(d / f"{kind}.flac", make_sound(kind, 44_100, secs, seed=i), 44_100)
    with _library(home) as lib:
        lib.add_folder(d)
        scan(lib)
        enc = lib.audio_encoder()
        threads: set[str] = set()
        real = enc.encode

        def encode(waveforms):  # type: ignore[no-untyped-def]
            threads.add(threading.current_thread().name)
            return real(waveforms)

        enc.encode = encode  # type: ignore[method-assign]
        report = index_pending(lib)
        assert (report.indexed, report.failed) == (4, 0)
        rows = {Path(r.path).stem: r for r in lib.catalog.in_state(cat.INDEXED)}
        assert rows["clicks"].duration == pytest.approx(42.0, abs=0.1)
        assert lib.store.count(lib.audio_collection) == 3 + 1 + 5  # 3 clips, the long one + its 5 segments
        assert threads == {"lookalike-write"}


def test_a_cancel_leaves_the_sounds_not_yet_embedded_pending(home: Path, tmp_path: Path) -> None:
    """Cancelled while the first sound is embedded: that sound is finished, the sounds decoded ahead
    but not embedded stay pending (a cancel waits for the file in hand only), nothing fails."""
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.storage import catalog as cat

    d = tmp_path / "sounds"
    d.mkdir()
    for i in range(6):
        sf.write(d / f"s{i}.wav", make_sound("tone", 32_000, 2.0, seed=i), 32_000)
    with _library(home) as lib:
        lib.add_folder(d)
        scan(lib)
        enc = lib.audio_encoder()
        stop = threading.Event()
        real = enc.encode

        def encode(waveforms):  # type: ignore[no-untyped-def]
            stop.set()  # the user asked for something else while the first sound was embedded
            return real(waveforms)

        enc.encode = encode  # type: ignore[method-assign]
        report = index_pending(lib, cancel=stop.is_set)
        assert report.cancelled and report.failed == 0
        assert report.indexed == 1
        assert len(lib.catalog.in_state(cat.PENDING)) == 5
        again = index_pending(lib)
        assert (again.indexed, again.failed) == (5, 0)
