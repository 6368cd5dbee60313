"""Weighted splits between releases and sticky assignment, against a real nginx + Lua."""

from __future__ import annotations

import http.client
import json
import time
from collections import Counter
from collections.abc import Callable

import pytest
from tests.integration.router.router_harness import Backend, Reply

from xae.config import Settings
from xae.router import NginxRouter, Route
from xae.router import process as router_process
from xae.router.base import Backend as Split

pytestmark = pytest.mark.integration

Get = Callable[..., Reply]
StartBackend = Callable[..., Backend]


def shares(port: int, host: str, total: int, connections: int = 4) -> Counter[str]:
    """`total` requests over a few kept-alive connections (bounded in time too)."""
    seen: Counter[str] = Counter()
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=5) for _ in range(connections)]
    deadline = time.monotonic() + 120
    try:
        for i in range(total):
            assert time.monotonic() < deadline, f"only {i} requests in 120s"
            conn = conns[i % connections]
            conn.request("GET", "/", headers={"Host": host})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body[:200]
            seen[str(json.loads(body)["name"])] += 1
    finally:
        for conn in conns:
            conn.close()
    return seen


def test_a_split_over_10000_requests_is_within_2_points_of_the_weights(
    router: NginxRouter, backend: StartBackend, settings: Settings
) -> None:
    v7 = [backend("v7.a", "127.0.0.2"), backend("v7.b", "127.0.0.3")]
    v8 = [backend("v8.a", "127.0.0.4")]
    router.update(
        [
            Route(
                "web",
                ["web.localhost"],
                backends=[
                    Split("v7", 90, [b.address for b in v7]),
                    Split("v8", 10, [b.address for b in v8]),
                ],
            )
        ],
        [],
    )
    seen = shares(settings.router_port, "web.localhost", 10_000)
    to_v8 = seen["v8.a"] / 100
    to_v7 = (seen["v7.a"] + seen["v7.b"]) / 100
    assert abs(to_v8 - 10) <= 2 and abs(to_v7 - 90) <= 2, seen
    assert seen["v7.a"] and seen["v7.b"]  # both instances of v7 get its share


def test_sticky_splits_keep_a_client_on_its_release(
    router: NginxRouter, backend: StartBackend, get: Get
) -> None:
    one, two = backend("one", "127.0.0.2"), backend("two", "127.0.0.3")
    router.update(
        [
            Route(
                "web",
                ["web.localhost"],
                backends=[Split("v1", 50, [one.address]), Split("v2", 50, [two.address])],
                sticky=True,
            )
        ],
        [],
    )
    first = get("web.localhost")
    cookie = first.headers["set-cookie"].split(";")[0]
    name, _, release = cookie.partition("=")
    assert name == "xae_split_web" and release in ("v1", "v2")
    expected = "one" if release == "v1" else "two"
    for _ in range(10):
        reply = get("web.localhost", headers={"Cookie": cookie})
        assert reply.json()["name"] == expected
        assert "set-cookie" not in reply.headers
    # a release that no longer gets traffic is left, whatever the cookie says
    router.update([Route("web", ["web.localhost"], [two.address], release="v2")], [])
    assert get("web.localhost", headers={"Cookie": "xae_split_web=v1"}).json()["name"] == "two"


def test_release_is_in_the_access_log(router: NginxRouter, backend: StartBackend, get: Get) -> None:
    web = backend("web")
    router.update([Route("web", ["web.localhost"], [web.address], release="v5")], [])
    get("web.localhost", headers={"X-Request-ID": "release-log-1"})

    def logged() -> list[dict[str, object]]:
        if not router.paths.access_log.exists():
            return []
        lines = router.paths.access_log.read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["request_id"] == "release-log-1"]

    assert router_process.wait_until(lambda: bool(logged()), 10), "no access-log line in 10s"
    (entry,) = logged()
    assert entry["release"] == "v5" and entry["app"] == "web"
