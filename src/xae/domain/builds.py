"""Where a build's source came from, carried from the front door (an upload, a git push, an
image reference) through the build service to the release it becomes.

A release made from a git push records the pushed commit, so `xae releases` can say which code
runs; the description a release gets is derived here, in one place, for every kind of source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SourceKind = Literal["upload", "git", "image"]


@dataclass(frozen=True)
class BuildSource:
    """What a build is made from."""

    kind: SourceKind = "upload"
    commit: str | None = None
    """The full sha of the pushed commit (git pushes)."""
    message: str | None = None
    """The first line of that commit's message."""
    branch: str | None = None
    """The branch that was pushed (git pushes)."""

    def describe(self, build_id: int, stack: str) -> str:
        """The description of the release a succeeded build of this source becomes."""
        if self.kind == "git" and self.commit:
            subject = (self.message or "").splitlines()[0] if self.message else ""
            text = f"Deploy {self.commit[:7]}"
            return f"{text}: {subject}"[:256] if subject else text
        return f"Deploy build {build_id} ({stack})"


UPLOAD = BuildSource()
