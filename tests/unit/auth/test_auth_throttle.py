"""The login throttle's sliding window, on a clock the tests move by hand."""

from __future__ import annotations

import threading

import pytest

from xae.auth.throttle import LoginThrottle, ThrottleLimits
from xae.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def throttle(clock: Clock, **limits: float) -> LoginThrottle:
    values = {"per_account": 3, "per_address": 5, "window": 60.0} | limits
    return LoginThrottle(ThrottleLimits(**values), clock=clock)  # type: ignore[arg-type]


def test_an_account_is_refused_after_its_failures_and_told_when_to_retry() -> None:
    clock = Clock()
    t = throttle(clock)
    for i in range(3):
        t.attempt("alice", f"10.0.0.{i}")  # from three addresses: the account counts
        clock.now += 10
    with pytest.raises(TooManyRequests) as refused:
        t.attempt("alice", "10.0.0.9")
    assert refused.value.status == 429
    assert refused.value.retry_after == 30  # the first failure (t=1000) leaves at t=1060
    assert "try again in 30 seconds" in refused.value.message
    assert refused.value.details == {"retry_after": 30}


def test_the_window_slides_one_failure_at_a_time() -> None:
    clock = Clock()
    t = throttle(clock)
    for _ in range(3):
        t.attempt("alice", "10.0.0.1")
        clock.now += 10
    clock.now = 1060.0  # the first failure has left the window
    t.attempt("alice", "10.0.0.1")
    with pytest.raises(TooManyRequests) as refused:
        t.attempt("alice", "10.0.0.1")
    assert refused.value.retry_after == 10


def test_an_address_is_refused_after_its_failures_whatever_the_names() -> None:
    clock = Clock()
    t = throttle(clock)
    for i in range(5):
        t.attempt(f"user{i}", "10.0.0.1")
    with pytest.raises(TooManyRequests):
        t.attempt("someone-else", "10.0.0.1")
    t.attempt("someone-else", "10.0.0.2")  # another address is not affected


def test_a_success_forgives_the_attempt_and_the_accounts_failures() -> None:
    clock = Clock()
    t = throttle(clock)
    t.attempt("alice", "10.0.0.1")
    t.attempt("alice", "10.0.0.1")
    t.succeeded(t.attempt("alice", "10.0.0.1"))
    for _ in range(3):
        t.attempt("alice", "10.0.0.2")
    with pytest.raises(TooManyRequests):
        t.attempt("alice", "10.0.0.2")


def test_existing_and_made_up_names_are_throttled_alike() -> None:
    t = throttle(Clock())
    for name in ("alice", "no-such-user"):
        for _ in range(3):
            t.attempt(name, "10.0.0.1" if name == "alice" else "10.0.0.2")
        with pytest.raises(TooManyRequests) as refused:
            t.attempt(name, "10.0.0.3")
        assert refused.value.retry_after == 60


def test_parallel_attempts_cannot_slip_past_the_limit() -> None:
    t = throttle(Clock(), per_account=5, per_address=1000)
    admitted: list[bool] = []
    barrier = threading.Barrier(20)

    def guess() -> None:
        barrier.wait(timeout=10)
        try:
            t.attempt("alice", "10.0.0.1")
            admitted.append(True)
        except TooManyRequests:
            admitted.append(False)

    threads = [threading.Thread(target=guess) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert admitted.count(True) == 5 and len(admitted) == 20


def test_memory_is_bounded_under_a_flood_of_made_up_names() -> None:
    clock = Clock()
    t = LoginThrottle(ThrottleLimits(per_address=10**6), clock=clock, max_tracked=100)
    for i in range(1000):
        t.attempt(f"made-up-{i}", "10.0.0.1")
        clock.now += 0.001
    assert len(t._failures) <= 100
