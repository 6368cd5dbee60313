"""Shared fixtures of the builder's integration tests: the real Docker engine."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors
import pytest


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
