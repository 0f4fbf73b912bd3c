"""Write engine/data/model_pins.toml: every registry model's repository, revision and per-file size and
sha256, from the sources that can vouch for them.

* ``--hub`` (where the Hugging Face Hub is reachable): for each Hub repository,
  ``HfApi().model_info(repo, revision=..., files_metadata=True)`` gives the commit hash and each file's
  size and, for LFS files, the sha256 the Hub computed; small non-LFS files (config.json, tokenizer.json)
  are downloaded from that same commit and hashed. ``--revision MODEL_ID=REV`` pins an older commit;
  otherwise the pinned one is kept, or ``main`` is resolved for a model not pinned yet.
* ``--zenodo`` (where zenodo.org is reachable): the record's API lists each file's size and md5; with
  ``--hash-zenodo`` the files are downloaded once and their sha256 recorded too.
* ``--from-folder MODEL_ID=DIR``: hash a local copy of the real files (e.g. all-MiniLM-L6-v2 from
  ../shared/assets/models, byte-identical to the Hub's by an independent cross-check; see
  ../shared/assets/SOURCES.md). The revision stays what it was: a folder cannot say which commit it is.
* With none of them it rewrites the file from what is already pinned plus the registry's own facts
  (the Zenodo md5s and sizes), marking every unknown fact ``"unknown"``.

Existing pins are kept unless a source gives a new value; a source that disagrees with a pinned
checksum is reported (the file changed upstream) and the new value written only with ``--accept``.

    python bench/pin_models.py [--hub] [--zenodo [--hash-zenodo]] [--from-folder ID=DIR ...]
                               [--revision ID=REV ...] [--accept] [--out engine/data/model_pins.toml]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.models import pins, registry  # noqa: E402

HEADER = """\
Pinned model files: the revision each model is fetched at and every file's exact size and checksum.
Written by bench/pin_models.py (see its docstring for the sources); read by engine.models.pins.
"unknown" marks a fact nobody could look up yet: a download then follows the repository's main branch,
records the commit and hashes it got (trust on first use, <models_dir>/trusted_pins.json) and says so.
Fill them where the Hub is reachable: python bench/pin_models.py --hub --zenodo"""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def skeleton(existing: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every registry model and file, with what is pinned already and the registry's exact facts."""
    out: dict[str, dict[str, Any]] = {}
    for spec in registry.MODELS.values():
        old = existing.get(spec.id, {})
        repo = pins.origin(spec.files[0].source)[0] if spec.files else ""
        entry: dict[str, Any] = {
            "repo": old.get("repo") or repo,
            "revision": old.get("revision") or (pins.ZENODO_RECORD if repo.startswith("zenodo:") else None),
            "note": old.get("note", ""),
            "files": {},
        }
        for f in spec.files:
            was = (old.get("files") or {}).get(f.name, {})
            entry["files"][f.name] = {
                # Only exact sizes are pins: a size without a checksum is the publisher's approximation.
                "size": was.get("size") or (f.size if f.pinned else None),
                "sha256": was.get("sha256") or f.sha256,
                "md5": was.get("md5") or f.md5,
            }
        out[spec.id] = entry
    return out


def _set(entry: dict[str, Any], name: str, key: str, value: Any, accept: bool, problems: list[str]) -> None:
    info = entry["files"].setdefault(name, {"size": None, "sha256": None, "md5": None})
    if value is None:
        return
    if info.get(key) not in (None, value) and not accept:
        problems.append(f"{name}: {key} pinned {info[key]}, the source now says {value} (kept; --accept)")
        return
    info[key] = value


def from_hub(pinned: dict[str, dict[str, Any]], revisions: dict[str, str], accept: bool) -> list[str]:
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi()
    problems: list[str] = []
    for model_id, entry in pinned.items():
        repo = entry["repo"] or ""
        if not repo or repo.startswith("zenodo:"):
            continue
        rev = revisions.get(model_id) or entry.get("revision") or "main"
        try:
            info = api.model_info(repo, revision=rev, files_metadata=True)
        except Exception as exc:  # offline, renamed, gated: say which and go on with the others
            problems.append(f"{model_id}: {repo}@{rev}: {exc.__class__.__name__}: {exc}")
            continue
        entry["revision"] = info.sha
        siblings = {s.rfilename: s for s in info.siblings or []}
        spec = registry.spec(model_id)
        for f in spec.files:
            path = pins.origin(f.source)[1]
            s = siblings.get(path)
            if s is None:
                if f.name not in spec.optional:
                    problems.append(f"{model_id}: {path} is not in {repo}@{info.sha}")
                continue
            lfs = getattr(s, "lfs", None)
            sha = getattr(lfs, "sha256", None) if lfs is not None else None
            size = getattr(lfs, "size", None) or s.size
            if sha is None:  # not in LFS: the Hub lists only a git blob id; hash the file itself
                local = Path(hf_hub_download(repo, path, revision=info.sha))
                sha, size = _sha256(local), local.stat().st_size
            _set(entry, f.name, "size", size, accept, problems)
            _set(entry, f.name, "sha256", sha, accept, problems)
        print(f"{model_id}: {repo}@{info.sha}")
    return problems


def from_zenodo(pinned: dict[str, dict[str, Any]], hash_files: bool, accept: bool) -> list[str]:
    problems: list[str] = []
    records: dict[str, dict[str, Any]] = {}
    for model_id, entry in pinned.items():
        repo = entry["repo"] or ""
        if not repo.startswith("zenodo:"):
            continue
        record = repo.removeprefix("zenodo:")
        try:
            if record not in records:
                req = urllib.request.Request(f"https://zenodo.org/api/records/{record}")
                with urllib.request.urlopen(req, timeout=60) as resp:
                    records[record] = {f["key"]: f for f in json.load(resp).get("files", [])}
        except Exception as exc:  # offline: keep what is pinned
            problems.append(f"{model_id}: zenodo record {record}: {exc}")
            continue
        for f in registry.spec(model_id).files:
            z = records[record].get(f.name)
            if z is None:
                problems.append(f"{model_id}: {f.name} is not in zenodo record {record}")
                continue
            algo, _, digest = str(z.get("checksum", "")).partition(":")
            _set(entry, f.name, "size", int(z["size"]), accept, problems)
            if algo == "md5":
                _set(entry, f.name, "md5", digest, accept, problems)
            if hash_files:
                import tempfile

                with tempfile.TemporaryDirectory() as tmp:
                    dest = Path(tmp) / f.name
                    urllib.request.urlretrieve(f.source, dest)
                    _set(entry, f.name, "sha256", _sha256(dest), accept, problems)
        entry["revision"] = record
        print(f"{model_id}: zenodo record {record}")
    return problems


def from_folder(pinned: dict[str, dict[str, Any]], model_id: str, folder: Path, accept: bool) -> list[str]:
    problems: list[str] = []
    spec = registry.spec(model_id)
    for f in spec.files:
        p = folder / f.name
        if not p.is_file():
            if f.name not in spec.optional:
                problems.append(f"{model_id}: {p} is missing")
            continue
        _set(pinned[model_id], f.name, "size", p.stat().st_size, accept, problems)
        _set(pinned[model_id], f.name, "sha256", _sha256(p), accept, problems)
    if not pinned[model_id].get("note"):
        pinned[model_id]["note"] = (
            f"sizes and sha256 hashed from a local copy of the real files ({folder.name}); a folder cannot "
            "say its commit, so the revision stays unknown until --hub"
        )
    print(f"{model_id}: hashed {folder}")
    return problems


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for v in values:
        key, sep, value = v.partition("=")
        if not sep or key not in registry.MODELS:
            raise SystemExit(f"--{what} wants MODEL_ID=VALUE with a known model id, got {v!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", action="store_true", help="ask the Hugging Face Hub (network)")
    ap.add_argument("--zenodo", action="store_true", help="ask Zenodo's record API (network)")
    ap.add_argument("--hash-zenodo", action="store_true", help="download the Zenodo files to hash them")
    ap.add_argument("--from-folder", action="append", default=[], metavar="ID=DIR")
    ap.add_argument("--revision", action="append", default=[], metavar="ID=REV")
    ap.add_argument("--accept", action="store_true", help="overwrite pins that a source contradicts")
    ap.add_argument("--out", type=Path, default=pins.PINS_FILE)
    args = ap.parse_args(argv)

    pinned = skeleton(pins.load(args.out))
    problems: list[str] = []
    for model_id, folder in _pairs(args.from_folder, "from-folder").items():
        problems += from_folder(pinned, model_id, Path(folder), args.accept)
    if args.hub:
        problems += from_hub(pinned, _pairs(args.revision, "revision"), args.accept)
    if args.zenodo:
        problems += from_zenodo(pinned, args.hash_zenodo, args.accept)
    pins.write(pinned, args.out, HEADER)
    unknown = sorted(
        f"{m}/{n}: {', '.join(k for k in ('size', 'sha256') if v.get(k) is None)}"
        for m, e in pinned.items()
        for n, v in e["files"].items()
        if v.get("size") is None or (v.get("sha256") is None and v.get("md5") is None)
    )
    no_rev = sorted(m for m, e in pinned.items() if not e.get("revision"))
    print(f"wrote {args.out}")
    if no_rev:
        print(f"revision unknown ({len(no_rev)}): {', '.join(no_rev)}")
    if unknown:
        print(f"files not pinned ({len(unknown)}):\n  " + "\n  ".join(unknown))
    for p in problems:
        print(f"PROBLEM {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
