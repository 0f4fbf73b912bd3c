"""The app as a person meets it: launch to window shown, launch to first results, and GUI stalls.

Three figures, each printed beside a ceiling measured in the same run:

- **launch to window shown**: ``lookalike`` (the installed entry point, no arguments, as a launcher
  starts it) until the main window's first paint has been flushed. Ceiling: a bare
  ``import PySide6.QtWidgets`` that shows an empty QWidget, timed the same way.
- **launch to first results**: the same launch, a query typed into the search field (and Enter) as
  soon as the window is shown, until the result model holds the answer and the window has painted it,
  on libraries of 10k and 100k photos (catalog rows and random unit vectors stored in bulk, as
  ``bench_query.py`` builds them). Ceiling: the engine alone in a fresh process (import, open the
  library, ``search_text`` with the app's limit), no Qt; and its two floors, each in a fresh process:
  the vector store alone (import pymilvus, start Milvus Lite, load the image collection: its count),
  and ``import PySide6.QtWidgets`` alone.
- **longest GUI event-loop stall**: a 5 ms precise QTimer in the app's GUI thread records the gaps
  between its ticks while the app indexes 1,000 generated 640x480 JPEGs and a new query is typed every
  0.5 s. Baselines: the same timer in a bare Qt process with an idle event loop, and in the app idle
  after indexing.

The app runs offscreen on the tiny random-weight models (``engine.models.tiny``; the image-text one
with the real model's 256-d output) in a temporary ``LOOKALIKE_HOME``, instrumented by
``testkit/app_probe`` (library opened, query started, results shown) plus this module's
own hooks (first paint, typing, the stall timer), loaded into the app process by a generated
``sitecustomize``. Every stamp is ``time.monotonic()``, one clock for all processes on Linux.

    python bench/bench_app.py [--sizes 10000 100000] [--launches 3] [--photos 1000] [--cache DIR]
                              [--trace-stalls FILE]

``--cache DIR`` keeps the tiny models and the generated photos for the next run; ``--sizes`` with no
size skips the launch figures, ``--photos 0`` the stall run; ``--trace-stalls`` writes every thread's
stack whenever the GUI thread is 40 ms late (what held the GIL). Also printed: a query typed 1.5 s
after the window (the library opened and warmed up meanwhile). Targets: window <= 1.0 s, first
results <= 1.2 s at 100k items (issue 18; it was 2.5 s), no stall over 50 ms. Last line: JSON.
"""

from __future__ import annotations

# The app process imports this module for its hooks (see _child_hooks): at the top, only what the
# app imports anyway, so the hooks do not slow the launch they measure.
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import REPO, bare_python, ms, spread, summary

sys.path.insert(0, str(REPO))

WINDOW_TARGET_S = 1.0
RESULTS_TARGET_S = 1.2
RESULTS_TARGET_ITEMS = 100_000
STALL_TARGET_MS = 50.0
DIM = 256  # the real UForm3 image-text model's output
TICK_MS = 5
LATER_MS = 1500  # how long after the window a person types, for the second first-results figure
TYPE_EVERY_MS = 500
IDLE_S = 3.0
QUERY = "a red car on the beach"
WORDS = ["dog", "beach", "sunset", "red car", "birthday cake", "tree", "night street", "bird", "flowers"]


# -- inside the app process ------------------------------------------------------------------------


def _child_hooks() -> None:
    """Run by the generated sitecustomize in the app process: load ``app_probe`` (its import hook
    wraps ``desktop.app.build``) and add this bench's instrumentation to the window it builds."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "lookalike_app_probe", REPO / "testkit" / "app_probe" / "sitecustomize.py"
    )
    assert spec is not None and spec.loader is not None
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    inner = probe._instrument

    def instrument(window: Any) -> Any:
        # Not in the stall run: the probe paints each answer at once, inside the signal handler, to
        # stamp "shown"; that would merge event-loop slices the app keeps apart.
        if not os.environ.get("LOOKALIKE_BENCH_STALL"):
            inner(window)
        _instrument_window(window, probe._write)
        return window

    setattr(probe, "_instrument", instrument)  # noqa: B010 - a module loaded by path


def _gap_stats(gaps: list[float]) -> dict[str, float]:
    """Gaps between timer ticks (seconds) as max, p99 and median in ms."""
    if not gaps:
        return {"max_ms": 0.0, "p99_ms": 0.0, "p50_ms": 0.0, "ticks": 0, "seconds": 0.0}
    s = sorted(gaps)
    return {
        "max_ms": s[-1] * 1000,
        "p99_ms": s[min(len(s) - 1, int(0.99 * len(s)))] * 1000,
        "p50_ms": s[len(s) // 2] * 1000,
        "ticks": len(s),
        "seconds": sum(s),
    }


def _instrument_window(window: Any, write: Callable[..., None]) -> None:
    """Stamp the first paint; then type ``$LOOKALIKE_BENCH_QUERY``, or (``$LOOKALIKE_BENCH_STALL``
    = the number of files to index) run the stall timer and type a query every 0.5 s until they are
    indexed, then measure the idle app for a while and report the gaps per phase."""
    from PySide6.QtCore import QEvent, QObject, Qt, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    app: Any = QApplication.instance()
    query = os.environ.get("LOOKALIKE_BENCH_QUERY", "")
    expect = int(os.environ.get("LOOKALIKE_BENCH_STALL", "0") or 0)

    def type_text(text: str) -> None:
        from PySide6.QtTest import QTest

        field = window.search_bar.field
        field.selectAll()
        QTest.keyClicks(field, text)

    def type_query() -> None:
        from PySide6.QtTest import QTest

        type_text(query)
        QTest.keyClick(window.search_bar.field, Qt.Key.Key_Return)  # Enter searches at once
        write("typed", text=query)

    def painted() -> None:
        write("painted")
        if query:
            QTimer.singleShot(int(os.environ.get("LOOKALIKE_BENCH_QUERY_DELAY_MS", "0")), type_query)
        if expect:
            StallMeter(window)

    class FirstPaint(QObject):
        def eventFilter(self, obj: Any, ev: Any) -> bool:
            if ev.type() == QEvent.Type.Paint and isinstance(obj, QWidget) and obj.window() is window:
                app.removeEventFilter(self)
                # Stamped once the paint in progress is finished and flushed.
                QTimer.singleShot(0, painted)
            return False

    class StallMeter(QObject):
        """Gaps between ticks per phase: "starting" (library opening, engine loading, until the first
        files are indexed), "indexing" (the rest, a query typed every 0.5 s), "settling" (a second for
        the app's own work after indexing: the search run again, the store flushed), "idle"."""

        def __init__(self, parent: Any) -> None:
            super().__init__(parent)
            self.phase = "starting"
            self.gaps: dict[str, list[float]] = {"starting": [], "indexing": [], "settling": [], "idle": []}
            self.worst: dict[str, list[tuple[float, float, float]]] = {k: [] for k in self.gaps}
            self.searches = 0
            self.t_phase = self.last = time.perf_counter()
            self.cpu = time.thread_time()
            self.t_indexing = time.monotonic()
            self.tick = QTimer(self)
            self.tick.setTimerType(Qt.TimerType.PreciseTimer)
            self.tick.setInterval(TICK_MS)
            self.tick.timeout.connect(self.on_tick)
            self.typer = QTimer(self)
            self.typer.setInterval(TYPE_EVERY_MS)
            self.typer.timeout.connect(self.on_type)
            window.bridge.progressed.connect(self.on_progress)
            self.asked: dict[int, float] = {}
            self.latencies: list[float] = []
            window.searches.started.connect(lambda q: self.asked.__setitem__(id(q), time.monotonic()))
            window.searches.answered.connect(self.on_answered)
            # --trace-stalls: when a tick is 40 ms late, a watchdog (C, no GIL needed) writes every
            # thread's stack: the one that holds the GIL, or the GUI thread's own slow work.
            trace = os.environ.get("LOOKALIKE_BENCH_TRACE")
            self.trace = open(trace, "a", encoding="utf-8") if trace else None  # noqa: SIM115
            self.tick.start()

        def on_tick(self) -> None:
            now, cpu = time.perf_counter(), time.thread_time()
            gap = now - self.last
            self.gaps[self.phase].append(gap)
            if gap > 0.02:
                # Where the long ones were (seconds into the phase), and how much of each the GUI
                # thread spent working itself: the rest it waited (for the GIL, or the CPU).
                self.worst[self.phase].append(
                    (round(gap * 1000, 1), round(now - self.t_phase, 2), round((cpu - self.cpu) * 1000, 1))
                )
            self.last, self.cpu = now, cpu
            if self.trace is not None:
                import faulthandler

                faulthandler.dump_traceback_later(0.04, file=self.trace)

        def on_answered(self, answer: Any) -> None:
            t0 = self.asked.get(id(answer.query))
            if t0 is not None and self.phase == "indexing":
                # Stamped once the window has handled the answer and the paint it queued.
                QTimer.singleShot(0, lambda: self.latencies.append(time.monotonic() - t0))

        def on_type(self) -> None:
            type_text(WORDS[self.searches % len(WORDS)])
            self.searches += 1

        def enter(self, phase: str) -> None:
            self.phase = phase
            self.t_phase = time.perf_counter()
            write(phase)

        def on_progress(self, p: Any) -> None:
            finished = p.indexed_total + p.failed_total
            if self.phase == "starting" and p.done + p.failed > 0:
                self.enter("indexing")
                self.t_indexing, self.finished_at_start = time.monotonic(), finished
                self.typer.start()
            elif self.phase == "indexing" and p.state == "idle" and finished >= expect:
                self.typer.stop()
                seconds = time.monotonic() - self.t_indexing
                self.enter("settling")
                write("indexed", done=p.indexed_total, failed=p.failed_total, seconds=seconds,
                      rate=(finished - self.finished_at_start) / seconds)  # fmt: skip
                QTimer.singleShot(1000, lambda: self.enter("idle"))
                QTimer.singleShot(1000 + int(IDLE_S * 1000), self.report)

        def report(self) -> None:
            self.tick.stop()
            if self.trace is not None:
                import faulthandler

                faulthandler.cancel_dump_traceback_later()
                self.trace.close()
            stats = {k: dict(_gap_stats(v), worst=sorted(self.worst[k])[-5:]) for k, v in self.gaps.items()}
            write("stall", searches=self.searches, latencies=self.latencies, **stats)

    app.installEventFilter(FirstPaint(window))


SITECUSTOMIZE = """\
import sys
sys.path.insert(0, {bench!r})
import bench_app
bench_app._child_hooks()
"""

# A bare Qt process, the ceiling for the window and the idle-loop baseline: argv[1] is the seconds to
# run the timer after the first paint (0: none), argv[2] its interval in ms. Prints the paint stamp,
# then the gaps.
BARE_QT = """\
import sys, time, json
from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget()
w.resize(1180, 760)
run_s = float(sys.argv[1])
gaps = []
last = [0.0]

def tick():
    now = time.perf_counter()
    gaps.append(now - last[0])
    last[0] = now

def painted():
    print(time.monotonic(), flush=True)
    if not run_s:
        app.quit()
        return
    t = QTimer(app)
    t.setTimerType(Qt.TimerType.PreciseTimer)
    t.setInterval(int(sys.argv[2]))
    t.timeout.connect(tick)
    last[0] = time.perf_counter()
    t.start()
    QTimer.singleShot(int(run_s * 1000), lambda: (print(json.dumps(gaps)), app.quit()))

class FirstPaint(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            app.removeEventFilter(self)
            QTimer.singleShot(0, painted)
        return False

f = FirstPaint()
app.installEventFilter(f)
w.show()
app.exec()
"""

# The engine alone in a fresh process: the ceiling for first results.
ENGINE_ALONE = """\
import sys, time
from pathlib import Path
from engine.library import Library
from engine.search.api import search_text
lib = Library.open(Path(sys.argv[1]))
n = len(search_text(lib, sys.argv[2], limit=int(sys.argv[3])))
print(time.monotonic(), n, flush=True)
lib.close()
"""

# The vector store alone in a fresh process: import pymilvus, start the Lite server, load the image
# collection (count(*) needs it loaded), as the app's open does before its first search can run.
STORE_ALONE = """\
import sys, time
from pathlib import Path
from engine.storage.settings import Settings
from engine.storage.store import VectorStore
from engine.library import collection_name
s = Settings.load(Path(sys.argv[1]))
store = VectorStore.open(s.store_uri, token=s.store_token, lite_path=s.vectors_path)
n = store.count(collection_name("image_text", s.image_text_model))
print(time.monotonic(), n, flush=True)
store.close()
"""

QT_IMPORT = "import time; import PySide6.QtWidgets; print(time.monotonic(), 1, flush=True)"


# -- the bench -------------------------------------------------------------------------------------


def lookalike_command() -> list[str]:
    """The installed ``lookalike`` entry point next to this interpreter (what a launcher runs)."""
    exe = Path(sys.executable).parent / "lookalike"
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("lookalike")
    return [found] if found else [sys.executable, "-m", "desktop.launcher"]


def bare_qt(env: dict[str, str], run_s: float = 0.0) -> tuple[float, list[float]]:
    """(start to first paint of an empty QWidget, gaps of its idle 5 ms timer over ``run_s``)."""
    import subprocess

    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", BARE_QT, str(run_s), str(TICK_MS)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    return float(out[0]) - t0, (json.loads(out[1]) if run_s else [])


def engine_alone(home: Path, env: dict[str, str]) -> float:
    import subprocess

    from desktop.search_controller import LIMIT

    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", ENGINE_ALONE, str(home), QUERY, str(LIMIT)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert int(out[1]) > 0, "the engine found nothing"
    return float(out[0]) - t0


def fresh_process(code: str, args: list[str], env: dict[str, str]) -> float:
    """Seconds from starting ``python -c code args`` until it prints its stamp (its first word)."""
    import subprocess

    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.split()
    assert int(out[1]) > 0, "nothing there"
    return float(out[0]) - t0


def write_models(dest: Path) -> Path:
    """The tiny models the default settings use, the image-text one with 256-d output."""
    from engine.models.tiny import UFORM_ID, write_tiny_models, write_tiny_uform
    from engine.storage.settings import Settings

    if not (dest / ".complete").exists():
        s = Settings(home=dest / "unused")
        write_tiny_models(dest, [s.audio_model, s.text_model])
        write_tiny_uform(dest / UFORM_ID, embedding_dim=DIM)
        (dest / ".complete").write_text("")
    return dest


def new_home(home: Path, models: Path) -> Path:
    (home / "models").mkdir(parents=True)
    for sub in models.iterdir():
        if sub.is_dir():
            shutil.copytree(sub, home / "models" / sub.name)
    return home


def make_photos(folder: Path, n: int) -> Path:
    from testkit.media import make_library

    marker = folder / f".complete-{n}"
    if not marker.exists():
        make_library(folder, n)
        marker.write_text("")
    return folder


def fill_library(home: Path, n: int) -> None:
    """``n`` indexed photo rows and their random unit vectors, in bulk (``bench_query.fill``)."""
    import numpy as np

    sys.path.insert(0, str(REPO / "bench"))
    from bench_query import fill

    from engine.library import Library
    from engine.storage.settings import Settings

    with Library(Settings(home=home)) as lib:
        fill(lib, n, np.random.default_rng(n))


class App:
    """One launch of the instrumented app; its events are the probe's lines with its pid."""

    def __init__(self, probe: Any, env: dict[str, str], cwd: Path) -> None:
        import subprocess

        self.probe = probe
        self.t0 = time.monotonic()
        # Its stderr goes to a file, read back when it dies before an event (a crash says why there).
        self.err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            lookalike_command(), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=self.err
        )

    def wait(self, event: str, timeout: float) -> dict:
        pid = self.proc.pid
        try:
            return self.probe.wait_for(lambda e: e["event"] == event and e["pid"] == pid, timeout, self.proc)
        except RuntimeError as exc:
            self.err.seek(0)
            tail = self.err.read()[-4000:].decode(errors="replace")
            raise RuntimeError(f"{exc}; its stderr ended with:\n{tail}") from None

    def stop(self) -> None:
        from testkit.app_runner import stop_app

        stop_app(self.proc)
        self.err.close()


def launch_to_results(probe: Any, env: dict[str, str], cwd: Path, delay_ms: int = 0) -> dict[str, float]:
    """One launch; the query is typed ``delay_ms`` after the window is shown."""
    env = dict(env, LOOKALIKE_BENCH_QUERY=QUERY, LOOKALIKE_BENCH_QUERY_DELAY_MS=str(delay_ms))
    app = App(probe, env, cwd)
    try:
        process = app.wait("process", 60)
        painted = app.wait("painted", 60)
        opened = app.wait("opened", 300)
        typed = app.wait("typed", 60)
        results = app.wait("results", 300)
    finally:
        app.stop()
    assert results["rows"] > 0, "the app showed no results"
    return {
        "window_s": painted["t"] - app.t0,
        "results_s": results["t"] - app.t0,
        "interpreter_s": process["t"] - app.t0,
        "to_library_open_s": opened["t"] - app.t0,
        "search_s": results["search_s"],
        "typed_to_results_s": results["t"] - typed["t"],
        "rows": results["rows"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--sizes", type=int, nargs="*", default=[10_000, 100_000],
        help="library sizes for the launch figures (none: skip them)",
    )  # fmt: skip
    ap.add_argument("--launches", type=int, default=3, help="app launches per library size (default 3)")
    ap.add_argument(
        "--photos", type=int, default=1000, help="photos indexed in the stall run (default 1000; 0: skip it)"
    )
    ap.add_argument("--cache", type=Path, default=None, help="keep the tiny models and photos here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument(
        "--trace-stalls", type=Path, default=None, metavar="FILE",
        help="write every thread's stack to FILE whenever the GUI thread is 40 ms late (stall run)",
    )  # fmt: skip
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="lookalike-bench-app-"))
    try:
        return run(tmp, args)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, args: argparse.Namespace) -> int:
    import platform

    import PySide6

    from testkit.app_runner import ProbeLog, app_env

    cache = args.cache.resolve() if args.cache else tmp / "cache"
    user = tmp / "user"
    (user / "run").mkdir(parents=True, mode=0o700)
    os.environ.update(
        HOME=str(user), XDG_RUNTIME_DIR=str(user / "run"), XDG_CONFIG_HOME=str(user / ".config")
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hooks = tmp / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE.format(bench=str(REPO / "bench")))
    probe = ProbeLog(tmp / "probe.jsonl")

    def env_for(home: Path) -> dict[str, str]:
        env = app_env(home, probe)
        env["PYTHONPATH"] = os.pathsep.join([str(hooks), str(REPO)])
        env["PYTHONFAULTHANDLER"] = "1"  # a crash prints every thread's stack (App.wait shows it)
        return env

    bare_env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    print(f"setting up: tiny models, libraries of {args.sizes} items, {args.photos} photos …", flush=True)
    t0 = time.perf_counter()
    models = write_models(cache / "models")
    homes: dict[int, Path] = {}
    for n in args.sizes:
        t = time.perf_counter()
        homes[n] = new_home(tmp / f"home-{n}", models)
        fill_library(homes[n], n)
        print(f"  {n:,} items stored in {time.perf_counter() - t:.1f} s", flush=True)
    photos_home = None
    if args.photos:
        photos_home = photo_library(tmp / "home-photos", models, cache / f"photos-{args.photos}", args.photos)
    print(f"  ready in {time.perf_counter() - t0:.1f} s", flush=True)

    out: dict[str, Any] = {"bench": "app", "load_at_start": os.getloadavg()[0]}
    lines: list[str] = []
    if homes:
        launches = measure_launches(probe, homes, env_for, bare_env, tmp, args.launches)
        out.update(launches.pop("json"))
        lines += launches["lines"]
    if photos_home is not None:
        env = env_for(photos_home)
        if args.trace_stalls:
            env["LOOKALIKE_BENCH_TRACE"] = str(args.trace_stalls.resolve())
        stalls = measure_stalls(probe, env, bare_env, tmp, args.photos)
        out.update(stalls.pop("json"))
        lines += stalls["lines"]

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"PySide6 {PySide6.__version__}, Qt offscreen; tiny random-weight models ({DIM}-d image-text); "
        f"load average {out['load_at_start']:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print("\n".join(lines))
    print(json.dumps(out))
    return 0


def photo_library(home: Path, models: Path, folder: Path, n: int) -> Path:
    """A library with a folder of ``n`` generated photos, none indexed yet (the app indexes them)."""
    from engine.library import Library
    from engine.storage.settings import Settings

    new_home(home, models)
    with Library(Settings(home=home)) as lib:
        lib.add_folder(make_photos(folder, n))
    return home


def measure_launches(
    probe: Any,
    homes: dict[int, Path],
    env_for: Callable[[Path], dict[str, str]],
    bare_env: dict[str, str],
    cwd: Path,
    repeat: int,
) -> dict[str, Any]:
    """Launch to window shown and to first results, per library size, beside their ceilings."""
    import statistics

    python_s = bare_python()
    qt_window_s = statistics.median(bare_qt(bare_env)[0] for _ in range(5))
    qt_import_s = statistics.median(fresh_process(QT_IMPORT, [], bare_env) for _ in range(5))
    store_s = {
        n: statistics.median(fresh_process(STORE_ALONE, [str(home)], bare_env) for _ in range(repeat))
        for n, home in homes.items()
    }
    engine_s = {
        n: statistics.median(engine_alone(home, bare_env) for _ in range(repeat)) for n, home in homes.items()
    }
    runs = {
        n: [launch_to_results(probe, env_for(home), cwd) for _ in range(repeat)] for n, home in homes.items()
    }
    # A person who types a moment after the window appears: the library has opened and warmed up.
    largest = max(homes)
    later = [launch_to_results(probe, env_for(homes[largest]), cwd, LATER_MS) for _ in range(repeat)]

    lines = [
        f"query typed: {QUERY!r}",
        "ceilings (same run):",
        f"  python -c pass                                         {ms(python_s)}",
        f"  python + import PySide6.QtWidgets                      {ms(qt_import_s)}",
        f"  bare Qt: import PySide6.QtWidgets, empty QWidget shown {ms(qt_window_s)}",
    ]
    lines += [f"  vector store alone: open + load, {n:>7,}              {ms(s)}" for n, s in store_s.items()]
    lines += [f"  engine alone, fresh process: open + search, {n:>7,}   {ms(s)}" for n, s in engine_s.items()]
    out: dict[str, Any] = {
        "python_start_s": python_s,
        "qt_import_s": qt_import_s,
        "bare_qt_window_s": qt_window_s,
        **{f"store_alone_{n}_s": s for n, s in store_s.items()},
    }
    lines.append("launch (`lookalike`) to window shown:")
    for n, xs in runs.items():
        w = out[f"window_{n}"] = summary([x["window_s"] for x in xs])
        lines.append(
            f"  {n:>7,} items                                        {ms(w['median_s'])}   "
            f"{spread(w, WINDOW_TARGET_S)}"
        )
    lines.append("launch to first results shown (query typed as soon as the window is shown):")
    for n, xs in runs.items():
        r = out[f"results_{n}"] = summary([x["results_s"] for x in xs])
        parts = out[f"results_parts_{n}"] = {
            k: statistics.median(x[k] for x in xs) for k in xs[0] if k != "rows"
        }
        out[f"engine_alone_{n}_s"] = engine_s[n]
        target = f"; target {RESULTS_TARGET_S:.1f} s" if n >= RESULTS_TARGET_ITEMS else ""
        lines.append(
            f"  {n:>7,} items                                        {ms(r['median_s'])}   "
            f"(min {r['min_s'] * 1000:.0f}, max {r['max_s'] * 1000:.0f}, n={r['n']:.0f}{target})"
        )
        lines.append(
            "      of which: interpreter {:.0f} ms, window {:.0f} ms, library open {:.0f} ms, "
            "query sent to results shown {:.0f} ms ({} rows)".format(
                parts["interpreter_s"] * 1000,
                parts["window_s"] * 1000,
                parts["to_library_open_s"] * 1000,
                parts["search_s"] * 1000,
                xs[0]["rows"],
            )
        )
    later_s = out[f"typed_later_{largest}"] = summary([x["typed_to_results_s"] for x in later])
    warm_search = statistics.median(x["search_s"] for x in later)
    lines.append(
        f"query typed {LATER_MS / 1000:.1f} s after the window is shown, {largest:,} items: Enter to results "
        f"shown {ms(later_s['median_s'])} (min {later_s['min_s'] * 1000:.0f}, "
        f"max {later_s['max_s'] * 1000:.0f}; query sent to results shown {warm_search * 1000:.0f} ms)"
    )
    big = [out[f"results_{n}"]["median_s"] for n in runs if n >= RESULTS_TARGET_ITEMS]
    out["window_within_target"] = all(out[f"window_{n}"]["median_s"] <= WINDOW_TARGET_S for n in runs)
    out["results_within_target"] = all(s <= RESULTS_TARGET_S for s in big) if big else None
    return {"lines": lines, "json": out}


def measure_stalls(
    probe: Any, env: dict[str, str], bare_env: dict[str, str], cwd: Path, photos: int
) -> dict[str, Any]:
    """GUI event-loop gaps while the app indexes ``photos`` photos and a query is typed every 0.5 s,
    beside a bare Qt process's idle event loop."""
    import statistics

    _, idle_gaps = bare_qt(bare_env, run_s=5.0)
    idle = _gap_stats(idle_gaps)
    app = App(probe, dict(env, LOOKALIKE_BENCH_STALL=str(photos)), cwd)
    try:
        indexed = app.wait("indexed", 1800)
        stall = app.wait("stall", 60)
    finally:
        app.stop()
    busy = stall["indexing"]
    searches_ms = [x * 1000 for x in stall["latencies"]]
    med = statistics.median(searches_ms) if searches_ms else float("nan")

    def gaps_line(label: str, g: dict[str, Any]) -> str:
        return (
            f"  {label:<52} max {g['max_ms']:6.1f} ms, p99 {g['p99_ms']:5.1f} ms, "
            f"median {g['p50_ms']:4.1f} ms over {g['seconds']:.1f} s"
        )

    lines = [
        f"GUI event-loop gaps ({TICK_MS} ms precise timer; a gap is the time between two ticks, "
        f"{TICK_MS} ms when nothing blocks):",
        gaps_line("bare Qt, idle event loop (ceiling)", idle),
        gaps_line("app idle after indexing, library open", stall["idle"]),
        gaps_line("app starting: library open, engine load, 1st batch", stall["starting"]),
        gaps_line(f"indexing {photos:,} photos + typing every {TYPE_EVERY_MS} ms", busy)
        + f"   (target {STALL_TARGET_MS:.0f} ms)",
    ]
    for phase in ("starting", "indexing"):
        worst = ", ".join(
            f"{g:.0f} ms at +{t:.1f} s ({c:.0f} working)" for g, t, c in reversed(stall[phase]["worst"])
        )
        lines.append(f"      longest while {phase}: {worst or 'none over 20 ms'}")
    lines.append(
        f"      {indexed['done']:,} indexed, {indexed['failed']} failed; {indexed['rate']:.0f} files/s after "
        f"the first batch; {stall['searches']} queries typed, {len(searches_ms)} answered "
        f"(query to results shown, median {med:.0f} ms)"
    )
    out = {
        "idle_loop": idle,
        "app_idle": stall["idle"],
        "app_starting": stall["starting"],
        "indexing_and_searching": busy,
        "photos": photos,
        "index_rate_files_s": indexed["rate"],
        "searches_typed": stall["searches"],
        "searches_answered": len(searches_ms),
        "search_while_indexing_p50_ms": med,
        "stall_within_target": busy["max_ms"] <= STALL_TARGET_MS,
    }
    return {"lines": lines, "json": out}


if __name__ == "__main__":
    sys.exit(main())
