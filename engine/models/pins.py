"""Which exact bytes each model file must have: pinned revisions, sizes and checksums, and trust on first use.

Two sources, the first one winning:

* ``engine/data/model_pins.toml`` ships with the app. Per model: the repository, the revision (the Hub's
  commit hash, or the Zenodo record, whose files never change) and per file the exact size and sha256
  (md5 for Zenodo, which publishes only that). ``bench/pin_models.py`` writes it: from the Hub's own
  metadata (``HfApi().model_info(repo, revision, files_metadata=True)``) where the Hub is reachable, or
  from a local copy of the real files. What nobody could look up yet is written ``"unknown"``.
* ``<models_dir>/trusted_pins.json`` is trust on first use for what the shipped file leaves unknown: the
  first download records the revision it resolved and the size and sha256 of what it got; later
  downloads fetch that same revision and installs from a folder are held to those hashes, so a file
  that changes afterwards (a re-upload upstream, a damaged copy) is refused instead of silently used.

:func:`apply` copies the shipped pins into the registry's :class:`~engine.models.registry.ModelFile`
entries at import, so every reader (fetch, ``models check``, ``models list``) sees one set of facts.
Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import tomllib

#: The pins that ship with the app.
PINS_FILE = Path(__file__).resolve().parents[1] / "data" / "model_pins.toml"
#: Trust-on-first-use records, beside the installed models.
TRUSTED = "trusted_pins.json"
#: How the pins file writes a fact nobody could look up yet.
UNKNOWN = "unknown"
#: The Zenodo record the PANNs checkpoints come from: a record's files cannot change (a new version of
#: a record gets a new id), so the record id is the revision.
ZENODO_RECORD = "3987831"


def _known(value: Any) -> Any:
    return None if value in (UNKNOWN, "", None) else value


def load(path: Path = PINS_FILE) -> dict[str, dict[str, Any]]:
    """The shipped pins: ``{model_id: {"repo", "revision", "files": {name: {"size", "sha256", "md5"}}}}``
    with unknown facts as None. A missing or unreadable file gives ``{}`` (nothing pinned: every
    download is then trust on first use, and says so)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for model_id, entry in (raw.get("models") or {}).items():
        files = {
            name: {k: _known(info.get(k)) for k in ("size", "sha256", "md5")}
            for name, info in (entry.get("files") or {}).items()
        }
        out[model_id] = {
            "repo": _known(entry.get("repo")),
            "revision": _known(entry.get("revision")),
            "files": files,
            "note": entry.get("note", ""),
        }
    return out


def apply(models: dict[str, Any], pins: dict[str, dict[str, Any]] | None = None) -> None:
    """Fill the registry's ModelFile entries (in place in ``models``) with the shipped pins: the revision,
    and where known the exact size, sha256 and md5. A fact the pins leave unknown keeps the registry's
    value (e.g. a publisher's approximate size)."""
    pins = load() if pins is None else pins
    for model_id, spec in list(models.items()):
        entry = pins.get(model_id)
        if not entry:
            continue
        files = []
        for f in spec.files:
            known = {k: v for k, v in (entry["files"].get(f.name) or {}).items() if v is not None}
            if entry.get("revision"):
                known["revision"] = entry["revision"]
            files.append(dataclasses.replace(f, **known) if known else f)
        models[model_id] = dataclasses.replace(spec, files=tuple(files))


def origin(source: str) -> tuple[str, str]:
    """Where a registry source lives: ``("owner/name", "path/in/repo")`` for ``hf://owner/name/path``,
    ``("zenodo:<record>", file name)`` for a Zenodo URL, else ``("", url)``."""
    if source.startswith("hf://"):
        owner, name, path = source.removeprefix("hf://").split("/", 2)
        return f"{owner}/{name}", path
    if "zenodo.org/records/" in source or "zenodo.org/record/" in source:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(source).path.split("/")
        record = parts[parts.index("files") - 1] if "files" in parts else ""
        return f"zenodo:{record}", unquote(parts[-1])
    return "", source


# -- trust on first use ---------------------------------------------------------------------------


def _trusted_path(models_dir: Path) -> Path:
    return Path(models_dir) / TRUSTED


def trusted_all(models_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(_trusted_path(models_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def trusted(models_dir: Path, model_id: str) -> dict[str, Any] | None:
    """What the first download or install of ``model_id`` recorded: ``{"revision", "repo", "source",
    "recorded_at", "files": {name: {"size", "sha256"}}}``, or None."""
    entry = trusted_all(models_dir).get(model_id)
    return entry if isinstance(entry, dict) else None


def record_trusted(
    models_dir: Path,
    model_id: str,
    *,
    repo: str,
    revision: str | None,
    files: dict[str, dict[str, Any]],
    source: str,
) -> dict[str, Any]:
    """Record (atomically) the revision and the hashes a first download or install got. Files already
    recorded keep their first record: trust is given once, not refreshed by every install."""
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    data = trusted_all(models_dir)
    entry = data.get(model_id) if isinstance(data.get(model_id), dict) else None
    if entry is None:
        entry = {"repo": repo, "revision": revision, "source": source, "recorded_at": time.time()}
        entry["files"] = {}
    if not entry.get("revision") and revision:
        entry["revision"] = revision
    for name, info in files.items():
        entry["files"].setdefault(name, {"size": info.get("size"), "sha256": info.get("sha256")})
    data[model_id] = entry
    tmp = _trusted_path(models_dir).with_name(f"{TRUSTED}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, _trusted_path(models_dir))
    return entry


def forget_trusted(models_dir: Path, model_id: str) -> bool:
    """Drop a model's trust-on-first-use record (when its publisher changed the files on purpose)."""
    data = trusted_all(models_dir)
    if model_id not in data:
        return False
    del data[model_id]
    tmp = _trusted_path(models_dir).with_name(f"{TRUSTED}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, _trusted_path(models_dir))
    return True


def state(spec: Any) -> str:
    """How much of a model is pinned: "pinned" (all required files), "partly pinned", "not pinned"."""
    required = [f for f in spec.files if f.name not in spec.optional]
    n = sum(1 for f in required if f.pinned)
    return "pinned" if n == len(required) else ("partly pinned" if n else "not pinned")


# -- the pins file --------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if v is None:
        return f'"{UNKNOWN}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:_}" if abs(v) >= 10_000 else str(v)
    return json.dumps(str(v), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def dumps(pins: dict[str, dict[str, Any]], header: str = "") -> str:
    """The pins as TOML in the layout :func:`load` reads (unknown facts written ``"unknown"``)."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for model_id in sorted(pins):
        entry = pins[model_id]
        lines += ["", f"[models.{json.dumps(model_id)}]"]
        for key in ("repo", "revision", "note"):
            if key in entry and (key != "note" or entry[key]):
                lines.append(f"{key} = {_toml_value(entry[key])}")
        for name in sorted(entry.get("files", {})):
            info = entry["files"][name]
            lines += ["", f"[models.{json.dumps(model_id)}.files.{json.dumps(name)}]"]
            for key in ("size", "sha256", "md5"):
                if key in info and not (key == "md5" and info[key] is None):
                    lines.append(f"{key} = {_toml_value(info[key])}")
    return "\n".join(lines).lstrip("\n") + "\n"


def write(pins: dict[str, dict[str, Any]], path: Path = PINS_FILE, header: str = "") -> Path:
    """Write the pins file atomically; returns its path."""
    text = dumps(pins, header)
    tomllib.loads(text)  # never write a file the app could not read back
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
