"""End to end on sounds and video clips through the CLI (tiny random-weight models; real MiniLM when
present for words → sounds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.cli.main import main
from tests.conftest import SHARED_ASSETS
from tests.engine.test_audio_decode import make_sound
from tests.engine.videogen import BLUE, GREEN, RED, YELLOW, Scene, has_encoder, make_clip

pytestmark = pytest.mark.skipif(not has_encoder("libx264"), reason="this FFmpeg build cannot write H.264")


def cli_json(capsys: pytest.CaptureFixture[str], *args: str):
    code = main([*args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_sound_copy_and_long_recording_moment(home: Path, tmp_path: Path, capsys) -> None:
    lib_dir = tmp_path / "sounds"
    lib_dir.mkdir()
    kinds = ["tone", "white", "chirp", "clicks"]
    for i, kind in enumerate(kinds):
        sf.write(lib_dir / f"{kind}.wav", make_sound(kind, 44_100, 4.0, seed=i), 44_100)
    # A 60 s recording: 40 s of tone then 20 s of clicks, so its segments differ.
    long = np.concatenate(
        [make_sound("tone", 32_000, 40.0, seed=7), make_sound("clicks", 32_000, 20.0, seed=8)]
    )
    sf.write(lib_dir / "field recording.flac", long, 32_000)
    summary = cli_json(capsys, "index", str(lib_dir))
    assert summary["indexed"] == 5 and summary["failed"] == 0

    # A re-encoded copy (MP3 at 48 kHz) of the chirp, outside the library, finds the chirp first.
    import soxr

    chirp = make_sound("chirp", 44_100, 4.0, seed=2)
    sf.write(tmp_path / "copy.mp3", soxr.resample(chirp, 44_100, 48_000), 48_000)
    results = cli_json(capsys, "similar", str(tmp_path / "copy.mp3"), "--kind", "sound", "-n", "3")
    assert results[0]["path"] == str((lib_dir / "chirp.wav").resolve())

    # A moment of the long recording finds the sound like that moment: clicks at 45 s, tone at 5 s.
    long_path = str(lib_dir / "field recording.flac")
    at45 = cli_json(capsys, "similar", long_path, "--at", "45", "--kind", "sound", "-n", "2")
    at5 = cli_json(capsys, "similar", long_path, "--at", "5", "--kind", "sound", "-n", "2")
    assert Path(at45[0]["path"]).name == "clicks.wav"
    assert Path(at5[0]["path"]).name == "tone.wav"
    # And a query like its clicks lands inside the long file, at a segment in the clicks part.
    hits = cli_json(capsys, "similar", str(lib_dir / "clicks.wav"), "--kind", "sound", "-n", "4")
    rec = next(r for r in hits if r["path"] == str(Path(long_path).resolve()))
    assert rec["t"] is not None and rec["t"] >= 40.0
    status = cli_json(capsys, "status")
    assert status["files"]["sound/indexed"] == 5
    assert status["vectors"]["audio__panns_mobilenetv1"] == 4 + 1 + 6  # 4 clips, 1 clip + 6 segments


def test_bad_sounds_fail_with_reasons(home: Path, tmp_path: Path, capsys) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    (d / "text.mp3").write_text("not audio at all\n")
    sf.write(d / "blip.wav", make_sound("tone", 16_000, 0.1), 16_000)  # 0.1 s: short but fine
    sf.write(d / "silence.flac", np.zeros(32_000 * 2, dtype=np.float32), 32_000)
    summary = cli_json(capsys, "index", str(d))
    failed = {Path(f["path"]).name: f["error"] for f in summary["failures"]}
    assert set(failed) == {"empty.wav", "text.mp3"}
    assert all(err for err in failed.values())
    assert summary["indexed"] == 2


def test_video_moment_found_by_a_photo_of_the_scene(home: Path, tmp_path: Path, capsys) -> None:
    vids = tmp_path / "clips"
    vids.mkdir()
    scenes = [Scene(6.0, RED, "square"), Scene(6.0, GREEN, "disc"), Scene(6.0, BLUE, "bars")]
    make_clip(vids / "party.mp4", scenes, fps=10, size=(320, 192), audio=True)
    make_clip(vids / "other.mp4", [Scene(8.0, YELLOW, "disc")], fps=10, size=(320, 192))
    summary = cli_json(capsys, "index", str(vids))
    assert summary["indexed"] == 2 and summary["failed"] == 0

    # A still of the green scene (drawn the same way) finds party.mp4 at a moment inside 6–12 s.
    from PIL import Image

    from tests.engine.videogen import draw

    Image.fromarray(draw(scenes[1], (320, 192), 30)).save(tmp_path / "still.png")
    results = cli_json(capsys, "similar", str(tmp_path / "still.png"), "--kind", "video", "-n", "2")
    best = results[0]
    assert best["path"] == str((vids / "party.mp4").resolve())
    assert 6.0 - 2.0 <= best["t"] <= 12.0, best
    assert best["moments"], "runner-up moments are listed"

    # The moment's thumbnail was written while indexing (the app never decodes a video to show it).
    from engine.media.thumbnails import moment_key, thumbnail_path

    assert thumbnail_path(home / "thumbnails", moment_key(best["file_id"], best["t"])).is_file()

    # CLI text output shows the moment as a timestamp.
    code = main(["similar", str(tmp_path / "still.png"), "--kind", "video", "-n", "1"])
    assert code == 0 and "party.mp4 @ 00:00:" in capsys.readouterr().out


def test_reencoded_clip_is_the_nearest_clip(home: Path, tmp_path: Path, capsys) -> None:
    vids = tmp_path / "clips"
    vids.mkdir()
    a = [Scene(4.0, RED, "square"), Scene(4.0, BLUE, "disc")]
    b = [Scene(4.0, GREEN, "bars"), Scene(4.0, YELLOW, "square")]
    make_clip(vids / "a.mp4", a, fps=10, size=(320, 192))
    make_clip(vids / "b.mp4", b, fps=10, size=(320, 192))
    cli_json(capsys, "index", str(vids))
    codec = "mpeg4" if has_encoder("mpeg4") else "libx264"
    make_clip(tmp_path / "a copy.mkv", a, fps=15, size=(200, 120), codec=codec)
    results = cli_json(capsys, "similar", str(tmp_path / "a copy.mkv"), "-n", "2")
    assert results[0]["path"] == str((vids / "a.mp4").resolve())


def test_broken_clip_is_a_failed_row(home: Path, tmp_path: Path, capsys) -> None:
    vids = tmp_path / "clips"
    vids.mkdir()
    make_clip(vids / "good.mp4", [Scene(3.0, RED)], fps=10)
    data = (vids / "good.mp4").read_bytes()
    (vids / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (vids / "zero.mkv").write_bytes(b"")
    summary = cli_json(capsys, "index", str(vids))
    failed = {Path(f["path"]).name for f in summary["failures"]}
    assert {"zero.mkv"} <= failed
    assert summary["indexed"] + summary["failed"] == 3


REAL_MINILM = SHARED_ASSETS / "models" / "all-MiniLM-L6-v2"


@pytest.mark.skipif(
    not REAL_MINILM.is_dir(), reason=f"real all-MiniLM-L6-v2 weights not found at {REAL_MINILM}"
)
def test_words_find_sounds_through_their_tags(home: Path, tmp_path: Path, capsys) -> None:
    """Real MiniLM maps the words to AudioSet classes; the (random) PANNs tags then rank the sounds.
    With random PANNs weights the ranking itself means nothing, so the check is that the order is the
    order of the stored tag scores on the classes the words name."""
    from engine.models.manifest import write_manifest

    dest = home / "models" / "all-minilm-l6-v2"
    shutil.rmtree(dest)
    shutil.copytree(REAL_MINILM, dest)
    write_manifest(dest, "all-minilm-l6-v2", source="shared assets")
    d = tmp_path / "sounds"
    d.mkdir()
    for i, kind in enumerate(["tone", "white", "chirp", "clicks"]):
        sf.write(d / f"{kind}.wav", make_sound(kind, 32_000, 3.0, seed=i), 32_000)
    cli_json(capsys, "index", str(d))
    results = cli_json(capsys, "search", "dog barking", "--kind", "sound")
    assert len(results) == 4
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0

    from engine.library import Library
    from engine.search.sound_tags import TagMatcher, class_names

    with Library.open(home) as lib:
        matcher = TagMatcher(lib.text_encoder())
        top = [name for _, name, _ in matcher.match("dog barking", top_k=3)]
        assert {"Bark", "Dog"} & set(top)
        ids, mat = lib.catalog.tags_matrix(lib.settings.audio_model)
        w = matcher.query_weights("dog barking")
        expected = [lib.catalog.get(int(ids[i])).path for i in np.argsort(-(mat @ w))]
        assert [r["path"] for r in results] == expected
        assert len(class_names()) == 527
