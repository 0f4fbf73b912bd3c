"""A library: the settings, the catalog, the vector store and the encoders of one data directory.

One process owns a library at a time (Milvus Lite allows one process per database): opening it takes
an exclusive lock file, and a second process gets LibraryBusyError with a plain message. Read-only
views (``lookalike status`` while the app runs) open the catalog alone with ``exclusive=False``.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import LibraryBusyError
from engine.models import registry
from engine.storage.catalog import Catalog
from engine.storage.settings import Settings

if TYPE_CHECKING:
    from engine.models.base import AudioEncoder, ImageTextEncoder, TextEncoder
    from engine.storage.store import VectorStore

LOCK_FILE = "library.lock"
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

    Raises LibraryBusyError when another process holds the library, LookalikeError for a damaged
    settings file or catalog. The store and the encoders open lazily, on first use.
    """

    def __init__(self, settings: Settings, *, exclusive: bool = True) -> None:
        self.settings = settings
        self.home = settings.home
        self.home.mkdir(parents=True, exist_ok=True)
        self._lock: Any = None
        if exclusive:
            from filelock import FileLock, Timeout

            lock = FileLock(str(self.home / LOCK_FILE))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise LibraryBusyError(BUSY_MESSAGE.format(home=self.home)) from None
            self._lock = lock
        self.exclusive = exclusive
        self.catalog = Catalog(settings.catalog_path)
        self._store: VectorStore | None = None
        self._encoders: dict[str, Any] = {}
        #: Memo for engine modules (e.g. the in-memory sound tag matrix), owned by the core thread.
        self.memo: dict[str, Any] = {}
        self._enc_lock = threading.Lock()

    @classmethod
    def open(cls, home: Path | None = None, *, exclusive: bool = True) -> Library:
        return cls(Settings.load(home), exclusive=exclusive)

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

            self._store = VectorStore.open(
                self.settings.store_uri,
                token=self.settings.store_token,
                lite_path=self.settings.vectors_path,
            )
        return self._store

    @property
    def image_collection(self) -> str:
        return collection_name("image_text", self.settings.image_text_model)

    @property
    def audio_collection(self) -> str:
        return collection_name("audio", self.settings.audio_model)

    # -- encoders ------------------------------------------------------------------------------------

    def _device(self) -> str:
        from engine.models.device import pick_device

        return pick_device(self.settings.device)

    def _onnx_device(self) -> str:
        from engine.models.device import onnx_device

        return onnx_device(self.settings.device)

    def model_ready(self, model_id: str) -> bool:
        return registry.is_installed(self.settings.models_dir, model_id)

    def image_text_encoder(self) -> ImageTextEncoder:
        """The image-text encoder; raises ModelMissingError (with the fix) when it is not installed."""
        model_id = self.settings.image_text_model
        with self._enc_lock:
            if model_id not in self._encoders:
                from engine.models.uform import UFormEncoder

                folder = registry.require(self.settings.models_dir, model_id)
                self._encoders[model_id] = UFormEncoder(
                    folder, model_id, self._onnx_device(), precision=self.settings.image_precision
                )
            return self._encoders[model_id]

    def audio_encoder(self) -> AudioEncoder:
        model_id = self.settings.audio_model
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
        for name in (self.image_collection, self.audio_collection):
            if store.has_collection(name):
                store.delete_files(name, file_ids)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
        self.catalog.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None
