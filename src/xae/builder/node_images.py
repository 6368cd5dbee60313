"""The `xae/stack-node-<major>` images: Node.js from the npm registry's binaries.

`ensure` (called by `python -m xae.builder.images ensure`, so by `make up`) builds one image per
registry runtime of `xae.builder.node_versions` from the verified, cached tarballs. Each image is
tagged with a hash of its Dockerfile, the base image's tag and the pinned hashes, so it is rebuilt
exactly when one of them changes. Debian's Node (`xae/stack-node`) stays with `xae.builder.images`.

What it must never do: put a tarball into an image that `node_versions.fetch` did not verify.
"""

from __future__ import annotations

import hashlib

import docker

from xae.builder import images
from xae.builder.node_versions import (
    COREPACK,
    NPM,
    NPM_REGISTRY,
    RUNTIMES,
    Log,
    NodeRuntime,
    fetch,
)
from xae.config import Settings

TEMPLATE = images.HERE / "node-registry"


def image_tag(runtime: NodeRuntime, settings: Settings) -> str:
    """The content tag of `runtime`'s image."""
    pins = "\n".join(t.integrity for t in (runtime.node, NPM, COREPACK) if t is not None).encode()
    extra = images.base_tag(settings).encode() + hashlib.sha256(pins).digest()
    return images._hash_dir(TEMPLATE, extra)


def image_for(runtime: NodeRuntime, settings: Settings) -> str:
    """The exact image a node build on `runtime` starts from."""
    if runtime.node is None:
        return images.stack_image("node", settings)
    return f"{runtime.image_name}:{image_tag(runtime, settings)}"


def ensure(settings: Settings, client: docker.DockerClient, log: Log = print) -> None:
    """Build every registry Node image that is missing or out of date."""
    base = images.base_tag(settings)
    for runtime in RUNTIMES:
        if runtime.node is None:
            continue
        tag = image_tag(runtime, settings)
        if images._exists(client, f"{runtime.image_name}:{tag}"):
            continue
        tarballs = {
            "node.tgz": fetch(runtime.node, log=log),
            "npm.tgz": fetch(NPM, log=log),
            "corepack.tgz": fetch(COREPACK, log=log),
        }
        context = images._context(
            TEMPLATE, {"base_tag": base, "npm_registry": NPM_REGISTRY}, tarballs
        )
        images._build(client, runtime.image_name, tag, lambda: context, log)  # noqa: B023
