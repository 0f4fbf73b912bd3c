"""``lookalike watch``: run the indexing service in the foreground until interrupted.

It watches the library folders, reconciles the catalog with the disk at start, indexes what changes,
and shows one live progress line (``--json``: one JSON snapshot per line). Ctrl-C or SIGTERM stop it
cleanly: the current file finishes, changes already seen are recorded, nothing is lost.

Wired into the main parser by engine.cli.main (``add_parser``); also runs alone:
``python -m engine.cli.watch [FOLDER…]``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.durations import format_duration
from engine.core.text import for_terminal
from engine.errors import LookalikeError

if TYPE_CHECKING:
    from engine.service.core import ServiceProgress


def format_progress(p: ServiceProgress, width: int = 0) -> str:
    """One line for a status bar or terminal, e.g.
    ``indexing · 1,234 queued · 56 done · 2 failed · 12.3 files/s · ETA 1:40 · native · IMG_0001.jpg``.

    Offline folders, polling and warnings are mentioned briefly (the full warnings are in ``p.warnings``).
    ``width`` > 0 trims the line to that many characters (the current file's name goes first).
    """
    parts = [p.state]
    if p.state == "analyzing" and p.stage:  # the slower analyzers, behind the embeddings
        parts.append(f"{p.stage} {p.stage_done:,}/{p.stage_total:,}")
    if p.queued:
        parts.append(f"{p.queued:,} queued")
    if p.done:
        parts.append(f"{p.done:,} done")
    if p.failed:
        parts.append(f"{p.failed:,} failed")
    if p.state == "indexing" and p.rate > 0:
        parts.append(f"{p.rate:.1f} files/s")
        if p.eta is not None:
            parts.append(f"ETA {format_duration(p.eta)}")
    if p.state == "idle" and not p.queued:
        parts.append(f"{p.indexed_total:,} indexed")
    if p.waiting:
        parts.append(f"{p.waiting:,} wait for a model")
    if p.backlog_cancelled:
        parts.append("backlog cancelled")
    if p.watch_mode != "off":
        parts.append(p.watch_mode if p.watch_mode != "mixed" else f"{len(p.polling_folders)} polled")
    if p.offline_folders:
        n = len(p.offline_folders)
        parts.append(f"{n} folder{'s' if n > 1 else ''} offline")
    if p.warnings:
        n = len(p.warnings)
        parts.append(f"{n} warning{'s' if n > 1 else ''}")
    if p.current:
        parts.append(for_terminal(Path(p.current).name))
    line = " · ".join(parts)
    if width > 0 and len(line) > width:
        line = line[: max(0, width - 1)] + "…"
    return line


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``watch`` command to ``lookalike``'s subparsers; returns its parser."""
    p = subparsers.add_parser(
        "watch",
        help="keep the library current: watch its folders and index changes until Ctrl-C",
        description="Watch the library folders and index what changes, until Ctrl-C. Changes made while "
        "it was not running are found at start.",
    )
    _add_arguments(p)
    p.set_defaults(func=cmd_watch)
    return p


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folders", nargs="*", type=Path, help="folders to add to the library first")
    p.add_argument(
        "--polling",
        action="store_true",
        help="poll the folders instead of using the system's change notifications (network drives)",
    )
    p.add_argument("--poll-interval", type=float, default=5.0, help="seconds between polls (default 5)")
    p.add_argument(
        "--quiet-period",
        type=float,
        default=2.0,
        help="seconds a file must stay unchanged before it is indexed (default 2)",
    )
    p.add_argument(
        "--batch-size", type=int, default=512, help="most files per indexing batch (default 512; at most 5 s)"
    )
    p.add_argument("--json", action="store_true", help="print progress snapshots as JSON lines on stdout")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between progress updates")


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM ask for a clean stop; repeating them only repeats the note (stopping finishes
    the current file, and a kill is safe too: nothing indexed is lost)."""

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            print("\nStill stopping: finishing the current file…", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def cmd_watch(args: argparse.Namespace) -> int:
    """Run the service until interrupted. Raises LookalikeError (library busy, bad folder, …)."""
    from engine.library import Library
    from engine.service.core import Service

    stop = threading.Event()
    _stop_on_signals(stop)
    tty = sys.stderr.isatty()
    with Library.open(getattr(args, "home", None)) as lib:
        for folder in args.folders:
            lib.add_folder(folder)
        if not lib.settings.folders:
            raise LookalikeError("No library folders yet: run `lookalike watch FOLDER`")
        service = Service(
            lib,
            force_polling=args.polling,
            poll_interval=args.poll_interval,
            quiet_period=args.quiet_period,
            batch_size=args.batch_size,
        )
        service.start()
        last = ""
        try:
            while not stop.wait(args.interval):
                last = _show(service.progress(), last, as_json=args.json, tty=tty)
        finally:
            if tty and not args.json:
                print(file=sys.stderr)
            print("Stopping…", file=sys.stderr)
            service.stop()
        p = service.progress()
        _show(p, "", as_json=args.json, tty=False)
        for w in p.warnings:
            print(f"warning: {for_terminal(w)}", file=sys.stderr)
        left = p.queued
        print(
            f"Stopped: {p.done} indexed, {p.failed} failed this run"
            + (f"; {left} left for next time." if left else "."),
            file=sys.stderr,
        )
    return 0


def _show(p: ServiceProgress, last: str, *, as_json: bool, tty: bool) -> str:
    """Print the snapshot if it changed; returns what was printed (to compare next time)."""
    if as_json:
        line = json.dumps(p.to_json())
        if line != last:
            print(line, flush=True)
        return line
    import shutil

    width = shutil.get_terminal_size((100, 20)).columns - 1 if tty else 0
    line = format_progress(p, width)
    if line != last:
        if tty:
            print("\r\033[K" + line, end="", file=sys.stderr, flush=True)
        else:
            print(line, file=sys.stderr, flush=True)
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m engine.cli.watch``: the watch command on its own."""
    ap = argparse.ArgumentParser(
        prog="lookalike watch", description="Watch the library folders and index what changes, until Ctrl-C."
    )
    ap.add_argument("--home", type=Path, default=None, help="library data folder")
    _add_arguments(ap)
    args = ap.parse_args(argv)
    try:
        return cmd_watch(args)
    except LookalikeError as exc:
        print(f"lookalike: {for_terminal(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
