"""Holding requests for a waking app, against a real nginx + Lua and real backends."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.integration.router.router_harness import Backend, Reply, request, started_router

from xae.config import Settings
from xae.router import NginxRouter, Route
from xae.router import process as router_process

pytestmark = pytest.mark.integration

Get = Callable[..., Reply]
StartBackend = Callable[..., Backend]


def test_held_requests_go_through_once_the_app_wakes_and_xae_is_told_once(
    router: NginxRouter, backend: StartBackend, settings: Settings
) -> None:
    web = backend("web")
    woken: list[str] = []
    told = threading.Event()

    def wake(app: str) -> None:
        woken.append(app)
        told.set()

    router.on_wake(wake)
    router.update([Route("web", ["web.localhost"], [], wake=True)], [])
    with ThreadPoolExecutor(max_workers=10, thread_name_prefix="held") as pool:
        held = [
            pool.submit(request, settings.router_port, "web.localhost", timeout=30)
            for _ in range(10)
        ]
        assert told.wait(15), "xae was not told to wake the app"
        assert not any(f.done() for f in held), "a request was answered before the app woke"
        router.update([Route("web", ["web.localhost"], [web.address], wake=True)], [])
        replies = [f.result(timeout=30) for f in held]
    assert [r.status for r in replies] == [200] * 10
    assert {r.json()["name"] for r in replies} == {"web"}
    assert woken == ["web"]


def test_a_held_request_gets_the_503_page_after_the_hold_timeout_and_the_queue_is_bounded(
    settings: Settings, backend: StartBackend
) -> None:
    short = settings.model_copy(update={"router_hold_timeout": 2, "router_hold_queue": 2})

    def timed() -> tuple[Reply, float]:
        started = time.monotonic()
        reply = request(short.router_port, "idle.localhost", timeout=20)
        return reply, time.monotonic() - started

    with started_router(short) as router:
        router.update([Route("idle", ["idle.localhost"], [], wake=True)], [])
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="held") as pool:
            results = [f.result(timeout=30) for f in [pool.submit(timed) for _ in range(4)]]
    assert [reply.status for reply, _ in results] == [503] * 4
    assert "app idle has no running web instances" in results[0][0].text
    waited = sorted(seconds for _, seconds in results)
    assert waited[-1] >= 1.5 and waited[-1] < 10  # held for the hold timeout, not for ever
    assert waited[1] < 1.0  # the queue holds 2: the other 2 are refused at once


def test_an_app_without_wake_is_not_held(router: NginxRouter, settings: Settings) -> None:
    router.update([Route("idle", ["idle.localhost"], [])], [])
    woken: list[str] = []
    router.on_wake(woken.append)
    assert request(settings.router_port, "idle.localhost", timeout=5).status == 503
    assert not router_process.wait_until(lambda: bool(woken), 1)
