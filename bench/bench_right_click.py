"""Right-click "Find similar" to results shown in the app, with the app running and without it.

The action's command line is taken from the .desktop file ``lookalike integrate install`` writes (into
a temporary home) and run as a file manager runs it. The app runs offscreen on a library of generated
photos with the tiny random-weight models, instrumented by ``testkit/app_probe`` to stamp the
moment its result model holds the answer and the window has processed the resulting paint events.

Printed beside the same run's ceilings: a bare ``python -c pass`` start, the hand-off command alone
when the app has nothing to search for (``integrate open`` with no file: start, connect, forward), and
the search call alone inside the app (query started to answer, from the probe).

    python bench/bench_right_click.py [--photos 200] [--repeat 10] [--cold 3]

Targets: <= 1 s with the app running, <= 3 s when the right-click has to start it. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, bare_python, ms, spread, summary

sys.path.insert(0, str(REPO))

from desktop.integration import linux as lx  # noqa: E402
from testkit.app_runner import (  # noqa: E402
    ProbeLog,
    action_command,
    app_env,
    index_folder,
    start_app,
    stop_app,
)
from testkit.media import make_library, recompressed_copy  # noqa: E402

RUNNING_TARGET_S = 1.0
COLD_TARGET_S = 3.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=200, help="photos in the library (default 200)")
    ap.add_argument("--repeat", type=int, default=10, help="right-clicks with the app running (default 10)")
    ap.add_argument("--cold", type=int, default=3, help="right-clicks that start the app (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lookalike-bench-rc-"))
    try:
        return run(tmp, args)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, args: argparse.Namespace) -> int:
    from engine.models.tiny import main as write_tiny

    home = tmp / "library"
    user = tmp / "user"
    user.mkdir()
    os.environ.update(HOME=str(user), XDG_DATA_HOME=str(user / ".local/share"))
    os.environ.update(XDG_CONFIG_HOME=str(user / ".config"), XDG_CONFIG_DIRS=str(tmp / "etc-xdg"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    probe = ProbeLog(tmp / "probe.jsonl")
    env = app_env(home, probe)

    print(f"setting up: tiny models, {args.photos} photos, index …", flush=True)
    t0 = time.perf_counter()
    write_tiny([str(tmp / "models")])
    launcher = [sys.executable, "-m", "desktop.launcher"]
    subprocess.run([*launcher, "models", "install", "--from", str(tmp / "models")], env=env, check=True,
                   capture_output=True)  # fmt: skip
    photos = make_library(tmp / "Pictures", args.photos)
    index_folder(tmp / "Pictures", env)
    queries = [recompressed_copy(photos[i], tmp / "Downloads" / f"copy {i}.jpg") for i in (3, 7, 11)]
    print(f"  ready in {time.perf_counter() - t0:.1f} s")

    lx.integration().install()
    desktop = lx.LinuxPaths.from_env().desktop_file
    argv_for = {q: action_command(desktop, [str(q)]) for q in queries}
    print(f"action command: {argv_for[queries[0]]}")

    # -- ceilings ------------------------------------------------------------------------------------
    bare = bare_python(7)

    # -- app running ------------------------------------------------------------------------------------
    app = start_app(env, tmp)
    handoff: list[float] = []
    warm: list[float] = []
    search_s: list[float] = []
    try:
        opened = probe.wait_for(lambda e: e["event"] == "opened", 300, app)

        def click(q: Path) -> dict:
            n_before = len(probe.events())
            t = time.monotonic()
            subprocess.run(argv_for[q], env=env, cwd=tmp, check=True, capture_output=True, timeout=60)
            ev = probe.wait_for(
                lambda e: e["event"] == "results" and e["paths"] == [str(q)] and e["t"] > t, 60, app
            )
            assert ev["pid"] == app.pid, "the command started a second app instead of forwarding"
            assert len(probe.events()) > n_before
            return {"elapsed": ev["t"] - t, "search_s": ev["search_s"], "top": ev["top"]}

        first = click(queries[0])  # models load on the first query after the library opens
        assert first["top"][0] == str(photos[3]), first["top"]
        for i in range(args.repeat):
            r = click(queries[(i + 1) % len(queries)])
            warm.append(r["elapsed"])
            search_s.append(r["search_s"])
        for _ in range(5):  # no file: start, connect, forward "activate", exit — nothing to search
            t = time.monotonic()
            subprocess.run(argv_for[queries[0]][:-1], env=env, cwd=tmp, check=True, capture_output=True)
            handoff.append(time.monotonic() - t)
        app_open_s = (
            opened["t"] - probe.wait_for(lambda e: e["event"] == "process" and e["pid"] == app.pid, 1)["t"]
        )
    finally:
        stop_app(app)

    # -- app not running: the command becomes the app -----------------------------------------------
    cold: list[float] = []
    cold_parts: list[dict[str, float]] = []
    for i in range(args.cold):
        q = queries[i % len(queries)]
        t = time.monotonic()
        proc = subprocess.Popen(argv_for[q], env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            ev = probe.wait_for(
                lambda e, t=t, q=q: e["event"] == "results" and e["paths"] == [str(q)] and e["t"] > t,
                120,
                proc,
            )
            mine = [e for e in probe.events() if e.get("pid") == proc.pid]
            started = next(e["t"] for e in mine if e["event"] == "process")
            opened_t = next(e["t"] for e in mine if e["event"] == "opened")
            cold.append(ev["t"] - t)
            cold_parts.append(
                {
                    "interpreter_s": started - t,
                    "to_library_open_s": opened_t - started,
                    "to_results_s": ev["t"] - opened_t,
                }  # fmt: skip
            )
        finally:
            stop_app(proc)

    # -- report -----------------------------------------------------------------------------------------
    w, c = summary(warm), summary(cold)
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"library: {args.photos} photos, tiny random-weight models")
    print("ceilings (same run):")
    print(f"  python -c pass                               {ms(bare)}")
    print(f"  hand-off alone (integrate open, no file)     {ms(statistics.median(handoff))}")
    print(f"  search alone in the app (median)             {ms(statistics.median(search_s))}")
    print(f"  first search alone in the app (models load)  {ms(first['search_s'])}")
    print("app running:")
    print(f"  first right-click after start (models load)  {ms(first['elapsed'])}")
    print(
        f"  right-click to results shown, median         {ms(w['median_s'])}   {spread(w, RUNNING_TARGET_S)}"
    )
    print("app not running (the command starts it):")
    print(f"  right-click to results shown, median         {ms(c['median_s'])}   {spread(c, COLD_TARGET_S)}")
    parts = {k: statistics.median(p[k] for p in cold_parts) for k in cold_parts[0]}
    print(
        "    of which: interpreter start {:.0f} ms, to library open {:.0f} ms, to results {:.0f} ms".format(
            *(v * 1000 for v in parts.values())
        )
    )
    print(f"  (the app alone, started from the menu, opened its library in {app_open_s * 1000:.0f} ms)")
    print(
        json.dumps(
            {
                "bench": "right_click",
                "photos": args.photos,
                "python_start_s": bare,
                "handoff_s": statistics.median(handoff),
                "search_in_app_s": statistics.median(search_s),
                "running_first_s": first["elapsed"],
                "first_search_in_app_s": first["search_s"],
                "running": w,
                "not_running": c,
                "not_running_parts": parts,
                "running_within_target": w["median_s"] <= RUNNING_TARGET_S,
                "not_running_within_target": c["median_s"] <= COLD_TARGET_S,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
