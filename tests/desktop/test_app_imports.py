"""The app stops PySide6 reading the source of every module imported after it (desktop.app)."""

from __future__ import annotations

import linecache
import sys
from pathlib import Path

import pytest


def test_modules_imported_after_qt_are_not_read_for_pyside_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import PySide6.QtCore  # noqa: F401 - loads shibokensupport

    import desktop.app
    from desktop.app import skip_source_scans

    feature = sys.modules.get("shibokensupport.feature")
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        pytest.skip("this PySide6 has no per-module __feature__ check")
    monkeypatch.setattr(feature, "_mod_uses_pyside", feature._mod_uses_pyside)  # restored afterwards
    assert skip_source_scans() is True
    assert skip_source_scans() is False  # once

    name = "lookalike_test_plain_module"
    source = tmp_path / f"{name}.py"
    source.write_text("# mentions PySide6 in a comment, but is no module of ours\nVALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    linecache.checkcache()
    __import__(name)  # as an import statement does (PySide6 hooks __import__)
    monkeypatch.delitem(sys.modules, name)
    assert str(source) not in linecache.cache  # its source was not read
    assert feature.pyside_feature_dict.get(name) == -1  # no feature switches there, as before
    # Our own modules are still looked at as PySide6 looks at them.
    assert feature._mod_uses_pyside(desktop.app) is True
