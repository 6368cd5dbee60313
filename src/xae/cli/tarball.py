"""Pack a source directory into the gzip tarball that `xae deploy` uploads.

What goes in follows git's own rules so users get no surprises: patterns from `.gitignore` and
`.xaeignore` at the directory's root (git wildmatch semantics via `pathspec`), and `.git/`
always left out. Files keep their modes (an executable `bin/start` stays executable) and
symlinks stay symlinks: the CLI never follows a link, so it cannot pack files from outside the
directory; the server decides what links it accepts. Owner names and ids are cleared, as they
mean nothing on the server.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pathspec

IGNORE_FILES = (".gitignore", ".xaeignore")
ALWAYS_IGNORED = (".git/",)


@dataclass(frozen=True)
class Packed:
    files: int
    """Entries that are not directories (regular files and symlinks)."""

    size: int
    """Bytes of the compressed tarball."""


def ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    lines: list[str] = list(ALWAYS_IGNORED)
    for name in IGNORE_FILES:
        path = root / name
        if path.is_file():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return pathspec.GitIgnoreSpec.from_lines(lines)


def collect(root: Path) -> list[str]:
    """Relative POSIX paths to pack, sorted, directories before their contents.

    Directories end without a slash; an ignored directory is pruned whole (git cannot
    re-include a file inside an ignored directory either).
    """
    spec = ignore_spec(root)
    entries: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath).relative_to(root)
        prefix = "" if base == Path(".") else base.as_posix() + "/"
        kept_dirs: list[str] = []
        for name in sorted(dirnames):
            rel = prefix + name
            if os.path.islink(os.path.join(dirpath, name)):
                # A link to a directory is packed as a link, never walked into.
                if not spec.match_file(rel):
                    entries.append(rel)
            elif not spec.match_file(rel + "/"):
                entries.append(rel)
                kept_dirs.append(name)
        dirnames[:] = kept_dirs
        entries.extend(
            prefix + name for name in sorted(filenames) if not spec.match_file(prefix + name)
        )
    return sorted(entries)


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack(root: Path, fileobj: IO[bytes], entries: list[str] | None = None) -> Packed:
    """Write the tarball of `root` to `fileobj` (left at its end); returns what was packed."""
    entries = collect(root) if entries is None else entries
    files = 0
    start = fileobj.tell()
    with tarfile.open(fileobj=fileobj, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for rel in entries:
            found = tar.gettarinfo(str(root / rel), arcname=rel)  # lstat: links stay links
            if found is None or not (
                found.isreg() or found.islnk() or found.isdir() or found.issym()
            ):
                continue  # sockets, fifos, devices: nothing an app build can use
            info = _anonymous(found)
            if info.islnk():
                # A second name for a file already packed: pack it as a plain file, so the
                # server only ever sees regular files, directories and symlinks.
                info.type = tarfile.REGTYPE
                info.linkname = ""
                info.size = os.lstat(root / rel).st_size
            if info.isreg():
                with open(root / rel, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if not info.isdir():
                files += 1
    return Packed(files=files, size=fileobj.tell() - start)
