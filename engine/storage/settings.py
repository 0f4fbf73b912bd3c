"""Where Lookalike keeps its data, and the user's settings (a TOML file in the data directory).

The data directory comes from platformdirs and can be overridden with ``LOOKALIKE_HOME`` (the tests and
portable installs use that). Everything Lookalike writes lives under it: ``settings.toml``,
``catalog.sqlite``, the Milvus Lite database ``vectors.db/``, ``models/`` and ``thumbnails/``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from engine.errors import LookalikeError

APP_NAME = "Lookalike"
SETTINGS_FILE = "settings.toml"

DEFAULT_EXCLUDES = [
    ".*",  # hidden files and folders: .git, .cache, .Trash-1000, .thumbnails …
    "__pycache__",
    "node_modules",
    "$RECYCLE.BIN",
    "System Volume Information",
    "@eaDir",  # Synology thumbnails
    "*.tmp",
    "*.part",
    "*.crdownload",
]


def data_dir() -> Path:
    """The data directory: ``$LOOKALIKE_HOME`` if set, else the platform's user data dir."""
    env = os.environ.get("LOOKALIKE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


@dataclass
class Settings:
    """The user's settings. Unknown keys in the file are kept so newer versions' settings survive."""

    folders: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDES))
    #: "auto" (CUDA, then Apple MPS, then CPU), or "cpu", "cuda", "mps".
    device: str = "auto"
    #: Model ids by role; see engine.models.registry for the known ids.
    image_text_model: str = "uform3-image-text-english-small"
    audio_model: str = "panns-mobilenetv1"
    text_model: str = "all-minilm-l6-v2"
    #: Empty: a Milvus Lite database in the data dir. Otherwise a Milvus server URI, e.g. http://host:19530
    store_uri: str = ""
    store_token: str = ""
    #: "int8": on the CPU the image encoder runs as a checked int8 copy (about 2x faster);
    #: "fp32": as published.
    image_precision: str = "int8"
    #: Decode workers; 0 picks from the CPU count.
    workers: int = 0
    #: Keep indexing in a tray icon when the window closes (desktop app).
    keep_running_in_tray: bool = False
    extra: dict = field(default_factory=dict)

    home: Path = field(default_factory=data_dir, repr=False)

    @property
    def path(self) -> Path:
        return self.home / SETTINGS_FILE

    @property
    def models_dir(self) -> Path:
        return Path(os.environ.get("LOOKALIKE_MODELS") or self.home / "models")

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def vectors_path(self) -> Path:
        return self.home / "vectors.db"

    @property
    def thumbnails_dir(self) -> Path:
        return self.home / "thumbnails"

    @classmethod
    def load(cls, home: Path | None = None) -> Settings:
        """Read ``settings.toml`` from the data dir; missing file means defaults.

        Raises LookalikeError when the file exists but is not valid TOML (with the line to fix).
        """
        home = home or data_dir()
        path = home / SETTINGS_FILE
        values: dict = {}
        if path.exists():
            try:
                values = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise LookalikeError(f"Settings file {path} is not valid TOML: {exc}") from exc
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra", "home")}
        kwargs = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**kwargs, extra=extra, home=home)

    def save(self) -> None:
        """Write the settings atomically (temp file + rename), so a crash never leaves half a file."""
        import tomli_w

        self.home.mkdir(parents=True, exist_ok=True)
        values = {k: v for k, v in asdict(self).items() if k not in ("extra", "home")}
        values.update(self.extra)
        tmp = self.path.with_suffix(".toml.tmp")
        tmp.write_text(tomli_w.dumps(values), encoding="utf-8")
        os.replace(tmp, self.path)

    def add_folder(self, folder: str | Path) -> Path:
        """Add a library folder (stored absolute). Raises LookalikeError if it is not a directory."""
        p = Path(folder).expanduser().resolve()
        if not p.is_dir():
            raise LookalikeError(f"Not a folder: {folder}")
        if str(p) not in self.folders:
            self.folders.append(str(p))
        return p

    def remove_folder(self, folder: str | Path) -> bool:
        p = str(Path(folder).expanduser().resolve())
        if p in self.folders:
            self.folders.remove(p)
            return True
        return False
