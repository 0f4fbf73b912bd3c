"""First run: missing models are explained, then downloaded (progress, Cancel) or installed from a folder."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from engine.models import fetch, registry


@pytest.fixture
def first_run(qtbot: Any, make_window: Any, bare_home: Path) -> Any:
    w = make_window(bare_home)
    qtbot.waitUntil(
        lambda: w.menus.models_dialog is not None and w.menus.models_dialog.isVisible(), timeout=10_000
    )
    return w


def test_first_run_dialog_explains_what_will_be_downloaded(first_run: Any) -> None:
    dialog = first_run.menus.models_dialog
    text = dialog.explanation.text()
    for model_id in ("uform3-image-text-english-small", "panns-mobilenetv1", "all-minilm-l6-v2"):
        assert model_id in text
    assert "60.6 MB" in text  # the UForm files' sizes from the registry
    assert "23.6 MB" in text  # PANNs MobileNetV1
    assert not dialog.isModal()  # the library stays usable meanwhile
    assert first_run.search_bar.field.isEnabled()


def test_download_reports_progress_and_cancel_installs_nothing(
    qtbot: Any, first_run: Any, bare_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reached_half = threading.Event()

    def fake_download(models_dir: Path, model_id: str, *, progress: Any = None, cancel: Any = None) -> Path:
        total = 1000
        for done in range(0, total + 1, 100):
            progress("image_encoder.onnx", done, total)
            if done >= 500:
                reached_half.set()
                while not cancel():
                    threading.Event().wait(0.01)
                raise fetch.DownloadCancelled("Download cancelled")
        raise AssertionError("not reached")

    monkeypatch.setattr(fetch, "download", fake_download)
    dialog = first_run.menus.models_dialog
    dialog.download_button.click()
    qtbot.waitUntil(reached_half.is_set, timeout=10_000)
    qtbot.waitUntil(lambda: dialog.bar.value() == 500, timeout=10_000)
    assert "image_encoder.onnx" in dialog.status.text()
    assert dialog.cancel_button.isVisible()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: "cancelled" in dialog.status.text(), timeout=10_000)
    assert not dialog.cancel_button.isVisible() and dialog.download_button.isEnabled()
    assert not registry.is_installed(bare_home / "models", "uform3-image-text-english-small")


def test_download_success_installs_and_rescans(
    qtbot: Any, first_run: Any, bare_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def fake_download(models_dir: Path, model_id: str, *, progress: Any = None, cancel: Any = None) -> Path:
        asked.append(model_id)
        progress("weights", 10, 10)
        return models_dir / model_id

    monkeypatch.setattr(fetch, "download", fake_download)
    dialog = first_run.menus.models_dialog
    with qtbot.waitSignal(dialog.modelsInstalled, timeout=10_000) as sig:
        dialog.start_download()
    assert (
        sig.args[0] == asked == ["uform3-image-text-english-small", "panns-mobilenetv1", "all-minilm-l6-v2"]
    )
    assert first_run.session.missing_models == []
    assert "rescan" in first_run.bridge.service.names()  # files that waited for the models get indexed


def test_install_from_a_folder(qtbot: Any, first_run: Any, bare_home: Path, tiny_models: Path) -> None:
    dialog = first_run.menus.models_dialog
    with qtbot.waitSignal(dialog.modelsInstalled, timeout=30_000) as sig:
        dialog.install_from(str(tiny_models))
    assert set(sig.args[0]) >= {"uform3-image-text-english-small"}
    assert registry.is_installed(bare_home / "models", "uform3-image-text-english-small")
    assert "rescan" in first_run.bridge.service.names()
