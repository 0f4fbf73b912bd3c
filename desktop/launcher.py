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
    if args[0] in ("similar", "search") or args[:2] == ["models", "use"]:
        status = _hand_to_app(args)
        if status is not None:
            return status  # the running app showed the results, or answered them (it owns the library)
    if args[0] == "integrate":  # file-manager actions, their installer (no engine; Qt only to start the app)
        from desktop.handoff import open_files
        from desktop.integration.cli import main as integrate_main

        return integrate_main(args[1:], open_files=open_files)
    from engine.cli.main import main as cli_main

    return cli_main(args)


#: How long ``similar … --json`` waits for the app's answer (its first search may load the model).
QUERY_TIMEOUT_S = 120.0


def _hand_to_app(args: list[str]) -> int | None:
    """Hand ``similar FILE…`` to the app when one runs on this library (plain socket, no Qt import).

    Plain ``similar FILE…`` goes to the window (nothing printed). With options (``--json``, ``-n``,
    ``--kind``, ``--folder``, ``--at``) the app runs the search and this prints its answer as the CLI
    would: the app holds the library, so the CLI itself could only say "busy". ``search …`` likewise
    (any options): the app runs its search box and this prints the answer. Returns the exit status, or
    None when no app took the request (the CLI then runs it).
    """
    try:
        from desktop import ipc
    except ImportError:
        return None
    message = ipc.request_from_args(args)
    if message is None:
        return None
    if message["cmd"] not in ("query", "search", "use_model"):
        return 0 if ipc.forward_to_running_app(args) else None
    reply = ipc.send_to_running_app(message, reply_timeout=QUERY_TIMEOUT_S)
    if reply is None:
        return None
    from engine.core.text import for_terminal

    if not reply.get("ok"):
        print(f"lookalike: the running app answered: {for_terminal(reply.get('error'))}", file=sys.stderr)
        return 1
    if message["cmd"] == "use_model":  # the app switched its library (Preferences shows the progress)
        if message.get("json"):
            import json

            keys = ("message", "completed", "switch")
            print(json.dumps({"model": message["model"], **{k: reply.get(k) for k in keys}}, indent=2))
        else:
            print(for_terminal(reply.get("message")))
        return 0
    results = reply.get("results")
    if not isinstance(results, list):
        print("lookalike: the running app sent no results", file=sys.stderr)
        return 1
    if message["cmd"] == "search":
        print_search(message, reply)
    else:
        print_results(results, as_json=bool(message.get("json")))
    return 0


def print_search(message: dict, reply: dict) -> None:
    """The app's answer to ``lookalike search`` printed as the CLI prints its own (engine.cli.main's
    cmd_search): the same JSON, and the same lines (good matches, then the closest under a heading on
    stderr), made from the results' JSON."""
    import json
    from types import SimpleNamespace

    from engine.cli.main import _print_search
    from engine.core.text import for_terminal

    results = reply["results"]
    if message.get("explain") and message.get("json"):
        print(json.dumps({"understood": reply.get("understood"), "results": results}))
        return
    if message.get("explain"):
        print(f"understood: {for_terminal(reply.get('describe'))}", file=sys.stderr)
    if reply.get("nothing") and not results and not message.get("json"):
        print(for_terminal(reply["nothing"]) + ".")
        return
    if message.get("json"):
        print(json.dumps(results, indent=2))
        return
    fields = ("path", "kind", "t", "match", "reason", "good")
    _print_search([SimpleNamespace(**{k: r.get(k) for k in fields}) for r in results], message["text"], False)


def print_results(results: list[dict], as_json: bool) -> None:
    """Results in ``Result.to_json`` form, printed like ``lookalike similar`` prints them."""
    import json

    if as_json:
        print(json.dumps(results, indent=2))
        return
    if not results:
        print("No matches.")
        return
    from engine.core.durations import format_duration
    from engine.core.text import for_terminal

    for r in results:
        t = r.get("t")
        where = f" @ {format_duration(t, padded=True)}" if isinstance(t, (int, float)) else ""
        score, kind = float(r.get("score", 0.0)), str(r.get("kind", ""))
        print(f"{score:6.3f}  {kind:<5}  {for_terminal(r.get('path'))}{where}")


def gui_main(argv: Sequence[str] | None = None) -> int:
    try:
        from desktop.app import run_app
    except ImportError as exc:
        print(f"lookalike: the desktop app is not available ({exc}); see `lookalike --help`", file=sys.stderr)
        return 1
    return run_app(list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
