"""Shared fixtures of the builder's integration tests: the real Docker engine, the stack images
a module needs, and its builds on a plane of its own (its module's `settings` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors
import pytest
from tests.integration.builder.test_builder_images import Builds

from xae.config import Settings


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    """A client of the real engine for the module's tests; fails (never skips) without one."""
    try:
        client = docker.from_env(version="auto")
        client.ping()
    except docker.errors.DockerException as e:
        pytest.fail(f"the Docker engine is not reachable ({e}): `make test` starts dockerd")
    yield client
    client.close()


def require_image(engine: docker.DockerClient, ref: str) -> None:
    """Fail (never skip) when a stack image the module builds from is missing."""
    try:
        engine.images.get(ref)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{ref} is missing: run `python -m xae.builder.images ensure` first")


@pytest.fixture(scope="module")
def builds(
    engine: docker.DockerClient,
    settings: Settings,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Builds]:
    """The module's builds, on the plane its `settings` fixture names; removed afterwards."""
    builds = Builds(engine, settings, tmp_path_factory.mktemp(request.module.__name__))
    yield builds
    builds.cleanup()
