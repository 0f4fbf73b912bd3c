"""A damaged or missing Whisper model: the speech stage waits for the model (with the reason, in `index`,
`status` and the app's warnings) instead of failing every sound, and runs once a good copy is installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from engine.cli.main import main
from engine.models.speech import SAMPLE_RATE
from tests.engine.test_speech import needs_espeak, place, speak


@pytest.fixture(scope="module")
def good_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.models.tiny_whisper import write_tiny_whisper

    return write_tiny_whisper(tmp_path_factory.mktemp("whisper") / "whisper-base", "whisper-base")


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _memo_library(tmp_path: Path) -> Path:
    lib_dir = tmp_path / "memos"
    lib_dir.mkdir()
    voice = speak("Good morning, this is a voice memo about the garden.", tmp_path / "v.wav")
    sf.write(lib_dir / "memo.wav", place(voice, 1.0, 6.0), SAMPLE_RATE)
    return lib_dir


def _install(good: Path, home: Path) -> Path:
    dest = home / "models" / "whisper-base"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(good, dest)
    return dest


def _speech(status: dict) -> tuple[dict, str]:
    return status["analyzers"]["speech"], status["analyzers_not_ready"].get("speech", "")


@needs_espeak
def test_a_whisper_copy_that_does_not_load_waits_then_runs(
    home: Path, good_whisper: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _install(good_whisper, home)
    model = folder / "model.bin"
    model.write_bytes(os.urandom(model.stat().st_size))  # same size, not a model: only loading can tell
    lib_dir = _memo_library(tmp_path)

    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["analyses"]["failed"] == 0
    assert "whisper-base" in summary["analyses"]["waiting"]["speech"]
    counts, why = _speech(cli_json(capsys, "status"))
    assert counts == {"done": 0, "pending": 1, "failed": 0}
    assert "whisper-base cannot be loaded" in why and "models download whisper-base --force" in why

    # Text output says it too, and a second run does not turn the waiting file into a failure.
    assert main(["index", str(lib_dir)]) == 0
    out = capsys.readouterr().out
    assert "Transcribing speech waits: model whisper-base cannot be loaded" in out
    assert "speech failed" not in out
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "transcribing speech          0 / 1 / 0  [not running: model whisper-base cannot be loaded" in out

    # A good copy arrives: the waiting file is transcribed.
    _install(good_whisper, home)
    cli_json(capsys, "index", str(lib_dir))
    counts, why = _speech(cli_json(capsys, "status"))
    assert counts == {"done": 1, "pending": 0, "failed": 0} and why == ""


@needs_espeak
def test_a_truncated_whisper_is_named_damaged_before_any_file_is_tried(
    home: Path, good_whisper: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _install(good_whisper, home)
    model = folder / "model.bin"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    lib_dir = _memo_library(tmp_path)

    cli_json(capsys, "index", str(lib_dir))
    counts, why = _speech(cli_json(capsys, "status"))
    assert counts == {"done": 0, "pending": 1, "failed": 0}
    assert "whisper-base is damaged" in why and "bytes, expected" in why

    _install(good_whisper, home)
    cli_json(capsys, "index", str(lib_dir))
    counts, _ = _speech(cli_json(capsys, "status"))
    assert counts == {"done": 1, "pending": 0, "failed": 0}


def test_a_missing_whisper_waits_with_the_command_that_installs_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.engine.test_audio_decode import make_sound

    lib_dir = tmp_path / "sounds"
    lib_dir.mkdir()
    sf.write(lib_dir / "tone.wav", make_sound("tone", 32_000, 2.0, seed=1), 32_000)
    cli_json(capsys, "index", str(lib_dir))
    counts, why = _speech(cli_json(capsys, "status"))
    assert counts["pending"] == 1 and counts["failed"] == 0
    assert "lookalike models download whisper-base" in why


def test_the_service_notices_a_replaced_model_and_says_what_waits(home: Path, good_whisper: Path) -> None:
    """The app's service: a stage waiting for a damaged model is a warning in its status, and a new copy
    of the model (still "installed" before and after) wakes the waiting work."""
    from engine.library import Library
    from engine.service.model_use import ModelUse

    folder = _install(good_whisper, home)
    with Library.open(home) as lib:
        use = ModelUse(lib, idle_unload_s=60)
        assert use.installed_changed() is False  # the first call takes note
        use.stages_wait({"speech": "model whisper-base cannot be loaded: bad header"})
        use.stages_wait({"ocr": "turned off in settings (ocr = false)"})
        use.stages_wait({"other": "model x is not installed (lookalike models download x)"})
        said = "Transcribing speech waits: model whisper-base cannot be loaded: bad header"
        assert use.warnings() == (said,)
        assert use.installed_changed() is False
        model = folder / "model.bin"
        data = model.read_bytes()
        model.write_bytes(data)  # replaced by a copy of the same size
        st = model.stat()
        os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert use.installed_changed() is True
        assert use.warnings() == ()


@needs_espeak
def test_the_apps_service_waits_for_a_damaged_model_and_runs_once_it_is_replaced(
    home: Path, good_whisper: Path, tmp_path: Path
) -> None:
    """End to end in the app's indexing service: the status line warns that speech waits, the sound
    stays pending, and copying a good model in (no restart) gets it transcribed."""
    import time

    from engine.indexing.analysis import analysis_counts
    from engine.library import Library
    from engine.service.core import Service

    folder = _install(good_whisper, home)
    model = folder / "model.bin"
    model.write_bytes(os.urandom(model.stat().st_size))
    lib_dir = _memo_library(tmp_path)

    def wait_for(cond, what: str, timeout: float = 120.0):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not (value := cond()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert value, f"timed out waiting for {what}"
        return value

    with Library.open(home) as lib:
        lib.add_folder(lib_dir)
        svc = Service(lib, quiet_period=0.2, batch_size=4, health_interval=0.1, poll_interval=0.1)
        svc.start()
        try:
            warned = wait_for(
                lambda: [w for w in svc.progress().warnings if w.startswith("Transcribing speech waits")],
                "the speech warning",
            )
            assert "whisper-base cannot be loaded" in warned[0]
            counts = svc.call(analysis_counts).result(timeout=60)["speech"]
            assert counts == {"done": 0, "pending": 1, "failed": 0}

            _install(good_whisper, home)
            wait_for(
                lambda: svc.call(analysis_counts).result(timeout=60)["speech"]["done"] == 1,
                "the memo to be transcribed after the model was replaced",
            )
            assert not [w for w in svc.progress().warnings if "speech" in w.lower()]
        finally:
            svc.stop()


def test_a_whisper_converted_by_ctranslate2_installs_whole_from_a_folder(
    home: Path, good_whisper: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CTranslate2's converter writes vocabulary.json (the Hub's copies have vocabulary.txt): `models
    install --from` copies it too, so the installed model loads instead of waiting as damaged."""
    from engine.models.speech import WhisperTranscriber

    src = tmp_path / "from"
    shutil.copytree(good_whisper, src / "whisper-base")
    assert (src / "whisper-base" / "vocabulary.json").is_file()
    assert main(["models", "install", "--from", str(src), "whisper-base"]) == 0
    assert "whisper-base: installed" in capsys.readouterr().out
    installed = home / "models" / "whisper-base"
    assert (installed / "vocabulary.json").is_file()
    WhisperTranscriber(installed, "whisper-base")  # loads: no "Cannot load the vocabulary"
