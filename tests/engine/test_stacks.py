"""Stacks through the CLI: `search --json` and `similar --json` show one result per stack of copies, with
the copies listed under it ("stack"), in text search and in find-similar alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.cli.main import main
from testkit.dupe_edits import caltech_photos, save_edit

PHOTOS = caltech_photos()
needs_photos = pytest.mark.skipif(not PHOTOS, reason="shared/assets/data/caltech101_subset is not here")


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    return data["results"] if isinstance(data, dict) else data


def _tops_and_stacks(results: list[dict]) -> dict[str, list[str]]:
    return {Path(r["path"]).name: [Path(s["path"]).name for s in r["stack"]] for r in results}


@needs_photos
def test_search_and_similar_json_list_the_stacked_copies_under_the_shown_one(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "photos"
    d.mkdir()
    by_class: dict[str, list[Path]] = {}
    for p in PHOTOS:
        by_class.setdefault(p.parent.name, []).append(p)
    classes = [c for c in sorted(by_class) if c not in {"octopus", "lobster", "grand_piano"}][:3]
    shutil.copy(by_class[classes[0]][0], d / "orig.jpg")
    save_edit(by_class[classes[0]][0], "resize", d / "orig_small.jpg")
    save_edit(by_class[classes[0]][0], "mirror", d / "orig_mirror.jpg")
    shutil.copy(by_class[classes[1]][0], d / "other.jpg")
    shutil.copy(by_class[classes[2]][0], d / "third.jpg")
    code = main(["index", str(d)])
    capsys.readouterr()
    assert code == 0
    copies = {"orig.jpg", "orig_small.jpg", "orig_mirror.jpg"}

    def check(results: list[dict], others: set[str]) -> None:
        shown = _tops_and_stacks(results)
        heads = [n for n in shown if n in copies]
        assert len(heads) == 1, shown  # one result for the three copies
        assert set(shown[heads[0]]) | {heads[0]} == copies
        # Every stacked copy is a full result of its own (path, kind, score), not just a name.
        stacked = next(r for r in results if Path(r["path"]).name == heads[0])["stack"]
        assert all({"path", "kind", "score", "file_id"} <= s.keys() for s in stacked)
        assert others <= set(shown)
        assert all(not shown[n] for n in others)

    check(_json(capsys, "search", "a photo", "--json", "--limit", "20"), {"other.jpg", "third.jpg"})
    # Find-similar leaves the example out and stacks the rest the same way.
    check(_json(capsys, "similar", str(d / "other.jpg"), "--json", "--limit", "20"), {"third.jpg"})
