"""Duplicates: edited copies of real photos grouped (and distinct photos of the same class not), exact
copies, clips copied or trimmed, recordings converted or trimmed, "not duplicates" and the trash
remembered across restarts, the band index, and stacks in results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.media import hashes as H
from testkit.dupe_edits import EDITS, caltech_photos, save_edit, use_temp_trash

PHOTOS = caltech_photos()
needs_photos = pytest.mark.skipif(not PHOTOS, reason="shared/assets/data/caltech101_subset is not here")
#: Classes whose first photos are one picture edited (see bench/bench_duplicates.py): never "distinct".
#: (Motorbikes 1 and 2 stay: two bikes in the same pose on white, the hard case that must not group.
#: Copies whose date stamp covers a large part of a plain picture can be missed, see docs/benchmarks.md.)
SAME_SOURCE = {"octopus", "grand_piano", "crocodile", "crocodile_head", "lobster"}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def groups_json(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    code, out, err = run_cli(capsys, "duplicates", "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def _names(groups: list[dict]) -> list[set[str]]:
    return [{Path(f["path"]).name for f in g["files"]} for g in groups]


def _pick(n: int) -> list[tuple[Path, Path]]:
    """n originals of different classes, each with another photo of its class."""
    by_class: dict[str, list[Path]] = {}
    for p in PHOTOS:
        if p.parent.name not in SAME_SOURCE:
            by_class.setdefault(p.parent.name, []).append(p)
    classes = sorted(by_class)[:: max(1, len(by_class) // n)][:n]
    return [(by_class[c][0], by_class[c][1]) for c in classes]


@needs_photos
def test_edited_copies_group_with_their_original_and_distinct_photos_do_not(
    home: Path, tmp_path: Path, capsys
) -> None:
    lib_dir = tmp_path / "photos"
    lib_dir.mkdir()
    picks = _pick(5)
    kinds = list(EDITS)
    expected: list[set[str]] = []
    for i, (orig, sibling) in enumerate(picks):
        shutil.copy(orig, lib_dir / f"o{i}.jpg")
        shutil.copy(sibling, lib_dir / f"s{i}.jpg")  # same class, another photo: must stay alone
        group = {f"o{i}.jpg"}
        for k in kinds[2 * i : 2 * i + 2]:  # 5 originals x 2 edits: every kind once
            save_edit(orig, k, lib_dir / f"o{i}_{k}.jpg")
            group.add(f"o{i}_{k}.jpg")
        expected.append(group)
    covered = {n.split("_", 1)[1][:-4] for g in expected for n in g if "_" in n}
    assert covered == set(kinds)
    code, _, err = run_cli(capsys, "index", str(lib_dir))
    assert code == 0, err
    groups = groups_json(capsys, "--kind", "photo")
    assert sorted(map(sorted, _names(groups))) == sorted(map(sorted, expected))
    for g in groups:
        assert g["kind"] == "photo"
        assert sum(f["keep"] for f in g["files"]) == 1
        kept = next(f for f in g["files"] if f["keep"])
        # The largest resolution is suggested: never a downsized or cropped copy.
        assert "resize" not in kept["path"] and "crop" not in kept["path"]
        assert all({"size", "width", "height", "taken"} <= f.keys() for f in g["files"])
    code, out, _ = run_cli(capsys, "duplicates", "--no-update")
    assert code == 0 and "keep" in out and "Group 1" in out


@needs_photos
def test_exact_copy_groups_as_exact(home: Path, tmp_path: Path, capsys) -> None:
    from engine.library import Library
    from engine.storage.duplicates import DuplicateTables

    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(PHOTOS[0], d / "a.jpg")
    shutil.copy(PHOTOS[0], d / "b.jpg")
    shutil.copy(PHOTOS[9], d / "c.jpg")
    assert run_cli(capsys, "index", str(d))[0] == 0
    assert _names(groups_json(capsys)) == [{"a.jpg", "b.jpg"}]
    with Library.open(home) as lib:
        (pair,) = DuplicateTables.of(lib.catalog).pairs_of(lib.catalog.ids_under(str(d.resolve())))
        assert pair[2] == 0.0


@needs_photos
def test_not_duplicates_and_trash_persist_across_restarts(
    home: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_temp_trash(monkeypatch, tmp_path / "xdg")
    d = tmp_path / "photos"
    d.mkdir()
    orig = _pick(1)[0][0]
    shutil.copy(orig, d / "orig.jpg")
    save_edit(orig, "recompress", d / "small.jpg")
    save_edit(orig, "mirror", d / "mirror.jpg")
    assert run_cli(capsys, "index", str(d))[0] == 0
    assert _names(groups_json(capsys)) == [{"orig.jpg", "small.jpg", "mirror.jpg"}]
    # The mirrored one is "not a duplicate" of the others: it leaves the group, for good.
    for other in ("orig.jpg", "small.jpg"):
        code, _, err = run_cli(
            capsys, "duplicates", "--not-duplicates", str(d / "mirror.jpg"), str(d / other)
        )
        assert code == 0, err
    assert _names(groups_json(capsys)) == [{"orig.jpg", "small.jpg"}]
    # Indexing again (a restart, a rescan) does not bring it back.
    assert run_cli(capsys, "index", str(d))[0] == 0
    assert _names(groups_json(capsys)) == [{"orig.jpg", "small.jpg"}]
    # Trash needs a confirmation: without a terminal and without --yes nothing moves.
    code, _, _ = run_cli(capsys, "duplicates", "--trash")
    assert code == 1 and (d / "small.jpg").exists()
    code, _, err = run_cli(capsys, "duplicates", "--trash", "--yes")
    assert code == 0, err
    assert not (d / "small.jpg").exists() and (d / "orig.jpg").exists()
    trashed = list((tmp_path / "xdg" / "Trash" / "files").iterdir())
    assert [p.name for p in trashed] == ["small.jpg"]
    assert groups_json(capsys) == []
    assert run_cli(capsys, "index", str(d))[0] == 0
    assert groups_json(capsys) == []


def test_phash_orientations_match_the_rotated_pictures() -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    img = Image.fromarray((rng.random((40, 60, 3)) * 255).astype(np.uint8)).resize((240, 160))
    hs = H.phash_orientations(img)
    for t in (Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
              Image.Transpose.ROTATE_270, Image.Transpose.TRANSPOSE):  # fmt: skip
        assert int(H.hamming(hs, H.phash(img.transpose(t))).min()) <= 2


def test_letterbox_bars_are_trimmed() -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    img = Image.fromarray((rng.random((30, 50, 3)) * 255).astype(np.uint8)).resize((250, 150))
    boxed = Image.new("RGB", (250, 250), (0, 0, 0))
    boxed.paste(img, (0, 50))
    assert H.trim_box(boxed) == (0, 50, 250, 200)
    plain = Image.new("RGB", (100, 100), (20, 30, 40))
    assert H.trim_box(plain) == (0, 0, 100, 100)


def test_band_index_finds_near_hashes_only(tmp_path: Path) -> None:
    from engine.storage.catalog import Catalog
    from engine.storage.duplicates import DuplicateTables, HashRow

    c = Catalog(tmp_path / "c.sqlite")
    try:
        t = DuplicateTables.of(c)
        base = 0x0123456789ABCDEF
        near = base ^ (1 << 3) ^ (1 << 40) ^ (1 << 60)  # 3 bits off, in 3 different bands
        far = ~base & (2**64 - 1)
        for fid, h in ((1, base), (2, near), (3, far)):
            c.add(f"/x/{fid}.jpg", 1, 0.0, "photo")
            t.put(HashRow(fid, "photo", 1, None, 1, 1, None, False, None), [h])
        assert set(t.candidates([base], radius=0)) == {1, 2}
        assert set(t.candidates([base ^ (1 << 20) ^ (1 << 5)], radius=1)) >= {1, 2}
        assert 3 not in t.candidates([base], radius=1)
        t.forget([2])
        assert set(t.candidates([base], radius=0)) == {1}
    finally:
        c.close()


def test_groups_split_where_the_user_said_not_duplicates(tmp_path: Path) -> None:
    from engine.storage.catalog import Catalog
    from engine.storage.duplicates import DuplicateTables

    c = Catalog(tmp_path / "c.sqlite")
    try:
        t = DuplicateTables.of(c)
        assert [c.add(f"/x/{i}.jpg", 1, 0.0, "photo") for i in range(4)] == [1, 2, 3, 4]
        t.add_pairs([(1, 2, "photo", 0, "full"), (2, 3, "photo", 2, "full"), (3, 4, "photo", 4, "full")])
        t.regroup([1])
        assert len({tuple(sorted([f, *m])) for f, m in t.group_map([1, 2, 3, 4]).items()}) == 1
        t.not_duplicates(1, 4)
        groups = {tuple(sorted([f, *m])) for f, m in t.group_map([1, 2, 3, 4]).items()}
        assert all(not (1 in g and 4 in g) for g in groups)
    finally:
        c.close()


# -- video and sound ------------------------------------------------------------------------------------


def _lib(home: Path):
    from engine.library import Library

    return Library.open(home)


def _analyze(lib, paths: list[Path], kind: str) -> dict[str, int]:
    from engine.indexing.analyzers.hashes import analyze_file

    ids = lib.catalog.add_many([(str(p), p.stat().st_size, p.stat().st_mtime, kind) for p in paths])
    for fid in ids:
        row = lib.catalog.get(fid)
        assert row is not None
        analyze_file(lib, row)
    return {p.name: fid for p, fid in zip(paths, ids, strict=True)}


def _group_names(lib, kind: str) -> list[set[str]]:
    from engine.storage.duplicates import list_groups

    return [{Path(f.path).name for f in g.files} for g in list_groups(lib.catalog, kind)]


def test_video_copies_and_trims_group_and_a_different_clip_does_not(home: Path, tmp_path: Path) -> None:
    from tests.engine.videogen import BLUE, GREEN, RED, YELLOW, Scene, has_encoder, make_clip

    if not has_encoder("libx264"):
        pytest.skip("no H.264 encoder in this PyAV build")
    shapes = [
        Scene(3, RED, "square"),
        Scene(3, GREEN, "disc"),
        Scene(3, BLUE, "bars"),
        Scene(3, YELLOW, "quadrants"),
    ]
    a = make_clip(tmp_path / "a.mp4", shapes).path
    copy = make_clip(tmp_path / "copy.mkv", shapes, size=(240, 144), gop=7).path
    trim = make_clip(tmp_path / "trim.mp4", shapes[1:]).path
    other = make_clip(tmp_path / "other.mp4", [shapes[2], shapes[0], shapes[3], shapes[1]]).path
    with _lib(home) as lib:
        _analyze(lib, [a, copy, trim, other], "video")
        assert _group_names(lib, "video") == [{"a.mp4", "copy.mkv", "trim.mp4"}]


def _tone_noise(seed: int, seconds: float, rate: int = 22050) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(t)
    for _ in range(12):  # chirps and bursts at random times: a recording with a shape over time
        f0, f1 = rng.uniform(200, 2500, 2)
        start, length = rng.uniform(0, seconds - 1), rng.uniform(0.3, 1.5)
        m = (t >= start) & (t < start + length)
        x[m] += np.sin(2 * np.pi * (f0 + (f1 - f0) * (t[m] - start) / length) * t[m]) * rng.uniform(0.1, 0.4)
    x += rng.normal(0, 0.02, len(t))
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


def test_sound_converted_or_trimmed_groups_and_another_does_not(home: Path, tmp_path: Path) -> None:
    import soundfile as sf

    rate = 22050
    x = _tone_noise(1, 12.0, rate)
    sf.write(tmp_path / "rec.wav", x, rate)
    sf.write(tmp_path / "rec.ogg", x, rate, format="OGG", subtype="VORBIS")  # lossy copy
    sf.write(tmp_path / "rec_trim.flac", x[int(3 * rate) :], rate)
    sf.write(tmp_path / "other.wav", _tone_noise(2, 12.0, rate), rate)
    with _lib(home) as lib:
        _analyze(lib, [tmp_path / n for n in ("rec.wav", "rec.ogg", "rec_trim.flac", "other.wav")], "sound")
        assert _group_names(lib, "sound") == [{"rec.wav", "rec.ogg", "rec_trim.flac"}]


def test_sound_fingerprint_is_stable_under_gain() -> None:
    x = _tone_noise(3, 8.0, 8000)
    a, b = H.sound_fingerprint(x, 8000), H.sound_fingerprint(0.5 * x, 8000)
    ber, off, overlap = H.fingerprint_match(a, b)
    assert ber < 0.05 and off == 0.0 and overlap == 1.0
    other = H.sound_fingerprint(_tone_noise(4, 8.0, 8000), 8000)
    assert H.fingerprint_match(a, other)[0] > 0.3


def test_stack_results_folds_a_group_under_its_best_ranked_member(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from engine.search.results import Result
    from engine.search.stacks import stack_results
    from engine.storage.catalog import Catalog
    from engine.storage.duplicates import DuplicateTables, HashRow

    c = Catalog(tmp_path / "c.sqlite")
    try:
        ids = [c.add(f"/x/{i}.jpg", 1, 0.0, "photo") for i in range(3)]
        t = DuplicateTables.of(c)
        for fid in ids:
            t.put(HashRow(fid, "photo", 1, None, 1, 1, None, False, None), [])
        t.add_pairs([(ids[0], ids[2], "photo", 2, "full")])
        t.regroup([ids[0]])
        results = [
            Result(fid, f"/x/{i}.jpg", "photo", 1.0 - i / 10)
            for i, fid in enumerate([ids[2], ids[1], ids[0]])
        ]
        out = stack_results(SimpleNamespace(catalog=c), results)
        assert [r.file_id for r in out] == [ids[2], ids[1]]
        assert [s.file_id for s in out[0].stack] == [ids[0]]
        assert out[0].to_json()["stack"][0]["path"] == "/x/2.jpg"
    finally:
        c.close()


def test_indexed_clips_group_through_their_moment_thumbnails(home: Path, tmp_path: Path, capsys) -> None:
    """Through `lookalike index`: the analyzer reads the moments' times from the store and their
    pictures from the thumbnails the video pipeline saved (the clip is not decoded again)."""
    from tests.engine.videogen import BLUE, GREEN, RED, YELLOW, Scene, has_encoder, make_clip

    if not has_encoder("libx264"):
        pytest.skip("no H.264 encoder in this PyAV build")
    d = tmp_path / "clips"
    d.mkdir()
    shapes = [
        Scene(3, RED, "square"),
        Scene(3, GREEN, "disc"),
        Scene(3, BLUE, "bars"),
        Scene(3, YELLOW, "quadrants"),
    ]
    make_clip(d / "a.mp4", shapes)
    make_clip(d / "trim.mp4", shapes[1:])
    make_clip(d / "other.mp4", [shapes[2], shapes[0], shapes[3], shapes[1]])
    code, _, err = run_cli(capsys, "index", str(d))
    assert code == 0, err
    assert _names(groups_json(capsys, "--kind", "video")) == [{"a.mp4", "trim.mp4"}]


def _long_recording(seed: int, seconds: float, rate: int) -> np.ndarray:
    """A recording with a shape all along: a chirp or a burst starting about every second."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = rng.normal(0, 0.02, n)
    for start in np.cumsum(rng.uniform(0.4, 1.6, int(seconds * 1.2))):
        if start >= seconds - 2:
            break
        f0, f1 = rng.uniform(200, 2500, 2)
        length = rng.uniform(0.3, 1.5)
        i0, i1 = int(start * rate), int((start + length) * rate)
        t = np.arange(i1 - i0) / rate
        x[i0:i1] += np.sin(2 * np.pi * (f0 + (f1 - f0) * t / length / 2) * t) * rng.uniform(0.1, 0.4)
    return (x / np.abs(x).max() * 0.8).astype(np.float32)


def test_long_recordings_group_with_their_copies_and_trims_cut_anywhere(home: Path, tmp_path: Path) -> None:
    """Ten minute recordings: fingerprinted across the whole file, so a copy trimmed by three and a half
    minutes at the start (past the first minutes the fine fingerprint covers) still groups; another
    recording that opens with the same first 200 s does not."""
    import soundfile as sf

    rate = 16000
    x = _long_recording(5, 600.0, rate)
    other = _long_recording(6, 600.0, rate)
    sf.write(tmp_path / "long.flac", x, rate)
    # A lossy copy, written in blocks: libsndfile's Vorbis encoder crashes on minutes in one call.
    with sf.SoundFile(tmp_path / "long.ogg", "w", rate, 1, format="OGG", subtype="VORBIS") as f:
        for i in range(0, len(x), 5 * rate):
            f.write(x[i : i + 5 * rate])
    sf.write(tmp_path / "long_trim.flac", x[int(210.37 * rate) : int(540 * rate)], rate)
    sf.write(tmp_path / "same_intro.flac", np.concatenate([x[: 200 * rate], other[: 400 * rate]]), rate)
    sf.write(tmp_path / "other.flac", other[::-1].copy(), rate)
    names = ("long.flac", "long.ogg", "long_trim.flac", "same_intro.flac", "other.flac")
    with _lib(home) as lib:
        _analyze(lib, [tmp_path / n for n in names], "sound")
        assert _group_names(lib, "sound") == [{"long.flac", "long.ogg", "long_trim.flac"}]
    # The fingerprint covers the whole recording, in a bounded size.
    sp = H.load_sound_fingerprint(tmp_path / "long.flac")
    assert sp.seconds > 590 and len(sp.long) * H.LONG_HOP_S > 590 and len(sp.fine) * 0.008 <= H.FP_FULL_S


@needs_photos
def test_a_catalog_indexed_with_16_bit_bands_is_rekeyed_and_still_finds_copies(
    home: Path, tmp_path: Path
) -> None:
    """Photos hashed before the index moved to long keys are re-keyed from their stored hashes when the
    library opens (nothing decoded again), and a new copy of one still groups with it."""
    from engine.indexing.analyzers import hashes as A
    from engine.storage.duplicates import LONG_BASE, DuplicateTables

    shutil.copy(PHOTOS[0], tmp_path / "a.jpg")
    save_edit(PHOTOS[0], "resize", tmp_path / "a_small.jpg")
    with _lib(home) as lib:
        ids = _analyze(lib, [tmp_path / "a.jpg"], "photo")
        t = DuplicateTables.of(lib.catalog)
        # Make it look like the old layout: 16-bit bands of the frame and the windows, no long keys.
        row = t.get(ids["a.jpg"])
        assert row is not None and row.data is not None
        ph = H.PhotoHashes.from_bytes(row.data, 1, 1)
        t.drop_bands(range(LONG_BASE, LONG_BASE + 6))
        t.add_index(ids["a.jpg"], [int(ph.full[0])], table=A.FRAMES)
        t.add_index(ids["a.jpg"], [int(x) for x in ph.regions], table=A.WINDOWS)
    with _lib(home) as lib:
        _analyze(lib, [tmp_path / "a_small.jpg"], "photo")
        t = DuplicateTables.of(lib.catalog)
        assert not t.has_band(0) and t.has_band(LONG_BASE)
        assert _group_names(lib, "photo") == [{"a.jpg", "a_small.jpg"}]


@needs_photos
def test_a_large_date_stamp_on_a_plain_picture_still_groups(home: Path, tmp_path: Path) -> None:
    """A stamp over a quarter of a clip-art picture on white moves its trimmed frame and its hash by
    20-24 bits (these two were missed before the top window): the untouched top of the picture finds
    the pair, the tiles that agree confirm it, and other pictures of the class stay apart."""
    from testkit.dupe_edits import CALTECH

    picks = [CALTECH / "wrench" / "image_0004.jpg", CALTECH / "headphone" / "image_0001.jpg"]
    others = [CALTECH / "wrench" / "image_0001.jpg", CALTECH / "headphone" / "image_0002.jpg"]
    if not all(p.is_file() for p in picks + others):
        pytest.skip("the wrench and headphone photos of the Caltech subset are not here")
    paths = []
    for p in picks + others:
        paths.append(tmp_path / f"{p.parent.name}_{p.name}")
        shutil.copy(p, paths[-1])
    for p in picks:
        paths.append(save_edit(p, "stamp", tmp_path / f"{p.parent.name}_stamped.jpg", seed=2))
    with _lib(home) as lib:
        _analyze(lib, paths, "photo")
        groups = sorted(map(sorted, _group_names(lib, "photo")))
    assert groups == [
        ["headphone_image_0001.jpg", "headphone_stamped.jpg"],
        ["wrench_image_0004.jpg", "wrench_stamped.jpg"],
    ]
