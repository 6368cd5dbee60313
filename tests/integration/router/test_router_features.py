"""Per-app route settings and pass-through behaviour, against a real nginx + Lua."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
from tests.integration.router.router_harness import Backend, Reply

from xae.config import Settings
from xae.router import NginxRouter, Route

pytestmark = pytest.mark.integration

Get = Callable[..., Reply]
StartBackend = Callable[..., Backend]


def test_a_body_over_the_apps_max_body_is_refused_with_413(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.update([Route("web", ["web.localhost"], [web.address], max_body=1000)], [])
    assert get("web.localhost", method="POST", body=b"x" * 1000).json()["body_len"] == 1000
    assert get("web.localhost", method="POST", body=b"x" * 1001).status == 413
    router.update([Route("web", ["web.localhost"], [web.address])], [])
    assert get("web.localhost", method="POST", body=b"x" * 5000).status == 200


def test_redirect_https_answers_308_to_the_tls_port(
    router: NginxRouter, backend: StartBackend, get: Get, settings: Settings
) -> None:
    web = backend("web")
    router.update([Route("web", ["web.localhost"], [web.address], redirect_https=True)], [])
    reply = get("web.localhost", "/a/b?c=1")
    assert reply.status == 308
    assert reply.headers["location"] == f"https://web.localhost:{settings.tls_port}/a/b?c=1"


def test_the_apps_read_timeout_bounds_a_slow_response(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.update([Route("web", ["web.localhost"], [web.address], read_timeout=1)], [])
    assert get("web.localhost", "/sleep/0.1").status == 200
    slow = get("web.localhost", "/sleep/3", timeout=15)
    assert slow.status == 504


def test_spoofed_forwarding_headers_are_not_trusted(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    web = backend("web")
    router.update([Route("web", ["web.localhost"], [web.address])], [])
    seen = get(
        "web.localhost",
        headers={
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "X-Real-IP": "6.6.6.6",
        },
    ).json()["headers"]
    assert isinstance(seen, dict)
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-real-ip"] == "127.0.0.1"


def test_an_upgrade_passes_through_and_survives_other_apps_changes(
    router: NginxRouter, backend: StartBackend, settings: Settings
) -> None:
    ws, other = backend("ws", "127.0.0.2"), backend("other", "127.0.0.3")
    router.update([Route("ws", ["ws.localhost"], [ws.address])], [])
    with socket.create_connection(("127.0.0.1", settings.router_port), timeout=5) as sock:
        sock.sendall(
            b"GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n"
        )
        handshake = b""
        while b"\r\n\r\n" not in handshake and len(handshake) < 4096:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed during the handshake: {handshake!r}"
            handshake += chunk
        assert handshake.startswith(b"HTTP/1.1 101"), handshake
        for i in range(5):
            router.update([Route(f"o{i}", [f"o{i}.localhost"], [other.address])], [])
        sock.sendall(b"hello\n")
        echoed = b""
        while not echoed.endswith(b"\n") and len(echoed) < 100:
            chunk = sock.recv(100)
            if not chunk:
                break
            echoed += chunk
        assert echoed == b"echo:hello\n"
