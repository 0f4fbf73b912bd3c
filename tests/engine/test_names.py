"""Names and folders as a retriever: `receipt` finds receipt_hotel_2022.jpg, `Porto` the folder
`2019 Porto trip/`, through the CLI and the engine, with tiny random-weight image models (so the names
must carry the answer: the pictures' scores mean nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.search.folder_names import build
from tests.media import make_library, save_photo


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def search_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code, out, err = cli(capsys, "search", *args, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def library(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    root = tmp_path / "Pictures"
    make_library(root / "misc", 30)
    save_photo(root / "misc" / "receipt_hotel_2022.jpg", 500, quality=90)
    save_photo(root / "misc" / "Café_Lisboa.jpg", 501, quality=90)
    save_photo(root / "misc" / "東京タワー夜景.jpg", 502, quality=90)
    for i in range(4):
        save_photo(root / "2019 Porto trip" / f"IMG_{i:04d}.jpg", 600 + i, quality=90)
    index(home, root)
    return root


def index(home: Path, root: Path | None = None) -> None:
    """Scan and embed (the fast stages only: names and looks are what these tests search)."""
    from engine.indexing.pipeline import index_pending
    from engine.indexing.scan import scan
    from engine.library import Library

    with Library.open(home) as lib:
        if root is not None:
            lib.add_folder(root)
        scan(lib)
        assert index_pending(lib).failed == 0


def test_a_word_of_a_file_name_finds_it_first_with_its_reason(library: Path, capsys) -> None:
    results = search_json(capsys, "receipt")
    assert results[0]["path"].endswith("receipt_hotel_2022.jpg")
    assert results[0]["good"] is True
    assert results[0]["reason"] == "file name contains “receipt”"
    names = [r for r in results[0]["reasons"] if r["retriever"] == "names"]
    assert names and names[0]["detail"] == {"name": "receipt", "where": "file"} and names[0]["rank"] == 1
    # Everything else only looks (randomly) alike: not good, and only a few of them.
    assert all(r["good"] is False for r in results[1:]) and len(results) <= 1 + 5
    # Prefix of the last word as one types, case and accents folded, and CJK by its first characters.
    assert search_json(capsys, "Recei")[0]["path"].endswith("receipt_hotel_2022.jpg")
    assert search_json(capsys, "cafe")[0]["path"].endswith("Café_Lisboa.jpg")
    assert search_json(capsys, "東京")[0]["path"].endswith("東京タワー夜景.jpg")


def test_a_folder_name_finds_the_files_inside(library: Path, capsys) -> None:
    results = search_json(capsys, "Porto")
    good = [r for r in results if r["good"]]
    assert {Path(r["path"]).name for r in good} == {f"IMG_{i:04d}.jpg" for i in range(4)}
    assert all(r["reason"] == "folder “2019 Porto trip”" for r in good)
    assert results[: len(good)] == good  # good ones first
    # The library's own folder ("Pictures") is no reason: every file is in it.
    assert not [r for r in search_json(capsys, "Pictures") if r["good"]]


def test_all_words_must_be_in_the_name_or_folders_to_be_good(library: Path, capsys) -> None:
    results = search_json(capsys, "hotel receipt")
    assert results[0]["path"].endswith("receipt_hotel_2022.jpg") and results[0]["good"]
    assert search_json(capsys, "a photo of the receipt")[0]["good"]  # stop words are no content
    partial = search_json(capsys, "receipt zanzibar")
    assert not any(r["good"] for r in partial)  # "zanzibar" is nowhere
    assert partial[0]["path"].endswith("receipt_hotel_2022.jpg")  # but it is still the closest
    assert search_json(capsys, "Porto 2019")[0]["reason"] == "folder “2019 Porto trip”"


def test_quotes_mean_exact_text_and_minus_excludes(library: Path, capsys) -> None:
    assert search_json(capsys, '"receipt hotel"')[0]["good"]
    assert not any(r["good"] for r in search_json(capsys, '"hotel receipt"'))  # not in that order
    porto = search_json(capsys, "Porto -IMG_0002")
    assert "IMG_0002.jpg" not in {Path(r["path"]).name for r in porto}
    assert len([r for r in porto if r["good"]]) == 3
    # An excluded word in a folder name leaves out the whole folder, among the closest too.
    assert not [r for r in search_json(capsys, "IMG -porto") if "Porto" in r["path"]]


def test_only_names_and_the_human_output(library: Path, capsys) -> None:
    only = search_json(capsys, "receipt", "--only", "names")
    assert [Path(r["path"]).name for r in only] == ["receipt_hotel_2022.jpg"]
    assert {x["retriever"] for x in only[0]["reasons"]} == {"names"}
    code, out, err = cli(capsys, "search", "receipt")
    assert code == 0
    first = out.splitlines()[0]
    assert "file name contains “receipt”" in first and first.endswith("receipt_hotel_2022.jpg")
    assert "closest" in err  # the randomly similar rest, under its heading (stderr: stdout is results)


def test_nonsense_says_no_good_matches(library: Path, capsys) -> None:
    code, out, err = cli(capsys, "search", "qwzx vlorp")
    assert code == 0
    assert "No good matches for 'qwzx vlorp'" in err and "closest" in err
    lines = out.splitlines()
    assert 0 < len(lines) <= 12  # the few closest, not a page
    results = search_json(capsys, "qwzx vlorp")
    assert results and all(r["good"] is False for r in results)


def test_a_renamed_folder_is_found_by_its_new_name(library: Path, home: Path, capsys) -> None:
    from engine.library import Library

    (library / "2019 Porto trip").rename(library / "2019 Lisbon trip")
    index(home)
    assert not [r for r in search_json(capsys, "Porto") if r["good"]]
    assert len([r for r in search_json(capsys, "Lisbon") if r["good"]]) == 4
    # In one process too: the in-memory folder index follows the catalog's writes.
    with Library.open(home) as lib:
        from engine.search.api import search_text

        assert len([r for r in search_text(lib, "Lisbon") if r.good]) == 4
        row = next(r for r in lib.catalog.iter_all() if r.name == "IMG_0000.jpg")
        new = str(library / "misc" / "IMG_0000.jpg")
        lib.catalog.move(row.id, new, row.size, row.mtime)
        assert len([r for r in search_text(lib, "Lisbon") if r.good]) == 3


def test_folder_index_leaves_out_roots_and_their_ancestors() -> None:
    idx = build(["/home/u/Pictures/a/2019 Porto trip/x.jpg", "/home/u/Pictures/y.jpg"], ["/home/u/Pictures"])
    assert [p for p, _, _ in idx.folders] == ["/home/u/Pictures/a", "/home/u/Pictures/a/2019 Porto trip"]
    assert idx.matching("porto", phrase=False, prefix=False) == [
        ("/home/u/Pictures/a/2019 Porto trip", "2019 Porto trip")
    ]
    assert idx.matching("port", phrase=False, prefix=True)
    assert not idx.matching("port", phrase=False, prefix=False)
    assert idx.matching("porto trip", phrase=True, prefix=False)
    assert not idx.matching("trip porto", phrase=True, prefix=False)
    assert not idx.matching("pictures", phrase=False, prefix=True)
