"""Pulling an app's image on the real Docker engine: a registry that answers with an error gets
its failure named by kind, and its response body (which whoever runs the registry writes)
never reaches the error a user or a log sees. The registry is a small HTTP server on loopback
that answers every request with a recognisable secret."""

from __future__ import annotations

import http.server
import secrets
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from xae.docker_client import DockerConnection
from xae.errors import RuntimeFailure
from xae.runtime.base import InstanceSpec
from xae.runtime.docker.backend import DockerRuntime

pytestmark = pytest.mark.integration

SECRET = f"SECRET-{secrets.token_hex(8)}"


@dataclass
class SecretRegistry:
    port: int
    status: int = 404
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def registry() -> Iterator[SecretRegistry]:
    state = SecretRegistry(port=0)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(f"{self.command} {self.path}")
            body = f'{{"errors":[{{"code":"X","message":"{SECRET}"}}]}}'.encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            return None  # the engine first tries TLS, which this server cannot parse

        def log_error(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime(DockerConnection().client(), plane=f"it{secrets.token_hex(3)}")
    try:
        yield rt
    finally:
        rt.remove_app("pull")


def _spec(image: str) -> InstanceSpec:
    return InstanceSpec(
        app="pull",
        process="web",
        release=1,
        image=image,
        command="",
        env={},
        port=5000,
        memory_bytes=64 * 1024**2,
        cpus=0.5,
        pids_limit=64,
        spec_hash="h",
    )


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (404, "answered with an error (not shown)"),
        (401, "answered with an error (not shown)"),
        (500, "answered with an error (not shown)"),
    ],
)
def test_a_registrys_error_body_never_reaches_the_start_failure(
    registry: SecretRegistry, runtime: DockerRuntime, status: int, says: str
) -> None:
    registry.status = status
    image = f"127.0.0.1:{registry.port}/x:v1"

    with pytest.raises(RuntimeFailure) as raised:
        runtime.start(_spec(image))

    assert registry.requests, "the engine never asked the registry"
    message = raised.value.message
    assert message.startswith(f"the image {image} cannot be pulled: ")
    assert says in message
    assert SECRET not in message
    logged = "".join(traceback.format_exception(raised.value))  # what `log.exception` writes
    assert SECRET not in logged
    assert runtime.list_instances("pull") == []


def test_an_unreachable_registry_is_named_as_such(runtime: DockerRuntime) -> None:
    with pytest.raises(RuntimeFailure, match="cannot be reached"):
        runtime.start(_spec("127.0.0.1:9/x:v1"))
