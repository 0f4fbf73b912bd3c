"""The ``lookalike`` entry point: the app with no arguments, the engine's CLI otherwise.

Nothing Qt is imported here at module level, so CLI commands stay fast and work without a display.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] == "app":
        return gui_main(args[1:])
    if args[0] == "similar" and _forward_to_app(args):
        return 0  # the running app shows the results (it owns the library)
    if args[0] == "integrate":  # file-manager actions, their installer (no engine; Qt only to start the app)
        from desktop.handoff import open_files
        from desktop.integration.cli import main as integrate_main

        return integrate_main(args[1:], open_files=open_files)
    from engine.cli.main import main as cli_main

    return cli_main(args)


def _forward_to_app(args: list[str]) -> bool:
    """Hand ``similar FILE…`` to the app when one runs on this library (plain socket, no Qt import)."""
    try:
        from desktop.ipc import forward_to_running_app
    except ImportError:
        return False
    return forward_to_running_app(args)


def gui_main(argv: Sequence[str] | None = None) -> int:
    try:
        from desktop.app import run_app
    except ImportError as exc:
        print(f"lookalike: the desktop app is not available ({exc}); see `lookalike --help`", file=sys.stderr)
        return 1
    return run_app(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
