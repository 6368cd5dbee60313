"""Fixtures for router integration tests: a real nginx, real HTTP backends on loopback.

Every process and thread started here is stopped at teardown.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.integration.router.router_harness import (
    NGINX,
    Backend,
    BackendServer,
    Handler,
    Reply,
    free_port,
    request,
    started_router,
)

from xae.config import Settings
from xae.router import NginxRouter


@pytest.fixture
def backend() -> Iterator[Callable[[str, str], Backend]]:
    """`backend(name, ip)` starts an HTTP server on `ip` (a 127.0.0.x address)."""
    started: list[Backend] = []

    def start(name: str, ip: str = "127.0.0.2") -> Backend:
        server = BackendServer((ip, 0), Handler)
        server.name = name
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"backend-{name}",
            daemon=True,
        )
        thread.start()
        started.append(Backend(name, server, thread))
        return started[-1]

    yield start
    for b in started:
        b.close()


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A private (0700) state dir, as xae makes its own: workers still run as `nobody`."""
    path = Path(tempfile.mkdtemp(prefix="xae-router-test-"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def settings(state_dir: Path) -> Settings:
    return Settings(
        state_dir=state_dir,
        router_host="127.0.0.1",
        router_port=free_port(),
        tls_port=free_port(),
        base_domain="localhost",
        nginx_bin=NGINX,
    )


@pytest.fixture
def router(settings: Settings) -> Iterator[NginxRouter]:
    """A started router on a free port, stopped (or killed) at teardown."""
    with started_router(settings) as r:
        yield r


@pytest.fixture
def get(settings: Settings) -> Callable[..., Reply]:
    def _get(host: str, path: str = "/", **kwargs: object) -> Reply:
        return request(settings.router_port, host, path, **kwargs)  # type: ignore[arg-type]

    return _get
