"""How long to wait before trying a failed thing again: exponential, capped, with jitter.

One rule for every retry loop of xae (the reconciler's per-app passes, the Kubernetes watches),
so none of them hammers a broken engine or app at a fixed rate. Each failure in a row doubles
the wait, up to a cap; a random part (up to `jitter` of the wait, only ever shortening it)
keeps many retries that started together from staying in step. Pure: the caller supplies the
random number and keeps the count of failures.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float
    """Seconds to wait after the first failure."""

    cap: float
    """The longest wait, however many failures came before."""

    factor: float = 2.0
    """How much longer each further failure in a row waits."""

    jitter: float = 0.2
    """The largest share of a wait that is randomly taken off it (0: no jitter)."""

    def __post_init__(self) -> None:
        if self.first <= 0 or self.cap < self.first or self.factor < 1:
            raise ValueError("need 0 < first <= cap and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("need 0 <= jitter < 1")

    def delay(self, failures: int, rand: float = 0.0) -> float:
        """Seconds to wait after `failures` failures in a row (at least 1); `rand` in [0, 1)
        picks the jitter (0: the full wait)."""
        if failures < 1:
            return 0.0
        # Exponent bounded so a long run of failures never overflows a float.
        wait = min(self.cap, self.first * self.factor ** min(failures - 1, 64))
        return wait * (1.0 - self.jitter * rand)
