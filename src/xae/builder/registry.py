"""Pushing built images to the registry a cluster pulls from (the kubernetes backend).

The docker backend runs images where they were built; a cluster's nodes pull them, so each
build is tagged `<registry>/<ref>` and pushed once, and the release records that reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from xae.errors import BuildFailed


def push_image(
    client: docker.DockerClient, ref: str, registry: str, log: Callable[[str], None]
) -> str:
    """Push the local image `ref` to `registry`; return the reference pods pull."""
    target = f"{registry}/{ref}"
    repository, tag = target.rsplit(":", 1)
    try:
        client.api.tag(ref, repository, tag)
        log(f"-----> pushing {target}")
        stream: Any = client.api.push(repository, tag=tag, stream=True, decode=True)
        for line in stream:
            if "error" in line:
                raise BuildFailed(
                    f"the registry {registry} refused {target}: {line['error']}; check that it "
                    "runs (`make k8s-up` starts one) and that XAE_REGISTRY is right"
                )
    except docker.errors.APIError as e:
        raise BuildFailed(
            f"could not push {target} to {registry}: {e.explanation or e}; check that the "
            "registry runs (`make k8s-up` starts one) and that XAE_REGISTRY is right"
        ) from e
    return target
