"""What `xae deploy` packs: git's ignore rules, no `.git/`, modes and symlinks preserved."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

from xae.cli import tarball


def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def _members(root: Path) -> dict[str, tarfile.TarInfo]:
    buffer = io.BytesIO()
    tarball.pack(root, buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer, mode="r:gz") as tar:
        return {member.name: member for member in tar.getmembers()}


def test_gitignore_xaeignore_and_git_dir_are_excluded(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            ".gitignore": "*.pyc\nbuild/\n!keep.pyc\n",
            ".xaeignore": "/secrets.txt\ndocs/\n",
            "app.py": "print('hi')",
            "cache.pyc": "x",
            "keep.pyc": "x",
            "build/out.bin": "x",
            "src/build/gen.py": "x",
            "src/secrets.txt": "nested, not anchored: kept",
            "secrets.txt": "x",
            "docs/index.md": "x",
            ".git/HEAD": "ref: refs/heads/main",
            "sub/.git/config": "x",
        },
    )
    names = set(tarball.collect(tmp_path))
    assert names == {
        ".gitignore",
        ".xaeignore",
        "app.py",
        "keep.pyc",
        "src",
        "src/secrets.txt",
        "sub",
    }


def test_symlinks_stay_symlinks_and_modes_are_kept(tmp_path: Path) -> None:
    _tree(tmp_path, {"bin/start": "#!/bin/sh\n", "data/a.txt": "a"})
    (tmp_path / "bin" / "start").chmod(0o755)
    (tmp_path / "link.txt").symlink_to("data/a.txt")
    (tmp_path / "datalink").symlink_to("data", target_is_directory=True)
    (tmp_path / "outside").symlink_to("/etc/passwd")

    members = _members(tmp_path)

    assert members["link.txt"].issym() and members["link.txt"].linkname == "data/a.txt"
    assert members["datalink"].issym() and members["datalink"].linkname == "data"
    assert "datalink/a.txt" not in members  # a linked directory is never walked into
    assert members["outside"].issym() and members["outside"].size == 0
    assert stat.S_IMODE(members["bin/start"].mode) == 0o755
    assert members["bin"].isdir()
    assert all(m.uid == 0 and m.uname == "" for m in members.values())


def test_pack_reports_files_not_directories(tmp_path: Path) -> None:
    _tree(tmp_path, {"a/b/c.txt": "c", "d.txt": "d"})
    buffer = io.BytesIO()
    packed = tarball.pack(tmp_path, buffer)
    assert packed.files == 2
    assert packed.size == len(buffer.getvalue())


def test_hard_links_are_packed_as_plain_files(tmp_path: Path) -> None:
    _tree(tmp_path, {"a.txt": "same"})
    os.link(tmp_path / "a.txt", tmp_path / "b.txt")
    members = _members(tmp_path)
    assert members["a.txt"].isreg() and members["b.txt"].isreg()
    assert members["b.txt"].size == 4
