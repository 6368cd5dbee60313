"""Throttling password guesses: per user name and per client address, in a sliding window.

Without it, anyone who can reach the API may try passwords as fast as the hash allows. Every
login attempt is counted *before* the password is checked (so parallel requests cannot slip
past the limit together) and forgiven if it succeeds; when a name or an address has used up its
allowance within the window, further attempts are refused without a password check until the
oldest counted failure leaves the window. The per-name limit applies alike to names that exist
and names that do not, so a refusal tells nothing about which users are real.

Kept in memory, which is right for one control plane: a restart forgets the counts (an attacker
who can restart the control plane is past this door already). The number of names and
addresses tracked is bounded, so a flood of made-up names cannot exhaust memory.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from xae.errors import TooManyRequests

MAX_TRACKED = 20_000
"""Names plus addresses kept; past it the least recently seen are dropped first."""

_NAME_MAX = 128


@dataclass(frozen=True)
class ThrottleLimits:
    per_account: int = 10
    per_address: int = 50
    window: float = 900.0
    """Seconds a failure counts against its name and address."""


@dataclass
class Attempt:
    """One login attempt, counted against its keys until it is forgiven."""

    keys: tuple[str, str]
    at: float
    forgiven: bool = field(default=False)


class LoginThrottle:
    def __init__(
        self,
        limits: ThrottleLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tracked: int = MAX_TRACKED,
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._max_tracked = max_tracked
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}

    def attempt(self, account: str, address: str) -> Attempt:
        """Count an attempt for `account` from `address`, or raise `TooManyRequests`."""
        keys = ("account:" + account[:_NAME_MAX], "address:" + address[:_NAME_MAX])
        limits = (self.limits.per_account, self.limits.per_address)
        with self._lock:
            now = self._clock()
            waits = [self._wait(key, limit, now) for key, limit in zip(keys, limits, strict=True)]
            if max(waits) > 0:
                raise self._refusal(max(waits))
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
            self._bound(now)
        return Attempt(keys, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forgive this attempt, and the account's earlier failures."""
        with self._lock:
            if attempt.forgiven:
                return
            attempt.forgiven = True
            account, address = attempt.keys
            self._failures.pop(account, None)
            times = self._failures.get(address)
            if times is not None:
                with contextlib.suppress(ValueError):  # already expired and dropped
                    times.remove(attempt.at)

    def _wait(self, key: str, limit: int, now: float) -> float:
        """Seconds until `key` may try again (0: now), after dropping expired failures."""
        times = self._failures.get(key)
        if times is None:
            return 0.0
        while times and times[0] <= now - self.limits.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < limit:
            return 0.0
        return times[len(times) - limit] + self.limits.window - now

    def _bound(self, now: float) -> None:
        if len(self._failures) <= self._max_tracked:
            return
        for key in [k for k, t in self._failures.items() if t[-1] <= now - self.limits.window]:
            del self._failures[key]
        while len(self._failures) > self._max_tracked:
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            del self._failures[oldest]

    def _refusal(self, wait: float) -> TooManyRequests:
        seconds = max(1, math.ceil(wait))
        when = (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%H:%M:%S UTC")
        return TooManyRequests(
            "too many failed logins for this user name or from this address: try again in "
            f"{seconds} seconds (after {when})",
            retry_after=seconds,
        )
