"""Per-caller API rate limits: a token bucket per token (or address), on an injected clock."""

from __future__ import annotations

import hashlib

import pytest

from xae.auth.ratelimit import RateLimiter, RateLimits, caller_key
from xae.errors import TooManyRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _limiter(
    rate: float = 10.0, burst: int = 5, max_tracked: int = 100
) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    return RateLimiter(
        RateLimits(rate=rate, burst=burst), clock=clock, max_tracked=max_tracked
    ), clock


def test_a_caller_may_spend_its_burst_at_once_and_is_then_refused_with_retry_after() -> None:
    limiter, _ = _limiter(rate=0.5, burst=5)
    for _ in range(5):
        limiter.take("token:a")
    with pytest.raises(TooManyRequests) as caught:
        limiter.take("token:a")
    assert caught.value.status == 429
    assert caught.value.retry_after == 2  # one request refills in 1 / 0.5 s
    assert caught.value.details == {"retry_after": 2}
    assert "try again in 2 seconds" in caught.value.message


def test_the_bucket_refills_at_the_rate() -> None:
    limiter, clock = _limiter(rate=10.0, burst=5)
    for _ in range(5):
        limiter.take("token:a")
    with pytest.raises(TooManyRequests):
        limiter.take("token:a")
    clock.now += 0.1  # one request's worth
    limiter.take("token:a")
    with pytest.raises(TooManyRequests):
        limiter.take("token:a")
    clock.now += 10.0  # never more than the burst, however long the caller was idle
    for _ in range(5):
        limiter.take("token:a")
    with pytest.raises(TooManyRequests):
        limiter.take("token:a")


def test_a_refused_request_costs_nothing() -> None:
    limiter, clock = _limiter(rate=1.0, burst=1)
    limiter.take("token:a")
    for _ in range(100):
        with pytest.raises(TooManyRequests):
            limiter.take("token:a")
    clock.now += 1.0
    limiter.take("token:a")


def test_a_steady_caller_under_the_rate_is_never_refused() -> None:
    limiter, clock = _limiter(rate=50.0, burst=200)
    for _ in range(10_000):  # 20 requests per second for 500 s
        limiter.take("token:bench")
        clock.now += 0.05


def test_callers_have_their_own_buckets() -> None:
    limiter, _ = _limiter(rate=1.0, burst=2)
    limiter.take("token:a")
    limiter.take("token:a")
    with pytest.raises(TooManyRequests):
        limiter.take("token:a")
    limiter.take("token:b")
    limiter.take("address:127.0.0.1")


def test_the_number_of_buckets_is_bounded_dropping_the_least_recently_used() -> None:
    limiter, _ = _limiter(rate=1.0, burst=1, max_tracked=100)
    limiter.take("token:busy")
    for i in range(1000):
        limiter.take(f"token:made-up-{i}")
        assert len(limiter) <= 100
    # The busy caller's bucket was dropped long ago (least recently used): it starts full.
    limiter.take("token:busy")
    # A recently used empty bucket is kept, so its caller stays refused.
    with pytest.raises(TooManyRequests):
        limiter.take("token:made-up-999")


def test_a_rate_of_zero_turns_the_limit_off() -> None:
    limiter, _ = _limiter(rate=0.0, burst=1)
    for _ in range(1000):
        limiter.take("token:a")
    assert len(limiter) == 0


def test_a_token_is_keyed_by_its_sha256_never_kept_itself() -> None:
    key = caller_key("xae_secret", "127.0.0.1")
    assert key == "token:" + hashlib.sha256(b"xae_secret").hexdigest()
    assert "xae_secret" not in key
    assert caller_key(None, "10.0.0.7") == "address:10.0.0.7"
    assert caller_key("", "10.0.0.7") == "address:10.0.0.7"
