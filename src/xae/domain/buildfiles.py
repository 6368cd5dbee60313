"""The one gate for an app's Dockerfile path (`xae apps:update --dockerfile deploy/Dockerfile`).

The path is stored on the app and later names a file inside a tenant's source tree, so it is
checked when it is set, not when a build trips over it: relative, inside the tree (no `..`, no
leading `/`), plain printable characters, a bounded length. Whether the file exists is known only
at build time (`xae.builder.build` says so clearly then).
"""

from __future__ import annotations

import re

from xae.errors import InvalidInput

MAX_LENGTH = 256
DEFAULT = "Dockerfile"
_PATH = re.compile(r"^[A-Za-z0-9_.+@-]+(/[A-Za-z0-9_.+@-]+)*$")


def validate_dockerfile_path(path: str) -> str:
    """`path` normalized (no `./`), or InvalidInput saying what is wrong and what to use."""
    shown = path[:60]
    if path.startswith("/"):
        raise InvalidInput(
            f"Dockerfile path {shown!r} is absolute; give it relative to the app's top "
            "directory, e.g. deploy/Dockerfile"
        )
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(
            f"Dockerfile path {shown!r} leaves the app's source ('..'); give a path inside it, "
            "e.g. deploy/Dockerfile"
        )
    normalized = "/".join(parts)
    if not normalized or len(normalized) > MAX_LENGTH or not _PATH.match(normalized):
        raise InvalidInput(
            f"Dockerfile path {shown!r} is not valid: use letters, digits and . _ - + @ in "
            f"'/'-separated parts, at most {MAX_LENGTH} characters, e.g. deploy/Dockerfile"
        )
    return normalized
