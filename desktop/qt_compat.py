"""Work-arounds for defects of particular PySide6 releases, each on only where a probe finds it.

PySide6 6.12.0 on Python < 3.12 gets two reference counts wrong (6.11.3 does not; from 3.12 on,
True, False and None are immortal and the errors are harmless):

- ``SignalInstance.emit()`` returns True or False without a reference, so every emit from Python
  takes one away from ``True``;
- a Python ``QAbstractItemModel.data()`` override that returns None, when Qt calls it, takes one away
  from ``None``.

Each count starts in the thousands, so a session that loads a few thousand thumbnails ends with
"Fatal Python error: bool_dealloc". :func:`emit` and :func:`no_data` give the reference back when,
and only when, :func:`probe` measured the defect here.

The same release loses a reference to None on *every* call of a C++ method that returns nothing
(``setText``, ``update``, each ``QPainter`` drawing call...): a grid repaint makes hundreds, so
scrolling through results for a while ended in "Fatal Python error: none_dealloc". Too many call sites
to give each reference back: when :func:`probe_void_calls` measures that defect, :func:`pin` raises
None's count by 2**40 once, which no session can use up (Python 3.12 makes None immortal the same way).

Delete this module once the dependency excludes PySide6 6.12.0.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

_incref = ctypes.pythonapi.Py_IncRef
_incref.argtypes = [ctypes.py_object]
_incref.restype = None


def probe() -> tuple[bool, bool]:
    """(emit loses a reference to its result, data() returning None loses one to None), measured.

    Runs once, when this module is imported (on the GUI thread, before any worker exists: other
    threads touching True or None while it counts would blur the measure).
    """
    from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal

    class _Emitter(QObject):
        ping = Signal()

    class _Model(QAbstractListModel):
        def rowCount(self, parent: Any = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
            return 1

        def data(self, index: Any, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
            return None

    emitter, model = _Emitter(), _Model()
    index = model.index(0, 0)
    n = 64
    before = sys.getrefcount(True)
    for _ in range(n):
        emitter.ping.emit()
    emit_leaks = sys.getrefcount(True) - before <= -n // 2
    before = sys.getrefcount(None)
    for _ in range(n):
        index.data(Qt.ItemDataRole.DisplayRole)
    data_leaks = sys.getrefcount(None) - before <= -n // 2
    for _ in range(n if emit_leaks else 0):  # give back what the probe itself took
        _incref(True)
    for _ in range(n if data_leaks else 0):
        _incref(None)
    return emit_leaks, data_leaks


def probe_void_calls() -> bool:
    """Whether calling a C++ method that returns nothing loses a reference to None, measured."""
    from PySide6.QtCore import QObject

    obj = QObject()
    n = 64
    before = sys.getrefcount(None)
    for _ in range(n):
        obj.setObjectName("probe")
    leaks = sys.getrefcount(None) - before <= -n // 2
    for _ in range(n if leaks else 0):
        _incref(None)
    return leaks


#: What :func:`pin` adds: at a million lost references a second, 12 days to use up.
PIN = 1 << 40


def pin(obj: object) -> bool:
    """Raise ``obj``'s reference count by :data:`PIN` in one step, so references lost by a defective
    binding never bring it to zero. Only for objects that live as long as the interpreter (None).

    CPython keeps the count in the object's first word; where that does not hold (a debug build, another
    interpreter), nothing is written and False is returned. The GIL is held throughout, as it is for
    every other change of the count.
    """
    if sys.implementation.name != "cpython":
        return False
    cell = ctypes.c_ssize_t.from_address(id(obj))
    # getrefcount sees one more (its argument) than the count in the object.
    if cell.value != sys.getrefcount(obj) - 1:
        return False
    cell.value += PIN
    return True


EMIT_LEAKS, DATA_LEAKS = probe()
VOID_LEAKS = probe_void_calls()
NONE_PINNED = VOID_LEAKS and pin(None)


def emit(signal: Any, *args: Any) -> None:
    """``signal.emit(*args)``, with the reference PySide6 6.12.0 drops given back."""
    result = signal.emit(*args)
    if EMIT_LEAKS:
        _incref(result)


def no_data() -> None:
    """What a model's ``data()`` returns for "nothing here" (None, with the lost reference given back)."""
    if DATA_LEAKS:
        _incref(None)
    return None
