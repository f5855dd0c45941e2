"""Scanning folders: extensions in any case, hidden and own folders skipped, symlinks kept inside."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ingest_gui.core.scanning import scan_paths
from tests.conftest import photo_files


def _names(entries: list) -> set[str]:
    return {e.path.name for e in entries if e.problem is None}


def test_finds_every_sample_photo(photos: Path) -> None:
    entries = list(scan_paths([photos]))
    assert sorted(e.path for e in entries) == photo_files(photos)
    assert all(e.problem is None for e in entries)


def test_case_content_hidden_and_own_data(tmp_path: Path, photos_dir: Path) -> None:
    src = photos_dir / "jpg" / "Canon_40D.jpg"
    root = tmp_path / "lib"
    (root / ".thumbnails").mkdir(parents=True)
    (root / "appdata").mkdir()
    shutil.copyfile(src, root / "UPPER.JPEG")
    shutil.copyfile(src, root / "no_extension")
    shutil.copyfile(src, root / ".thumbnails" / "t.jpg")
    shutil.copyfile(src, root / "appdata" / "x.jpg")
    (root / "notes.txt").write_text("hello")
    (root / "README").write_text("plain text without extension")
    entries = list(scan_paths([root], skip_dirs=[root / "appdata"]))
    assert _names(entries) == {"UPPER.JPEG", "no_extension"}


def test_symlinks_inside_followed_outside_reported(tmp_path: Path, photos_dir: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(photos_dir / "jpg" / "Canon_40D.jpg", outside / "secret.jpg")
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    shutil.copyfile(photos_dir / "jpg" / "Nikon_D70.jpg", root / "sub" / "a.jpg")
    os.symlink(root / "sub" / "a.jpg", root / "link_inside.jpg")
    os.symlink(outside / "secret.jpg", root / "link_out.jpg")
    os.symlink(outside, root / "dir_out")
    os.symlink(root, root / "sub" / "loop")  # a folder loop
    os.symlink(root / "gone.jpg", root / "broken.jpg")
    entries = list(scan_paths([root]))
    assert _names(entries) == {"a.jpg", "link_inside.jpg"}
    problems = {e.path.name: e.problem for e in entries if e.problem}
    assert "outside the folder" in problems["link_out.jpg"]
    assert "broken" in problems["broken.jpg"]
    assert "secret.jpg" not in {e.path.name for e in entries}
