"""Exceptions a caller of the engine can see. Each message is meant to be shown to a person as is."""

from __future__ import annotations


class LookalikeError(Exception):
    """Base class: a problem the user can act on; ``str(err)`` is the one-line reason."""


class LibraryBusyError(LookalikeError):
    """Another process (the app, or another ``lookalike`` command) has this library open."""


class ModelMissingError(LookalikeError):
    """A model's files are not in the model cache; the message names the command that fixes it."""


class ModelFileError(LookalikeError):
    """A model's files are present but wrong (size, checksum or format)."""


class DecodeError(LookalikeError):
    """A media file could not be read or decoded; stored as the file's per-file error."""


class StoreError(LookalikeError):
    """The vector store could not be opened or used."""


class LibraryDamagedError(LookalikeError):
    """The catalog or the vector database is damaged; the message names the file and the problem and
    says to run ``lookalike repair`` (the app offers a Repair button). ``part`` is "catalog" or "store"."""

    def __init__(self, message: str, part: str = "catalog") -> None:
        super().__init__(message)
        self.part = part
