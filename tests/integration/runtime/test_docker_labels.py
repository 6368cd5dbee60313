"""A tenant's image cannot pass its instances off as one-offs on the real Docker engine. A
container inherits its image's labels, so an image built with `LABEL xae.oneoff=run` would
otherwise hide its instances from the runtime's listing (the reconciler would start more, on
and on) and hand them to the one-off clean-up and GC."""

from __future__ import annotations

import io
import secrets
import tarfile
from collections.abc import Iterator

import docker
import pytest

from xae.docker_client import DockerConnection
from xae.runtime.base import InstanceSpec
from xae.runtime.docker.backend import DockerRuntime

pytestmark = pytest.mark.integration

ROOTFS = "xae/rootfs:bookworm"


@pytest.fixture
def image() -> Iterator[str]:
    client = docker.from_env()
    ref = f"xae-it/oneoff-label:{secrets.token_hex(3)}"
    dockerfile = f"FROM {ROOTFS}\nLABEL xae.oneoff=run xae.oneoff-name=fake\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=ref, rm=True)
    try:
        yield ref
    finally:
        client.images.remove(ref, force=True)


@pytest.fixture
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime(DockerConnection().client(), plane=f"it{secrets.token_hex(3)}")
    try:
        yield rt
    finally:
        rt.remove_app("labels")


def test_an_image_labelled_as_a_one_off_still_runs_a_listed_instance(
    runtime: DockerRuntime, image: str
) -> None:
    spec = InstanceSpec(
        app="labels",
        process="web",
        release=1,
        image=image,
        command="sleep 300",
        env={},
        port=None,
        memory_bytes=64 * 1024**2,
        cpus=0.5,
        pids_limit=64,
        spec_hash="h",
    )
    started = runtime.start(spec)
    assert [i.id for i in runtime.list_instances("labels")] == [started.id]
    assert runtime.prune_oneoffs() == 0
    assert [i.id for i in runtime.list_instances("labels")] == [started.id]
