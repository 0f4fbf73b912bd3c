"""The ``lookalike`` command line: a thin layer over the engine.

Kept import-light: torch, onnxruntime and pymilvus load only inside the commands that need them, so
``lookalike --help`` is instant. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine import __version__
from engine.core.durations import format_duration
from engine.core.text import for_terminal as _t
from engine.errors import LookalikeError

EXIT_ERROR = 1
EXIT_USAGE = 2


def parse_time(text: str) -> float:
    """'83', '1:23', '01:01:23' or '83.5' → seconds. Raises ValueError."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(text)
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    return total


def _print_results(results: Sequence[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return
    if not results:
        print("No matches.")
        return
    for r in results:
        where = f" @ {format_duration(r.t, padded=True)}" if r.t is not None else ""
        print(f"{r.score:6.3f}  {r.kind:<5}  {_t(r.path)}{where}")


def _print_search(results: Sequence[Any], text: str, as_json: bool) -> None:
    """A text search's results: good matches, then the closest under their own heading, each with a
    short reason ('file name contains “receipt”', 'words in the picture: “OPEN 24 HOURS”'). Stdout holds
    one line per result and nothing else (scripts cut and count it); the headings go to stderr, like the
    progress."""
    if as_json:
        print(json.dumps([r.to_json() for r in results], indent=2))
        return
    if not results:
        print("No matches.")
        return
    good = [r for r in results if r.good is not False]
    closest = [r for r in results if r.good is False]
    for i, r in enumerate(good + closest):
        if i == len(good):
            sys.stdout.flush()
            if not good:
                print(f"No good matches for {_t(text)!r}.", file=sys.stderr)
            print(f"closest ({len(closest)}):", file=sys.stderr)
            sys.stderr.flush()
        where = f" @ {format_duration(r.t, padded=True)}" if r.t is not None else ""
        reason = _t(r.reason)
        reason = reason if len(reason) <= 32 else reason[:31] + "…"
        print(f"{round(100 * r.match):3d}%  {r.kind:<5}  {reason:<32}  {_t(r.path)}{where}")


class _Bar:
    """A tqdm progress bar fed by engine Progress snapshots (stderr, so --json stdout stays clean)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __call__(self, p: Any) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if self.bar is None:
            if not p.total and not (p.done or p.failed):
                return  # nothing to do: no empty "indexing: 0file" bar
            self.bar = tqdm(total=p.total, unit="file", desc=p.phase, file=sys.stderr, dynamic_ncols=True)
        if self.bar.total != p.total:
            self.bar.total = p.total
            self.bar.refresh()
        if p.failed:
            self.bar.set_postfix_str(f"failed {p.failed}", refresh=False)
        delta = p.done + p.failed - self.bar.n
        if delta > 0:
            self.bar.update(delta)  # tqdm rate-limits its redraws itself

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _StageBars:
    """One bar per stage of the slow analyzers ("reading text in photos: 1,234/10,000 file")."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.phase = ""
        self.bar = _Bar(quiet)

    def __call__(self, p: Any) -> None:
        if p.phase in ("done", "cancelled"):
            return
        if p.phase != self.phase:
            self.bar.close()
            self.bar, self.phase = _Bar(self.quiet), p.phase
        self.bar(p)

    def close(self) -> None:
        self.bar.close()


def _open_library(args: argparse.Namespace, exclusive: bool = True) -> Any:
    from engine.library import Library

    return Library.open(args.home, exclusive=exclusive)


def _cancel_on_sigint() -> threading.Event:
    """First Ctrl-C asks the work to stop at the next file (nothing is lost); a second one aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after the current file… (Ctrl-C again to abort)", file=sys.stderr)

    signal.signal(signal.SIGINT, handler)
    return stop


# -- commands ---------------------------------------------------------------------------------------


def cmd_index(args: argparse.Namespace) -> int:
    from engine.indexing import switches as model_switches
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan

    with _open_library(args) as lib:
        added = [str(lib.add_folder(f)) for f in args.folders]
        if not lib.settings.folders:
            raise LookalikeError("No library folders yet: run `lookalike index FOLDER`")
        stop = _cancel_on_sigint()
        scan_report = scan(lib, added or None)
        if not args.json:
            print(
                f"Scanned {scan_report.seen} files: {scan_report.added} new, {scan_report.changed} changed, "
                f"{scan_report.moved} moved, {scan_report.removed} removed.",
                file=sys.stderr,
            )
        _ = lib.store  # opening it checks the catalog against the vectors: lost ones are queued again
        for note in lib.notices:
            print(_t(note), file=sys.stderr)
        bar = _Bar(args.json or args.quiet)
        try:
            report = index_pending(lib, progress=bar, cancel=stop.is_set)
        finally:
            bar.close()
        slow = None
        switching = {st.role: st.target for st in model_switches.states(lib)}
        if not args.fast and not report.cancelled:
            from engine.indexing.analysis import run_pending_analyses

            # Behind the embeddings: every file is searchable by now, these add text, dates, places...
            stages = _StageBars(args.json or args.quiet)
            try:
                slow = run_pending_analyses(lib, progress=stages, cancel=stop.is_set)
            finally:
                stages.close()
        # A model switch (`lookalike models use`) is one of the stages: done now, or still going.
        still = {st.role: st for st in model_switches.states(lib)}
        switch_lines = [
            f"Now using {m} for {role}: the library is re-embedded and the old vectors are dropped."
            for role, m in switching.items()
            if role not in still and m in lib.settings.model_ids()
        ] + [f"Still switching the {st.describe()}; `lookalike index` goes on." for st in still.values()]
        if args.json:
            print(
                json.dumps(
                    {
                        "switches": [st.to_json() for st in still.values()],
                        "scan": scan_report.__dict__,
                        "indexed": report.indexed,
                        "failed": report.failed,
                        "failures": [{"path": p, "error": e} for p, e in report.failures],
                        "waiting": {m: {"files": n, "fix": fix} for m, (n, fix) in report.waiting.items()},
                        "cancelled": report.cancelled or bool(slow and slow.cancelled),
                        "seconds": round(report.seconds, 3),
                        "analyses": None if slow is None else _analysis_json(slow),
                    },
                    indent=2,
                )
            )
            return 0
        rate = report.indexed / report.seconds if report.seconds > 0 else 0.0
        if report.indexed or report.failed or report.cancelled:
            print(
                f"Indexed {_files(report.indexed)} in {report.seconds:.1f} s ({rate:.1f}/s); "
                f"{report.failed} failed."
            )
        else:
            print("Nothing new to index.")
        for path, err in report.failures[:20]:
            print(f"  failed: {_t(path)}: {_t(err)}")
        if len(report.failures) > 20:
            print(f"  … and {len(report.failures) - 20} more (see `lookalike status`)")
        for model, (n, fix) in report.waiting.items():
            print(f"  {n} files wait for {model}: {fix}")
        for path, err in scan_report.unreadable:
            print(f"  skipped: {_t(path)}: {_t(err)}")
        if slow is not None:
            _print_analyses(slow)
        for line in switch_lines:
            print(_t(line))
        if report.cancelled or (slow is not None and slow.cancelled):
            print("Cancelled: the rest stays queued for the next `lookalike index`.")
        return 0


def _files(n: int) -> str:
    """'1 file', '2 files'."""
    return f"{n:,} file" + ("" if n == 1 else "s")


def _analysis_json(r: Any) -> dict[str, Any]:
    return {
        "done": r.done,
        "failed": r.failed,
        "by_analyzer": {a: {"done": d, "failed": f} for a, (d, f) in r.by_analyzer.items()},
        "failures": [{"analyzer": a, "path": p, "error": e} for a, p, e in r.failures],
        "waiting": r.waiting,
        "cancelled": r.cancelled,
        "seconds": round(r.seconds, 3),
    }


def _print_analyses(r: Any) -> None:
    from engine.indexing.analyzers import get_analyzer

    for name, (done, failed) in r.by_analyzer.items():
        an = get_analyzer(name)
        print(f"{(an.label if an else name).capitalize()}: {_files(done)} done, {failed} failed.")
    for name, path, err in r.failures[:20]:
        print(f"  {name} failed: {_t(path)}: {_t(err)}")
    if len(r.failures) > 20:
        print(f"  … and {len(r.failures) - 20} more (see `lookalike status`)")
    for name, why in r.waiting.items():
        an = get_analyzer(name)
        print(f"  {(an.label if an else name).capitalize()} waits: {_t(why)}")


def _kinds(args: argparse.Namespace) -> list[str] | None:
    return [args.kind] if getattr(args, "kind", None) else None


def cmd_search(args: argparse.Namespace) -> int:
    # The search box with its date and place understanding (engine.search.understand, issue 14).
    from engine.search.understand import search as search_box

    if not args.text.strip() and not (args.after or args.before or args.place):
        raise LookalikeError("Nothing to search for: give words, or --after/--before/--place")
    with _open_library(args) as lib:
        results, understood = search_box(
            lib,
            args.text,
            limit=args.limit,
            kinds=_kinds(args),
            folder=args.folder,
            only=args.only,
            after=args.after,
            before=args.before,
            place=args.place,
            sort=args.sort,
        )
        if args.explain and args.json:
            print(json.dumps({"understood": understood.to_json(), "results": [r.to_json() for r in results]}))
            return 0
        if args.explain:
            print(f"understood: {_t(understood.describe())}", file=sys.stderr)
        if understood.nothing and not results and not args.json:
            print(_t(understood.nothing) + ".")
            return 0
        _print_search(results, args.text, args.json)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    from engine.search.api import search_similar, search_similar_many

    at = None
    if args.at:
        try:
            at = parse_time(args.at)
        except ValueError:
            raise LookalikeError(f"--at takes a time like 83, 1:23 or 00:01:23, not {args.at!r}") from None
    with _open_library(args) as lib:
        if len(args.files) == 1:
            results = search_similar(
                lib, args.files[0], limit=args.limit, kinds=_kinds(args), folder=args.folder, at=at
            )
        else:
            results = search_similar_many(lib, args.files, limit=args.limit, kinds=_kinds(args))
        _print_results(results, args.json)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from engine.errors import LibraryBusyError
    from engine.models import registry
    from engine.storage import catalog as cat

    try:
        lib = _open_library(args)
        busy = False
    except LibraryBusyError:
        lib = _open_library(args, exclusive=False)  # the app holds it: the catalog still reads fine
        busy = True
    with lib:
        s = lib.settings
        counts = lib.catalog.counts()
        failures = [(r.path, r.error) for r in lib.catalog.in_state(cat.FAILED, limit=50)]
        from engine.indexing import switches as model_switches
        from engine.indexing.analysis import analysis_counts, not_ready
        from engine.indexing.analyzers import all_analyzers, slow_analyzers
        from engine.storage import analyses as an_state

        per_analyzer = analysis_counts(lib)
        analyzers = {a.name: a for a in all_analyzers()}
        waiting = not_ready(lib)
        switching = model_switches.states(lib)
        failures += [
            (p, f"{a.label}: {e}")
            for a in slow_analyzers()
            for p, e in an_state.failures(lib.catalog, a.name, 10)
        ]
        models = {
            m: {
                "installed": registry.is_installed(s.models_dir, m),
                "test_model": registry.is_test_model(s.models_dir, m),
            }
            # The speech model too while speech is on: optional, but its stage waits without it.
            for m in [*s.model_ids(), *([s.speech_model] if s.speech else [])]
        }
        vectors = {}
        if not busy:
            for name in (lib.image_collection, lib.audio_collection, *lib.switch_collections):
                if lib.store.has_collection(name):
                    vectors[name] = lib.store.count(name)
        from engine.models.device import pick_device

        info = {
            "home": str(s.home),
            "folders": s.folders,
            "files": {f"{k}/{st}": n for (k, st), n in sorted(counts.items())},
            "failures": [{"path": p, "error": e} for p, e in failures],
            "models": models,
            "device": pick_device(s.device) if s.device != "auto" else f"auto ({pick_device('auto')})",
            "store": s.store_uri or f"Milvus Lite at {s.vectors_path}",
            "vectors": vectors,
            "open_elsewhere": busy,
            "notices": lib.notices,  # e.g. files queued again because their vectors were lost
            "analyzers": per_analyzer,
            "analyzers_not_ready": waiting,
            "switches": [st.to_json() for st in switching],  # models being switched to (`models use`)
        }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"Library: {_t(info['home'])}" + ("  (open in another Lookalike process)" if busy else ""))
    print("Folders:" + ("" if s.folders else " none (add one with `lookalike index FOLDER`)"))
    for f in s.folders:
        print(f"  {_t(f)}" + ("" if Path(f).is_dir() else "  [offline]"))
    print("Files:" + ("" if counts else " none"))
    for (kind, state), n in sorted(counts.items()):
        print(f"  {kind:<6} {state:<8} {n}")
    print("Analyzers (done / pending / failed):")
    for name, c in per_analyzer.items():
        a = analyzers[name]
        # Said only when files wait for it: no "speech model missing" in a library of photos.
        why = f"  [not running: {_t(waiting[name])}]" if name in waiting and c["pending"] else ""
        print(f"  {a.label:<28} {c['done']} / {c['pending']} / {c['failed']}{why}")
    print("Models:")
    for m, st in models.items():
        state = "installed" if st["installed"] else f"missing — run `lookalike models download {m}`"
        if st["test_model"]:
            state += " (test model with random weights: results are not meaningful)"
        print(f"  {m}: {state}")
    for sw in switching:
        print(f"  switching the {_t(sw.describe())}")
    print(f"Device: {info['device']}")
    print(f"Store: {_t(info['store'])}")
    for name, n in vectors.items():
        print(f"  {name}: {n} vectors")
    for note in info["notices"]:
        print(_t(note))
    if failures:
        print(f"Failures ({len(failures)} shown; `lookalike retry` re-queues them):")
        for p, e in failures:
            print(f"  {_t(p)}: {_t(e)}")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    with _open_library(args) as lib:
        n = lib.catalog.retry_failed()
    print(f"Re-queued {n} failed files; run `lookalike index` to process them.")
    return 0


# -- parser -----------------------------------------------------------------------------------------


VERBOSE_HELP = "show the libraries' own messages and progress bars (they are in the library's lookalike.log)"


def _setup_logging(args: argparse.Namespace) -> None:
    """Libraries' messages to the log file in the data folder, ours on the terminal (engine.core.logs)."""
    from engine.core.logs import setup_logging
    from engine.storage.settings import data_dir

    home = args.home.expanduser() if args.home is not None else data_dir()
    setup_logging(home, verbose=bool(getattr(args, "verbose", False)))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="lookalike",
        description="Search your own photos, video moments and sounds, locally. "
        "Run without a command to open the app.",
    )
    ap.add_argument("--version", action="version", version=f"lookalike {__version__}")
    ap.add_argument(
        "--home",
        type=Path,
        default=None,
        help="library data folder (default: $LOOKALIKE_HOME or the platform's data dir)",
    )
    ap.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("index", help="add folders to the library and index them")
    p.add_argument("folders", nargs="*", help="folders to add (default: re-index the library's folders)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--fast",
        "--skip-slow",
        dest="fast",
        action="store_true",
        help="only make files searchable (embeddings); skip reading text, metadata and the other slow stages",
    )
    p.set_defaults(func=cmd_index)

    def query_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("-n", "--limit", type=int, default=20, help="how many results (default 20)")
        p.add_argument("--kind", choices=["photo", "video", "sound"], help="only this kind of file")
        p.add_argument("--folder", help="only files inside this folder")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("search", help="find photos, video moments and sounds matching words")
    p.add_argument(
        "text",
        nargs="?",
        default="",
        help='words; "quoted words" mean exact text, -word leaves out files with it; dates and places '
        "the library has (July 2023, en Oporto) filter",
    )
    p.add_argument("--after", help="only files made on or after this date (2020, 2020-07, 2020-07-14)")
    p.add_argument("--before", help="only files made before this date (2021, 2021-07, 2021-07-14)")
    p.add_argument("--place", help="only files made in this city, region or country (Porto, Portugal)")
    p.add_argument(
        "--sort", choices=["relevance", "date"], default="relevance", help="order (default relevance)"
    )
    p.add_argument("--explain", action="store_true", help="print how the query was understood")
    p.add_argument(
        "--only",
        action="append",
        metavar="FINDER",
        help="only this finder: text (words read in pictures), visual, names (file and folder names), "
        "sounds, speech, date, place, camera (what the query names of those: `canon --only camera`), "
        "or another the engine lists when asked for a wrong one; repeatable",
    )
    query_opts(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("similar", help="find items similar to a file (any file, in the library or not)")
    p.add_argument("files", nargs="+", type=Path, help="one or more example files")
    p.add_argument("--at", help="for a video or long sound: the moment to match, e.g. 01:23")
    query_opts(p)
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser("status", help="files per state and kind, failures, models, device, store")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("retry", help="re-queue the files that failed")
    p.set_defaults(func=cmd_retry)

    from engine.cli import watch as cli_watch  # light: the service loads only when the command runs

    cli_watch.add_parser(sub)

    from engine.cli import transcript as cli_transcript  # light, like watch

    cli_transcript.add_parser(sub)

    from engine.cli import repair as cli_repair  # light, like watch

    cli_repair.add_parser(sub)

    from engine.cli import duplicates as cli_duplicates  # light, like watch

    cli_duplicates.add_parser(sub)

    from engine.cli import models as cli_models  # light, like watch

    cli_models.add_parser(sub)
    for command in sub.choices.values():
        # `lookalike index DIR -v` as well as `lookalike -v index DIR` (SUPPRESS: no default that would
        # overwrite the global flag).
        command.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    _setup_logging(args)
    try:
        return int(args.func(args))
    except LookalikeError as exc:
        print(f"lookalike: {_t(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("lookalike: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`lookalike search x | head`): stop quietly, as Unix tools do. Python
        # would otherwise print a traceback, then another when it flushes stdout at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
