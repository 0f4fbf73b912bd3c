"""A choice of models (issue 15): the registry's choices, `lookalike models use`, and switching a library
to another model by re-embedding it in the background while search answers from the old vectors.

Tiny random-weight models in the real formats: UForm3 small (64-d) and multilingual base (48-d, with a
SentencePiece-style tokenizer), PANNs MobileNetV1 and Cnn14.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.library import Library, collection_name
from tests.media import make_library, recompressed_copy, save_photo

REPO = Path(__file__).resolve().parents[2]
SMALL = "uform3-image-text-english-small"
MULTI = "uform3-image-text-multilingual-base"


@pytest.fixture(scope="session")
def more_models(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny models plus the multilingual UForm and Cnn14 stand-ins."""
    from engine.models.tiny import write_tiny_models

    dest = tmp_path_factory.mktemp("tiny-more")
    for sub in tiny_models.iterdir():
        shutil.copytree(sub, dest / sub.name)
    ids = [MULTI]
    try:
        import engine.models.tiny_audio  # noqa: F401

        ids.append("panns-cnn14")
    except ImportError:
        pass
    write_tiny_models(dest, ids)
    return dest


@pytest.fixture
def lib_home(tmp_path: Path, more_models: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    (h / "models").mkdir(parents=True)
    for sub in more_models.iterdir():
        shutil.copytree(sub, h / "models" / sub.name)
    monkeypatch.setenv("LOOKALIKE_HOME", str(h))
    return h


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _index(lib: Library, folder: Path | None = None) -> None:
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan

    if folder is not None:
        lib.add_folder(folder)
    scan(lib)
    report = index_pending(lib)
    assert report.failed == 0, report.failures


def _reembed(lib: Library, limit: int | None = None) -> int:
    from engine.indexing.analysis import run_pending_analyses

    r = run_pending_analyses(lib, only=["reembed_image_text", "reembed_audio"], limit=limit)
    assert not r.failures, r.failures
    return r.done


# -- the registry --------------------------------------------------------------------------------------------


def test_the_registry_offers_four_uform_models_and_two_sound_models_with_one_default_each() -> None:
    from engine.models import registry

    image = registry.for_role("image-text")
    assert [m.id for m in image] == [
        SMALL,
        "uform3-image-text-english-base",
        "uform3-image-text-english-large",
        MULTI,
    ]
    assert [m.id for m in registry.for_role("audio")] == ["panns-mobilenetv1", "panns-cnn14"]
    multi = registry.spec(MULTI)
    assert len(multi.languages) == 21 and "Spanish" in multi.languages
    assert {f.name for f in multi.files} == {
        "config.json",
        "tokenizer.json",
        "image_encoder.onnx",
        "text_encoder.onnx",
    }
    assert all(
        f.source.startswith("hf://unum-cloud/uform3-image-text-multilingual-base/") for f in multi.files
    )
    assert registry.spec("panns-cnn14").download_size == 327_428_481
    for role in ("image-text", "audio", "text", "speech"):
        assert sum(m.default for m in registry.for_role(role)) == 1, role
    # Bigger models are estimated slower, in proportion to their parameters.
    from engine.indexing.switches import estimated_rate

    small, _ = estimated_rate(SMALL)
    large, why = estimated_rate("uform3-image-text-english-large")
    assert large < small and ("estimate" in why or "measured" in why)


def test_the_multilingual_stand_in_loads_through_the_same_loader_with_its_own_tokenizer(
    more_models: Path,
) -> None:
    from tokenizers import Tokenizer

    from engine.models.uform import UFormEncoder

    folder = more_models / MULTI
    config = json.loads((folder / "config.json").read_text())
    assert config["text_encoder"]["padding_idx"] == 1  # XLM-R's, not BERT's 0
    tokens = Tokenizer.from_file(str(folder / "tokenizer.json")).encode("perro en la playa").tokens
    assert tokens == ["<s>", "▁perro", "▁en", "▁la", "▁playa", "</s>"]
    enc = UFormEncoder(folder, MULTI)
    vecs = enc.encode_texts(["perro en la playa", "a dog on the beach"])
    assert vecs.shape == (2, 48) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    assert not np.allclose(vecs[0], vecs[1])


# -- switching -----------------------------------------------------------------------------------------------


def test_switch_search_answers_from_the_old_vectors_until_the_new_model_covers_the_library(
    lib_home: Path, tmp_path: Path
) -> None:
    from engine.indexing import switches
    from engine.search.api import search_similar, search_text

    photos = make_library(tmp_path / "pics", 8)
    old_name, new_name = collection_name("image_text", SMALL), collection_name("image_text", MULTI)
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")
        result = switches.use_model(lib, MULTI)
        assert result.switch is not None and result.switch.pending == 8 and not result.completed
        assert lib.settings.image_text_model == SMALL and lib.settings.next_image_text_model == MULTI

        assert _reembed(lib, limit=3) == 3
        st = switches.state(lib, "image-text")
        assert st is not None and (st.done, st.pending) == (3, 5)
        # Search during the switch: the old model and its collection, whole.
        assert lib.image_collection == old_name
        assert set(lib.store.collections()) >= {old_name, new_name}
        assert lib.store.count(old_name) == 8 and lib.store.count(new_name) == 3
        copy = recompressed_copy(photos[2], tmp_path / "elsewhere" / "copy.jpg")
        assert search_similar(lib, copy, limit=3)[0].path == str(photos[2].resolve())
        assert len(search_text(lib, "a red car", limit=8)) == 8

        assert _reembed(lib) == 5  # the stage completes the switch when it runs out of files
        assert lib.settings.image_text_model == MULTI and lib.settings.next_image_text_model == ""
        assert switches.state(lib, "image-text") is None
        assert old_name not in lib.store.collections()
        assert lib.store.count(new_name) == 8
        # After: results come from the new model (its 48-d space, its text tower).
        enc = lib.image_text_encoder()
        assert enc.model_id == MULTI and enc.dim == 48
        q = enc.encode_texts(["perro en la playa"])[0]
        got = search_text(lib, "perro en la playa", limit=8, only=["visual"])
        assert len(got) == 8
        for r in got:
            (visual,) = [x for x in r.reasons if x.retriever == "visual"]
            _, stored = lib.store.get_vectors(new_name, r.file_id)
            assert abs(float(stored[0] @ q) - visual.score) < 1e-4
        rows = lib.catalog.query("SELECT DISTINCT model FROM files")
        assert rows == [(MULTI,)]
        assert lib.catalog.query("SELECT COUNT(*) FROM analyses WHERE analyzer='reembed_image_text'") == [
            (0,)
        ]
    # Reopened: the new model, nothing queued again.
    with Library.open(lib_home) as lib:
        assert lib.check_vectors() == 0 and lib.image_collection == new_name


def test_an_empty_library_switches_at_once_and_choosing_the_model_in_use_cancels_a_switch(
    lib_home: Path, tmp_path: Path
) -> None:
    from engine.indexing import switches

    with Library.open(lib_home) as lib:
        done = switches.use_model(lib, MULTI)
        assert done.completed and lib.settings.image_text_model == MULTI
        make_library(tmp_path / "pics", 3)
        _index(lib, tmp_path / "pics")
        started = switches.use_model(lib, SMALL)
        assert started.switch is not None and started.switch.pending == 3
        _reembed(lib, limit=1)
        assert collection_name("image_text", SMALL) in lib.store.collections()
        cancelled = switches.use_model(lib, MULTI)
        assert "cancelled" in cancelled.message
        assert lib.settings.next_image_text_model == "" and lib.settings.image_text_model == MULTI
        assert collection_name("image_text", SMALL) not in lib.store.collections()
        assert lib.store.count(collection_name("image_text", MULTI)) == 3


def test_files_changed_and_removed_during_a_switch_end_with_exactly_their_new_vectors(
    lib_home: Path, tmp_path: Path
) -> None:
    from engine.indexing import switches

    photos = make_library(tmp_path / "pics", 5)
    new_name = collection_name("image_text", MULTI)
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")
        switches.use_model(lib, MULTI)
        assert _reembed(lib, limit=3) == 3  # mid-way: both photos below already have new vectors
        assert lib.settings.next_image_text_model == MULTI and lib.store.count(new_name) == 3
        gone = lib.catalog.by_path(str(photos[0].resolve()))
        changed = lib.catalog.by_path(str(photos[1].resolve()))
        assert gone is not None and changed is not None
        photos[0].unlink()
        time.sleep(0.01)
        save_photo(photos[1], seed=99, size=(300, 200))
        _index(lib)  # the scan drops the gone file's vectors (old and new) and re-queues the changed one
        assert gone.id not in lib.store.file_ids(new_name)
        _reembed(lib)
        assert lib.settings.next_image_text_model == ""
        assert lib.image_collection == new_name
        assert lib.store.file_ids(new_name) == {r.id for r in lib.catalog.iter_all()}
        assert lib.store.count(new_name) == 4
        assert gone.id not in lib.store.file_ids(new_name)


def test_a_sound_model_switch_keeps_the_old_tags_until_it_completes(lib_home: Path, tmp_path: Path) -> None:
    import soundfile as sf

    from engine.indexing import switches
    from tests.engine.test_audio_decode import make_sound

    sounds = tmp_path / "sounds"
    sounds.mkdir()
    for i, kind in enumerate(("tone", "white", "chirp")):
        sf.write(sounds / f"{kind}.wav", make_sound(kind, 32_000, 3.0, seed=i), 32_000)
    with Library.open(lib_home) as lib:
        if not lib.model_ready("panns-cnn14"):
            pytest.skip("no tiny Cnn14 here (tiny_audio needs torch)")
        _index(lib, sounds)
        old_tags = lib.catalog.tags_matrix("panns-mobilenetv1")[0]
        assert len(old_tags) == 3
        switches.use_model(lib, "panns-cnn14")
        _reembed(lib, limit=2)
        assert len(lib.catalog.tags_matrix("panns-mobilenetv1")[0]) == 3  # still the old model's
        assert len(lib.catalog.tags_matrix("panns-cnn14")[0]) == 0
        _reembed(lib)
        assert lib.settings.audio_model == "panns-cnn14"
        assert len(lib.catalog.tags_matrix("panns-cnn14")[0]) == 3
        assert collection_name("audio", "panns-mobilenetv1") not in lib.store.collections()
        new = collection_name("audio", "panns-cnn14")
        assert lib.store.count(new) == 3 and lib.store.get_vectors(new, int(old_tags[0]))[1].shape[1] != 1024


def test_video_moments_and_soundtracks_are_re_embedded_at_their_moments(
    lib_home: Path, tmp_path: Path
) -> None:
    from engine.indexing import switches
    from tests.engine.videogen import BLUE, GREEN, RED, Scene, has_encoder, make_clip

    if not has_encoder("libx264"):
        pytest.skip("this FFmpeg build cannot write H.264")
    vids = tmp_path / "vids"
    vids.mkdir()
    make_clip(vids / "party.mp4", [Scene(4.0, RED, "disc"), Scene(4.0, GREEN, "square")], fps=10,
              size=(320, 192), audio=True)  # fmt: skip
    make_clip(vids / "quiet.mp4", [Scene(4.0, BLUE, "disc")], fps=10, size=(320, 192))
    with Library.open(lib_home) as lib:
        _index(lib, vids)
        party = lib.catalog.by_path(str((vids / "party.mp4").resolve()))
        assert party is not None
        old_ts, _ = lib.store.get_vectors(lib.image_collection, party.id)
        old_audio = lib.store.get_vectors(lib.audio_collection, party.id)[0]
        assert len(old_ts) > 1 and len(old_audio) > 1

        switches.use_model(lib, MULTI)
        assert _reembed(lib) == 2
        new_ts, vecs = lib.store.get_vectors(lib.image_collection, party.id)
        assert lib.image_collection == collection_name("image_text", MULTI) and vecs.shape[1] == 48
        assert sorted(new_ts) == sorted(old_ts)  # the same moments, so jumping to one still works

        if lib.model_ready("panns-cnn14"):
            switches.use_model(lib, "panns-cnn14")
            assert _reembed(lib) == 2
            ts, vecs = lib.store.get_vectors(lib.audio_collection, party.id)
            assert lib.settings.audio_model == "panns-cnn14" and vecs.shape[1] != 1024
            assert sorted(ts) == sorted(old_audio)
            quiet = lib.catalog.by_path(str((vids / "quiet.mp4").resolve()))
            assert quiet is not None and len(lib.store.get_vectors(lib.audio_collection, quiet.id)[0]) == 0


# -- crash safety --------------------------------------------------------------------------------------------

_KILL_SCRIPT = """
import sys, time
from engine.library import Library
from engine.indexing.analysis import run_pending_analyses
from engine.indexing.analyzers import reembed

log = open(sys.argv[1], "a", buffering=1)
prepare = reembed.ReembedImageText._prepare

def slow(lib, enc, row, cancel):
    got = prepare(lib, enc, row, cancel)
    time.sleep(0.15)
    log.write(f"{row.id}\\n")
    return got

reembed.ReembedImageText._prepare = staticmethod(slow)
reembed.ReembedImageText.batch_size = 2
with Library.open() as lib:
    r = run_pending_analyses(lib, only="reembed_image_text")
print(r.done, lib.settings.image_text_model)
"""


@pytest.mark.slow
def test_a_kill_mid_switch_leaves_a_library_that_answers_and_resumes(lib_home: Path, tmp_path: Path) -> None:
    from engine.indexing import switches
    from engine.search.api import search_similar

    photos = make_library(tmp_path / "pics", 24)
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")
        switches.use_model(lib, MULTI)
    log = tmp_path / "log.txt"
    env = {**os.environ, "LOOKALIKE_HOME": str(lib_home), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(log)], env=env, cwd=REPO)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if log.exists() and len(log.read_text().splitlines()) >= 8:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(log.read_text().splitlines()) < 24, "the kill came too late to test anything"

    with Library.open(lib_home) as lib:  # opens, and answers from the complete (old) vectors
        assert lib.settings.image_text_model == SMALL and lib.settings.next_image_text_model == MULTI
        copy = recompressed_copy(photos[5], tmp_path / "elsewhere" / "copy.jpg")
        assert search_similar(lib, copy, limit=1)[0].path == str(photos[5].resolve())
        st = switches.state(lib, "image-text")
        assert st is not None and 0 < st.done < 24
        done_before = st.done

    out = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(log)], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    done, model = out.stdout.split()
    assert int(done) == 24 - done_before and model == MULTI
    with Library.open(lib_home) as lib:
        name = collection_name("image_text", MULTI)
        assert lib.store.count(name) == 24 and len(lib.store.file_ids(name)) == 24
        assert collection_name("image_text", SMALL) not in lib.store.collections()
        assert search_similar(lib, copy, limit=1)[0].path == str(photos[5].resolve())


def test_a_kill_after_the_flip_before_the_drop_drops_the_old_collection_on_the_next_open(
    lib_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.indexing import switches

    make_library(tmp_path / "pics", 3)
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")
        switches.use_model(lib, MULTI)
        # The process "dies" right after the settings save: nothing after it runs.
        monkeypatch.setattr(Library, "drop_unused_collections", lambda self: [])
        monkeypatch.setattr(switches, "_clear_stage", lambda lib, r: None)
        _reembed(lib)
        assert lib.settings.image_text_model == MULTI
        assert collection_name("image_text", SMALL) in lib.store.collections()
    monkeypatch.undo()
    with Library.open(lib_home) as lib:
        _ = lib.store
        assert collection_name("image_text", SMALL) not in lib.store.collections()
        assert lib.check_vectors() == 0


def test_a_kill_between_the_catalog_commit_and_the_settings_save_completes_on_the_next_run(
    lib_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.indexing import switches
    from engine.storage.settings import Settings

    make_library(tmp_path / "pics", 3)
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")
        switches.use_model(lib, MULTI)
        saves = []

        def dies(self: Settings) -> None:
            saves.append(1)
            raise KeyboardInterrupt  # the process stops here: the catalog has committed, settings not

        monkeypatch.setattr(Settings, "save", dies)
        with pytest.raises(KeyboardInterrupt):
            _reembed(lib)
        assert saves
    monkeypatch.undo()
    with Library.open(lib_home) as lib:
        assert lib.settings.image_text_model == SMALL and lib.settings.next_image_text_model == MULTI
        assert lib.store.count(collection_name("image_text", SMALL)) == 3  # still answering
        assert _reembed(lib) == 0  # nothing to redo: the stage is complete and completes the switch
        assert lib.settings.image_text_model == MULTI and lib.settings.next_image_text_model == ""
        assert lib.catalog.query("SELECT DISTINCT model FROM files") == [(MULTI,)]
        assert collection_name("image_text", SMALL) not in lib.store.collections()
        assert lib.check_vectors() == 0


# -- the CLI -------------------------------------------------------------------------------------------------


def test_models_use_on_the_command_line_with_index_and_status_showing_the_stage(
    lib_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_library(tmp_path / "pics", 4)
    assert cli(capsys, "index", "--fast", "-q", str(tmp_path / "pics"))[0] == 0
    code, out, err = cli(capsys, "models", "use", "uform3-image-text-english-large")
    assert code == 1 and "not installed" in err and "models download uform3-image-text-english-large" in err
    code, out, _ = cli(capsys, "models", "use", MULTI)
    assert code == 0 and "Switching the image-text model" in out and "Re-embedding takes" in out
    assert "for your 4 photos" in out
    code, out, _ = cli(capsys, "models", "list", "--json")
    use = {r["id"]: r["use"] for r in json.loads(out)}
    assert use[SMALL] == "in use" and use[MULTI] == "switching to"
    code, out, _ = cli(capsys, "status", "--json")
    info = json.loads(out)
    assert info["switches"][0]["target"] == MULTI and info["switches"][0]["pending"] == 4
    assert info["analyzers"]["reembed_image_text"]["pending"] == 4
    code, out, _ = cli(capsys, "status")
    assert "re-embedding pictures" in out and "switching the image-text model" in out
    code, out, err = cli(capsys, "index")
    assert code == 0 and f"Now using {MULTI} for image-text" in out
    assert "re-embedding pictures" in err  # its own progress bar
    code, out, _ = cli(capsys, "status", "--json")
    info = json.loads(out)
    assert info["switches"] == [] and "reembed_image_text" not in info["analyzers"]
    assert list(info["vectors"]) == [collection_name("image_text", MULTI)]
    code, out, _ = cli(capsys, "models", "use", MULTI)
    assert code == 0 and "already" in out


# -- the service ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_service_runs_a_switch_as_a_stage_that_pauses_resumes_and_completes(
    lib_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.indexing.analyzers import reembed
    from engine.service.core import Service

    prepare = reembed.ReembedImageText._prepare

    def slow(*args: object) -> object:
        time.sleep(0.1)
        return prepare(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(reembed.ReembedImageText, "_prepare", staticmethod(slow))
    make_library(tmp_path / "pics", 16)
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")
        svc = Service(lib, watch=False, quiet_period=0.1)
        svc.start()
        try:

            def reembedded() -> int:
                c = svc.progress().analyses.get("reembed_image_text", {})
                return c.get("done", 0)

            result = svc.use_model(MULTI).result(timeout=60)
            assert result.switch is not None and result.switch.pending == 16
            deadline = time.monotonic() + 60
            while svc.progress().stage != "re-embedding pictures" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert svc.progress().stage == "re-embedding pictures"
            svc.pause()
            while svc.progress().state != "paused" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert svc.progress().state == "paused"
            count = svc.call(lambda lib: switches_done(lib)).result(timeout=30)
            time.sleep(1.0)
            assert svc.call(lambda lib: switches_done(lib)).result(timeout=30) == count < 16
            # Search answers while the switch waits, from the old model.
            hits = svc.search_text("a red car", limit=16).result(timeout=30)
            assert hits and svc.call(lambda lib: lib.image_collection).result() == collection_name(
                "image_text", SMALL
            )
            svc.resume()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                model = svc.call(lambda lib: lib.settings.image_text_model).result(timeout=30)
                if model == MULTI:
                    break
                time.sleep(0.1)
            assert model == MULTI
            names = svc.call(lambda lib: lib.store.collections()).result(timeout=30)
            assert [n for n in names if n.startswith("image_text__")] == [
                collection_name("image_text", MULTI)
            ]
            assert reembedded() in (0, 16)  # the stage's rows are cleared once it completes
        finally:
            svc.stop()


def switches_done(lib: Library) -> int:
    from engine.indexing import switches

    st = switches.state(lib, "image-text")
    return st.done if st else -1


# -- real weights --------------------------------------------------------------------------------------------

#: The eight captioned scikit-image photos (../shared/assets/data/skimage_clip_captions), in Spanish.
SPANISH_CAPTIONS = {
    "page.png": "una página de texto sobre segmentación",
    "chelsea.png": "una foto de la cara de un gato atigrado",
    "astronaut.png": "un retrato de un astronauta con la bandera estadounidense",
    "rocket.jpg": "un cohete en la plataforma de lanzamiento",
    "motorcycle_right.png": "una moto roja en un garaje",
    "camera.png": "una persona mirando una cámara sobre un trípode",
    "horse.png": "la silueta en blanco y negro de un caballo",
    "coffee.png": "una taza de café sobre un platillo",
}


@pytest.mark.real_weights
def test_after_switching_to_real_multilingual_weights_spanish_captions_find_their_photos(
    lib_home: Path, tmp_path: Path
) -> None:
    """Runs where real multilingual base weights are ($LOOKALIKE_REAL_MODELS or ../shared/assets/models,
    in any layout `models install --from` takes); skips with the reason elsewhere."""
    from engine.errors import LookalikeError
    from engine.indexing import switches
    from engine.models import fetch, registry
    from engine.search.api import search_text
    from tests.conftest import SHARED_ASSETS

    photos_src = SHARED_ASSETS / "data" / "skimage_clip_captions" / "images"
    if not photos_src.is_dir():
        pytest.skip(f"no captioned photos at {photos_src}")
    places = [Path(p) for p in (os.environ.get("LOOKALIKE_REAL_MODELS"), SHARED_ASSETS / "models") if p]
    real = tmp_path / "real"
    for place in places:
        if not place.is_dir():
            continue
        try:
            fetch.install_from(real, place, [MULTI])
        except LookalikeError:
            continue
        if not registry.is_test_model(real, MULTI):
            break
        shutil.rmtree(real / MULTI)
    if not registry.is_installed(real, MULTI):
        pytest.skip(f"no real {MULTI} weights (looked in {', '.join(map(str, places))})")
    shutil.rmtree(lib_home / "models" / MULTI)
    shutil.copytree(real / MULTI, lib_home / "models" / MULTI)
    shutil.copytree(photos_src, tmp_path / "pics")
    with Library.open(lib_home) as lib:
        _index(lib, tmp_path / "pics")  # with the tiny English model first
        switches.use_model(lib, MULTI)
        _reembed(lib)
        assert lib.settings.image_text_model == MULTI
        for name, caption in SPANISH_CAPTIONS.items():
            best = search_text(lib, caption, limit=1, only=["visual"])[0]
            assert Path(best.path).name == name, (caption, best.path)
