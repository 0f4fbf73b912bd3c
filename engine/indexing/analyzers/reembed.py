"""The re-embedding stages of a model switch (engine.indexing.switches): every indexed file of a role's
kinds embedded again with the new model, into the new model's own collection, while search reads the
old one.

They are slow analyzers like the others (own progress bar in ``lookalike index``, own line in
``status`` and the app, paused and cancelled like the rest, state per file), active only while a
switch runs. Per file the write order is the pipeline's: the file's vectors in the new collection are
deleted, the new ones written, and only then is the file marked done (by the runner), so a kill redoes
at most the files in hand. When the stage runs out of files, :meth:`finished` completes the switch.

Photos are decoded on a small pool and encoded in batches, as in the indexing pipeline; a video's
moments are sampled as the pipeline samples them; sounds and soundtracks are streamed through the same
function the pipeline uses (engine.indexing.media_pipelines.embed_audio_file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from engine.core.progress import CancelFn
from engine.errors import DecodeError, LookalikeError, ModelFileError, ModelMissingError
from engine.indexing import switches
from engine.indexing.analyzers.base import Analyzer, Inputs, register
from engine.media.kinds import Kind

if TYPE_CHECKING:
    from engine.library import Library
    from engine.storage.catalog import FileRow

#: Images encoded per model call (as the indexing pipeline's ENCODE_BATCH).
ENCODE_BATCH = 32


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found (moved or deleted before it was re-embedded)"
    if isinstance(exc, PermissionError):
        return "permission denied: cannot read the file"
    return str(exc) if isinstance(exc, LookalikeError) else f"{exc.__class__.__name__}: {exc}"


class ReembedAnalyzer(Analyzer):
    """The re-embed stage of one role; subclasses set ``role``."""

    role: ClassVar[str] = ""
    version = switches.REEMBED_VERSION
    #: Right after the embeddings: the user asked for the new model, and files found meanwhile are
    #: already searchable with the old one.
    priority = 5

    def active(self, lib: Library) -> bool:
        return bool(switches.target(lib, self.role))

    def ready(self, lib: Library) -> str | None:
        nxt = switches.target(lib, self.role)
        if not nxt:
            return "no model switch in progress"
        if not lib.model_ready(nxt):
            return f"model {nxt} is not installed: lookalike models download {nxt}"
        return None

    def finished(self, lib: Library) -> None:
        switches.complete_if_covered(lib, self.role)

    def analyze(self, lib: Library, row: FileRow, inputs: Inputs) -> None:
        outcome = self.analyze_many(lib, [row], inputs)
        why = outcome.get(row.id)
        if row.id not in outcome:
            inputs.cancelled = True  # it stopped on the cancel: the file stays pending
        elif why is not None:
            raise LookalikeError(why)

    def _write(self, lib: Library, model_id: str, dim: int, rows: list[tuple[int, Any]]) -> None:
        """Replace these files' vectors in the new model's collection: ``rows`` are (file id, (ts,
        kinds, vectors))."""
        from engine.storage.store import vector_id

        name = switches.collection(self.role, model_id)
        store = lib.store
        store.ensure_collection(name, dim)
        store.delete_files(name, [fid for fid, _ in rows])
        ids: list[int] = []
        fids: list[int] = []
        ts: list[float] = []
        kinds: list[int] = []
        vecs: list[np.ndarray] = []
        for fid, (t, k, v) in rows:
            ids += [vector_id(fid, seq) for seq in range(len(t))]
            fids += [fid] * len(t)
            ts += list(t)
            kinds += list(k)
            vecs.append(v)
        if ids:
            store.upsert(name, ids=ids, file_ids=fids, ts=ts, kinds=kinds, vectors=np.concatenate(vecs))


class ReembedImageText(ReembedAnalyzer):
    name = "reembed_image_text"
    role = "image-text"
    kinds = switches.ROLES["image-text"].kinds
    needs = "pixels"
    produces = "vectors of photos and video moments in the new image-text model's collection"
    label = "re-embedding pictures"
    batch_size = 16

    def analyze_many(
        self, lib: Library, rows: Sequence[FileRow], cancel: CancelFn
    ) -> Mapping[int, str | None]:
        switches.ensure_fresh(lib, self.role)
        model_id = switches.target(lib, self.role)
        enc = lib.image_text_encoder(model_id)  # ModelMissingError / ModelFileError: the stage waits
        out: dict[int, str | None] = {}
        photos = [r for r in rows if r.kind == Kind.PHOTO.value]
        workers = lib.settings.workers or max(1, min(4, os.cpu_count() or 2))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lookalike-reembed") as pool:
            futures = [(row, pool.submit(self._prepare, lib, enc, row, cancel)) for row in photos]
            prepared = [got for row, fut in futures if (got := self._take(row, fut.result, out))]
        self._encode_and_write(lib, enc, model_id, prepared, out)
        # A clip's moments are held in memory until encoded (up to 600): one clip at a time, each
        # written before the next is decoded, as the pipeline holds at most two.
        for row in rows:
            if row.kind == Kind.PHOTO.value or cancel():
                continue
            got = self._take(row, partial(self._prepare, lib, enc, row, cancel), out)
            if got is not None:
                self._encode_and_write(lib, enc, model_id, [got], out)
        return out

    @staticmethod
    def _take(
        row: FileRow, get: Callable[[], Any], out: dict[int, str | None]
    ) -> tuple[FileRow, list[float], list[int], np.ndarray] | None:
        """``get()``'s prepared pixels for ``row``; None when it saw the cancel, or when it failed (the
        file's reason goes in ``out``: one file's trouble is that file's failure)."""
        try:
            got = get()
        except (ModelMissingError, ModelFileError):
            raise
        except Exception as exc:
            out[row.id] = _why(exc)
            return None
        return None if got is None else (row, *got)

    def _encode_and_write(
        self,
        lib: Library,
        enc: Any,
        model_id: str,
        prepared: list[tuple[FileRow, list[float], list[int], np.ndarray]],
        out: dict[int, str | None],
    ) -> None:
        if not prepared:
            return
        pixels = np.concatenate([p for _, _, _, p in prepared])
        vectors = np.concatenate(
            [
                enc.encode_pixels(pixels[i : i + ENCODE_BATCH].astype(np.float32))
                for i in range(0, len(pixels), ENCODE_BATCH)
            ]
        )
        rows_out: list[tuple[int, Any]] = []
        offset = 0
        for row, ts, kinds, px in prepared:
            n = len(px)
            rows_out.append((row.id, (ts, kinds, vectors[offset : offset + n])))
            offset += n
        self._write(lib, model_id, vectors.shape[1], rows_out)
        for row, *_ in prepared:
            out[row.id] = None

    @staticmethod
    def _prepare(
        lib: Library, enc: Any, row: FileRow, cancel: CancelFn
    ) -> tuple[list[float], list[int], np.ndarray] | None:
        """On the pool: one file's (ts, vector kinds, preprocessed pixels), or None on cancel."""
        from engine.core.vectors import KIND_FRAME, KIND_PHOTO, VIDEO_INTERVAL_S

        if cancel():
            return None
        if row.kind == Kind.PHOTO.value:
            from engine.media.images import load_photo

            img = load_photo(row.path, min_side=enc.image_size)
            return [0.0], [KIND_PHOTO], enc.preprocess([img]).astype(np.float16)
        from engine.indexing.media_pipelines import VIDEO_MAX_MOMENTS
        from engine.media.thumbnails import moment_key, save_thumbnail
        from engine.media.video import sample_moments

        # As the pipeline samples them (same interval and cap), so the moments keep their times.
        moments = list(
            sample_moments(
                row.path,
                interval=VIDEO_INTERVAL_S,
                max_moments=VIDEO_MAX_MOMENTS,
                size=max(enc.image_size, 224),
                cancel=cancel,
            )
        )
        if cancel():
            return None
        if not moments:
            raise DecodeError("no video frame could be decoded")
        for m in moments:
            save_thumbnail(lib.settings.thumbnails_dir, moment_key(row.id, m.t), m.image)
        pixels = enc.preprocess([m.image for m in moments]).astype(np.float16)
        return [float(m.t) for m in moments], [KIND_FRAME] * len(moments), pixels


class ReembedAudio(ReembedAnalyzer):
    name = "reembed_audio"
    role = "audio"
    kinds = switches.ROLES["audio"].kinds
    needs = "audio"
    produces = "vectors of sounds and soundtracks in the new sound model's collection, and its tags"
    label = "re-embedding sounds"
    batch_size = 4

    def analyze_many(
        self, lib: Library, rows: Sequence[FileRow], cancel: CancelFn
    ) -> Mapping[int, str | None]:
        from engine.core.vectors import KIND_SOUND, KIND_SOUNDTRACK
        from engine.indexing.media_pipelines import embed_audio_file
        from engine.storage import model_switch

        switches.ensure_fresh(lib, self.role)
        model_id = switches.target(lib, self.role)
        enc = lib.audio_encoder(model_id)
        out: dict[int, str | None] = {}
        for row in rows:
            if cancel():
                break
            try:
                if row.kind == Kind.VIDEO.value:
                    from engine.media.video import probe_video

                    if not probe_video(row.path).has_audio:
                        self._write(lib, model_id, enc.dim, [(row.id, ([], [], np.zeros((0, enc.dim))))])
                        out[row.id] = None
                        continue
                    try:
                        audio = embed_audio_file(enc, row.path, KIND_SOUNDTRACK, row.duration)
                    except DecodeError:  # a broken soundtrack costs the clip nothing (as when indexed)
                        out[row.id] = None
                        continue
                else:
                    audio = embed_audio_file(enc, row.path, KIND_SOUND, row.duration)
            except (ModelMissingError, ModelFileError):
                raise
            except Exception as exc:
                out[row.id] = _why(exc)
                continue
            self._write(
                lib, model_id, audio.vectors.shape[1], [(row.id, (audio.ts, audio.kinds, audio.vectors))]
            )
            model_switch.stage_tags(lib.catalog, row.id, model_id, audio.tags)
            out[row.id] = None
        return out


REEMBED_IMAGE_TEXT = register(ReembedImageText())
REEMBED_AUDIO = register(ReembedAudio())
