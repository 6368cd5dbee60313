"""The health prober on a fake transport (`httpx.MockTransport`): what a check sends, what
passes, how long it keeps trying. No network; the real probes run in tests/e2e."""

from __future__ import annotations

import time

import httpx

from xae.control.health import Prober, probe_client
from xae.control.strategy import AppLocks
from xae.domain.states import InstanceState
from xae.runtime.base import HealthCheck, Instance

INSTANCE = Instance(
    id="i1",
    name="shop-web-1",
    app="shop",
    process="web",
    release=1,
    spec_hash="h",
    state=InstanceState.RUNNING,
    address="10.0.0.7",
    port=5000,
    memory_bytes=1,
    cpus=1.0,
)


def check(*, strict: bool = False, attempts: int = 3, interval: float = 0.0) -> HealthCheck:
    return HealthCheck(
        path="/up",
        timeout=0.5,
        attempts=attempts,
        interval=interval,
        strict=strict,
        host="shop.localhost",
    )


def prober(handler: httpx.MockTransport) -> Prober:
    return Prober(probe_client(handler))


def test_a_probe_asks_the_instance_with_the_apps_own_host_name() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404)

    result = prober(httpx.MockTransport(answer)).probe(INSTANCE, check())
    assert (result.ok, result.status) == (True, 404)  # the default check accepts below 500
    assert str(seen[0].url) == "http://10.0.0.7:5000/up"
    assert seen[0].headers["host"] == "shop.localhost"
    assert seen[0].headers["user-agent"] == "xae-health-check"


def test_a_strict_check_refuses_what_is_not_2xx_or_3xx() -> None:
    result = prober(httpx.MockTransport(lambda r: httpx.Response(404))).probe(
        INSTANCE, check(strict=True)
    )
    assert (result.ok, result.status) == (False, 404)


def test_no_answer_says_why() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    assert (
        "nothing listens on $PORT"
        in prober(httpx.MockTransport(refuse)).probe(INSTANCE, check()).error
    )
    assert prober(httpx.MockTransport(hang)).probe(INSTANCE, check()).error == (
        "no answer within 0.5 s"
    )


def test_waiting_stops_at_the_first_pass() -> None:
    answers = iter([500, 500, 200])
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(next(answers))

    result = prober(httpx.MockTransport(answer)).wait_healthy(
        INSTANCE, check(attempts=10, interval=0.01), lambda: True
    )
    assert result.ok and len(calls) == 3


def test_an_app_answering_soon_after_its_start_is_seen_healthy_within_a_tenth_second() -> None:
    calls: list[float] = []
    started = time.monotonic()

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic() - started)
        if len(calls) < 4:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    result = prober(httpx.MockTransport(answer)).wait_healthy(
        INSTANCE, check(attempts=40, interval=0.25), lambda: True
    )
    # The fourth probe goes out ~0.08 s after the first (it was ~0.24 s with the old backoff).
    assert result.ok and len(calls) == 4
    assert calls[3] < 0.2


def test_waiting_gives_up_after_the_start_budget_of_attempts_times_interval() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    health = check(attempts=4, interval=0.05)
    assert health.start_budget == 0.2
    started = time.monotonic()
    result = prober(httpx.MockTransport(refuse)).wait_healthy(INSTANCE, health, lambda: True)
    took = time.monotonic() - started
    assert not result.ok
    assert 0.1 <= took < 1.0


def test_with_no_budget_one_probe_is_still_sent() -> None:
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    prober(httpx.MockTransport(answer)).wait_healthy(
        INSTANCE, check(attempts=1, interval=0.0), lambda: True
    )
    assert len(calls) == 1


def test_app_locks_hand_out_one_lock_per_app_and_forget_unused_ones() -> None:
    locks = AppLocks()
    held = locks("shop")
    assert locks("shop") is held
    assert locks("blog") is not held
    assert len(locks) == 1  # nobody keeps blog's lock: it is gone already
    with held:
        assert locks("shop").locked()
    del held
    assert len(locks) == 0  # a destroyed (or idle) app's lock is not kept forever
