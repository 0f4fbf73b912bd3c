"""What an analyzer is: one thing Lookalike learns about a file, with its own version and state.

An analyzer says which kinds of file it takes (``Kind`` values), what input it needs, what it produces,
its version and its priority. The catalog records, per (file, analyzer), done / failed with the
reason / pending (table ``analyses``; :mod:`engine.storage.analyses`), so:

* a file is searchable as soon as its embedding analyzer is done, while slower ones fill in behind it;
* a new version of one analyzer re-runs that analyzer alone, on every file it takes;
* a crash or a cancel re-runs only what was unfinished (state is written per file).

The embedding analyzers (priority 0) run inside the batched indexing pipeline
(:func:`engine.indexing.pipeline.index_pending`), which decodes on a pool and encodes in batches; every
other analyzer runs one file at a time in :func:`engine.indexing.analysis.run_pending_analyses`.

To add one: subclass :class:`Analyzer`, set the class attributes, implement :meth:`Analyzer.analyze`
(and :meth:`Analyzer.ready` if it needs a model or a setting), ``register()`` an instance in your
module, and add the module to ``BUILTIN_MODULES`` in ``engine/indexing/analyzers/registry.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from engine.core.progress import CancelFn, never
from engine.errors import LookalikeError, ModelFileError, ModelMissingError

if TYPE_CHECKING:
    from PIL.Image import Image

    from engine.library import Library
    from engine.storage.catalog import FileRow

#: What an analyzer reads: the file itself, a decoded photo, sampled video moments, or decoded audio.
NEEDS = ("file", "pixels", "frames", "audio")


class Analyzer:
    """Base class of an analyzer. Subclasses set the class attributes and implement ``analyze``.

    ``analyze`` learns from one file and writes what it learnt (its own side table through
    ``lib.catalog.transaction()`` / ``execute()``); it raises for a failure of that file (the message
    becomes the file's reason: a ``LookalikeError``'s text as is, anything else with its class name).
    It must be idempotent: a kill between its write and the 'done' mark runs it again on the same file.
    """

    #: Unique, stable id stored in the catalog (``ocr``, ``photo_embedding``). Never rename one.
    name: ClassVar[str] = ""
    #: Bump when the output changes meaning: every file it took is analyzed again, by it alone.
    version: ClassVar[int] = 1
    #: Kind values (``engine.media.kinds.Kind``) of the files it takes.
    kinds: ClassVar[frozenset[str]] = frozenset()
    #: One of NEEDS.
    needs: ClassVar[str] = "file"
    #: Short description of its output (``"vectors in the image-text space"``, ``"text rows"``).
    produces: ClassVar[str] = ""
    #: Lower runs first; the embeddings are 0 (a file is searchable once they are done).
    priority: ClassVar[int] = 100
    #: Progress label, lower case (``"reading text in photos"``).
    label: ClassVar[str] = ""
    #: True for the analyzers the batched indexing pipeline runs (they never see ``analyze``).
    embedding: ClassVar[bool] = False

    def ready(self, lib: Library) -> str | None:
        """None when it can run now; else the reason it cannot (a model is not installed, a setting
        turned it off), shown to the user. Cheap: called before every batch. Never raises."""
        return None

    def active(self, lib: Library) -> bool:
        """False when this analyzer has nothing to do in this library now, by its nature rather than
        for a reason to show (the re-embedding stage while no model switch runs): it is then left out
        of runs, counts and status altogether. Cheap; never raises. Default True."""
        return True

    def finished(self, lib: Library) -> None:
        """Called by the runner when this analyzer's stage has no file left to do (every file done or
        failed): a stage that completes something as a whole does it here (a model switch flips to the
        new model). Must be idempotent: a kill may come before it, and the next run calls it again."""

    #: Files per :meth:`analyze_many` call. 1 (the default): the runner calls ``analyze`` per file.
    batch_size: ClassVar[int] = 1

    def analyze(self, lib: Library, row: FileRow, inputs: Inputs) -> None:
        """Learn from one file and store the result. Raises for this file's failure (see class doc)."""
        raise NotImplementedError(f"{type(self).__name__}.analyze")

    def analyze_many(
        self, lib: Library, rows: Sequence[FileRow], cancel: CancelFn
    ) -> Mapping[int, str | None]:
        """For ``batch_size`` > 1: learn from several files at once (one gazetteer query, one model
        batch). Returns {file id: None when done, or the reason it failed} for the files it finished;
        a file left out (it stopped on ``cancel()``) stays pending. If it raises, the runner does each
        file with ``analyze`` instead. The default calls ``analyze`` per file."""
        out: dict[int, str | None] = {}
        for row in rows:
            if cancel():
                break
            inputs = Inputs(row, cancel)
            try:
                self.analyze(lib, row, inputs)
            except (ModelMissingError, ModelFileError):  # the model's problem: the runner waits for it
                raise
            except Exception as exc:
                user = isinstance(exc, LookalikeError)
                out[row.id] = str(exc) if user else f"{exc.__class__.__name__}: {exc}"
                continue
            if inputs.cancelled:
                break
            out[row.id] = None
        return out

    def __repr__(self) -> str:
        return f"<analyzer {self.name} v{self.version}>"


class Inputs:
    """What ``analyze`` reads for one file, decoded on first use and kept for the other calls.

    Also callable as the cancel check (``inputs()`` is True once the run should stop), so a long
    analyzer can return early between steps; what it stored by then must be valid or absent.
    """

    def __init__(self, row: FileRow, cancel: CancelFn | None = None) -> None:
        self.row = row
        self.path = row.path
        self._cancel: CancelFn = cancel or never
        #: Set once a cancel check said stop: whatever ``analyze`` returns then may be partial (a clip's
        #: moments cut short), so the runner leaves the file pending instead of marking it done.
        self.cancelled = False
        self._photos: dict[int, Image] = {}

    def __call__(self) -> bool:
        if self._cancel():
            self.cancelled = True
        return self.cancelled

    def cancel(self) -> bool:
        """The cancel check (same as calling ``inputs()``)."""
        return self()

    def photo(self, min_side: int = 1024) -> Image:
        """The photo decoded to RGB, upright, short side reduced to about ``min_side`` (never upscaled).
        Raises DecodeError with the reason for an unreadable file."""
        from engine.media.images import load_photo

        if min_side not in self._photos:
            self._photos[min_side] = load_photo(self.path, min_side=min_side)
        return self._photos[min_side]

    def moments(self, *, interval: float = 2.0, max_moments: int = 600, size: int = 512) -> Iterator[Any]:
        """A video's moments (``engine.media.video.Moment``: ``t`` and ``image``), in time order, about
        one every ``interval`` s plus scene changes. Raises DecodeError for an unreadable clip."""
        from engine.media.video import sample_moments

        return sample_moments(self.path, interval=interval, max_moments=max_moments, size=size, cancel=self)

    def audio(self, *, chunk_s: float = 10.0) -> Iterator[Any]:
        """The file's audio as mono float32 chunks at the models' rate (``iter_audio_chunks``)."""
        from engine.media.audio import iter_audio_chunks

        return iter_audio_chunks(self.path, chunk_s=chunk_s)


# -- the registry ------------------------------------------------------------------------------------

#: Every registered analyzer by name. Read it through the functions below, which load the built-in
#: modules first.
ANALYZERS: dict[str, Analyzer] = {}
_lock = threading.Lock()


A = TypeVar("A", bound=Analyzer)


def register(analyzer: A) -> A:
    """Add ``analyzer`` (replacing one of the same name: a test's stand-in). Returns it, so a module
    can write ``OCR = register(OcrAnalyzer())``. Raises ValueError for a malformed one."""
    if not analyzer.name or not analyzer.kinds or not analyzer.label:
        raise ValueError(f"{analyzer!r} needs a name, kinds and a label")
    if analyzer.needs not in NEEDS:
        raise ValueError(f"{analyzer!r}: needs must be one of {NEEDS}, not {analyzer.needs!r}")
    with _lock:
        ANALYZERS[analyzer.name] = analyzer
    return analyzer


def unregister(name: str) -> None:
    """Remove an analyzer (tests); unknown names are ignored."""
    with _lock:
        ANALYZERS.pop(name, None)
