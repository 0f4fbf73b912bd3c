"""What the command line prints for people is safe on a terminal; its JSON stays JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.core.text import for_terminal

EVIL = "bad\x1b]0;owned\x07\x1b[2Jname\x9b31m\u202egpj.exe\n\tend"


def test_control_characters_and_overrides_become_visible_escapes() -> None:
    out = for_terminal(EVIL)
    assert out == "bad\\x1b]0;owned\\x07\\x1b[2Jname\\x9b31m\\u202egpj.exe\\x0a\\x09end"
    assert out.isprintable()


def test_undecodable_bytes_of_a_name_show_as_bytes_and_print() -> None:
    name = os.fsdecode(b"bad\xff\xfe.jpg")  # a Latin-1 name on a UTF-8 system: lone surrogates
    assert for_terminal(name) == "bad\\xff\\xfe.jpg"
    for_terminal(name).encode("utf-8")  # print() would raise UnicodeEncodeError on the raw name
    assert for_terminal("\ud800x") == "\\ud800x"  # a surrogate that is not an escaped byte


def test_ordinary_names_are_unchanged() -> None:
    for s in ("Été à Paris.jpg", "東京 2019/写真.png", "🐶 dog.heic", "a b\u00a0c", "/x/y z.jpg", ""):
        assert for_terminal(s) == s
    assert for_terminal(Path("/tmp/a.jpg")) == "/tmp/a.jpg"


def test_json_output_never_crashes_on_surrogates() -> None:
    from engine.search.results import Result

    r = Result(file_id=1, path=os.fsdecode(b"/lib/bad\xff.jpg"), kind="photo", score=0.5)
    text = json.dumps([r.to_json()], indent=2)
    assert "\\udcff" in text and text.isascii()
    assert json.loads(text)[0]["path"] == r.path


def _make_evil_library(root: Path) -> Path:
    from tests.media import make_library

    lib = root / "lib"
    photos = make_library(lib, 2)
    photos[0].rename(lib / (EVIL.replace("\n", "_") + ".jpg"))  # a name with ESC, BEL, C1 and bidi
    (lib / "not-a-photo\x1b[31m.jpg").write_bytes(b"\xff\xd8 garbage")  # fails: its name is in the failure
    # A Latin-1 name (not UTF-8): print() raised UnicodeEncodeError on its lone surrogate.
    with open(os.path.join(os.fsencode(lib), b"caf\xe9 broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8 garbage too")
    return lib


def test_index_and_status_print_no_raw_escapes(
    tmp_path: Path, home: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from engine.cli.main import main

    lib = _make_evil_library(tmp_path)
    outs = []
    for args in (["index", "-q", str(lib)], ["status"]):
        assert main(args) == 0
        outs.append(capfd.readouterr())
    for out in outs:
        for stream in (out.out, out.err):
            assert "\x1b" not in stream and "\x07" not in stream and "\x9b" not in stream
    assert "not-a-photo\\x1b[31m.jpg" in outs[0].out  # the failed file is named, escaped
    assert "not-a-photo\\x1b[31m.jpg" in outs[1].out
    assert "caf\\xe9 broken.jpg" in outs[0].out and "caf\\xe9 broken.jpg" in outs[1].out


NOISE = ("Please consider to run pre-processing", "WARNING clustering", "Loading weights")


def test_index_and_search_show_only_lookalikes_own_messages(tmp_path: Path, home: Path) -> None:
    """Fresh machine, new user: ONNX Runtime's quantizer, faiss and transformers printed on the terminal."""
    import subprocess
    import sys

    from tests.media import make_library

    lib = make_library(tmp_path / "lib", 4)[0].parent
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, LOOKALIKE_HOME=str(home), PYTHONPATH=str(repo))
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from engine.cli.main import main; sys.exit(main(sys.argv[1:]))"
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            cwd=repo,
        )

    index, search = run("index", str(lib)), run("search", "a dog")
    for p in (index, search):
        assert p.returncode == 0, p.stderr
        for noise in NOISE:
            assert noise not in p.stdout + p.stderr, (noise, p.stderr)
    assert "Indexed 4 files" in index.stdout
    log = (home / "lookalike.log").read_text()
    assert "Please consider to run pre-processing" in log  # kept, in the log file
    assert (home / "lookalike.log").stat().st_mode & 0o077 == 0
    assert "faiss" not in index.stderr + search.stderr
    verbose = run("search", "a cat", "-v")
    assert verbose.returncode == 0
    from engine.storage.milvus_lite import engine_name

    if engine_name() == "lite3":  # Milvus Lite 3.2 loads faiss in-process; the native 2.5 does not
        assert "INFO faiss.loader" in verbose.stderr  # -v shows the libraries


def test_onnx_runtimes_own_warnings_stay_off_the_terminal(tmp_path: Path) -> None:
    """ONNX Runtime's C++ logger prints past Python's logging ("Removing initializer ..." with colour
    codes); once it is imported after setup_logging, only errors remain."""
    import subprocess
    import sys

    onnx = pytest.importorskip("onnx")
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    unused = numpy_helper.from_array(np.zeros(3, np.float32), "unused")
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y], initializer=[unused]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "unused.onnx")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from engine.core.logs import setup_logging\n"
        "setup_logging(Path(sys.argv[1]), verbose=sys.argv[2] == 'v')\n"
        "import onnxruntime as ort\n"
        "ort.InferenceSession(sys.argv[1] + '/unused.onnx', providers=['CPUExecutionProvider'])\n"
    )
    repo = Path(__file__).resolve().parents[2]

    def stderr(mode: str) -> str:
        env = dict(os.environ, PYTHONPATH=str(repo))
        return subprocess.run(
            [sys.executable, "-c", code, str(tmp_path), mode],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        ).stderr

    assert "Removing initializer" not in stderr("quiet")
    assert "Removing initializer" in stderr("v")
