"""Runs searches for the window: one query at a time, newest wins, stale answers never reach the view.

A query waits if the library is still opening and runs as soon as it is open. Each answer is split into
good matches and the closest (the engine's verdict, :mod:`desktop.relevance`): good matches are shown;
when there are none, the window says so and offers the closest ones anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop import relevance
from desktop.bridge import EngineBridge, Task
from desktop.library_queries import SEARCH_LIMIT
from desktop.qt_compat import emit

if TYPE_CHECKING:
    from desktop.session import Session
    from engine.search.results import Result

LIMIT = SEARCH_LIMIT  # the warm-up searches with the same limit


@dataclass
class Query:
    """What to search: text, or example files (find similar), with the filters."""

    text: str = ""
    paths: list[str] = field(default_factory=list)
    kinds: list[str] | None = None
    folder: str | None = None
    #: The date, place and sort boxes (engine.search.understand.search's after/before/place/sort), set
    #: ones only; a text query with any runs through that search on the engine thread.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def mode(self) -> str:
        return relevance.EXAMPLE if self.paths else relevance.TEXT

    @property
    def empty(self) -> bool:
        return not self.text and not self.paths and not (set(self.extra) - {"sort"})


@dataclass
class Answer:
    """The engine's results for a query (``all``, in its order), split by the score floor."""

    query: Query
    all: list[Result]
    good: list[Result]
    weak: list[Result]


class SearchController(QObject):
    """Signals:
    started(object): a Query was sent to the engine.
    answered(object): the Answer to the latest query (never an older one).
    failed(object, object): the latest Query failed, with the exception (as the engine raised it:
        a :class:`engine.errors.ModelMissingError` when a model is not installed; ``describe(exc)``
        is the reason for people).
    cleared(): the query is empty: nothing to show.
    """

    started = Signal(object)
    answered = Signal(object)
    failed = Signal(object, object)
    cleared = Signal()

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.floor_enabled = True
        self.query: Query | None = None
        self._task: Task | None = None
        self._waiting: Query | None = None
        bridge.opened.connect(self._on_opened)
        bridge.openFailed.connect(self._on_open_failed)

    def search(self, query: Query) -> None:
        """Run ``query``, superseding any query still running."""
        if self._task is not None:
            self._task.discard()
            self._task = None
        self.query = query
        if query.empty:
            self._waiting = None
            emit(self.cleared)
            return
        if not self.bridge.is_open:
            if self.bridge.open_exc is not None:
                emit(self.failed, query, self.bridge.open_exc)
                return
            self._waiting = query  # runs once the library is open
            emit(self.started, query)
            return
        kw: dict[str, Any] = {"limit": LIMIT}
        if not self.floor_enabled and not query.paths:
            # Random-weight test models: no score means anything, so every result is "closest"; show
            # them all, as before the engine judged matches, instead of its few closest.
            kw["closest"] = LIMIT
        if query.kinds:
            kw["kinds"] = query.kinds
        if query.folder and len(query.paths) <= 1:  # several examples: the engine has no folder filter
            kw["folder"] = query.folder
        try:
            if query.paths:
                task = self.bridge.search_similar(list(query.paths), **kw)
            elif query.extra:
                from engine.search.understand import search_results  # light: no model or store

                task = self.bridge.call(search_results, query.text, **kw, **query.extra)
            else:
                task = self.bridge.search_text(query.text, **kw)
        except Exception as exc:  # the service refused (stopping): same as a failed search
            emit(self.failed, query, exc)
            return
        self._task = task
        task.finished.connect(lambda results, q=query: self._on_results(q, results))
        task.errored.connect(lambda exc, q=query: self._on_error(q, exc))
        emit(self.started, query)

    def rerun(self) -> None:
        """Search the current query again (the filters changed, or the library did)."""
        if self.query is not None:
            self.search(self.query)

    def _on_opened(self, session: Session) -> None:
        self.floor_enabled = not session.test_models
        if self._waiting is not None:
            q, self._waiting = self._waiting, None
            self.search(q)

    def _on_open_failed(self, _reason: str) -> None:
        if self._waiting is not None:
            q, self._waiting = self._waiting, None
            emit(self.failed, q, self.bridge.open_exc or RuntimeError(_reason))

    def _on_results(self, query: Query, results: list[Result]) -> None:
        if query is not self.query:
            return
        self._task = None
        good, weak = relevance.split_by_floor(results, query.mode, enabled=self.floor_enabled)
        emit(self.answered, Answer(query, list(results), good, weak))

    def _on_error(self, query: Query, exc: BaseException) -> None:
        if query is not self.query:
            return
        self._task = None
        emit(self.failed, query, exc)
