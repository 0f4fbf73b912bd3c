"""The results of the current search as a Qt list model (one row per file, best first).

The model holds engine ``Result`` objects as they came back and answers the view's questions about
them. Thumbnails are requested lazily: only when the view asks for a row's decoration, which a
QListView with uniform item sizes does only for the rows it paints, so scrolling through thousands of
results loads only what is seen.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from desktop import relevance
from desktop.qt_compat import emit, no_data
from desktop.thumbnails import ThumbnailLoader, ThumbRequest, photo_key
from desktop.waveform import waveform_request
from engine.core.durations import format_duration
from engine.media.thumbnails import moment_key

Index = QModelIndex | QPersistentModelIndex


class StackState(NamedTuple):
    """A row's place in a stack of near-duplicates (engine ``Result.stack``, engine/search/stacks.py).

    ``state`` is "" (not stacked), "closed" (a tile holding ``size`` files, its copies hidden), "open"
    (the same with its copies shown after it) or "copy" (one of the copies shown, ``size`` the stack's
    size); ``head`` is the row of the stack's tile.
    """

    state: str
    size: int
    head: int


def thumb_request(r: Any) -> ThumbRequest | None:
    """What to load for a result's tile: a photo's thumbnail, a video moment's frame, a sound's waveform."""
    if r.kind == "photo":
        return ThumbRequest(photo_key(r.path, r.size, r.mtime), "photo", r.path)
    if r.kind == "video":
        mk = moment_key(r.file_id, r.t or 0.0)
        return ThumbRequest(f"moment:{mk}", "moment", r.path, moment_key=mk)
    if r.kind == "sound":
        return waveform_request(r)
    return None


class Tile(NamedTuple):
    """What a grid tile shows, in one call (the delegate paints hundreds of tiles per second)."""

    pixmap: Any  # QPixmap, or None while loading and for sounds
    kind: str
    score: str
    badge: str
    name: str
    #: Why it matched, short ('file name contains “receipt”', 'looks like “red car”'); "" if unknown.
    reason: str = ""


def reason_of(r: Any) -> str:
    """A result's short reason (engine ``Result.reason``); "" for results without reasons."""
    return str(getattr(r, "reason", "") or "")


def reasons_text(r: Any) -> str:
    """Every finder's reason in plain words, one per line ('file name contains “receipt”', 'looks like
    “red car” (strong match)'), for tooltips and the preview's Why row; "" for results without reasons."""
    return "\n".join(reason.describe() for reason in getattr(r, "reasons", None) or [])


def reasons_numbers(r: Any) -> str:
    """The numbers behind :func:`reasons_text` (each finder's rank, score and how far it stands out),
    one per line, for the Why row's tooltip."""
    return "\n".join(reason.numbers() for reason in getattr(r, "reasons", None) or [])


class ResultModel(QAbstractListModel):
    """Results of one query. ``set_results`` replaces them all (a new query), ``clear`` empties it.

    Roles: Display (file name), ToolTip (path, score, moment), Decoration (thumbnail QPixmap or None
    while loading / for sounds), and the custom roles below.
    """

    ResultRole = Qt.ItemDataRole.UserRole + 1
    ScoreRole = Qt.ItemDataRole.UserRole + 2
    KindRole = Qt.ItemDataRole.UserRole + 3
    PathRole = Qt.ItemDataRole.UserRole + 4
    #: The score as the tile shows it (a match percentage for text, a similarity for find-similar).
    #: Seconds into a video of the matched moment; None for photos and sounds.
    TimeRole = Qt.ItemDataRole.UserRole + 5
    #: The badge under a tile: the moment's time for a video, the duration for a sound.
    BadgeRole = Qt.ItemDataRole.UserRole + 6
    #: Why it matched, short (see :func:`reason_of`).
    ReasonRole = Qt.ItemDataRole.UserRole + 7
    #: The row's :class:`StackState` (stacked near-duplicates, expanded in place on demand).
    StackRole = Qt.ItemDataRole.UserRole + 8

    def __init__(self, loader: ThumbnailLoader | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._results: list[Any] = []
        #: Per row: the row of the stack tile a shown copy belongs to, or None (the tiles themselves).
        self._copy_of: list[int | None] = []
        #: Stack tiles whose copies are shown, by file id (so a stack stays open while rows shift).
        self._open: set[int] = set()
        self.mode = relevance.TEXT
        self._rows_by_key: dict[str, list[int]] = {}
        self._requests: list[ThumbRequest | None] = []
        self._tiles: dict[int, Tile] = {}
        self.loader = loader
        if loader is not None:
            loader.loaded.connect(self._on_thumbnail)
            loader.failed.connect(self._on_thumbnail)

    # -- contents --------------------------------------------------------------------------------------

    def set_results(self, results: Sequence[Any], mode: str = relevance.TEXT) -> None:
        """Show ``results`` (engine order) of a query in ``mode`` (relevance.TEXT or EXAMPLE)."""
        self.beginResetModel()
        self.mode = mode
        if self.loader is not None:
            self.loader.cancel_pending()  # the old tiles' requests are no longer wanted
        self._results = list(results)
        self._copy_of = [None] * len(self._results)
        self._open = set()
        self._reindex()
        self.endResetModel()

    def _reindex(self) -> None:
        """Rebuild the row-keyed caches after rows came or went."""
        self._tiles = {}
        self._requests = [thumb_request(r) for r in self._results]
        self._rows_by_key = {}
        for row, req in enumerate(self._requests):
            if req is not None:
                self._rows_by_key.setdefault(req.key, []).append(row)

    def clear(self) -> None:
        self.set_results([])

    def results(self) -> list[Any]:
        """The rows as shown: the results in engine order, with the copies of open stacks after their
        tile."""
        return list(self._results)

    # -- stacks ----------------------------------------------------------------------------------------

    def stack_state(self, row: int) -> StackState:
        if not 0 <= row < len(self._results):
            return StackState("", 0, row)
        head = self._copy_of[row]
        if head is not None:
            return StackState("copy", len(self._results[head].stack or []) + 1, head)
        r = self._results[row]
        n = len(getattr(r, "stack", None) or [])
        if not n:
            return StackState("", 0, row)
        return StackState("open" if r.file_id in self._open else "closed", n + 1, row)

    def expand(self, row: int) -> bool:
        """Show the copies stacked under the tile at ``row`` (or under the tile of the copy at ``row``)
        right after it. Returns False when there is nothing to show or they are shown already."""
        st = self.stack_state(row)
        if st.state != "closed":
            return False
        head = self._results[st.head]
        copies = list(head.stack)
        self.beginInsertRows(QModelIndex(), st.head + 1, st.head + len(copies))
        self._results[st.head + 1 : st.head + 1] = copies
        self._copy_of[st.head + 1 : st.head + 1] = [st.head] * len(copies)
        self._shift_heads(st.head + 1 + len(copies), len(copies))
        self._open.add(head.file_id)
        self._reindex()
        self.endInsertRows()
        self._changed(st.head)
        return True

    def collapse(self, row: int) -> bool:
        """Hide the copies of the stack that ``row`` is the tile or one of the shown copies of. Returns
        the row of the stack's tile, or False when that stack was not open."""
        st = self.stack_state(row)
        if st.state not in ("open", "copy"):
            return False
        n = st.size - 1
        self.beginRemoveRows(QModelIndex(), st.head + 1, st.head + n)
        del self._results[st.head + 1 : st.head + 1 + n]
        del self._copy_of[st.head + 1 : st.head + 1 + n]
        self._shift_heads(st.head + 1, -n)
        self._open.discard(self._results[st.head].file_id)
        self._reindex()
        self.endRemoveRows()
        self._changed(st.head)
        return True

    def toggle_stack(self, row: int) -> bool:
        """Expand a closed stack, collapse an open one (from its tile or any of its copies); False when
        ``row`` is not stacked."""
        return self.expand(row) or self.collapse(row)

    def _shift_heads(self, start: int, by: int) -> None:
        # A stack's copies follow its tile, so every copy from ``start`` on belongs to a tile that moved
        # by the same amount.
        for i in range(start, len(self._copy_of)):
            h = self._copy_of[i]
            if h is not None:
                self._copy_of[i] = h + by

    def _changed(self, row: int) -> None:
        idx = self.index(row, 0)
        emit(self.dataChanged, idx, idx, [self.StackRole])

    def result(self, row: int) -> Any:
        return self._results[row]

    def row_of_path(self, path: str) -> int:
        return next((i for i, r in enumerate(self._results) if r.path == path), -1)

    # -- Qt model interface ----------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._results)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        value = self._value(index, role)
        return no_data() if value is None else value

    def _value(self, index: Index, role: int) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._results):
            return None
        r = self._results[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(r.path)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{r.path}\n{relevance.score_details(r, self.mode)}"
            if r.kind == "video" and r.t is not None:
                tip += f" at {format_duration(r.t)}"
            reasons = getattr(r, "reasons", None) or []
            why = "\n".join(f"{x.describe()} — {x.numbers()}" for x in reasons)
            return f"{tip}\n{why}" if why else tip
        if role == self.ResultRole:
            return r
        if role == self.ScoreRole:
            return relevance.score_label(r, self.mode)
        if role == self.KindRole:
            return r.kind
        if role == self.PathRole:
            return r.path
        if role == self.TimeRole:
            return r.t if r.kind == "video" else None
        if role == self.ReasonRole:
            return reason_of(r)
        if role == self.StackRole:
            return self.stack_state(index.row())
        if role == self.BadgeRole:
            if r.kind == "video" and r.t is not None:
                return format_duration(r.t)
            if r.kind == "sound" and r.duration:
                return format_duration(r.duration)
            return ""
        return None

    def tile(self, row: int) -> Tile:
        """The row's tile contents; asks for its thumbnail, like ``data(DecorationRole)``."""
        t = self._tiles.get(row)
        if t is None:
            r = self._results[row]
            badge = self._value(self.index(row, 0), self.BadgeRole) or ""
            if badge:
                badge = ("▶ " if r.kind == "video" else "♪ ") + badge
            t = self._tiles[row] = Tile(
                None,
                r.kind,
                relevance.score_label(r, self.mode),
                badge,
                os.path.basename(r.path),
                reason_of(r),
            )
        pm = self._thumbnail(row)  # not kept in the tile: the loader's memory budget decides
        return t if pm is None else t._replace(pixmap=pm)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> Any:
        """Dragging tiles out drags the files (into a file manager, a chat, an editor)."""
        from PySide6.QtCore import QMimeData, QUrl

        md = QMimeData()
        md.setUrls([QUrl.fromLocalFile(self._results[i.row()].path) for i in indexes if i.isValid()])
        return md

    # -- thumbnails ------------------------------------------------------------------------------------

    def _thumbnail(self, row: int) -> Any:
        req = self._requests[row]
        if req is None or self.loader is None:
            return None
        pm = self.loader.cached(req.key)
        if pm is None:
            self.loader.request(req)
        return pm

    def _on_thumbnail(self, key: str, *_: Any) -> None:
        for row in self._rows_by_key.get(key, []):
            idx = self.index(row, 0)
            emit(self.dataChanged, idx, idx, [Qt.ItemDataRole.DecorationRole])
