"""Two rollout strategies, one plan: what the platform asks of either, and the per-app locks.

The platform computes one `AppPlan` per app whatever the backend; a `Strategy` makes the world
match it. `xae.control.instances.InstanceStrategy` does it for an instance-level `Runtime`
(docker: xae starts, health-gates and drains each instance); `xae.control.cluster.ClusterStrategy`
for an `Orchestrator` (kubernetes: the cluster rolls the plan out, xae follows its endpoints).
Neither module knows the other; both take their lock from here.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

from xae.runtime.base import AppPlan, Progress


class Strategy(Protocol):
    """How the platform makes apps match their plans on one kind of backend."""

    def lock(self, app: str) -> threading.Lock:
        """The app's lock: deploys, scales, destroys and reconcile passes hold it."""

    def converge(self, plan: AppPlan, progress: Progress, *, drain: bool = True) -> None:
        """Converge one app; the caller holds `lock(plan.app)` and computed `plan` under it.
        `drain=False` returns once the route serves the plan, leaving instances it no longer
        needs running, out of the route, for the next pass (a deploy's own, right after it has
        reported the new release serving)."""

    def remove_app(self, app: str) -> None:
        """Remove everything of `app`; the caller holds `lock(app)`."""

    def clear(self, app: str) -> None:
        """Route `app` nowhere and remove its instances: it has no release to run (e.g. its
        first deploy was interrupted). The caller holds `lock(app)`."""

    def known_apps(self) -> set[str]:
        """Apps the backend or the router still has something of (to find orphans)."""

    def warm_start(self, plans: dict[str, AppPlan | None]) -> None:
        """Before the router's first apply: rebuild the routing table from what serves."""

    def start(self) -> None:
        """Start background work (watches); the router is running by now."""

    def stop(self) -> None: ...


class AppLocks:
    """One lock per app name, kept only while someone holds, waits for or is about to take it.

    The table holds its locks weakly: whoever takes or waits for a lock has a reference to it,
    so two callers for one app always get the same lock, and the lock of an app nobody works on
    (a destroyed one, or any idle app) is forgotten instead of kept for the life of the process.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, threading.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._guard = threading.Lock()

    def __call__(self, app: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(app)
            if lock is None:
                lock = self._locks[app] = threading.Lock()
            return lock

    def __len__(self) -> int:
        """How many apps have a lock now (for tests: forgotten locks are not counted)."""
        with self._guard:
            return len(self._locks)
