"""What the search box was asked: the typed text taken apart into what each retriever needs.

``parse_query("receipt \\"free wifi\\" -blurry")`` gives a :class:`ParsedQuery` whose

* ``text`` is what the image-text and sound models see: ``receipt free wifi`` (quotes dropped,
  exclusions removed);
* ``words`` are the loose words for the lexical retrievers (names, words in pictures): ``["receipt"]``;
* ``phrases`` are the quoted parts, which mean *this exact text*: ``["free wifi"]``;
* ``excluded`` are the ``-word`` (or ``-"some phrase"``) parts: no result may have them in its name
  or in the text read in it: ``["blurry"]``.

Understanding steps (dates, places, "videos of …") are plug-ins: a module appends a function to
:data:`UNDERSTANDERS` (and names itself in :data:`UNDERSTANDER_MODULES` so it is imported on the first
parse). Each gets the library (None when parsing without one) and the query, and may move what it
understood out of ``text`` / ``words`` with :meth:`ParsedQuery.consume`, put a filter in ``filters``
and add a chip to ``understood``. Filters become the set of allowed files through :data:`FILTERS`
(see engine.search.ranking). A failing understander is logged and skipped: the search still runs.
"""

from __future__ import annotations

import importlib
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.library import Library

log = logging.getLogger(__name__)


@dataclass
class ParsedQuery:
    """A typed query taken apart (see the module docstring). Mutable: understanders refine it."""

    #: The text as typed.
    raw: str
    #: Free text for the models: phrases without their quotes, exclusions and understood parts removed.
    text: str = ""
    #: Loose words (not in quotes) for the lexical retrievers, in typed order.
    words: list[str] = field(default_factory=list)
    #: Quoted phrases: exact text (in a name, or read in a picture).
    phrases: list[str] = field(default_factory=list)
    #: ``-word`` / ``-"phrase"``: files whose name or text has one of these are left out.
    excluded: list[str] = field(default_factory=list)
    #: Filled by understanders, e.g. {"date": (start, end), "place": ..., "kinds": [...], "folder": ...}.
    filters: dict[str, Any] = field(default_factory=dict)
    #: What the understanders recognised, as (kind, label) chips for the UI, e.g. ("date", "2019").
    understood: list[tuple[str, str]] = field(default_factory=list)
    #: Files the filters allow (None: no filter). Set by the ranking step from :data:`FILTERS`.
    allowed: set[int] | None = None

    @property
    def terms(self) -> list[str]:
        """Everything a lexical retriever should look for: the loose words, then the phrases."""
        return [*self.words, *self.phrases]

    @property
    def empty(self) -> bool:
        """Nothing to look for and nothing to filter by."""
        return not self.text and not self.terms and not self.filters

    def consume(self, fragment: str) -> bool:
        """Take ``fragment`` (case-insensitive, whole words) out of ``text`` and ``words``: an understander
        recognised it as a date or a place, so the models and the name search should not look for it.
        Returns False when the fragment is not in the text."""
        pattern = re.compile(rf"(?<!\w){re.escape(fragment.strip())}(?!\w)", re.IGNORECASE)
        if not fragment.strip() or not pattern.search(self.text):
            return False
        self.text = _squash(pattern.sub(" ", self.text))
        gone = {fold(w) for w in _WORD.findall(fragment)}
        self.words = [w for w in self.words if fold(w) not in gone]
        return True


#: ``understander(lib, query)``: refine ``query`` in place (see the module docstring).
Understander = Callable[["Library | None", ParsedQuery], None]
#: ``filter(lib, query)``: the file ids ``query.filters`` allow, or None when it has no opinion.
QueryFilter = Callable[["Library", ParsedQuery], "set[int] | None"]

UNDERSTANDERS: list[Understander] = []
FILTERS: list[QueryFilter] = []
#: Modules that append to UNDERSTANDERS / FILTERS when imported; imported on the first parse, so this
#: module stays light and import order never matters.
UNDERSTANDER_MODULES: list[str] = ["engine.search.understand"]  # dates and places (issue 14)
_loaded: set[str] = set()

# A quoted phrase, straight or curly quotes, optionally excluded with a leading minus.
_TOKEN = re.compile(r'(?P<neg>(?<!\S)-)?(?:"(?P<q1>[^"]*)"|“(?P<q2>[^”]*)”)|(?P<word>\S+)')
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits: "_" splits words, as in names


@lru_cache(maxsize=65_536)  # the same words (names, folder names, query words) come back all the time
def fold(text: str) -> str:
    """Case- and accent-insensitive form of ``text`` (``Café`` → ``cafe``), for comparing words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _squash(text: str) -> str:
    return " ".join(text.split())


def load_understanders() -> None:
    """Import the plug-in modules named in :data:`UNDERSTANDER_MODULES` (once each). A module that
    fails to import is logged and skipped."""
    for name in list(UNDERSTANDER_MODULES):
        if name in _loaded:
            continue
        _loaded.add(name)
        try:
            importlib.import_module(name)
        except Exception:  # a broken plug-in must not break the search box
            log.exception("query understanding module %s failed to load", name)


def parse_query(text: str, lib: Library | None = None, *, understand: bool = True) -> ParsedQuery:
    """Take ``text`` apart into a :class:`ParsedQuery`, then run the understanders (unless
    ``understand`` is False). Never raises for any input."""
    q = ParsedQuery(raw=text)
    free: list[str] = []
    for m in _TOKEN.finditer(text or ""):
        phrase = m.group("q1") if m.group("q1") is not None else m.group("q2")
        if phrase is not None:
            phrase = _squash(phrase)
            if not phrase:
                continue
            if m.group("neg"):
                q.excluded.append(phrase)
            else:
                q.phrases.append(phrase)
                free.append(phrase)
            continue
        token = m.group("word")
        if token.startswith("-") and _WORD.search(token[1:]):
            q.excluded.append(token[1:])  # whole: "-IMG_0002" leaves out that name, not every IMG
            continue
        if token.startswith('"') or token.startswith("“"):  # an unclosed quote: just words
            token = token.lstrip('"“')
        free.append(token)
        q.words.extend(_WORD.findall(token))
    q.text = _squash(" ".join(free))
    if understand:
        load_understanders()
        for step in list(UNDERSTANDERS):
            try:
                step(lib, q)
            except Exception:  # a plug-in's bug costs its understanding, never the search
                log.exception("query understander %r failed on %r", step, text)
    return q
