"""Getting model files into the cache: download once (the only code that touches the network), or
install from a folder for machines without network.

Every file is held to what :mod:`engine.models.pins` knows of it, best first:

1. **pinned** (``engine/data/model_pins.toml``): the revision to fetch and the exact size and sha256
   (md5 for Zenodo). A download fetches that commit (``hf_hub_url(..., revision=<commit>)``), hashes
   while it streams, stops as soon as it is longer than pinned, and refuses a mismatch.
2. **trusted on first use** (``<models_dir>/trusted_pins.json``): where nothing is pinned, the first
   download resolved the branch to a commit and recorded it and the hashes it got; later downloads
   fetch that commit and must match, and so must installs from a folder.
3. **first use**: nothing known yet. The download resolves ``main`` to its commit once (so all files come
   from one snapshot), checks the sha256 the Hub publishes for LFS files of that commit when it can,
   records what it got, and says so.

Both paths stage files in ``<models_dir>/.<model_id>.partial/``, verify them, then swap the folder into
place and write the manifest last (with the revision and how each file was verified). An interrupted
download leaves no half model behind: the model simply is not installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import LookalikeError, ModelFileError
from engine.models import pins, registry
from engine.models.manifest import write_manifest

#: Called with (file name, bytes done, bytes total or None).
ByteProgress = Callable[[str, int, int | None], None]
CancelFn = Callable[[], bool]

PINNED, TRUSTED, HUB, FIRST_USE = "pinned", "trusted on first use", "published by the Hub", "first use"


class DownloadCancelled(LookalikeError):
    pass


@dataclass
class Planned:
    """One file of a download: where it comes from and what it must be."""

    name: str
    #: "owner/name" on the Hub, "zenodo:<record>", or "" for another URL.
    repo: str
    #: Its path in the repository (or the URL).
    path: str
    #: The commit or record; None until a first download resolves the branch.
    revision: str | None
    size: int | None
    #: Whether ``size`` is exact (pinned or trusted) or the publisher's approximation.
    exact_size: bool
    sha256: str | None
    md5: str | None
    #: How it is verified: PINNED, TRUSTED, or FIRST_USE (HUB once the Hub's LFS sha256 was read).
    trust: str
    optional: bool
    source: str

    @property
    def where(self) -> str:
        rev = self.revision or "main (resolved to its commit at download)"
        if self.repo.startswith("zenodo:"):
            return f"zenodo.org record {self.repo.removeprefix('zenodo:')}"
        return f"{self.repo}@{rev}" if self.repo else self.source


def plan(models_dir: Path, model_id: str) -> list[Planned]:
    """What downloading ``model_id`` fetches, from where, and what each file must be (see the module
    docstring for the order pins are taken in). Touches no network."""
    spec = registry.spec(model_id)
    record = pins.trusted(models_dir, model_id) or {}
    out = []
    for f in spec.files:
        repo, path = pins.origin(f.source)
        known = (record.get("files") or {}).get(f.name) or {}
        if f.pinned:
            trust, size, sha, exact = PINNED, f.size, f.sha256, f.size is not None
        elif known.get("sha256"):
            trust, size, sha, exact = TRUSTED, known.get("size"), known["sha256"], True
        else:
            trust, size, sha, exact = FIRST_USE, f.size, None, False
        revision = f.revision or record.get("revision")
        out.append(
            Planned(
                f.name,
                repo,
                path,
                revision,
                size,
                exact,
                sha,
                f.md5,
                trust,
                optional=f.name in spec.optional,
                source=f.source,
            )
        )
    return out


def describe(model_id: str, planned: list[Planned]) -> list[str]:
    """Lines saying what a download of ``model_id`` fetches: from where, each file, its size and how it
    is verified (for ``lookalike models download``)."""
    wheres = list(dict.fromkeys(p.where for p in planned))
    lines = [f"{model_id}: from {', '.join(wheres)}"]
    for p in planned:
        if p.size is None:
            size = "size unknown"
        else:
            size = f"{p.size:,} bytes" if p.exact_size else f"about {p.size / 1e6:.0f} MB"
        if p.trust == PINNED:
            how = f"sha256 {p.sha256[:12]}… pinned" if p.sha256 else f"md5 {p.md5} pinned"
        elif p.trust == TRUSTED:
            how = f"sha256 {(p.sha256 or '')[:12]}… trusted on first use"
        else:
            how = "not pinned: the Hub's sha256 where it publishes one, then trusted on first use"
        lines.append(f"  {p.name:<28} {size:>20}  {how}{'  (optional)' if p.optional else ''}")
    if any(p.trust == FIRST_USE for p in planned):
        lines.append(
            "  Not all of this model's files are pinned yet (no network here when the pins were written): "
            "the commit and hashes this download gets are recorded, and later downloads must match them."
        )
    return lines


def _staging(models_dir: Path, model_id: str) -> Path:
    d = models_dir / f".{model_id}.partial"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def _commit(
    models_dir: Path,
    model_id: str,
    staging: Path,
    *,
    source: str,
    test_model: bool,
    extra: dict | None = None,
) -> Path:
    final = registry.model_dir(models_dir, model_id)
    write_manifest(staging, model_id, source=source, test_model=test_model, extra=extra)
    old = models_dir / f".{model_id}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return final


@dataclass
class Got:
    size: int
    sha256: str
    md5: str


def _digest(path: Path) -> Got:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return Got(size, sha.hexdigest(), md5.hexdigest())


def _fix_hint(model_id: str, p: Planned) -> str:
    if p.trust == TRUSTED:
        return (
            f"It differs from what the first download of {model_id} got. If its publisher changed it on "
            f'purpose, forget that record (engine.models.pins.forget_trusted, or delete "{model_id}" from '
            f"{pins.TRUSTED} in the models folder) and download again."
        )
    return (
        "The copy is damaged or is not the published file. Download it again "
        f"(`lookalike models download {model_id} --force`); if it is refused again, the publisher changed "
        "the file: check the pins with `python bench/pin_models.py --hub`, or install a copy you trust "
        "with `lookalike models install --from DIR`."
    )


def _check(model_id: str, p: Planned, got: Got, what: str) -> None:
    """Raise ModelFileError (which file, expected against got, what to do) when ``got`` is not ``p``."""
    problem = None
    if p.exact_size and p.size is not None and got.size != p.size:
        problem = f"{got.size:,} bytes, expected {p.size:,}"
    elif p.size is not None and not p.exact_size and got.size < p.size * 0.5:
        # Only an approximate published size: reject what is clearly not the file (an HTML error page).
        problem = f"{got.size:,} bytes, expected about {p.size:,}"
    elif p.sha256 and got.sha256 != p.sha256:
        problem = f"sha256 {got.sha256}, expected {p.sha256} ({p.trust}): checksum differs"
    elif p.md5 and got.md5 != p.md5:
        problem = f"md5 {got.md5}, expected {p.md5} (published checksum): checksum differs"
    if problem:
        raise ModelFileError(f"{model_id}: {p.name} {what} is refused: {problem}. {_fix_hint(model_id, p)}")


def _hf_url(repo: str, path: str, revision: str) -> str:
    from huggingface_hub import hf_hub_url

    return hf_hub_url(repo, path, revision=revision)


def _resolve_revision(repo: str) -> str:
    """The commit the Hub's ``main`` points at now (one snapshot for all of a model's files)."""
    from huggingface_hub import HfApi

    sha = HfApi().model_info(repo, revision="main").sha
    if not sha:
        raise OSError(f"the Hub did not say which commit {repo}'s main branch is")
    return sha


def _hub_sha256(repo: str, path: str, revision: str) -> str | None:
    """The sha256 the Hub publishes for an LFS file at ``revision`` (None for small git files or when the
    metadata cannot be read: then the file is trusted on first use)."""
    try:
        from huggingface_hub import HfApi

        infos = HfApi().get_paths_info(repo, [path], revision=revision, expand=True)
        lfs = getattr(infos[0], "lfs", None) if infos else None
        return getattr(lfs, "sha256", None)
    except Exception:  # metadata is a bonus; the pins and the first-use record are what hold
        return None


def _download_url(
    url: str,
    dest: Path,
    name: str,
    progress: ByteProgress | None,
    cancel: CancelFn,
    limit: int | None = None,
) -> Got:
    """Stream ``url`` to ``dest``, hashing as it goes; stop with ModelFileError as soon as it is longer
    than ``limit`` bytes (a pinned size), so a wrong file is not fetched whole."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    req = urllib.request.Request(url, headers={"User-Agent": "lookalike"})
    with urllib.request.urlopen(req, timeout=60) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0) or None
        done = 0
        while True:
            if cancel():
                raise DownloadCancelled("Download cancelled")
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)
            sha.update(chunk)
            md5.update(chunk)
            done += len(chunk)
            if limit is not None and done > limit:
                raise ModelFileError(
                    f"{name}: more than the pinned {limit:,} bytes arrived: not the pinned file; stopped"
                )
            if progress:
                progress(name, done, total)
    return Got(done, sha.hexdigest(), md5.hexdigest())


def download(
    models_dir: Path,
    model_id: str,
    *,
    progress: ByteProgress | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Download a model's files at their pinned revision, verify them, and install them. Returns the
    model folder.

    Raises LookalikeError with a readable reason when the network is unreachable, ModelFileError when a
    file is not the pinned (or first-trusted) one, naming the file, what was expected and what came,
    DownloadCancelled when cancelled. Where files were not pinned, the revision and hashes it got are
    recorded (trust on first use) and the manifest says so.
    """
    cancel = cancel or (lambda: False)
    planned = plan(models_dir, model_id)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = _staging(models_dir, model_id)
    try:
        resolved: dict[str, str] = {}
        verified: dict[str, str] = {}
        first_use: dict[str, dict[str, Any]] = {}
        for p in planned:
            dest = staging / p.name
            try:
                if p.repo and not p.repo.startswith("zenodo:"):
                    if p.revision is None:
                        if p.repo not in resolved:
                            resolved[p.repo] = _resolve_revision(p.repo)
                        p.revision = resolved[p.repo]
                    if p.trust == FIRST_USE:
                        hub = _hub_sha256(p.repo, p.path, p.revision)
                        if hub:
                            p.sha256, p.trust = hub, HUB
                    url = _hf_url(p.repo, p.path, p.revision)
                else:
                    url = p.source
                limit = p.size if p.exact_size else None
                got = _download_url(url, dest, p.name, progress, cancel, limit)
            except DownloadCancelled:
                raise
            except ModelFileError as exc:
                raise ModelFileError(f"{model_id}: {exc}. {_fix_hint(model_id, p)}") from exc
            except Exception as exc:  # urllib's and huggingface_hub's network errors, a 404
                if p.optional and isinstance(exc, OSError):
                    dest.unlink(missing_ok=True)
                    continue
                raise LookalikeError(
                    f"Could not download {p.name} for {model_id} from {p.where}: {exc}. Check the network, "
                    f"or install the model from a folder with `lookalike models install --from DIR`."
                ) from exc
            _check(model_id, p, got, f"downloaded from {p.where}")
            verified[p.name] = p.trust
            if p.trust in (FIRST_USE, HUB):
                first_use[p.name] = {"size": got.size, "sha256": got.sha256}
        revisions = sorted({p.revision for p in planned if p.revision})
        folder = _commit(
            models_dir,
            model_id,
            staging,
            source="download",
            test_model=False,
            extra={"revision": revisions[0] if len(revisions) == 1 else revisions, "verified": verified},
        )
        if first_use:
            repo = next((p.repo for p in planned if p.repo), "")
            pins.record_trusted(
                models_dir,
                model_id,
                repo=repo,
                revision=revisions[0] if revisions else None,
                files=first_use,
                source="download",
            )
        return folder
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _hf_repos(model_id: str) -> list[str]:
    """The Hub repositories a model's files come from ("owner/name")."""
    repos: list[str] = []
    for f in registry.spec(model_id).files:
        if f.source.startswith("hf://"):
            repo, _ = pins.origin(f.source)
            if repo not in repos:
                repos.append(repo)
    return repos


def _hf_snapshots(cache_repo: Path) -> list[Path]:
    """Snapshot folders of one Hugging Face cache entry (``models--owner--name``), the one ``refs/main``
    names first, then the newest."""
    snaps = cache_repo / "snapshots"
    if not snaps.is_dir():
        return []
    found = sorted((d for d in snaps.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True)
    try:
        main = (cache_repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        main = ""
    return sorted(found, key=lambda d: d.name != main)


def _candidates(src: Path, model_id: str) -> list[Path]:
    """Where a model's files may be under ``src``: ``src/<model_id>/`` or ``src`` itself (our own
    layout, and PANNs ``.pth`` files as Zenodo serves them); a folder named like its Hub repository in
    any case (``all-MiniLM-L6-v2``, a ``git clone`` or a snapshot download); a Hugging Face cache
    (``models--owner--name/snapshots/<rev>/``, under ``src``, ``src/hub`` or ``src`` itself)."""
    out = [src / model_id, src]
    try:
        children = {c.name.lower(): c for c in src.iterdir() if c.is_dir()}
    except OSError:
        children = {}
    for repo in _hf_repos(model_id):
        owner, name = repo.split("/")
        if name.lower() in children:
            out.append(children[name.lower()])
        entry = f"models--{owner}--{name}"
        for base in (src, src / "hub"):
            out += _hf_snapshots(base / entry)
        if src.name == entry:
            out += _hf_snapshots(src)
    return out


def _find_model_folder(src: Path, model_id: str) -> Path | None:
    spec = registry.spec(model_id)
    required = [f.name for f in spec.files if f.name not in spec.optional]
    for cand in _candidates(src, model_id):
        manifest = registry.read_manifest(cand)
        if manifest is not None and manifest.get("id") not in (None, model_id):
            continue
        if all((cand / n).is_file() for n in required):
            return cand
    return None


def install_from(models_dir: Path, src: Path, model_ids: list[str] | None = None) -> list[str]:
    """Install models from a folder holding ``<model_id>/`` subfolders (or one model's files, a folder
    named like the Hub repository, a Hugging Face cache, loose PANNs ``.pth`` files).

    Real models are held to the pins (or to what a first download or install recorded), with the same
    refusal as a download; files nothing is known of yet are trusted on first use and recorded. A
    folder whose manifest marks it a test model (made by engine.models.tiny) is checked against its own
    manifest instead. Returns the installed ids; raises LookalikeError when nothing installable is found,
    ModelFileError when a file is damaged or not the pinned one.
    """
    src = Path(src).expanduser()
    if not src.is_dir():
        raise LookalikeError(f"Not a folder: {src}")
    installed = []
    for model_id in model_ids or list(registry.MODELS):
        folder = _find_model_folder(src, model_id)
        if folder is None:
            continue
        spec = registry.spec(model_id)
        manifest = registry.read_manifest(folder) or {}
        test_model = bool(manifest.get("test_model"))
        planned = {p.name: p for p in plan(models_dir, model_id)}
        # A Hugging Face cache names each snapshot folder by its commit.
        revision = folder.name if folder.parent.name == "snapshots" else None
        models_dir.mkdir(parents=True, exist_ok=True)
        staging = _staging(models_dir, model_id)
        verified: dict[str, str] = {}
        first_use: dict[str, dict[str, Any]] = {}
        try:
            for f in spec.files:
                s = folder / f.name
                if not s.is_file():
                    continue
                shutil.copyfile(s, staging / f.name)
                got = _digest(staging / f.name)
                if test_model:
                    want = manifest.get("files", {}).get(f.name, {}).get("sha256")
                    if want and got.sha256 != want:
                        raise ModelFileError(f"{s}: differs from its manifest; the copy is damaged")
                    continue
                p = planned[f.name]
                _check(model_id, p, got, f"in {folder}")
                verified[f.name] = p.trust
                if p.trust == FIRST_USE:
                    first_use[f.name] = {"size": got.size, "sha256": got.sha256}
            _commit(
                models_dir,
                model_id,
                staging,
                source=f"folder {folder}",
                test_model=test_model,
                extra=None if test_model else {"revision": revision, "verified": verified},
            )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if first_use:
            repo = next((p.repo for p in planned.values() if p.repo), "")
            pins.record_trusted(
                models_dir, model_id, repo=repo, revision=revision, files=first_use, source=f"folder {folder}"
            )
        installed.append(model_id)
    if not installed:
        names = ", ".join(registry.MODELS)
        raise LookalikeError(
            f"No model found in {src} (looked for folders named {names}, folders named like their "
            "Hugging Face repositories, and a Hugging Face cache of them, with their files)"
        )
    return installed


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
