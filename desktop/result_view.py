"""The results grid: a QListView in icon mode, a delegate that paints tiles, and the result actions.

Tiles are all the same size (``uniformItemSizes``: the layout never asks a row for its size), so
thousands of results lay out in milliseconds and scroll smoothly; the delegate paints the thumbnail
when the model has it and a kind glyph while it loads. Each tile shows the score, the moment (videos)
or the duration (sounds), and under the name why it matched ("name: receipt", "looks like").
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QFont,
    QFontMetrics,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from desktop.glyphs import draw_photo, draw_play, draw_wave, drawable
from desktop.qt_compat import emit
from desktop.result_model import ResultModel, StackState, Tile
from desktop.scrub import TileScrubber, draw_scrub_bar, scrubbed_frame
from desktop.waveform import matched_span, paint_sound_tile

TILE = QSize(188, 196)
THUMB_H = 140
PAD = 6

Index = QModelIndex | QPersistentModelIndex


def thumb_rect(tile_rect: QRect | QRectF) -> QRectF:
    """The thumbnail's area inside a tile's rectangle (the delegate paints there, clicks are read there)."""
    r = QRectF(tile_rect).adjusted(3, 3, -3, -3)
    return QRectF(r.left() + PAD, r.top() + PAD, r.width() - 2 * PAD, THUMB_H)


def stack_label(st: StackState) -> str:
    """The stack badge's text: its size, and which way a click goes (open the copies, or fold them)."""
    # ⧉ (two joined squares) is in few fonts; where none draws it a box would stand there: say "copies".
    size = f"\u29c9 {st.size}" if drawable("\u29c9") else f"{st.size} copies"
    if st.state == "closed":
        return f"{size} \u25b8"
    if st.state == "open":
        return f"{size} \u25be"
    if st.state == "copy":
        return "copy"
    return ""


def stack_badge_rect(thumb: QRectF, fm: QFontMetrics, text: str) -> QRectF:
    """Where the stack badge sits: bottom right of the thumbnail (the moment badge has the bottom left)."""
    w, h = fm.horizontalAdvance(text) + 10, fm.height() + 2
    return QRectF(thumb.right() - w - 4, thumb.bottom() - h - 4, w, h)


class TileDelegate(QStyledItemDelegate):
    """Paints one result tile: thumbnail (or glyph), score badge, moment/duration badge, file name.

    The view paints every visible tile on each repaint, on the GUI thread, while indexing threads
    compete for the GIL: so a tile is one call to the model (:meth:`ResultModel.tile`), the glyphs are
    drawn once into cached pixmaps, and the badge font is made once per view font.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._glyphs: dict[tuple, QPixmap] = {}
        self._badge_font: tuple[str, QFont] | None = None

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return TILE

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        model = index.model()
        tile = model.tile(index.row()) if isinstance(model, ResultModel) else _tile_from_roles(index)
        p.save()
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        pal = option.palette
        r = QRectF(option.rect).adjusted(3, 3, -3, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        st = index.data(ResultModel.StackRole)
        if not isinstance(st, StackState):
            st = StackState("", 0, index.row())
        if selected:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.Highlight))
            p.drawRoundedRect(r, 8, 8)
        elif st.state in ("open", "copy"):  # an open stack's tile and copies share a backdrop
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(pal.color(QPalette.ColorRole.AlternateBase))
            p.drawRoundedRect(r, 8, 8)
        thumb = thumb_rect(option.rect)
        pm = tile.pixmap
        scrub = scrubbed_frame(self.parent(), index.row())  # a hovered video: the moment under the pointer
        if scrub is not None:
            pm = scrub.pixmap
        if isinstance(pm, QPixmap) and not pm.isNull() and tile.kind == "sound":  # its own waveform
            paint_sound_tile(p, thumb, pm, matched_span(index.data(ResultModel.ResultRole)), pal)
        elif isinstance(pm, QPixmap) and not pm.isNull():
            self._draw_pixmap(p, thumb, pm)
        else:
            p.drawPixmap(thumb.topLeft(), self._placeholder(p, thumb, tile.kind, pal))
        if scrub is not None:
            draw_scrub_bar(p, thumb, scrub)
        p.setFont(self._small_font(p.font()))  # the badges and the name
        if tile.score:
            self._badge(p, thumb, tile.score, top=True)
        if tile.badge or scrub is not None:
            self._badge(p, thumb, scrub.label if scrub is not None else tile.badge, top=False)
        # duplicates engineer: a stack of near-duplicates (engine/search/stacks.py) shows how many it holds;
        # a click on the badge shows its copies after it (ResultView.mousePressEvent).
        if st.state:
            self._stack_badge(p, thumb, stack_label(st))
        text_rect = QRectF(
            r.left() + PAD, thumb.bottom() + 4, r.width() - 2 * PAD, r.bottom() - thumb.bottom() - 4
        )
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        p.setPen(pal.color(role))
        fm = p.fontMetrics()
        name = fm.elidedText(tile.name, Qt.TextElideMode.ElideMiddle, int(text_rect.width()))
        p.drawText(text_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, name)
        if tile.reason:  # why it matched, dimmer, under the name
            if not selected:
                p.setPen(pal.color(QPalette.ColorRole.PlaceholderText))
            why = fm.elidedText(tile.reason, Qt.TextElideMode.ElideRight, int(text_rect.width()))
            below = text_rect.adjusted(0, fm.height() + 1, 0, 0)
            p.drawText(below, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, why)
        p.restore()

    def _placeholder(self, p: QPainter, area: QRectF, kind: str, pal: QPalette) -> QPixmap:
        """The tile's look while its thumbnail loads (and for sounds): drawn once per kind and size."""
        dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
        back, fore = (
            pal.color(QPalette.ColorRole.AlternateBase),
            pal.color(QPalette.ColorRole.PlaceholderText),
        )
        key = (kind, area.width(), area.height(), dpr, back.rgba(), fore.rgba())
        pm = self._glyphs.get(key)
        if pm is None:
            pm = QPixmap(int(area.width() * dpr), int(area.height() * dpr))
            pm.setDevicePixelRatio(dpr)
            pm.fill(Qt.GlobalColor.transparent)
            g = QPainter(pm)
            g.setRenderHint(QPainter.RenderHint.Antialiasing)
            rect = QRectF(0, 0, area.width(), area.height())
            g.setPen(Qt.PenStyle.NoPen)
            g.setBrush(back)
            g.drawRoundedRect(rect, 6, 6)
            {"video": draw_play, "sound": draw_wave}.get(kind, draw_photo)(g, rect, fore)
            g.end()
            self._glyphs[key] = pm
        return pm

    def _small_font(self, font: QFont) -> QFont:
        key = font.key()
        if self._badge_font is None or self._badge_font[0] != key:
            small = QFont(font)
            small.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
            self._badge_font = (key, small)
        return self._badge_font[1]

    @staticmethod
    def _draw_pixmap(p: QPainter, area: QRectF, pm: QPixmap) -> None:
        size = pm.deviceIndependentSize()
        scale = min(area.width() / size.width(), area.height() / size.height())
        w, h = size.width() * scale, size.height() * scale
        target = QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)
        p.drawPixmap(target, pm, QRectF(pm.rect()))

    @staticmethod
    def _stack_badge(p: QPainter, area: QRectF, text: str) -> None:
        """The count of a stack, bottom right (the moment badge has the bottom left)."""
        rect = stack_badge_rect(area, p.fontMetrics(), text)
        h = rect.height()
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(_BADGE_BACK)
        p.drawRoundedRect(rect, h / 2, h / 2)
        p.setPen(_BADGE_TEXT)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    @staticmethod
    def _badge(p: QPainter, area: QRectF, text: str, *, top: bool) -> None:
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 10, fm.height() + 2
        x = area.right() - w - 4 if top else area.left() + 4
        y = area.top() + 4 if top else area.bottom() - h - 4
        rect = QRectF(x, y, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(_BADGE_BACK)
        p.drawRoundedRect(rect, h / 2, h / 2)
        p.setPen(_BADGE_TEXT)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


_BADGE_BACK = QColor(0, 0, 0, 160)
_BADGE_TEXT = QColor("white")


def _tile_from_roles(index: Index) -> Tile:
    """A tile for a model other than ResultModel (a proxy, a test's), from the standard roles."""
    kind = index.data(ResultModel.KindRole) or ""
    badge = index.data(ResultModel.BadgeRole)
    return Tile(
        index.data(Qt.ItemDataRole.DecorationRole),
        kind,
        str(index.data(ResultModel.ScoreRole) or ""),
        (("▶ " if kind == "video" else "♪ ") + badge) if badge else "",
        str(index.data(Qt.ItemDataRole.DisplayRole) or ""),
        str(index.data(ResultModel.ReasonRole) or ""),
    )


class ResultView(QListView):
    """The grid of results, with their actions (context menu and keys).

    Keys work while the grid has focus: Enter opens, Space previews, Ctrl+Shift+F finds similar,
    Ctrl+Shift+C copies the path; Ctrl+Shift+R shows the file in its folder.

    A stack of near-duplicates (a tile with a count badge) opens in place: a click on its badge, or
    "Show all N copies" in its menu, shows the copies right after the tile; the same again folds them.

    Signals:
        openRequested(list): open these results with the system's default application.
        showInFolderRequested(list): show them in the file manager.
        findSimilarRequested(list): search for items like them.
        copyPathRequested(list): put their paths on the clipboard.
        previewRequested(object): preview this result large (and play it, for videos and sounds).
    """

    openRequested = Signal(list)
    showInFolderRequested = Signal(list)
    findSimilarRequested = Signal(list)
    copyPathRequested = Signal(list)
    previewRequested = Signal(object)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(TILE)
        self.setSpacing(0)
        self.setWrapping(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setItemDelegate(TileDelegate(self))
        self.scrubber = TileScrubber(self)  # hovering a video tile shows its moments (desktop/scrub.py)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self.doubleClicked.connect(lambda _i: self._emit(self.openRequested))

        def action(text: str, keys: list[Any], signal: Any) -> QAction:
            a = QAction(text, self)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            a.triggered.connect(lambda: self._emit(signal))
            self.addAction(a)
            return a

        self.open_action = action("Open", [Qt.Key.Key_Return, Qt.Key.Key_Enter], self.openRequested)
        self.show_action = action("Show in folder", ["Ctrl+Shift+R"], self.showInFolderRequested)
        self.similar_action = action("Find similar", ["Ctrl+Shift+F"], self.findSimilarRequested)
        self.copy_action = action(
            "Copy path", ["Ctrl+Shift+C", QKeySequence.StandardKey.Copy], self.copyPathRequested
        )
        self.preview_action = QAction("Preview", self)
        self.preview_action.setShortcut(QKeySequence(Qt.Key.Key_Space))
        self.preview_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.preview_action.triggered.connect(self._emit_preview)
        self.addAction(self.preview_action)
        # Its text names the stack under the pointer ("Show all 3 copies"); set when the menu is built.
        self.stack_action = QAction("Show all copies", self)
        self.stack_action.triggered.connect(self._toggle_current_stack)

    def selected_results(self) -> list[Any]:
        rows = sorted({i.row() for i in self.selectedIndexes()})
        if not rows and self.currentIndex().isValid():
            rows = [self.currentIndex().row()]
        return [self.model().index(r, 0).data(ResultModel.ResultRole) for r in rows]

    def _emit(self, signal: Any) -> None:
        results = self.selected_results()
        if results:
            emit(signal, results)

    def _emit_preview(self) -> None:
        results = self.selected_results()
        if results:
            emit(self.previewRequested, results[0])

    def context_menu(self) -> QMenu:
        """The menu for the selected results (built fresh, so it reflects the current selection)."""
        menu = QMenu(self)
        for a in (
            self.open_action,
            self.preview_action,
            self.show_action,
            self.similar_action,
            self.copy_action,
        ):
            menu.addAction(a)
        menu.insertSeparator(self.similar_action)
        st = self._stack_state(self.currentIndex().row()) if self.currentIndex().isValid() else None
        if st is not None and st.state:
            self.stack_action.setText(
                f"Show all {st.size} copies" if st.state == "closed" else f"Hide the {st.size - 1} copies"
            )
            menu.addSeparator()
            menu.addAction(self.stack_action)
        return menu

    # -- stacks ----------------------------------------------------------------------------------------

    def _stack_state(self, row: int) -> StackState | None:
        st = self.model().index(row, 0).data(ResultModel.StackRole) if self.model() is not None else None
        return st if isinstance(st, StackState) else None

    def toggle_stack(self, row: int) -> bool:
        """Open or fold the stack at ``row`` (its tile or one of its shown copies), keeping that tile
        current; False when the row is not stacked."""
        model = self.model()
        st = self._stack_state(row)
        if not isinstance(model, ResultModel) or st is None or not st.state:
            return False
        if not model.toggle_stack(row):
            return False
        head = model.index(st.head, 0)
        self.setCurrentIndex(head)
        self.scrollTo(head)
        return True

    def _toggle_current_stack(self) -> None:
        if self.currentIndex().isValid():
            self.toggle_stack(self.currentIndex().row())

    def stack_badge_at(self, pos: QPoint) -> int:
        """The row whose stack badge is under ``pos`` (viewport coordinates), or -1."""
        idx = self.indexAt(pos)
        st = self._stack_state(idx.row()) if idx.isValid() else None
        if st is None or not st.state:
            return -1
        delegate = self.itemDelegate()
        font = self.viewport().font()
        if isinstance(delegate, TileDelegate):
            font = delegate._small_font(font)
        badge = stack_badge_rect(thumb_rect(self.visualRect(idx)), QFontMetrics(font), stack_label(st))
        return idx.row() if badge.adjusted(-3, -3, 3, 3).contains(pos.toPointF()) else -1

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            row = self.stack_badge_at(event.position().toPoint())
            if row >= 0 and self.toggle_stack(row):
                event.accept()
                return
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        # A quick second click on the badge folds the stack again; it must not open the file as well.
        if event.button() == Qt.MouseButton.LeftButton:
            row = self.stack_badge_at(event.position().toPoint())
            if row >= 0 and self.toggle_stack(row):
                event.accept()
                return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        idx = self.indexAt(event.pos())
        if not idx.isValid():
            return
        if not self.selectionModel().isSelected(idx):
            self.setCurrentIndex(idx)
        self.context_menu().exec(event.globalPos())
