"""Work-arounds for defects of particular PySide6 releases, each on only where a probe finds it.

PySide6 6.12.0 on Python < 3.12 gets two reference counts wrong (6.11.3 does not; from 3.12 on,
True, False and None are immortal and the errors are harmless):

- ``SignalInstance.emit()`` returns True or False without a reference, so every emit from Python
  takes one away from ``True``;
- a Python ``QAbstractItemModel.data()`` override that returns None, when Qt calls it, takes one away
  from ``None``.

Each count starts in the thousands, so a session that loads a few thousand thumbnails ends with
"Fatal Python error: bool_dealloc". :func:`emit` and :func:`no_data` give the reference back when,
and only when, :func:`probe` measured the defect here. Delete this module once the dependency
excludes PySide6 6.12.0.
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


EMIT_LEAKS, DATA_LEAKS = probe()


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
