"""Per-caller API rate limits: one token bucket per bearer token, or per client address.

Without them one token (a runaway script, a leaked CI token) can keep the control plane busy
for everyone: every call takes a database session and many take an app's lock. Each caller
may spend `burst` requests at once and `rate` per second after that; a request that finds its
bucket empty is refused with how long until one more is allowed.

A caller is the SHA-256 of its bearer token (never the token itself, which stays out of memory
dumps and does not depend on how tokens are stored), or its client address when it sends none.
Kept in memory, which is right for one control plane; the number of buckets is bounded, so a
flood of made-up tokens cannot exhaust memory (the least recently used bucket is dropped
first; a dropped bucket was idle longest, so it has refilled the most anyway).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from xae.errors import TooManyRequests

MAX_TRACKED = 50_000
"""Buckets kept (about 100 bytes each); past it the least recently used is dropped."""


@dataclass(frozen=True)
class RateLimits:
    rate: float = 50.0
    """Requests per second a caller may make, on average; 0 turns the limit off."""
    burst: int = 200
    """Requests a caller may make at once after being idle (the bucket's size)."""


def caller_key(token: str | None, address: str) -> str:
    """The bucket a request is charged to: its token's SHA-256, else its client address."""
    if token:
        return "token:" + hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()
    return "address:" + address[:64]


class RateLimiter:
    def __init__(
        self,
        limits: RateLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._max_tracked = max_tracked
        self._lock = threading.Lock()
        # key -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.limits.rate > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> None:
        """Spend one request from `key`'s bucket, or raise `TooManyRequests` saying when."""
        if not self.enabled:
            return
        rate, burst = self.limits.rate, float(self.limits.burst)
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.pop(key, (burst, now))
            tokens = min(burst, tokens + max(0.0, now - then) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                while len(self._buckets) > self._max_tracked:
                    self._buckets.popitem(last=False)
                return
            self._buckets[key] = (tokens, now)
        raise self._refusal((1.0 - tokens) / rate)

    def _refusal(self, wait: float) -> TooManyRequests:
        seconds = max(1, math.ceil(wait))
        return TooManyRequests(
            f"too many requests with this token (or from this address without one): at most "
            f"{self.limits.rate:g} per second on average, {self.limits.burst} at once; "
            f"try again in {seconds} second{'s' if seconds != 1 else ''}",
            retry_after=seconds,
        )
