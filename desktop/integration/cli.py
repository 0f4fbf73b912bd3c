"""``lookalike integrate install | uninstall | status | open``.

Reached from :mod:`desktop.launcher` before the engine's CLI loads, so ``open`` (run by file managers on
every right-click) imports nothing heavy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from desktop.integration import IntegrationError, current_platform
from desktop.integration.common import INSTALLED, Integration

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

#: What ``open`` runs: ``(files, home) -> exit status``. The launcher passes
#: :func:`desktop.handoff.open_files`, which may start the app; this package never imports Qt, so it
#: cannot name that function itself (the contract in pyproject.toml, [tool.importlinter]).
OpenFiles = Callable[[Sequence[str], "Path | None"], int]


def platform_integration(platform: str | None = None) -> Integration:
    """This machine's integration (Linux/freedesktop, Windows or macOS), for the current user."""
    platform = platform or current_platform()
    if platform == "windows":
        from desktop.integration import windows

        return windows.integration()
    if platform == "macos":
        from desktop.integration import macos

        return macos.integration()
    from desktop.integration import linux

    return linux.integration()


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="lookalike integrate",
        description="Add (or remove) 'Find similar with Lookalike' in your file manager's right-click "
        "menu, and the app to your applications menu. Per user; no admin rights needed.",
    )
    sub = ap.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("install", help="write the launcher and file-manager actions (again: updates them)")
    sub.add_parser("uninstall", help="remove exactly what install wrote")
    p = sub.add_parser("status", help="what is installed, and where")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("open", help="what the file-manager actions run: show items like FILEs in the app")
    p.add_argument("files", nargs="*", help="files to find similar items for (none: just open the app)")
    p.add_argument("--home", type=Path, default=None, help="library data folder (default: $LOOKALIKE_HOME)")
    return ap


def _print_outcome(verb: str, changed: list[str], unchanged: list[str], errors: list[str]) -> int:
    for line in changed:
        print(f"{verb:<10} {line}")
    if not changed and not errors:
        print("Nothing to do: already " + ("installed." if verb == "wrote" else "removed."))
    for line in errors:
        print(f"lookalike: {line}", file=sys.stderr)
    return EXIT_ERROR if errors else EXIT_OK


def cmd_status(integ: Integration, as_json: bool) -> int:
    lines = integ.status()
    if as_json:
        data = {
            "platform": integ.platform,
            "manifest": str(integ.manifest_path),
            **integ.facts,
            "items": [vars(s) for s in lines],
            "installed": all(s.state == INSTALLED for s in lines),
        }
        print(json.dumps(data, indent=2))
        return EXIT_OK
    print(f"Lookalike desktop integration ({integ.platform})")
    for k, v in integ.facts.items():
        print(f"  {k}: {v}")
    width = max((len(s.component) for s in lines), default=0)
    for s in lines:
        detail = f"  ({s.detail})" if s.detail else ""
        print(f"  {s.state:<9} {s.component:<{width}}  {s.location}{detail}")
    if any(s.state != INSTALLED for s in lines):
        print("Run `lookalike integrate install` to install or update what is not installed.")
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, open_files: OpenFiles | None = None) -> int:
    """Run ``lookalike integrate ACTION``; ``open`` needs ``open_files`` (see :data:`OpenFiles`)."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.action == "open":
        if open_files is None:
            print("lookalike: `integrate open` runs through the `lookalike` command", file=sys.stderr)
            return EXIT_USAGE
        return open_files(args.files, args.home)
    try:
        integ = platform_integration()
        if args.action == "status":
            return cmd_status(integ, args.json)
        if args.action == "install":
            out = integ.install()
            code = _print_outcome("wrote", out.changed, out.unchanged, out.errors)
            if out.changed and not out.errors:
                print("Done. Right-click a photo, clip or sound and choose “Find similar with Lookalike”.")
            return code
        out = integ.uninstall()
        return _print_outcome("removed", out.changed, [], out.errors)
    except IntegrationError as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
