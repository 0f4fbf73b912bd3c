"""``lookalike models list / download / check / install / use``: the models a library uses.

``use ID`` makes a model the library's for its role. For the image-text and sound models that starts a
switch (engine.indexing.switches): the library is re-embedded in the background as its own stage
(``lookalike index`` runs it with its own bar; the app runs it by itself), search keeps answering from
the old model until the new one covers every file, then the old vectors are dropped. Choosing the model
in use cancels a switch in progress.

Kept import-light like the rest of the CLI: the engine loads inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.core.text import for_terminal as _t

EXIT_ERROR = 1
EXIT_USAGE = 2


def _open_library(args: argparse.Namespace) -> Any:
    from engine.library import Library

    return Library.open(args.home)


def _models_check(args: argparse.Namespace) -> int:
    from engine.cli.models_check import check_models

    with _open_library(args) as lib:
        checks = check_models(lib, args.ids or None)
    if args.json:
        print(json.dumps([c.to_json() for c in checks], indent=2))
    else:
        for c in checks:
            # "ok — files pinned; 256-d, 6 pictures and 2 sentences", or a line per problem.
            for line in c.lines():
                print(_t(line))
    return 0 if all(c.ok for c in checks) else EXIT_ERROR


def _in_use(settings: Any) -> dict[str, str]:
    """{model id: "in use" | "switching to"} for the settings' models."""
    out = {m: "in use" for m in settings.model_ids()}
    if settings.speech:
        out[settings.speech_model] = "in use"
    for nxt in (settings.next_image_text_model, settings.next_audio_model):
        if nxt:
            out[nxt] = "switching to"
    return out


def _list(args: argparse.Namespace, settings: Any) -> int:
    from engine.models import registry

    mdir = settings.models_dir
    use = _in_use(settings)
    rows = []
    for m in registry.MODELS.values():
        rows.append(
            {
                "id": m.id,
                "role": m.role,
                "title": m.title,
                "installed": registry.is_installed(mdir, m.id),
                "test_model": registry.is_test_model(mdir, m.id),
                "download_bytes": m.download_size,
                "use": use.get(m.id, ""),
                "languages": list(m.languages),
                "params_m": m.params_m,
                "default": m.default,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        mark = "installed" if r["installed"] else "missing"
        if r["test_model"]:
            mark += " (test model)"
        nbytes = r["download_bytes"]
        size = f"{nbytes / 1e6:.0f} MB" if isinstance(nbytes, int) else "size n/a"
        use_mark = f"  [{r['use']}]" if r["use"] else ""
        print(f"{r['id']:<36} {r['role']:<10} {mark:<24} {size}  {r['title']}{use_mark}")
    return 0


def _download(args: argparse.Namespace, settings: Any) -> int:
    from engine.models import fetch, registry

    mdir = settings.models_dir
    # The speech model too while speech is on (it is optional: indexing never waits for it).
    ids = args.ids or settings.model_ids() + ([settings.speech_model] if settings.speech else [])
    for model_id in ids:
        bar: Any = None

        def progress(name: str, done: int, total: int | None) -> None:
            nonlocal bar
            from tqdm import tqdm

            if bar is None or bar.desc != name:
                if bar is not None:
                    bar.close()
                bar = tqdm(total=total, unit="B", unit_scale=True, desc=name, file=sys.stderr)
            bar.n = done
            bar.refresh()

        if registry.is_installed(mdir, model_id) and not args.force:
            print(f"{model_id}: already installed")
            continue
        # What is fetched, from where, and how each file is verified, before any byte moves.
        for line in fetch.describe(model_id, fetch.plan(mdir, model_id)):
            print(_t(line))
        try:
            fetch.download(mdir, model_id, progress=progress)
        finally:
            if bar is not None:
                bar.close()
        print(f"{model_id}: installed")
    return 0


def _install(args: argparse.Namespace, settings: Any) -> int:
    from engine.models import fetch, registry

    mdir = settings.models_dir
    for model_id in fetch.install_from(mdir, args.src, args.ids or None):
        note = " (test model with random weights)" if registry.is_test_model(mdir, model_id) else ""
        print(f"{model_id}: installed from {_t(args.src)}{note}")
    return 0


def _use(args: argparse.Namespace) -> int:
    from engine.errors import LibraryBusyError
    from engine.indexing import switches

    try:
        lib = _open_library(args)
    except LibraryBusyError as exc:
        raise LibraryBusyError(
            f"{exc} To switch models while the app runs, use Preferences in the app's Library menu."
        ) from None
    with lib:
        cost = switches.switch_cost(lib, args.id) if args.id in _known() else None
        result = switches.use_model(lib, args.id)
        if args.json:
            print(
                json.dumps(
                    {
                        "model": result.model_id,
                        "role": result.role,
                        "message": result.message,
                        "completed": result.completed,
                        "switch": result.switch.to_json() if result.switch else None,
                        "estimate": None
                        if cost is None or result.switch is None
                        else {"seconds": round(cost.seconds), "rate": cost.rate, "unit": cost.unit,
                              "source": cost.source},
                    },
                    indent=2,
                )
            )  # fmt: skip
            return 0
        print(_t(result.message))
        if result.switch is not None and cost is not None:
            print(f"Re-embedding takes {_t(cost.describe())}.")
    return 0


def _known() -> set[str]:
    from engine.models import registry

    return set(registry.MODELS)


def cmd_models(args: argparse.Namespace) -> int:
    from engine.storage.settings import Settings

    if args.models_cmd == "use":
        return _use(args)
    if args.models_cmd == "check":
        return _models_check(args)
    settings = Settings.load(args.home)
    if args.models_cmd == "list":
        return _list(args, settings)
    if args.models_cmd == "download":
        return _download(args, settings)
    if args.models_cmd == "install":
        return _install(args, settings)
    return EXIT_USAGE


def add_parser(sub: Any) -> None:
    """Add ``models`` and its actions to the top-level subparsers."""
    from pathlib import Path

    p = sub.add_parser("models", help="list, download, install or choose models")
    msub = p.add_subparsers(dest="models_cmd", metavar="ACTION", required=True)
    m = msub.add_parser("list", help="known models and whether they are installed")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("download", help="download models once (the only command that uses the network)")
    m.add_argument("ids", nargs="*", help="model ids (default: the ones the settings use)")
    m.add_argument("--force", action="store_true", help="download again even if installed")
    m = msub.add_parser("check", help="verify the installed models' files and run each once on probes")
    m.add_argument("ids", nargs="*", help="model ids (default: the ones the settings use)")
    m.add_argument("--json", action="store_true")
    m = msub.add_parser("install", help="install models from a folder (no network)")
    m.add_argument("--from", dest="src", type=Path, required=True, help="folder with <model_id>/ subfolders")
    m.add_argument("ids", nargs="*", help="only these model ids")
    m = msub.add_parser(
        "use",
        help="make a model the library's for its role: the library is re-embedded in the background "
        "(search keeps the old model until it is done); the model in use cancels a switch",
    )
    m.add_argument("id", help="model id (see `lookalike models list`)")
    m.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)
