"""The Preferences page on the real engine service (tiny random-weight models): the models per role with
their state and what a switch costs, Use starting a switch that runs as its own stage in the status
bar while search keeps answering, and the page and the library on the new model once it completes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from engine.service.core import Service
from tests.media import make_library

pytestmark = pytest.mark.slow
MULTI = "uform3-image-text-multilingual-base"


def real_service(lib: Any) -> Service:
    return Service(lib, quiet_period=0.2, batch_size=8)


def test_preferences_lists_the_models_and_use_switches_in_the_background(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.preferences import PreferencesDialog
    from engine.indexing.analyzers import reembed
    from engine.models.tiny import write_tiny_uform_variant

    write_tiny_uform_variant(home / "models" / MULTI, MULTI)
    # Re-embedding takes a moment per photo, as with real photos, so the stage can be seen running.
    prepare = reembed.ReembedImageText._prepare

    def slow(*args: Any) -> Any:
        time.sleep(0.1)
        return prepare(*args)

    monkeypatch.setattr(reembed.ReembedImageText, "_prepare", staticmethod(slow))
    photos = make_library(tmp_path / "Pictures", 12)
    w = make_window(home, real_service)
    w.menus.add_folder(str(photos[0].parent))
    qtbot.waitUntil(
        lambda: (p := w.bridge.last_progress) is not None and p.state == "idle" and p.indexed_total == 12,
        timeout=120_000,
    )

    w.menus.show_preferences()
    dialog = w.menus.preferences_dialog
    assert isinstance(dialog, PreferencesDialog) and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.choices is not None, timeout=30_000)
    table = dialog.tables["image-text"]
    rows = {table.item(i, 0).text().split(" ")[0]: i for i in range(table.rowCount())}
    assert set(rows) == {
        "uform3-image-text-english-small",
        "uform3-image-text-english-base",
        "uform3-image-text-english-large",
        MULTI,
    }
    small, multi = rows["uform3-image-text-english-small"], rows[MULTI]
    assert table.item(small, 4).text() == "in use"
    assert table.item(multi, 2).text().startswith("yes")
    assert table.item(multi, 3).text() == "21 languages"
    assert "Spanish" in table.item(multi, 3).toolTip()
    cost = table.item(multi, 4)
    assert "for your 12 photos" in cost.text()
    assert cost.text().endswith(("(estimate)", "(measured)"))
    assert cost.toolTip().startswith(("estimate: ", "measured"))  # where the figure comes from
    assert table.item(rows["uform3-image-text-english-large"], 2).text() == "no"
    assert dialog.tables["audio"].rowCount() == 2

    table.cellWidget(multi, 5).click()
    qtbot.waitUntil(lambda: "re-embedding pictures" in w.status.label.text().lower(), timeout=60_000)
    qtbot.waitUntil(lambda: any(b.isVisible() for b in dialog.switch_boxes), timeout=30_000)
    # Search answers during the switch, from the old model.
    qtbot.keyClicks(w.search_bar.field, "a photo")
    qtbot.waitUntil(lambda: w.model.rowCount() > 0, timeout=30_000)

    def switched() -> bool:
        c = dialog.choices
        return (
            c is not None
            and not c.switches
            and any(m.model_id == MULTI and m.use == "in use" for m in c.models)
        )

    qtbot.waitUntil(switched, timeout=120_000)
    settings = w.bridge.call(lambda lib: (lib.settings.image_text_model, lib.store.collections()))
    with qtbot.waitSignal(settings.finished, timeout=30_000) as got:
        pass
    model, collections = got.args[0]
    assert model == MULTI
    assert [c for c in collections if c.startswith("image_text__")] == [
        "image_text__" + MULTI.replace("-", "_")
    ]


def test_models_use_from_another_process_is_handed_to_the_running_app(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path
) -> None:
    """The app holds the library, so `lookalike models use` asks it to switch (it said "busy" before)."""
    import json
    import os
    import subprocess
    import sys

    from desktop import ipc
    from engine.models.tiny import write_tiny_uform_variant

    assert ipc.request_from_args(["models", "use", MULTI, "--json"]) == {
        "v": ipc.PROTOCOL_VERSION, "cmd": "use_model", "model": MULTI, "json": True,
    }  # fmt: skip
    assert ipc.request_from_args(["models", "use"]) is None
    assert ipc.request_from_args(["models", "use", "--help"]) is None
    with pytest.raises(ValueError, match="model id"):
        ipc.decode(json.dumps({"v": ipc.PROTOCOL_VERSION, "cmd": "use_model", "model": 7}).encode())

    write_tiny_uform_variant(home / "models" / MULTI, MULTI)
    photos = make_library(tmp_path / "Pictures", 4)
    w = make_window(home, real_service)
    w.menus.add_folder(str(photos[0].parent))
    qtbot.waitUntil(
        lambda: (p := w.bridge.last_progress) is not None and p.state == "idle" and p.indexed_total == 4,
        timeout=120_000,
    )
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LOOKALIKE_HOME": str(home), "PYTHONPATH": str(repo)}
    code = "import sys; from desktop.launcher import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "models", "use", MULTI, "--json"],
        env=env, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    answer = json.loads(out)
    assert answer["model"] == MULTI and "Switching the image-text model" in answer["message"]

    def model() -> str:
        task = w.bridge.call(lambda lib: lib.settings.image_text_model)
        with qtbot.waitSignal(task.finished, timeout=30_000) as got:
            pass
        return str(got.args[0])

    qtbot.waitUntil(lambda: model() == MULTI, timeout=120_000)
