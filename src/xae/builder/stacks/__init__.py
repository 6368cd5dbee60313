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

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from xae.domain.policy import APP_UID
from xae.errors import BuildFailed

COPY_APP = f"COPY --chown={APP_UID}:{APP_UID} . /app"
RUN_AS_APP = f"USER {APP_UID}"
LABELS_AT = "# xae: labels"
"""Where a multi-stage stack Dockerfile wants the app's labels (in its final stage); without
this line they go just before the first `COPY_APP`."""


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


@dataclass(frozen=True)
class StackImages:
    """The images a versioned stack's build uses: the chosen version's run image and, when the
    stack has one, its build image (compiler and headers) for a multi-stage build."""

    version: str
    run: str
    build: str | None


class VersionedStack(Stack, Protocol):
    """A stack offering several language versions (`xae.builder.images.VERSIONS`).

    The build asks it which offered version the app gets, then for the Dockerfile on those
    images; it also says, for the build log, why it chose the default web command."""

    def pick_version(self, src: Path, offered: Sequence[str]) -> tuple[str, str]:
        """(the version to build with, a short note for the build log saying why);
        BuildFailed naming the file and listing `offered` when none fits."""
        ...

    def versioned_dockerfile(self, src: Path, images: StackImages) -> str:
        """The Dockerfile text that builds `src` with `images`."""
        ...

    def default_reason(self, src: Path) -> str:
        """Why `default_command` chose what it chose, e.g. `detected Django`."""
        ...
