"""Reference counts stay balanced through emits and model data, whichever PySide6 release is installed."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from desktop.qt_compat import emit
from desktop.result_model import ResultModel


class _Emitter(QObject):
    ping = Signal(object)


def test_emit_keeps_true_alive() -> None:
    e = _Emitter()
    e.ping.connect(lambda _x: None)
    before = sys.getrefcount(True)
    for _ in range(200):
        emit(e.ping, 1)
    assert sys.getrefcount(True) - before >= 0


def test_model_data_keeps_none_alive(qtbot: Any) -> None:
    from engine.search.api import Result

    model = ResultModel(None)
    model.set_results([Result(1, "/a/rain.wav", "sound", 0.5)])
    index = model.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(200):
        assert index.data(Qt.ItemDataRole.DecorationRole) is None  # sounds have no thumbnail
        assert index.data(Qt.ItemDataRole.FontRole) is None  # a role the model does not answer
    assert sys.getrefcount(None) - before >= 0


def test_calls_that_return_nothing_never_use_up_none() -> None:
    from desktop import qt_compat

    obj = QObject()
    for _ in range(100_000):  # each loses a reference to None on PySide6 6.12.0 with Python < 3.12
        obj.setObjectName("x")
    assert sys.getrefcount(None) > 100_000 or not qt_compat.VOID_LEAKS
    assert qt_compat.NONE_PINNED or not qt_compat.VOID_LEAKS
