"""Which way to build a source tree: its own Dockerfile, or one of xae's stacks.

Detection looks only at well-known file names in the top directory, in a fixed order, so a
user can always predict (and force, by adding a Dockerfile) what happens. It reads no file
contents, follows no link out of the tree (`sourcefiles`) and runs nothing from the upload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from xae.builder import sourcefiles
from xae.errors import BuildFailed

BuildMode = Literal["dockerfile", "python", "node", "static"]

# (mode, the files that select it), first match wins.
RULES: tuple[tuple[BuildMode, tuple[str, ...]], ...] = (
    ("dockerfile", ("Dockerfile",)),
    ("python", ("requirements.txt", "pyproject.toml")),
    ("node", ("package.json",)),
    ("static", ("index.html",)),
)


def detect(src: Path) -> BuildMode:
    """The build mode for the source tree at `src`; BuildFailed if nothing matches."""
    for mode, names in RULES:
        if any(sourcefiles.is_file(src, name) for name in names):
            return mode
    looked_for = "; ".join(f"{' or '.join(names)} ({mode})" for mode, names in RULES)
    hint = ""
    entries = [p for p in src.iterdir() if not p.name.startswith(".")] if src.is_dir() else []
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        hint = (
            f" The source has a single directory {entries[0].name!r} at its top: create the "
            f"archive from inside it, e.g. `tar -C {entries[0].name} -czf app.tar.gz .`."
        )
    raise BuildFailed(
        f"cannot tell how to build this app: xae looks in the top directory for {looked_for}. "
        f"Add one of them.{hint}"
    )
