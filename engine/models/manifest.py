"""The ``manifest.json`` written beside every installed model: file sizes and sha256, and its origin."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from engine.models.registry import MANIFEST


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(
    folder: Path, model_id: str, *, source: str, test_model: bool = False, extra: dict | None = None
) -> dict:
    """Record every file in ``folder`` (size and sha256). Written last and atomically: a model folder
    without a manifest is treated as not installed, so an interrupted install is never used."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp"):
            files[p.name] = {"size": p.stat().st_size, "sha256": file_digest(p)}
    manifest = {
        "id": model_id,
        "source": source,
        "test_model": test_model,
        "installed_at": time.time(),
        "files": files,
        # Where the files were pinned from (engine.models.fetch): revision, how each was verified.
        **(extra or {}),
    }
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(tmp, folder / MANIFEST)
    return manifest
