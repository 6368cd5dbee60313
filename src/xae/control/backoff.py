"""When the background reconciler may try a failing app again (kopf's per-object backoff).

Without it an app whose pass fails (its image crashes, its health check never passes, the
engine is down) was retried every reconcile interval forever: a container started and removed
every two seconds, a log line each time. Here each failing app waits longer after each failure
in a row (`xae.domain.backoff`): up to a few minutes after a temporary error, longer after a
permanent one (`xae.errors.is_temporary`), since that one waits for a change by the user.

The wait ends early when the app's desired state changes (a new release, formation, config or
health check: anything that changes its plan's `fingerprint`), because that is a new thing to
try. It only spaces the *background* passes: a deploy or a scale by the user takes the app's
lock and converges directly, never asking this schedule.

Pure bookkeeping with an injectable clock and random source, so tests need no sleeps.
"""

from __future__ import annotations

import enum
import random
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from xae.domain.backoff import Backoff
from xae.runtime.base import AppPlan


class Unknown(enum.Enum):
    """A fingerprint that could not be read (e.g. the store failed): never counts as a change."""

    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN


@dataclass(frozen=True)
class Retry:
    """An app's place in its backoff: how many passes failed in a row, and when the next runs."""

    failures: int
    temporary: bool
    """Whether the last failure was temporary (the shorter backoff)."""
    delay: float
    """Seconds between the last failure and the next pass."""
    due: float
    """The schedule's clock reading at which the next pass may run."""
    fingerprint: Hashable


def fingerprint(plan: AppPlan | None) -> Hashable:
    """What of an app's desired state, when it changes, is worth an immediate new pass: each
    process's spec (its hash covers image, command, config, limits, restart generation) and
    count, the health check and the drain time. None for an app with nothing deployed."""
    if plan is None:
        return None
    processes = tuple((p.process, p.quantity, p.spec.spec_hash) for p in plan.processes)
    if plan.split is not None:
        web = tuple((p.spec.spec_hash, p.quantity) for p in plan.split.web)
        split = (plan.split.weights, plan.split.sticky, web)
        return (plan.release, processes, plan.health, plan.drain_seconds, split)
    return (plan.release, processes, plan.health, plan.drain_seconds)


class RetrySchedule:
    def __init__(
        self,
        temporary: Backoff,
        permanent: Backoff,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.temporary = temporary
        self.permanent = permanent
        self._clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self._retries: dict[str, Retry] = {}

    def failed(self, name: str, *, temporary: bool, fingerprint: Hashable) -> Retry:
        """Record a failed pass of `name` made for the desired state `fingerprint`."""
        with self._lock:
            previous = self._retries.get(name)
            same = previous is not None and previous.fingerprint == fingerprint
            failures = previous.failures + 1 if same and previous is not None else 1
            policy = self.temporary if temporary else self.permanent
            delay = policy.delay(failures, self._rand())
            retry = Retry(failures, temporary, delay, self._clock() + delay, fingerprint)
            self._retries[name] = retry
            return retry

    def due(self, name: str, fingerprint: Callable[[], Hashable]) -> bool:
        """Whether a background pass of `name` may run now: it is not backing off, its wait
        is over, or its desired state changed since the failure (then its backoff starts over).
        `fingerprint` is only called for an app that is backing off; `UNKNOWN` from it keeps
        the wait."""
        with self._lock:
            retry = self._retries.get(name)
        if retry is None:
            return True
        if self._clock() >= retry.due:
            return True
        now = fingerprint()
        if now is not UNKNOWN and now != retry.fingerprint:
            self.forget(name)
            return True
        return False

    def succeeded(self, name: str) -> None:
        self.forget(name)

    def forget(self, name: str) -> None:
        with self._lock:
            self._retries.pop(name, None)

    def get(self, name: str) -> Retry | None:
        with self._lock:
            return self._retries.get(name)

    def retry_in(self, name: str) -> float | None:
        """Seconds until `name`'s next background pass may run (0 if it may now); None if it is
        not backing off."""
        retry = self.get(name)
        return None if retry is None else max(0.0, retry.due - self._clock())

    def names(self) -> set[str]:
        with self._lock:
            return set(self._retries)
