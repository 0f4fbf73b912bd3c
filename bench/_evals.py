"""What the quality scripts (``bench/eval_*.py``, ``bench/fit_score_range.py``) share: finding real weights
wherever they are, the labelled data in ``../shared/assets``, and saying plainly why nothing was
evaluated.

Real weights are looked for, in this order, in ``--models DIR``, ``$LOOKALIKE_REAL_MODELS``, the user's
models folder (``lookalike models list``; ``LOOKALIKE_HOME`` is honoured) and ``../shared/assets/models``.
Each place may hold the engine's own layout (``<model_id>/`` with a manifest), a folder named like the
Hub repository, a Hugging Face cache or loose PANNs ``.pth`` files: whatever ``lookalike models install
--from`` accepts, installed into a private folder through that same code, so the pins are checked too.
A random-weight test model never counts as real.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "assets"
DATA = SHARED / "data"


def model_sources(explicit: Path | None = None) -> list[Path]:
    from engine.storage.settings import Settings

    out = [explicit] if explicit else []
    if os.environ.get("LOOKALIKE_REAL_MODELS"):
        out.append(Path(os.environ["LOOKALIKE_REAL_MODELS"]).expanduser())
    out += [Settings.load().models_dir, SHARED / "models"]
    return [p for p in out if p is not None and p.is_dir()]


def real_models(dest: Path, model_ids: list[str], explicit: Path | None = None) -> tuple[bool, str]:
    """Install real weights of ``model_ids`` into ``dest`` (a models folder) from the first place that
    has each; returns (all found, why not). Installed models of the engine's layout are linked, not
    copied; anything else goes through ``fetch.install_from`` (pins checked)."""
    from engine.errors import LookalikeError
    from engine.models import fetch, registry

    dest.mkdir(parents=True, exist_ok=True)
    sources = model_sources(explicit)
    missing = []
    for model_id in model_ids:
        if registry.is_installed(dest, model_id):
            continue
        found = False
        for src in sources:
            if registry.is_installed(src, model_id):
                if registry.is_test_model(src, model_id):
                    continue
                (dest / model_id).symlink_to((src / model_id).resolve(), target_is_directory=True)
                found = True
                break
            try:
                fetch.install_from(dest, src, [model_id])
            except LookalikeError:
                continue
            if registry.is_test_model(dest, model_id):
                shutil.rmtree(dest / model_id, ignore_errors=True)
                continue
            found = True
            break
        if not found:
            missing.append(model_id)
    if missing:
        where = ", ".join(str(s) for s in sources) or "nowhere (no models folder exists)"
        return False, f"no real weights of {', '.join(missing)} (looked in {where})"
    return True, ""


def random_models(dest: Path, model_ids: list[str]) -> None:
    """Random-weight stand-ins of ``model_ids`` (to check a script itself; its figures then mean nothing).
    The real MiniLM from the shared assets is used where it is, since it is real."""
    from engine.models import registry
    from engine.models.manifest import write_manifest
    from engine.models.tiny import write_tiny_models

    dest.mkdir(parents=True, exist_ok=True)
    todo = [m for m in model_ids if not registry.is_installed(dest, m)]
    minilm = SHARED / "models" / "all-MiniLM-L6-v2"
    if "all-minilm-l6-v2" in todo and minilm.is_dir():
        shutil.copytree(minilm, dest / "all-minilm-l6-v2")
        write_manifest(dest / "all-minilm-l6-v2", "all-minilm-l6-v2", source="shared assets (real weights)")
        todo.remove("all-minilm-l6-v2")
    if todo:
        write_tiny_models(dest, todo)


def skipped(why: str, fix: str) -> int:
    """Say why nothing was evaluated (and how to fix it); the last line is the JSON the tests read."""
    print(f"No evaluation: {why}.")
    print(fix)
    print(json.dumps({"skipped": why}))
    return 0


def precision_at(ranked: list[str], relevant: set[str], k: int) -> float:
    """Share of the first ``k`` of ``ranked`` that are in ``relevant``."""
    top = ranked[:k]
    return sum(1 for x in top if x in relevant) / max(len(top), 1)
