"""Shared fixtures of the builder's integration tests: the real Docker engine, the stack images
a module needs, its builds on a plane of its own (its module's `settings` fixture), and a real
registry of the test's own."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[str]:
    """A real registry (Debian's docker-registry, installed by `make k8s-up`, which `make test`
    runs first) on a free loopback
    port, with its storage in tmp_path; stopped after the test. The engine pulls from a
    loopback registry over plain HTTP without configuration."""
    port = _free_port()
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        "log:\n  level: error\n"
    )
    try:
        process = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        pytest.fail("docker-registry is not installed: `make k8s-up` installs it")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the test registry did not start")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
