"""Getting model files into the cache: download once (the only code that touches the network), or
install from a folder for machines without network.

Both paths stage files in ``<models_dir>/.<model_id>.partial/``, verify them (size and checksum against
the registry or the Hugging Face Hub's published LFS sha256), then swap the folder into place and write
the manifest last. An interrupted download leaves no half model behind: the model simply is not installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path

from engine.errors import LookalikeError, ModelFileError
from engine.models import registry
from engine.models.manifest import file_digest, write_manifest

#: Called with (file name, bytes done, bytes total or None).
ByteProgress = Callable[[str, int, int | None], None]
CancelFn = Callable[[], bool]


class DownloadCancelled(LookalikeError):
    pass


def _staging(models_dir: Path, model_id: str) -> Path:
    d = models_dir / f".{model_id}.partial"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def _commit(models_dir: Path, model_id: str, staging: Path, *, source: str, test_model: bool) -> Path:
    final = registry.model_dir(models_dir, model_id)
    write_manifest(staging, model_id, source=source, test_model=test_model)
    old = models_dir / f".{model_id}.old"
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return final


def _verify(path: Path, f: registry.ModelFile, expected_sha256: str | None = None) -> None:
    """Raise ModelFileError when a file's size or checksum differs from the published one."""
    size = path.stat().st_size
    if f.size is not None and f.sha256 is None and f.md5 is None and expected_sha256 is None:
        # Only an approximate published size: reject what is clearly not the file (an HTML error page).
        if size < f.size * 0.5:
            raise ModelFileError(f"{f.name}: {size} bytes, expected about {f.size}")
    elif f.size is not None and f.sha256 is not None and size != f.size:
        raise ModelFileError(f"{f.name}: {size} bytes, expected {f.size}")
    sha = expected_sha256 or f.sha256
    if sha and file_digest(path, "sha256") != sha:
        raise ModelFileError(f"{f.name}: sha256 differs from the published checksum; the file is damaged")
    if f.md5 and file_digest(path, "md5") != f.md5:
        raise ModelFileError(f"{f.name}: md5 differs from the published checksum; the file is damaged")


def _hf_parts(source: str) -> tuple[str, str]:
    rest = source.removeprefix("hf://")
    owner, name, filename = rest.split("/", 2)
    return f"{owner}/{name}", filename


def _download_url(url: str, dest: Path, name: str, progress: ByteProgress | None, cancel: CancelFn) -> None:
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
            done += len(chunk)
            if progress:
                progress(name, done, total)


def _download_hf(
    repo: str, filename: str, dest: Path, progress: ByteProgress | None, cancel: CancelFn
) -> str | None:
    """Download one file from the Hub; returns its published LFS sha256 when it has one."""
    from huggingface_hub import HfApi, hf_hub_url

    expected = None
    try:
        infos = HfApi().get_paths_info(repo, [filename], expand=True)
        lfs = getattr(infos[0], "lfs", None) if infos else None
        expected = getattr(lfs, "sha256", None)
    except Exception:  # metadata is a bonus; the file itself is what matters
        expected = None
    _download_url(hf_hub_url(repo, filename), dest, filename, progress, cancel)
    return expected


def download(
    models_dir: Path,
    model_id: str,
    *,
    progress: ByteProgress | None = None,
    cancel: CancelFn | None = None,
) -> Path:
    """Download a model's files, verify them, and install them. Returns the model folder.

    Raises LookalikeError with a readable reason when the network is unreachable, ModelFileError when a
    file fails its checksum, DownloadCancelled when cancelled.
    """
    spec = registry.spec(model_id)
    cancel = cancel or (lambda: False)
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = _staging(models_dir, model_id)
    try:
        for f in spec.files:
            dest = staging / f.name
            try:
                if f.source.startswith("hf://"):
                    repo, filename = _hf_parts(f.source)
                    expected = _download_hf(repo, filename, dest, progress, cancel)
                else:
                    expected = None
                    _download_url(f.source, dest, f.name, progress, cancel)
            except DownloadCancelled:
                raise
            except OSError as exc:
                if f.name in spec.optional:
                    dest.unlink(missing_ok=True)
                    continue
                raise LookalikeError(
                    f"Could not download {f.name} for {model_id}: {exc}. Check the network, or install "
                    f"the model from a folder with `lookalike models install --from DIR`."
                ) from exc
            _verify(dest, f, expected)
        return _commit(models_dir, model_id, staging, source="download", test_model=False)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _hf_repos(model_id: str) -> list[str]:
    """The Hub repositories a model's files come from ("owner/name")."""
    repos: list[str] = []
    for f in registry.spec(model_id).files:
        if f.source.startswith("hf://"):
            repo, _ = _hf_parts(f.source)
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
    """Install models from a folder holding ``<model_id>/`` subfolders (or one model's files).

    Published checksums are enforced for real models; a folder whose manifest marks it a test model
    (made by engine.models.tiny) is checked against its own manifest instead. Returns the installed ids;
    raises LookalikeError when nothing installable is found or a file is damaged.
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
        models_dir.mkdir(parents=True, exist_ok=True)
        staging = _staging(models_dir, model_id)
        try:
            for f in spec.files:
                s = folder / f.name
                if not s.is_file():
                    continue
                shutil.copyfile(s, staging / f.name)
                if test_model:
                    want = manifest.get("files", {}).get(f.name, {}).get("sha256")
                    if want and file_digest(staging / f.name) != want:
                        raise ModelFileError(f"{s}: differs from its manifest; the copy is damaged")
                else:
                    _verify(staging / f.name, f)
            _commit(models_dir, model_id, staging, source=f"folder {folder}", test_model=test_model)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
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
