"""``lookalike duplicates``: list the library's duplicate groups, record "not duplicates", trash copies.

Wired into the main parser by engine.cli.main (``add_parser``). Before listing, files not yet hashed
for duplicates are hashed and grouped (the "duplicates" analyzer), unless another process holds the
library, in which case the groups found so far are listed.

Trashing moves files to the operating system's trash (send2trash), never deletes them, and only after
a confirmation (or ``--yes``); the trashed files then leave the library.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from pathlib import Path
from typing import Any

from engine.core.text import for_terminal
from engine.errors import LibraryBusyError, LookalikeError

KINDS = ("photo", "video", "sound")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``duplicates`` command to ``lookalike``'s subparsers; returns its parser."""
    p = subparsers.add_parser(
        "duplicates",
        help="list duplicate and near-duplicate files, mark pairs as not duplicates, trash copies",
        description="Groups of copies: the same file, or the same picture resized, recompressed, cropped, "
        "rotated, mirrored, stamped or padded; the same clip trimmed; the same recording converted. Each "
        "group lists a suggested copy to keep (largest resolution, not an edited copy, oldest capture).",
    )
    p.add_argument("--kind", choices=KINDS, help="only groups of this kind")
    p.add_argument("--json", action="store_true", help="print the groups as JSON")
    p.add_argument(
        "--not-duplicates",
        nargs=2,
        metavar=("A", "B"),
        help="remember that these two files are not duplicates",
    )
    p.add_argument(
        "--trash",
        action="store_true",
        help="move every group's copies except the one to keep to the trash (asks first, unless --yes)",
    )
    p.add_argument("--yes", action="store_true", help="with --trash: do not ask")
    p.add_argument("--no-update", action="store_true", help="list what was found so far, hash nothing new")
    p.set_defaults(func=cmd_duplicates)
    return p


def _open(args: argparse.Namespace) -> tuple[Any, bool]:
    from engine.library import Library

    try:
        return Library.open(args.home), True
    except LibraryBusyError:
        if args.trash or args.not_duplicates:
            raise
        return Library.open(args.home, exclusive=False), False


def _update(lib: Any, args: argparse.Namespace) -> None:
    from engine.indexing.analysis import run_pending_analyses

    report = run_pending_analyses(lib, only="duplicates")
    failed = getattr(report, "failed", 0)
    if failed and not args.json:
        print(f"{failed} file(s) could not be hashed (see `lookalike status`).", file=sys.stderr)


def _fmt_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _fmt_file(f: Any) -> str:
    res = f"{f.width}x{f.height}" if f.width and f.height else "-"
    when = _dt.datetime.fromtimestamp(f.taken).strftime("%Y-%m-%d %H:%M")
    tags = ["keep" if f.keep else "    "]
    if f.edited:
        tags.append("edited")
    return f"  {tags[0]}  {_fmt_size(f.size):>9}  {res:>11}  {when}  {for_terminal(f.path)}" + (
        "  (" + ", ".join(tags[1:]) + ")" if len(tags) > 1 else ""
    )


def _file_id(lib: Any, path: str) -> int:
    resolved = str(Path(path).expanduser().resolve())
    row = lib.catalog.by_path(resolved)
    if row is None:
        raise LookalikeError(f"{path} is not in the library")
    return int(row.id)


def cmd_duplicates(args: argparse.Namespace) -> int:
    from engine.storage.duplicates import DuplicateTables, list_groups, trash_files

    lib, exclusive = _open(args)
    with lib:
        tables = DuplicateTables.of(lib.catalog)
        if args.not_duplicates:
            a, b = (_file_id(lib, p) for p in args.not_duplicates)
            tables.not_duplicates(a, b)
            if args.json:
                print(json.dumps({"not_duplicates": list(args.not_duplicates)}))
            else:
                print("Remembered: these two are not duplicates.")
            return 0
        if exclusive and not args.no_update:
            _update(lib, args)
        groups = list_groups(lib.catalog, args.kind)
        if args.trash:
            victims = [f for g in groups for f in g.others]
            if not victims:
                print("No duplicates to move to the trash.")
                return 0
            total = sum(f.size for f in victims)
            if not args.yes:
                print(
                    f"Move {len(victims)} file(s) ({_fmt_size(total)}) to the trash, keeping one per group?"
                )
                if not sys.stdin.isatty():
                    print("Not asked on a non-interactive input: add --yes.", file=sys.stderr)
                    return 1
                if input("[y/N] ").strip().lower() not in ("y", "yes"):
                    print("Nothing moved.")
                    return 0
            trashed, failures = trash_files(lib, [f.file_id for f in victims])
            if args.json:
                print(
                    json.dumps(
                        {"trashed": trashed, "failed": [{"path": p, "reason": r} for p, r in failures]}
                    )
                )
            else:
                print(f"Moved {len(trashed)} file(s) to the trash.")
                for p, r in failures:
                    print(f"  could not move {for_terminal(p)}: {for_terminal(r)}", file=sys.stderr)
            return 1 if failures else 0
        if args.json:
            print(json.dumps([g.to_json() for g in groups], indent=1))
            return 0
        if not groups:
            print("No duplicates found.")
            return 0
        for i, g in enumerate(groups, 1):
            print(f"Group {i} ({g.kind}, {len(g.files)} files):")
            for f in g.files:
                print(_fmt_file(f))
        n = sum(len(g.files) - 1 for g in groups)
        print(f"\n{len(groups)} group(s); {n} copies could go (`lookalike duplicates --trash`).")
    return 0
