"""A library: the settings, the catalog, the vector store and the encoders of one data directory.

One process owns a library at a time (Milvus Lite allows one process per database): opening it takes
an exclusive lock file, and a second process gets LibraryBusyError with a plain message. Read-only
views (``lookalike status`` while the app runs) open the catalog alone with ``exclusive=False``.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import LibraryBusyError, LibraryDamagedError, LookalikeError, StoreError
from engine.models import registry
from engine.storage import catalog as cat
from engine.storage.catalog import Catalog
from engine.storage.privacy import PRIVATE_FILE, create_private_file, make_private_home
from engine.storage.settings import LOCK_FILE, Settings

if TYPE_CHECKING:
    from engine.models.base import AudioEncoder, ImageTextEncoder, TextEncoder
    from engine.models.speech import WhisperTranscriber
    from engine.storage.store import VectorStore

log = logging.getLogger(__name__)

#: Catalog meta key prefix: a collection's vector count when the library was last closed cleanly.
VECTOR_COUNT_META = "vectors_at_close:"
#: Catalog meta key prefix: a collection to drop once it is in use by no model of the settings (the old
#: model's after a switch, a target abandoned; engine.indexing.switches), kept until dropped.
DROP_META = "drop_collection:"
BUSY_MESSAGE = (
    "This library ({home}) is open in another Lookalike process (the app or another lookalike "
    "command). Close it and try again."
)


def collection_name(role: str, model_id: str) -> str:
    """Milvus collection for one embedding space: one per role and model, so a new model never mixes
    its vectors with another's."""
    return re.sub(r"[^0-9a-zA-Z_]", "_", f"{role}__{model_id}")


class Library:
    """Open with :meth:`open`; close with :meth:`close` (or use as a context manager).

    Opening makes the data folder private to its user (see engine.storage.privacy) and checks the
    catalog (SQLite ``quick_check``). The store and the encoders open lazily, on first use; when the
    store opens, the catalog's indexed files are checked against the vectors it holds, and files whose
    vectors are gone are queued again (:attr:`notices` says how many).

    Raises:
        LibraryBusyError: another process holds the library.
        LibraryDamagedError: the catalog (on open) or the vector database (when it opens) is damaged;
            the message says to run ``lookalike repair``.
        LookalikeError: a wrong settings file, or a catalog from a newer Lookalike.
    """

    def __init__(self, settings: Settings, *, exclusive: bool = True, check: bool = True) -> None:
        self.settings = settings
        self.home = settings.home
        subfolders = ("thumbnails",) if settings.store_uri else ("thumbnails", settings.vectors_path.name)
        make_private_home(self.home, subfolders)
        self._lock: Any = None
        if exclusive:
            from filelock import FileLock, Timeout

            lock = FileLock(str(self.home / LOCK_FILE), mode=PRIVATE_FILE)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise LibraryBusyError(BUSY_MESSAGE.format(home=self.home)) from None
            self._lock = lock
        self.exclusive = exclusive
        #: Things the user should be told about this library (e.g. files queued again because their
        #: vectors were lost); the CLI prints them, the app shows them.
        self.notices: list[str] = []
        try:
            # Created 0600 before SQLite opens it: its -wal and -shm files take the database's mode.
            create_private_file(settings.catalog_path)
            self.catalog = Catalog(settings.catalog_path)
            if check:
                from engine.storage.integrity import quick_check

                quick_check(self.catalog._db, settings.catalog_path)
        except BaseException:
            if getattr(self, "catalog", None) is not None:
                self.catalog.close()
            self._release()
            raise
        self._store: VectorStore | None = None
        self._encoders: dict[str, Any] = {}
        #: Memo for engine modules (e.g. the in-memory sound tag matrix), owned by the core thread.
        self.memo: dict[str, Any] = {}
        self._enc_lock = threading.Lock()

    @classmethod
    def open(cls, home: Path | None = None, *, exclusive: bool = True, check: bool = True) -> Library:
        return cls(Settings.load(home), exclusive=exclusive, check=check)

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- store ---------------------------------------------------------------------------------------

    @property
    def store(self) -> VectorStore:
        if self._store is None:
            if not self.exclusive:
                raise LibraryBusyError(BUSY_MESSAGE.format(home=self.home))
            from engine.storage.store import VectorStore

            try:
                store = VectorStore.open(
                    self.settings.store_uri,
                    token=self.settings.store_token,
                    lite_path=self.settings.vectors_path,
                )
            except LibraryBusyError:
                raise
            except StoreError as exc:
                raise self._store_damaged(exc) from exc
            self._store = store
            try:
                self.check_vectors()
                self.drop_unused_collections()
            except StoreError as exc:  # a collection that cannot be loaded or read
                self._store = None
                store.close()
                raise self._store_damaged(exc) from exc
        return self._store

    def drop_collection_later(self, name: str) -> None:
        """Queue collection ``name`` to be dropped (a catalog meta row, so it survives a kill); it is
        dropped by :meth:`drop_unused_collections` once no model of the settings uses it. Joins the
        caller's catalog transaction."""
        self.catalog.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (DROP_META + name, "1"))

    def drop_unused_collections(self) -> list[str]:
        """Drop the queued collections that no model of the settings uses (active or switched to), and
        forget them; returns their names. Runs when the store opens, so a drop a kill interrupted is
        finished on the next run. Raises StoreError."""
        in_use = set(self.collections_in_use)
        dropped = []
        sql = "SELECT key FROM meta WHERE substr(key, 1, ?) = ?"
        queued = self.catalog.query(sql, (len(DROP_META), DROP_META))
        for (key,) in queued:
            name = key[len(DROP_META) :]
            if name in in_use:
                continue
            self.store.drop_collection(name)
            with self.catalog.transaction():
                self.catalog.execute("DELETE FROM meta WHERE key=?", (key,))
                self.catalog.execute("DELETE FROM meta WHERE key=?", (VECTOR_COUNT_META + name,))
            dropped.append(name)
        return dropped

    def _store_damaged(self, exc: StoreError) -> LookalikeError:
        """A Lite database that cannot be opened or read is damaged: say how to repair it. A server's
        errors (unreachable, refused) are about the connection and stay as they are."""
        if self.settings.store_uri:
            return exc
        return LibraryDamagedError(
            f"The vector database {self.settings.vectors_path} is damaged ({exc}). Run `lookalike repair` "
            "(or Repair in the app): it keeps the damaged copy aside and indexes every file again.",
            part="store",
        )

    def _spaces(self) -> list[tuple[str, tuple[str, ...], str]]:
        """(collection, file kinds whose vectors it holds, model) for each embedding space."""
        return [
            (self.image_collection, ("photo", "video"), self.settings.image_text_model),
            (self.audio_collection, ("sound",), self.settings.audio_model),
        ]

    def check_vectors(self) -> int:
        """Queue again (pending) the indexed files that have no vector left in their space, e.g. after
        ``vectors.db`` was deleted, a collection dropped, or a damaged Lite manifest rolled a collection
        back. Returns how many, and adds a line to :attr:`notices` when there were any.

        Cheap when nothing is wrong: per space, a count of the catalog's indexed files and one
        ``count(*)`` of the store. The store's file ids are read only when the store holds fewer vectors
        than there are files, or another number than at the last clean close (each file has at least
        one vector; a video has many).

        Raises:
            StoreError: the store could not be read.
        """
        store = self.store
        lost = 0
        for name, kinds, model in self._spaces():
            marks = ",".join("?" * len(kinds))
            where = f"state=? AND model=? AND kind IN ({marks})"
            args = (cat.INDEXED, model, *kinds)
            files = self.catalog.query(f"SELECT COUNT(*) FROM files WHERE {where}", args)[0][0]
            if not files:
                continue
            exists = store.has_collection(name)
            vectors = store.count(name) if exists else 0
            if vectors >= files and self.catalog.get_meta(VECTOR_COUNT_META + name) == str(vectors):
                continue
            have = store.file_ids(name) if vectors else set()
            ids = [r[0] for r in self.catalog.query(f"SELECT id FROM files WHERE {where}", args)]
            missing = [i for i in ids if i not in have]
            if missing:
                log.warning("%d indexed files have no vectors in %s; queued again", len(missing), name)
                self.catalog.set_state(missing, cat.PENDING)
                lost += len(missing)
            self.catalog.set_meta(VECTOR_COUNT_META + name, str(vectors))
        if lost:
            self.notices.append(
                f"{lost} file{'s' if lost != 1 else ''} had lost {'their' if lost != 1 else 'its'} vectors "
                f"and {'are' if lost != 1 else 'is'} being indexed again."
            )
        return lost

    def _remember_vector_counts(self) -> None:
        """Record each collection's count at a clean close, for :meth:`check_vectors` next time."""
        store = self._store
        if store is None:
            return
        for name, _kinds, _model in self._spaces():
            if store.has_collection(name):
                self.catalog.set_meta(VECTOR_COUNT_META + name, str(store.count(name)))

    @property
    def image_collection(self) -> str:
        return collection_name("image_text", self.settings.image_text_model)

    @property
    def audio_collection(self) -> str:
        return collection_name("audio", self.settings.audio_model)

    @property
    def switch_collections(self) -> list[str]:
        """The collections a model switch in progress is filling (settings ``next_*_model``): search never
        reads them until the switch completes, but a removed or changed file's vectors leave them too."""
        s = self.settings
        out = []
        if s.next_image_text_model:
            out.append(collection_name("image_text", s.next_image_text_model))
        if s.next_audio_model:
            out.append(collection_name("audio", s.next_audio_model))
        return out

    @property
    def collections_in_use(self) -> list[str]:
        """Every collection the settings' models read or fill."""
        spaces = [self.image_collection, self.audio_collection, self.speech_collection]
        return spaces + self.switch_collections

    @property
    def speech_collection(self) -> str:
        """MiniLM vectors of what was said (engine.indexing.analyzers.speech)."""
        return collection_name("speech", self.settings.text_model)

    # -- encoders ------------------------------------------------------------------------------------

    def _device(self) -> str:
        from engine.models.device import pick_device

        return pick_device(self.settings.device)

    def _onnx_device(self) -> str:
        from engine.models.device import onnx_device

        return onnx_device(self.settings.device)

    def model_ready(self, model_id: str) -> bool:
        return registry.is_installed(self.settings.models_dir, model_id)

    def image_text_encoder(self, model_id: str | None = None) -> ImageTextEncoder:
        """The image-text encoder (the settings' model, or ``model_id``: a switch's target); raises
        ModelMissingError (with the fix) when it is not installed."""
        model_id = model_id or self.settings.image_text_model
        with self._enc_lock:
            if model_id not in self._encoders:
                from engine.models.uform import UFormEncoder

                folder = registry.require(self.settings.models_dir, model_id)
                self._encoders[model_id] = UFormEncoder(
                    folder, model_id, self._onnx_device(), precision=self.settings.image_precision
                )
            return self._encoders[model_id]

    def audio_encoder(self, model_id: str | None = None) -> AudioEncoder:
        """The sound encoder (the settings' model, or ``model_id``); ModelMissingError when absent."""
        model_id = model_id or self.settings.audio_model
        with self._enc_lock:
            if model_id not in self._encoders:
                from engine.models.panns import PannsEncoder

                folder = registry.require(self.settings.models_dir, model_id)
                self._encoders[model_id] = PannsEncoder.load(folder, model_id, device=self._device())
            return self._encoders[model_id]

    def text_encoder(self) -> TextEncoder:
        model_id = self.settings.text_model
        with self._enc_lock:
            if model_id not in self._encoders:
                from engine.models.minilm import MiniLMEncoder

                folder = registry.require(self.settings.models_dir, model_id)
                self._encoders[model_id] = MiniLMEncoder.load(folder, device=self._device())
            return self._encoders[model_id]

    def speech_model(self) -> WhisperTranscriber:
        """The Whisper model for speech (engine.models.speech); raises ModelMissingError when it is not
        installed. Loaded only when a file has speech: files without any never pay for it."""
        model_id = self.settings.speech_model
        key = f"speech:{model_id}"
        with self._enc_lock:
            if key not in self._encoders:
                from engine.models.device import inference_threads
                from engine.models.speech import WhisperTranscriber

                folder = registry.require(self.settings.models_dir, model_id)
                self._encoders[key] = WhisperTranscriber(
                    folder, model_id, device=self._onnx_device(), threads=inference_threads()
                )
            return self._encoders[key]

    def unload_models(self) -> None:
        """Drop the loaded encoders (they reload on demand); frees their memory when idle."""
        with self._enc_lock:
            self._encoders.clear()

    # -- folders -------------------------------------------------------------------------------------

    def add_folder(self, folder: str | Path) -> Path:
        p = self.settings.add_folder(folder)
        self.settings.save()
        return p

    def remove_folder(self, folder: str | Path) -> int:
        """Forget a folder: its files leave the catalog and the store. Returns how many were removed."""
        p = str(Path(folder).expanduser().resolve())
        self.settings.remove_folder(p)
        self.settings.save()
        ids = sorted(self.catalog.ids_under(p))
        self.delete_vectors(ids)
        return len(self.catalog.remove(ids))

    def delete_vectors(self, file_ids: list[int]) -> None:
        if not file_ids:
            return
        store = self.store
        for name in self.collections_in_use:
            if store.has_collection(name):
                store.delete_files(name, file_ids)

    def close(self) -> None:
        if self._store is not None:
            try:
                self._remember_vector_counts()
            except LookalikeError as exc:  # a damaged catalog or store: the next open checks in full
                log.warning("could not record the vector counts: %s", exc)
            self._store.close()
            self._store = None
        self.catalog.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None
