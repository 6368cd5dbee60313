"""Looking at the app's own files (Procfile, manifests, .dockerignore) as untrusted data.

The build planning runs as root on this machine, before anything is isolated in a container,
so every look at a file of the source tree goes through here. A name is resolved to its real
path and refused if that leaves the tree, so a link can never make xae read a host file (the
upload gate already refuses such links; this is the second line). The bytes read are data:
errors name the file and, where it helps, a line number, but never quote the content, which
could be a host secret if the first line ever failed.

What it must never do: follow a link out of the tree, write anything, or put file content into
an error message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from xae.errors import BuildFailed, XaeError

MAX_READ_BYTES = 8 * 1024 * 1024
"""Largest file xae reads to plan a build (a Procfile, a manifest, a module to serve)."""


def locate(src: Path, name: str) -> Path | None:
    """The real path of regular file `name` (relative to `src`), or None if there is none.

    Links inside the tree are followed; BuildFailed if the name leads outside `src`.
    """
    if "\0" in name:
        return None  # no file name holds a NUL (a manifest may name one anyway)
    root = os.path.realpath(src)
    real = os.path.realpath(os.path.join(root, name))
    if real != root and not real.startswith(root + os.sep):
        raise BuildFailed(
            f"{name} in the source leads outside it (through a link or '..'); xae reads only "
            "files inside the app: replace the link with the file itself"
        )
    try:
        info = os.lstat(real)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise BuildFailed(f"cannot look at {name} in the source: {e.strerror}") from e
    if stat.S_ISLNK(info.st_mode):
        raise BuildFailed(f"{name} in the source is a link that never reaches a file (a loop?)")
    return Path(real) if stat.S_ISREG(info.st_mode) else None


def is_file(src: Path, name: str) -> bool:
    """Whether `name` is a regular file inside `src` (following only links inside it)."""
    return locate(src, name) is not None


def read_bytes(src: Path, name: str, *, error: type[XaeError] = BuildFailed) -> bytes | None:
    """The content of regular file `name` inside `src`, or None if there is none."""
    path = locate(src, name)
    if path is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise error(f"cannot read {name} in the source: {e.strerror}") from e
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            return None
        data = file.read(MAX_READ_BYTES + 1)
    if len(data) > MAX_READ_BYTES:
        raise error(
            f"{name} is larger than {MAX_READ_BYTES // (1024 * 1024)} MiB; xae reads it to plan "
            "the build, so keep it small"
        )
    return data


def read_text(src: Path, name: str, *, error: type[XaeError] = BuildFailed) -> str | None:
    """The UTF-8 text of regular file `name` inside `src`, or None if there is none.

    Raises `error` naming the file and line when it is not UTF-8 (without quoting the bytes).
    """
    data = read_bytes(src, name, error=error)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        # `from None`: the decode error's own text quotes the offending bytes.
        raise error(f"{name} line {line} is not UTF-8 text; save the file as UTF-8") from None
