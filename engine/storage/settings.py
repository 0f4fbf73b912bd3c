"""Where Lookalike keeps its data, and the user's settings (a TOML file in the data directory).

The data directory comes from platformdirs and can be overridden with ``LOOKALIKE_HOME`` (the tests and
portable installs use that). Everything Lookalike writes lives under it: ``settings.toml``,
``catalog.sqlite``, the Milvus Lite database ``vectors.db/``, ``models/`` and ``thumbnails/``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

from engine.errors import LookalikeError

log = logging.getLogger(__name__)

APP_NAME = "Lookalike"
SETTINGS_FILE = "settings.toml"
#: The lock file that lets one process at a time open a library (engine.library, engine.indexing.repair).
LOCK_FILE = "library.lock"

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


#: Accepted ``device`` values besides ``cuda:N`` (a GPU by number).
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Accepted ``image_precision`` values (see engine.models.uform).
IMAGE_PRECISIONS = ("int8", "fp32")
#: Keys the engine reads from the file beyond the Settings fields (kept in ``extra``; not warned about).
KNOWN_EXTRA_KEYS = frozenset({"watch_polling"})


class SettingsError(LookalikeError):
    """The settings file cannot be used as written; the message names the file, key, value and fix."""


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
    #: A model switch in progress (engine.indexing.switches; ``lookalike models use``): the model the
    #: library is being re-embedded with, "" when none. Search keeps using the models above until the
    #: new one covers the library, then they change in one save.
    next_image_text_model: str = ""
    next_audio_model: str = ""
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
    #: Find and transcribe speech in sounds and video soundtracks (Silero VAD, then Whisper).
    speech: bool = True
    #: The Whisper model for speech (see engine.models.registry: whisper-tiny / -base / -small).
    speech_model: str = "whisper-base"
    #: Read text in photos and video moments (RapidOCR), so a word on a sign finds the picture.
    ocr: bool = True
    extra: dict = field(default_factory=dict)

    home: Path = field(default_factory=data_dir, repr=False)

    @property
    def path(self) -> Path:
        return self.home / SETTINGS_FILE

    def model_ids(self) -> list[str]:
        """The models indexing and search need, one per role (image-text, audio, text): the one list of
        roles, used by ``models download``, ``status``, the service and the app's first run. The speech
        model is optional (``speech``) and is not among them."""
        return [self.image_text_model, self.audio_model, self.text_model]

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

        Every known key is type-checked here, so a wrong value stops the library before anything runs
        (``folders = "/tmp/lib"`` would otherwise be iterated as characters and scan ``/``). Unknown
        keys are kept (newer versions' settings survive) and logged as a warning.

        Raises:
            SettingsError: the file is not valid TOML (with the line to fix), is a folder or cannot
                be read, or a value has the wrong type or is not one of the allowed values (one line
                naming the key, the value and what is expected).
        """
        home = home or data_dir()
        path = home / SETTINGS_FILE
        values: dict = {}
        if path.is_dir():
            raise SettingsError(
                f"The settings file {path} is a folder; move it away (Lookalike writes a new file)."
            )
        if path.exists():
            try:
                values = tomllib.loads(path.read_text(encoding="utf-8"))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise SettingsError(f"Settings file {path} is not valid TOML: {exc}") from exc
            except OSError as exc:
                raise SettingsError(f"Cannot read the settings file {path}: {exc.strerror or exc}") from exc
        known = {f for f in cls.__dataclass_fields__ if f not in ("extra", "home")}
        kwargs: dict[str, Any] = {k: _checked(path, k, v) for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        unknown = sorted(k for k in extra if k not in KNOWN_EXTRA_KEYS)
        if unknown:
            log.warning("settings file %s: unknown keys kept but not used: %s", path, ", ".join(unknown))
        return cls(**kwargs, extra=extra, home=home)

    def save(self) -> None:
        """Write the settings atomically (temp file + rename), so a crash never leaves half a file."""
        import tomli_w

        from engine.storage.privacy import PRIVATE_FILE, make_private_dir

        make_private_dir(self.home)
        values = {k: v for k, v in asdict(self).items() if k not in ("extra", "home")}
        values.update(self.extra)
        tmp = self.path.with_suffix(".toml.tmp")
        # 0600: the file may hold store_token, and it lists the person's folders.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomli_w.dumps(values))
        os.chmod(tmp, PRIVATE_FILE)  # an old tmp file left by a crash keeps its mode through O_TRUNC
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


# -- validation -------------------------------------------------------------------------------------------

_STRING_KEYS = (
    "image_text_model", "audio_model", "text_model", "speech_model", "store_uri", "store_token",
    "next_image_text_model", "next_audio_model",
)  # fmt: skip
_CUDA_N = re.compile(r"cuda:\d+")


def _toml(value: object) -> str:
    """A value written the way it looks in the TOML file (so the message quotes what the user wrote)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def _checked(path: Path, key: str, value: object) -> object:
    """``value`` for ``key`` if it is valid (normalised: folders expanded, device lower-cased), else
    SettingsError naming the file, the key, the value as written and what is expected."""

    def bad(expected: str) -> SettingsError:
        return SettingsError(
            f"Settings file {path}: {key} = {_toml(value)} is not valid; expected {expected}."
        )

    def string_list(what: str, example: str) -> list[str]:
        if not isinstance(value, list):
            raise bad(f"a list of {what}, e.g. {key} = {example}")
        if not all(isinstance(v, str) and v for v in value):
            raise bad(f"a list of {what} (each a non-empty string), e.g. {key} = {example}")
        return list(value)

    if key == "folders":
        example = _toml([value]) if isinstance(value, str) else '["/home/you/Pictures"]'
        folders = [os.path.expanduser(f) for f in string_list("absolute folder paths", example)]
        relative = [f for f in folders if not os.path.isabs(f)]
        if relative:
            raise bad(f'absolute folder paths, not {_toml(relative[0])}, e.g. {key} = ["/home/you/Pictures"]')
        return folders
    if key == "excludes":
        return string_list("name patterns", '[".*", "*.tmp"]')
    if key == "workers":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise bad("a whole number of decode workers, 0 or more (0 picks from the CPU count)")
        return value
    if key == "device":
        if isinstance(value, str) and (value.lower() in DEVICES or _CUDA_N.fullmatch(value.lower())):
            return value.lower()
        raise bad('one of "auto", "cpu", "cuda", "cuda:N" (a GPU number) or "mps"')
    if key == "image_precision":
        if value in IMAGE_PRECISIONS:
            return value
        raise bad(" or ".join(f'"{p}"' for p in IMAGE_PRECISIONS))
    if key in ("keep_running_in_tray", "speech", "ocr"):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key in _STRING_KEYS:
        if not isinstance(value, str):
            raise bad("a string (in double quotes)")
        return value
    return value
