"""The library's link policy (engine.indexing.scan.LinkPolicy), which the scan and the watcher share:
links to content outside the library folders are followed, links into them (a parent, a sibling, a
file) are not, so every file is indexed once, under its real path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.indexing.scan import LinkPolicy, walk_media
from tests.media import save_photo

pytestmark = pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="needs symlinks")


def names(root: Path, folders: list[Path]) -> list[str]:
    links = LinkPolicy(folders)
    return sorted(os.path.relpath(p, root) for p, _, _ in walk_media(root, [], links=links))


def test_links_into_the_library_are_not_followed_and_links_out_of_it_are(tmp_path: Path) -> None:
    lib, other, far = tmp_path / "lib", tmp_path / "lib2", tmp_path / "far"
    save_photo(lib / "a.jpg", 1)
    save_photo(lib / "sub" / "b.jpg", 2)
    save_photo(other / "c.jpg", 3)
    save_photo(far / "d.jpg", 4)
    (lib / "sub" / "up").symlink_to("..", target_is_directory=True)  # the library's own folder
    (lib / "sub" / "top").symlink_to(tmp_path, target_is_directory=True)  # holds the library
    (lib / "again").symlink_to(lib / "sub", target_is_directory=True)  # a sibling inside it
    (lib / "copy.jpg").symlink_to(lib / "a.jpg")  # a file inside it
    (lib / "other").symlink_to(other, target_is_directory=True)  # another library folder
    (lib / "far").symlink_to(far, target_is_directory=True)  # a folder elsewhere: followed
    (lib / "far.jpg").symlink_to(far / "d.jpg")  # a file elsewhere: followed
    (lib / "broken.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (far / "back").symlink_to(lib, target_is_directory=True)  # from the followed folder, back in

    assert names(lib, [lib, other]) == ["a.jpg", "far.jpg", "far/d.jpg", "sub/b.jpg"]
    # Walking a subfolder alone (what the watcher does for a new folder) finds nothing more: the link to
    # its parent was what indexed the whole library again (issue 12, row 3).
    assert names(lib / "sub", [lib, other]) == ["b.jpg"]
    # With lib2 not in the library, a link to it is a link elsewhere.
    assert "other/c.jpg" in names(lib, [lib])


def test_a_loop_of_links_outside_the_library_is_walked_once(tmp_path: Path) -> None:
    lib, far = tmp_path / "lib", tmp_path / "far"
    save_photo(lib / "a.jpg", 1)
    save_photo(far / "d.jpg", 2)
    (far / "loop").symlink_to(far, target_is_directory=True)
    (lib / "far").symlink_to(far, target_is_directory=True)
    assert names(lib, [lib]) == ["a.jpg", "far/d.jpg"]
    assert not LinkPolicy([lib]).follows(str(tmp_path / "missing"))
