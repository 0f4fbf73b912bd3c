"""Single instance: later launches hand their request to the running app over a local socket."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from desktop import ipc
from desktop.ipc_server import IpcServer
from tests.desktop.fake_service import result_for

REPO = Path(__file__).resolve().parents[2]


def in_thread(fn: Any) -> dict:
    """Run a blocking client call beside the event loop; the dict gets its result."""
    out: dict = {}
    threading.Thread(target=lambda: out.setdefault("result", fn()), daemon=True).start()
    return out


def test_which_command_lines_are_forwarded(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    assert ipc.request_from_args([]) == {"v": 1, "cmd": "activate"}
    assert ipc.request_from_args(["app"]) == {"v": 1, "cmd": "activate"}
    expected = {"v": 1, "cmd": "similar", "files": [str(photo.resolve())]}
    assert ipc.request_from_args(["similar", str(photo)]) == expected
    assert ipc.request_from_args(["app", "--similar", str(photo)]) == expected
    # Scripts that want output get it from the app (it owns the library); help, bad options and
    # missing files stay with the CLI, which explains them.
    query = ipc.request_from_args(
        ["similar", str(photo), "--json", "-n", "5", "--kind", "photo", "--at", "1:05"]
    )
    assert query is not None and query["cmd"] == "query" and query["files"] == [str(photo.resolve())]
    assert (query["limit"], query["kinds"], query["at"], query["json"]) == (5, ["photo"], 65.0, True)
    assert ipc.decode(ipc.encode(query).rstrip(b"\n")) == query
    for bad in (
        ["--help"],
        ["--json", "--limit", "many"],
        ["--at", "soon"],
        ["--kind", "smell"],
        ["-n", "0"],
    ):
        assert ipc.request_from_args(["similar", str(photo), *bad]) is None, bad
    assert ipc.request_from_args(["similar", str(tmp_path / "gone.jpg")]) is None
    assert ipc.request_from_args(["similar", str(tmp_path / "gone.jpg"), "--json"]) is None


def test_search_command_lines_become_search_requests(tmp_path: Path) -> None:
    """``lookalike search`` goes to the running app (it owns the library) with the CLI's options."""
    msg = ipc.request_from_args(
        ["search", "dog on a beach", "--json", "-n", "5", "--kind", "photo", "--only", "names", "--only",
         "visual", "--after", "2020", "--place", "Porto", "--sort", "date", "--folder", str(tmp_path)]
    )  # fmt: skip
    assert msg is not None and msg["cmd"] == "search" and msg["text"] == "dog on a beach"
    assert (msg["limit"], msg["kinds"], msg["sort"]) == (5, ["photo"], "date")
    assert msg["only"] == ["names", "visual"]
    assert (msg["after"], msg["before"], msg["place"]) == ("2020", None, "Porto")
    assert msg["folder"] == str(tmp_path.resolve()) and msg["json"] is True
    assert ipc.decode(ipc.encode(msg).rstrip(b"\n")) == msg
    plain = ipc.request_from_args(["search", "dog"])
    assert plain is not None and plain["json"] is False and plain["explain"] is False
    assert not ipc.forward_to_running_app(["search", "dog"], home=tmp_path)  # never for the window
    # Nothing to search for, help and bad options stay with the CLI, which explains them.
    for bad in (["search"], ["search", ""], ["search", "--help"], ["search", "dog", "-n", "0"],
                ["search", "dog", "--sort", "size"], ["search", "dog", "--kind", "smell"]):  # fmt: skip
        assert ipc.request_from_args(bad) is None, bad
    assert ipc.request_from_args(["search", "--after", "2020"]) is not None  # a date alone is a search
    for field, value in (("limit", 0), ("sort", "size"), ("only", "names"), ("text", 5), ("place", 3)):
        with pytest.raises(ValueError):
            ipc.decode(ipc.encode({**msg, field: value}).rstrip(b"\n"))


def test_endpoint_is_per_library_and_private(tmp_path: Path) -> None:
    a, b = ipc.server_name(tmp_path / "lib-a"), ipc.server_name(tmp_path / "lib-b")
    assert a != b and a == ipc.server_name(tmp_path / "lib-a")
    folder = Path(a).parent
    assert folder.stat().st_uid == os.getuid()
    assert stat.S_IMODE(folder.stat().st_mode) & 0o077 == 0 or folder == Path(
        os.environ.get("XDG_RUNTIME_DIR", "/-")
    )


def test_deep_nesting_and_huge_lines_are_refused_with_a_reason() -> None:
    for line in (b"[" * 50_000, b'{"a": ' * 8_000 + b"1" + b"}" * 8_000, b"[" * 100 + b"]" * 100):
        with pytest.raises(ValueError, match="nested too deeply"):
            ipc.decode(line)
    with pytest.raises(ValueError, match="too long"):
        ipc.decode(b'{"v": 1, "cmd": "activate", "pad": "' + b"x" * ipc.MAX_MESSAGE + b'"}')
    # Brackets inside strings are text, not nesting.
    assert ipc.decode(b'{"v": 1, "cmd": "similar", "files": ["/[[[[[[[[[[[[[[[[[[[[[[[[[[[[.jpg"]}')
    with pytest.raises(ValueError):
        ipc.decode(b"\xff\xfe")  # not UTF-8: a ValueError like any other bad line


def test_nothing_running_means_false_fast(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(b"x")
    assert ipc.forward_to_running_app(["similar", str(photo)], home=tmp_path / "nobody") is False


def test_second_launch_forwards_its_query(qtbot: Any, window: Any, home: Path, photos: list[Path]) -> None:
    svc = window.bridge.service
    svc.answers[("similar", str(photos[2]))] = [result_for(photos[3], 0.9, 4)]
    assert window.ipc_server is not None and window.ipc_server.is_listening
    sock = Path(window.ipc_server.name)
    assert stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0  # UserAccessOption: only this user connects
    out = in_thread(lambda: ipc.forward_to_running_app(["similar", str(photos[2])], home=home))
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    qtbot.waitUntil(lambda: "result" in out, timeout=10_000)
    assert out["result"] is True
    assert window.model.result(0).path == str(photos[3])


def test_lookalike_similar_from_another_process_goes_to_the_app(
    qtbot: Any, window: Any, home: Path, photos: list[Path]
) -> None:
    svc = window.bridge.service
    svc.answers[("similar", str(photos[4]))] = [result_for(photos[5], 0.9, 6)]
    env = dict(os.environ, LOOKALIKE_HOME=str(home), PYTHONPATH=str(REPO))
    code = "import sys; from desktop.launcher import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "similar", str(photos[4])],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30_000)
    assert proc.returncode == 0, proc.stderr.read().decode()
    assert proc.stdout.read() == b""  # the app shows the results, the CLI printed nothing
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=10_000)
    assert window.model.result(0).path == str(photos[5])


def _lookalike(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, LOOKALIKE_HOME=str(home), PYTHONPATH=str(REPO))
    code = "import sys; from desktop.launcher import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_similar_json_with_the_app_running_prints_the_apps_answer(
    qtbot: Any, window: Any, home: Path, photos: list[Path]
) -> None:
    """Hostile round, row 14: ``similar FILE --json`` said "busy" (rc 1) while the app held the library."""
    svc = window.bridge.service
    svc.answers[("similar", str(photos[4]))] = [result_for(photos[5], 0.9, 6), result_for(photos[6], 0.8, 7)]
    proc = _lookalike(home, "similar", str(photos[4]), "--json", "-n", "7", "--kind", "photo")
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(photos[5]), str(photos[6])]
    assert results[0]["kind"] == "photo" and results[0]["score"] == pytest.approx(0.9)
    call = next(c for c in svc.calls if c[0] == "search_similar")
    assert call[1][0] == [str(photos[4])] and call[2]["limit"] == 7 and call[2]["kinds"] == ["photo"]
    assert window.model.rowCount() == 0  # a script's query leaves the window alone

    proc = _lookalike(home, "similar", str(photos[4]), "-n", "2")  # text, as the CLI prints it
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().splitlines()[0].split() == ["0.900", "photo", str(photos[5])]


def test_a_query_before_the_library_opens_is_answered_once_it_is(
    qtbot: Any, make_window: Any, home: Path, photos: list[Path]
) -> None:
    w = make_window(home, open_library=False)
    out = in_thread(
        lambda: ipc.send_to_running_app(
            ipc.request_from_args(["similar", str(photos[1]), "--json"]), home=home, reply_timeout=60
        )
    )
    qtbot.wait(200)
    assert "result" not in out  # waiting for the library, not refused
    with qtbot.waitSignal(w.bridge.opened, timeout=30_000):
        w.bridge.open()
    w.bridge.service.answers[("similar", str(photos[1]))] = [result_for(photos[2], 0.7, 3)]
    qtbot.waitUntil(lambda: "result" in out, timeout=30_000)
    assert out["result"]["ok"] is True


def test_a_client_that_hangs_up_before_the_answer_changes_nothing(
    qtbot: Any, window: Any, home: Path, photos: list[Path]
) -> None:
    svc = window.bridge.service
    svc.hold = threading.Event()
    message = ipc.request_from_args(["similar", str(photos[0]), "--json"])
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.connect(window.ipc_server.name)
        c.sendall(ipc.encode(message))
        qtbot.waitUntil(lambda: "search_similar" in svc.names(), timeout=10_000)
    qtbot.wait(100)  # the app sees the hang-up and forgets the socket
    svc.hold.set()
    svc.hold = None
    qtbot.wait(300)  # the answer finds nobody: no error, and the next query is answered
    out = in_thread(lambda: ipc.send_to_running_app(message, home=home, reply_timeout=30))
    qtbot.waitUntil(lambda: "result" in out, timeout=30_000)
    assert out["result"]["ok"] is True


def test_a_failed_query_says_why(qtbot: Any, window: Any, home: Path, photos: list[Path]) -> None:
    window.bridge.service.fail_with = RuntimeError("the model is missing")
    proc = _lookalike(home, "similar", str(photos[0]), "--json")
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
    out, err = proc.communicate()
    assert proc.returncode == 1 and out == b""
    assert "the model is missing" in err.decode()


def test_a_second_server_on_the_same_library_steps_aside(qtbot: Any, window: Any, home: Path) -> None:
    second = IpcServer(home)
    assert second.listen() is False
    with qtbot.waitSignal(window.ipc_server.activateRequested, timeout=10_000):
        out = in_thread(lambda: ipc.forward_to_running_app([], home=home))
    qtbot.waitUntil(lambda: out.get("result") is True, timeout=10_000)


def test_a_stale_socket_is_replaced(qtbot: Any, tmp_path: Path) -> None:
    home = tmp_path / "crashed"
    name = ipc.server_name(home)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(name)  # left behind by a crashed app: the file exists, nobody listens
    s.close()
    server = IpcServer(home)
    try:
        assert server.listen() is True
    finally:
        server.close()


def test_garbage_is_refused_and_changes_nothing(qtbot: Any, tmp_path: Path) -> None:
    home = tmp_path / "lib"
    server = IpcServer(home)
    assert server.listen()
    got: list = []
    server.similarRequested.connect(got.append)

    def send(data: bytes) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(10)
            c.connect(server.name)
            c.sendall(data)
            return json.loads(c.makefile("rb").readline())

    try:
        for data in (
            b"not json\n",
            b'{"v": 1, "cmd": "similar", "files": ["relative.jpg"]}\n',
            b'{"cmd": "rm"}\n',
            b"[" * 50_000 + b"\n",  # hostile round: a RecursionError traceback in the app, no reply
            b'{"v": 1, "cmd": "similar", "files": [[[[[[[["/a"]]]]]]]]}\n',
        ):
            out = in_thread(lambda data=data: send(data))
            qtbot.waitUntil(lambda out=out: "result" in out, timeout=10_000)
            assert out["result"]["ok"] is False
        assert got == []
    finally:
        server.close()


def test_app_started_with_a_query_runs_it(
    qtbot: Any, make_window: Any, home: Path, photos: list[Path]
) -> None:
    w = make_window(home, similar=(str(photos[1]),))
    qtbot.waitUntil(lambda: "search_similar" in w.bridge.service.names(), timeout=10_000)
    call = next(c for c in w.bridge.service.calls if c[0] == "search_similar")
    assert call[1][0] == [str(photos[1])]


def test_lookalike_search_with_the_app_running_prints_the_apps_answer(
    qtbot: Any, make_window: Any, home: Path, tmp_path: Path
) -> None:
    """``lookalike search`` said "busy" while the app held the library; now the app answers it."""
    from engine.library import Library

    folder = tmp_path / "Pictures"
    folder.mkdir()
    dog = folder / "dog_on_the_beach.jpg"
    dog.write_bytes(b"")
    with Library.open(home) as lib:
        lib.add_folder(folder)
        (file_id,) = lib.catalog.add_many([(str(dog), 0, 1.0, "photo")])
        lib.catalog.mark_indexed(file_id, digest=None, model=lib.settings.image_text_model)
    window = make_window(home)
    proc = _lookalike(home, "search", "dog", "--json", "--only", "names")
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(dog)]
    assert results[0]["reason"].startswith("file name contains")
    assert any(c[0] == "call" and c[1][0] == "search_for_command_line" for c in window.bridge.service.calls)
    assert window.model.rowCount() == 0  # a script's query leaves the window alone

    proc = _lookalike(home, "search", "dog", "--only", "names")  # lines, as the CLI prints them
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)
    out, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().split()[-1] == str(dog)

    proc = _lookalike(home, "search", "dog", "--after", "someday")  # the engine's error, from the app
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=120_000)
    out, err = proc.communicate()
    assert proc.returncode == 1 and out == b""
    assert "someday" in err.decode()


def test_the_apps_search_answer_prints_as_the_cli_prints_it(capsys: Any, tmp_path: Path) -> None:
    from desktop.launcher import print_search
    from engine.cli.main import _print_search
    from engine.search.results import Reason, Result

    results = [
        Result(1, str(tmp_path / "a.jpg"), "photo", 0.3, match=0.81, reasons=[Reason("names", 0.3)],
               good=True),  # fmt: skip
        Result(2, str(tmp_path / "b.mp4"), "video", 0.2, t=65.0, match=0.4, good=False),
    ]
    for as_json in (False, True):
        _print_search(results, "dog", as_json)
        cli = capsys.readouterr()
        message = {"cmd": "search", "text": "dog", "json": as_json, "explain": False}
        print_search(message, {"results": [r.to_json() for r in results], "nothing": None})
        assert capsys.readouterr() == cli
