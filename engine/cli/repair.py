"""``lookalike repair``: rebuild a damaged catalog or vector database, then bring the catalog in line with
the library folders (see engine.indexing.repair for what is kept and what is redone).

Wired into the main parser by engine.cli.main (``add_parser``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.core.text import for_terminal


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``repair`` command to ``lookalike``'s subparsers; returns its parser."""
    p = subparsers.add_parser(
        "repair",
        help="rebuild a damaged catalog or vector database (keeps the damaged copy aside)",
        description="Check the catalog and the vector database. A damaged one is moved aside "
        "(<name>.damaged-<time>) and rebuilt: what can be read from a damaged catalog is kept, the rest "
        "comes back from a fresh scan of the library folders; files that lost their vectors are "
        "queued to be indexed again (`lookalike index`, or the app, does it).",
    )
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.set_defaults(func=cmd_repair)
    return p


def cmd_repair(args: argparse.Namespace) -> int:
    from engine.indexing.repair import repair
    from engine.indexing.scan import scan
    from engine.library import Library
    from engine.storage import catalog as cat
    from engine.storage.settings import Settings

    settings = Settings.load(args.home)
    bars: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if args.json or total < 1000:  # a bar only where it takes a while
            return
        from tqdm import tqdm

        bar = bars.get(phase)
        if bar is None:
            bar = bars[phase] = tqdm(total=total, unit="file", desc=phase, file=sys.stderr)
        bar.n = done
        bar.refresh()

    try:
        report = repair(settings, progress=progress)
    finally:
        for bar in bars.values():
            bar.close()
    # The fresh scan: rows that could not be salvaged come back from the disk, gone files leave; opening
    # the store checks every indexed file against its vectors.
    with Library(settings) as lib:
        scanned = scan(lib, cancel=lambda: False) if settings.folders else None
        _ = lib.store
        notices = list(lib.notices)
        pending = sum(n for (_kind, state), n in lib.catalog.counts().items() if state == cat.PENDING)
    if args.json:
        out = {
            "catalog_damage": report.catalog_damage,
            "catalog_copy": str(report.catalog_copy) if report.catalog_copy else None,
            "salvaged": report.salvaged,
            "kept": report.kept,
            "unreadable": report.unreadable,
            "orphans": report.orphans,
            "store_damage": report.store_damage,
            "store_copy": str(report.store_copy) if report.store_copy else None,
            "scan": None if scanned is None else scanned.__dict__,
            "notices": notices,
            "pending": pending,
        }
        print(json.dumps(out, indent=2, default=str))
        return 0
    for line in report.lines():
        print(for_terminal(line))
    if scanned is not None:
        print(
            f"Scanned {scanned.seen} files: {scanned.added} new, {scanned.changed} changed, "
            f"{scanned.moved} moved, {scanned.removed} removed."
        )
    for note in notices:
        print(for_terminal(note))
    if pending:
        print(f"{pending} files wait to be indexed: run `lookalike index` (or open the app).")
    return 0
