"""The deploy pipeline's stand-ins for unit tests: a static site as the uploaded tarball, and a
fake `build_image` that returns what a static build would, without Docker.

Tests install the fake with `monkeypatch.setattr(BUILD_IMAGE, fake_build(...))`; the build
service's own tests (queue, cancel, timeout) gate it further (`test_codecenter_builds.py`).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xae.builder.build import BuiltImage
from xae.errors import BuildFailed

BUILD_IMAGE = "xae.codecenter.deploy.build_image"
"""Where the pipeline looks its builder up (what a test patches)."""

PAGE = b"<html>hi</html>\n"

BuildFn = Callable[..., BuiltImage]


def static_tarball(page: bytes = PAGE) -> io.BytesIO:
    """An upload as `xae deploy DIR` sends it: a gzipped tar of one `index.html`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("index.html")
        info.size = len(page)
        tar.addfile(info, io.BytesIO(page))
    buffer.seek(0)
    return buffer


def built_image(app: str, tag: str) -> BuiltImage:
    """What a static build of `app` tagged `tag` returns."""
    return BuiltImage(
        image_id="sha256:1",
        ref=f"xae/app-{app}:{tag}",
        stack="static",
        processes={"web": "serve-static"},
        port=None,
    )


def fake_build(
    log_lines: Sequence[str] = (),
    *,
    fail: bool = False,
    check: Callable[[Path], None] | None = None,
) -> BuildFn:
    """A `build_image` that logs `log_lines`, then fails (`fail`) or returns `built_image`;
    `check` sees the unpacked source first."""

    def build(client: object, src: Path, *, app: str, tag: str, log: Any, **_: Any) -> BuiltImage:
        if check is not None:
            check(src)
        for line in log_lines:
            log(line)
        if fail:
            raise BuildFailed("the build failed: pip could not install the requirements")
        return built_image(app, tag)

    return build
