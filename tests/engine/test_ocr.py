"""Text in pictures (issue 13) with the real PP-OCRv4 models from the rapidocr-onnxruntime wheel: words
rendered in the system's fonts at several sizes, a rotated line, light on dark; shared COCO photos with
signs; the OCR analyzer end to end (stored, searchable, turned off by a setting, resumed after a kill
without re-reading finished files); the words retriever's reasons."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rapidocr_onnxruntime", reason="rapidocr-onnxruntime is not installed")

from engine.indexing.analyzers.ocr import load_for_ocr  # noqa: E402
from engine.models.ocr import OcrModel, TextLine  # noqa: E402
from tests.conftest import SHARED_ASSETS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FONTS = Path("/usr/share/fonts/truetype/dejavu")
COCO = SHARED_ASSETS / "data" / "coco128_val2017" / "images"
needs_fonts = pytest.mark.skipif(
    not (FONTS / "DejaVuSans.ttf").exists(),
    reason="DejaVu fonts are not installed (Debian: fonts-dejavu-core)",
)
needs_coco = pytest.mark.skipif(not COCO.is_dir(), reason=f"shared assets absent ({COCO})")


@pytest.fixture(scope="module")
def model() -> OcrModel:
    m = OcrModel()
    m.load()
    return m


def render(
    lines: list[tuple[str, str, int]],
    size: tuple[int, int] = (800, 600),
    *,
    dark: bool = False,
    angle: float = 0.0,
    noise: bool = True,
):  # type: ignore[no-untyped-def]
    """A photo-like picture (noisy background) with each (text, font file, pixel size) on its own line."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(0)
    base = 40 if dark else 215
    arr = np.full((size[1], size[0], 3), base, np.uint8)
    if noise:
        arr = np.clip(arr.astype(int) + rng.integers(-12, 12, arr.shape), 0, 255).astype(np.uint8)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    y = 40
    for text, font, px in lines:
        draw.text(
            (40, y),
            text,
            fill=(235, 235, 235) if dark else (20, 20, 30),
            font=ImageFont.truetype(str(FONTS / font), px),
        )
        y += int(px * 1.8)
    if angle:
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(base, base, base))
    return img


def read_words(lines: list[TextLine]) -> str:
    return " ".join(line.text for line in lines).upper()


@needs_fonts
@pytest.mark.parametrize(
    "font",
    ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansCondensed-Oblique.ttf"],
)
def test_rendered_words_in_several_fonts_and_sizes(model: OcrModel, font: str) -> None:
    img = render([("BAKERY OPEN", font, 56), ("Fresh Croissants", font, 32), ("Parking 24h", font, 20)])
    got = read_words(model.read(img))
    for word in ("BAKERY", "OPEN", "FRESH", "CROISSANTS", "PARKING"):
        assert word in got, (font, got)


@needs_fonts
def test_boxes_are_where_the_words_are(model: OcrModel) -> None:
    img = render([("LIBRARY", "DejaVuSans-Bold.ttf", 60)], size=(800, 400))
    lines = model.read(img)
    line = next(x for x in lines if "LIBRARY" in x.text.upper())
    xs = [p[0] for p in line.box]
    ys = [p[1] for p in line.box]
    # Drawn at x=40 px, y=40 px, about 270 px wide and 60 px high in an 800x400 picture.
    assert min(xs) == pytest.approx(40 / 800, abs=0.03) and min(ys) == pytest.approx(40 / 400, abs=0.05)
    assert 0.3 < max(xs) < 0.5 and max(ys) < 0.35
    assert 0.5 <= line.confidence <= 1.0
    px = line.pixel_box(800, 400)
    assert px[0][0] == pytest.approx(min(xs) * 800, abs=1)


@needs_fonts
def test_a_rotated_line_and_light_on_dark(model: OcrModel) -> None:
    rotated = render(
        [("DEPARTURES", "DejaVuSans-Bold.ttf", 50), ("Platform 9", "DejaVuSans.ttf", 40)], angle=12
    )
    assert "DEPARTURES" in read_words(model.read(rotated))
    dark = render([("EXIT", "DejaVuSans-Bold.ttf", 60), ("Emergency only", "DejaVuSerif.ttf", 36)], dark=True)
    got = read_words(model.read(dark))
    assert "EXIT" in got and "EMERGENCY" in got


@needs_fonts
def test_upside_down_text_is_turned_the_right_way(model: OcrModel) -> None:
    img = render([("WELCOME HOME", "DejaVuSans-Bold.ttf", 60)], angle=180)
    assert "WELCOME" in read_words(model.read(img))


def test_a_picture_without_text_costs_one_detector_pass(
    model: OcrModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    real = model._det_map

    def counting(bgr, scale):  # type: ignore[no-untyped-def]
        calls.append(scale)
        return real(bgr, scale)

    monkeypatch.setattr(model, "_det_map", counting)
    monkeypatch.setattr(model, "recognize", lambda *a: pytest.fail("recognizer called without text"))
    rng = np.random.default_rng(1)
    smooth = np.linspace(0, 255, 1200, dtype=np.float32)[None, :, None] * np.ones((900, 1, 3), np.float32)
    photo = np.clip(smooth + rng.normal(0, 3, (900, 1200, 3)), 0, 255).astype(np.uint8)
    assert model.read(photo) == []
    assert len(calls) == 1  # the detector once, the recognizer never
    # With the gate on, a textless photo costs only the gate, at the photo's own size or less.
    gated = OcrModel(coarse_side=640)
    gated.load()
    seen: list[float] = []
    real_gated = gated._det_map
    monkeypatch.setattr(gated, "_det_map", lambda bgr, scale: seen.append(scale) or real_gated(bgr, scale))
    assert gated.read(photo) == [] and len(seen) == 1 and seen[0] <= 640 / 1200 + 1e-6
    assert model.read(np.zeros((4, 4, 3), np.uint8)) == []  # too small to hold text


@needs_fonts
def test_a_12mp_photo_is_decoded_small_once_and_read(model: OcrModel, tmp_path: Path) -> None:
    img = render([("SUPERMARKET", "DejaVuSans-Bold.ttf", 70)], size=(800, 600))
    big = img.resize((4000, 3000))
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)
    decoded = load_for_ocr(path)
    assert max(decoded.size) <= 1100  # JPEG draft: 1/4 scale, not 12 MP in memory
    assert "SUPERMARKET" in read_words(model.read(decoded))


@needs_coco
@pytest.mark.parametrize(
    ("photo", "words"),
    [
        ("000000000724.jpg", ["STOP"]),  # a stop sign
        ("000000001532.jpg", ["HOLLYWOOD", "SUNSET", "TAXI"]),  # freeway signs, a taxi roof sign
    ],
)
def test_shared_coco_photos_with_signs(model: OcrModel, photo: str, words: list[str]) -> None:
    got = read_words(model.read(load_for_ocr(COCO / photo)))
    for w in words:
        assert w in got.replace(" ", ""), got


# -- the analyzer, the index and the retriever ------------------------------------------------------


def _photos(folder: Path, n: int, *, with_text: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i:03d}.jpg"
        if i < with_text:
            render([(f"SHOP {['ALPHA', 'BRAVO', 'CHARLIE'][i % 3]}", "DejaVuSans-Bold.ttf", 60)]).save(p)
        else:
            rng = np.random.default_rng(i)
            from PIL import Image

            Image.fromarray(rng.integers(100, 140, (300, 400, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def _add_indexed(lib, paths: list[Path]) -> list[int]:  # type: ignore[no-untyped-def]
    """Rows as the pipeline leaves them (embedding done), without an image model."""
    from engine.indexing.analyzers.embeddings import embedding_for
    from engine.storage import analyses

    ids = []
    an = embedding_for("photo")
    assert an is not None
    for p in paths:
        st = p.stat()
        fid = lib.catalog.add(str(p), st.st_size, st.st_mtime, "photo")
        with lib.catalog.transaction():
            lib.catalog.mark_indexed(fid, digest=None, model="test")
            analyses.record(lib.catalog, fid, an.name, an.version, analyses.DONE)
        ids.append(fid)
    return ids


@needs_fonts
def test_analyzer_stores_text_and_the_retriever_finds_it_with_its_box(
    bare_home: Path, tmp_path: Path
) -> None:
    from engine.indexing.analysis import analysis_counts, run_pending_analyses
    from engine.indexing.analyzers import get_analyzer
    from engine.library import Library
    from engine.search.query import parse_query
    from engine.search.retrievers.words import WordsRetriever, search_words
    from engine.storage.texts import TextIndex

    an = get_analyzer("ocr")
    assert an is not None and an.label == "reading text in photos" and an.priority > 0
    paths = _photos(tmp_path / "pics", 5)
    with Library.open() as lib:
        ids = _add_indexed(lib, paths)
        assert analysis_counts(lib)["ocr"]["pending"] == 5
        report = run_pending_analyses(lib, only="ocr")
        assert report.by_analyzer["ocr"] == (5, 0)
        assert analysis_counts(lib)["ocr"]["done"] == 5
        assert TextIndex(lib.catalog).count_files() == 3
        hits = search_words(lib, "bravo")
        assert [h.file_id for h in hits] == [ids[1]]
        cands = WordsRetriever().retrieve(
            lib, parse_query("shop charlie", understand=False), limit=10, kinds=None, folder=None
        )
        assert [c.file_id for c in cands] == [ids[2]] and cands[0].good
        reason = cands[0].reasons[0]
        assert reason.retriever == "text" and reason.detail["image_size"] == [1, 1]
        assert "CHARLIE" in reason.short().upper()
        assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in reason.detail["box"])
        # Exclusions: which files hold a word.
        assert WordsRetriever().having(lib, ["alpha"], ids) == {ids[0]}
        # Through the one ranking, as the search box and `lookalike search --only text` ask.
        from engine.search.ranking import search

        results = search(lib, "bravo", only=["text"])
        assert [r.file_id for r in results] == [ids[1]] and results[0].good
        assert any(x.retriever == "text" and "BRAVO" in x.short().upper() for x in results[0].reasons)
        shop = search(lib, "shop -alpha", only=["text"])
        assert {r.file_id for r in shop if r.good} == {ids[1], ids[2]}


def _text_clip(path: Path, scenes: list[tuple[str, float]], fps: int = 10) -> Path:
    """An H.264 clip showing each (text, seconds) in turn, still, on a grey background."""
    import av

    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
    for text, seconds in scenes:
        frame = np.asarray(render([(text, "DejaVuSans-Bold.ttf", 64)], size=(640, 480), noise=False))
        for _ in range(int(seconds * fps)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


@needs_fonts
def test_video_moments_are_read_with_their_time(bare_home: Path, tmp_path: Path) -> None:
    from engine.indexing.analysis import run_pending_analyses
    from engine.indexing.analyzers.embeddings import embedding_for
    from engine.library import Library
    from engine.storage import analyses
    from engine.storage.texts import TextIndex

    clip = _text_clip(tmp_path / "board.mp4", [("GATE 12", 5.0), ("DEPARTURES", 5.0)])
    with Library.open() as lib:
        st = clip.stat()
        fid = lib.catalog.add(str(clip), st.st_size, st.st_mtime, "video")
        an = embedding_for("video")
        assert an is not None
        with lib.catalog.transaction():
            lib.catalog.mark_indexed(fid, digest=None, model="test")
            analyses.record(lib.catalog, fid, an.name, an.version, analyses.DONE)
        assert run_pending_analyses(lib, only="ocr").by_analyzer["ocr"] == (1, 0)
        rows = TextIndex(lib.catalog).rows(fid)
        # A still board is read once per scene, not at every moment (same picture: skipped).
        assert 2 <= len({r.t for r in rows}) <= 3
        hits = TextIndex(lib.catalog).search(["departures"])
        assert [h.file_id for h in hits] == [fid] and 4.0 <= hits[0].t <= 7.0
        gate = TextIndex(lib.catalog).search(["gate"])
        assert gate and gate[0].t < 3.0


def test_the_setting_turns_it_off(bare_home: Path) -> None:
    from engine.indexing.analyzers import get_analyzer
    from engine.library import Library
    from engine.storage.settings import Settings

    s = Settings.load()
    s.ocr = False
    s.save()
    with Library.open() as lib:
        an = get_analyzer("ocr")
        assert an is not None and "ocr = false" in (an.ready(lib) or "")
    (bare_home / "settings.toml").write_text('ocr = "yes"\n')
    from engine.storage.settings import SettingsError

    with pytest.raises(SettingsError, match="ocr"):
        Settings.load()


_KILL_SCRIPT = r"""
import sys
from pathlib import Path
import engine.indexing.analyzers.ocr as ocr
from engine.indexing.analysis import run_pending_analyses
from engine.library import Library

log = Path(sys.argv[1])
real = ocr.load_for_ocr

def logged(path):
    with log.open("a") as f:
        f.write(Path(path).name + "\n")
    return real(path)

ocr.load_for_ocr = logged
with Library.open() as lib:
    r = run_pending_analyses(lib, only="ocr")
print(r.done)
"""


def _done(home: Path) -> set[str]:
    """Names of the photos the OCR stage has marked done (read straight from the catalog file: the
    library is locked by the process under test)."""
    import sqlite3

    db = home / "catalog.sqlite"
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = con.execute(
            "SELECT f.path FROM analyses a JOIN files f ON f.id = a.file_id "
            "WHERE a.analyzer='ocr' AND a.state='done'"
        ).fetchall()
    except sqlite3.OperationalError:  # busy or not created yet
        return set()
    finally:
        con.close()
    return {Path(r[0]).name for r in rows}


@needs_fonts
@pytest.mark.slow
def test_killed_mid_way_resumes_without_rereading_finished_files(bare_home: Path, tmp_path: Path) -> None:
    from engine.library import Library

    paths = _photos(tmp_path / "pics", 40, with_text=40)
    with Library.open(bare_home) as lib:
        _add_indexed(lib, paths)
    log = tmp_path / "log.txt"
    env = {**os.environ, "LOOKALIKE_HOME": str(bare_home), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(log)], env=env, cwd=REPO)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if len(_done(bare_home)) >= 10:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    finished = _done(bare_home)
    assert 10 <= len(finished) < 40, "the kill came too late to test a resume"

    log.write_text("")
    out = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, str(log)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    reread = set(log.read_text().split())
    assert not reread & finished  # nothing finished before the kill is read again
    assert reread | finished == {p.name for p in paths}
    assert int(out.stdout.strip()) == 40 - len(finished)
    assert _done(bare_home) == {p.name for p in paths}
    with Library.open(bare_home) as lib:
        from engine.storage.texts import TextIndex

        ti = TextIndex(lib.catalog)
        # One copy of each photo's text, even for those read twice (in hand at the kill).
        counts = lib.catalog.query("SELECT file_id, COUNT(*) FROM texts GROUP BY file_id")
        assert len(counts) == 40 and all(n == counts[0][1] for _, n in counts)
        assert len(ti.search(["bravo"], limit=100)) == len([i for i in range(40) if i % 3 == 1])


@needs_coco
def test_cli_end_to_end_a_word_on_a_sign_finds_the_photo(home: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """`lookalike index` runs the OCR stage after the embeddings; `status` shows it; `search` finds the
    photo by the word on its sign, first, with the words read as its reason (tiny random image models:
    the text retriever carries the answer)."""
    import json
    import shutil

    from engine.cli.main import main

    pics = tmp_path / "pics"
    pics.mkdir()
    for name in ("000000000724.jpg", "000000001532.jpg", "000000000139.jpg", "000000000285.jpg"):
        shutil.copy(COCO / name, pics / name)

    def cli_json(*args: str):  # type: ignore[no-untyped-def]
        code = main([*args, "--json"])
        out, err = capsys.readouterr()
        assert code == 0, err
        return json.loads(out)

    assert cli_json("index", str(pics))["indexed"] == 4
    ocr = cli_json("status")["analyzers"]["ocr"]
    assert ocr["done"] == 4 and ocr["pending"] == 0 and ocr["failed"] == 0
    results = cli_json("search", "hollywood")
    results = results["results"] if isinstance(results, dict) else results
    assert results and results[0]["path"].endswith("000000001532.jpg")
    assert "text" in json.dumps(results[0]).lower() and "HOLLYWOOD" in json.dumps(results[0]).upper()
    stop = cli_json("search", "stop", "--only", "text")
    stop = stop["results"] if isinstance(stop, dict) else stop
    assert [r["path"].rsplit("/", 1)[-1] for r in stop if r.get("good", True)][:1] == ["000000000724.jpg"]
