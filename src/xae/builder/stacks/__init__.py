"""One module per language stack, in the spirit of piku's one function per runtime.

Each stack module answers two questions about a source tree and nothing else: what Dockerfile
builds it on top of the stack image (`dockerfile`), and what runs as `web` when the app has no
Procfile (`default_command`). They render text only; they never touch Docker or write files, so
they are tested without a daemon. `xae.builder.build` is the one place that runs builds.

Every stack Dockerfile follows the same order, for the build cache: dependency manifests and the
dependency install first, then `COPY --chown=10001:10001 . /app`, then `USER 10001`. A code-only
change therefore reuses the dependency layer and a warm redeploy takes seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from xae.domain.policy import APP_UID
from xae.errors import BuildFailed

COPY_APP = f"COPY --chown={APP_UID}:{APP_UID} . /app"
RUN_AS_APP = f"USER {APP_UID}"


class Stack(Protocol):
    """What every stack module provides (a module satisfies this Protocol structurally)."""

    IGNORE: tuple[str, ...]
    """`.dockerignore` patterns the stack adds, e.g. a local `node_modules`."""

    def dockerfile(self, src: Path, base_image: str) -> str:
        """The Dockerfile text that builds `src` on the stack image `base_image`."""
        ...

    def default_command(self, src: Path) -> str:
        """The `web` command when the app has no Procfile; BuildFailed if there is none."""
        ...


def no_default_command(stack: str, looked_for: str) -> BuildFailed:
    """The error for a stack app that has neither a Procfile nor a file we know how to run."""
    return BuildFailed(
        f"no Procfile, and xae cannot guess how to start this {stack} app (it looks for "
        f"{looked_for}). Add a Procfile with a web process, e.g. `web: <command that listens "
        "on $PORT>`"
    )
