"""The cluster strategy: converging apps on a backend that rolls out by itself (kubernetes).

The cluster owns the rollout: xae hands the orchestrator the whole plan, the Deployment
controller starts new pods, waits for their readiness probes and only then removes old ones
(`maxUnavailable: 0`), and the ReplicaSet replaces pods that die. The router follows the
cluster's ready endpoints through a watch, not through this module, so a pod that stops being
ready leaves the routes within a moment whoever removed it.

What stays here: the per-app lock, the cheap "already in sync?" check for the periodic reconcile
(answered from the orchestrator's watch cache, so a thousand apps cost no API calls), and, after
a rollout, waiting until the router serves exactly the new release's ready pods, so a deploy
returns when users see it, as on docker.

A weighted split (`xae.control.splits`) is one more web Deployment and Service per other
release in it (the orchestrator's business); the watch reports each release's ready endpoints
under `app/v<N>`, and this module joins them with the split's weights, which it learns from
the plans it converges, into one route with a backend per release.

Its sibling for instance-level backends (docker) is `xae.control.instances`; both implement
`xae.control.strategy.Strategy` for the same `AppPlan`.
"""

from __future__ import annotations

import logging
import threading
import time

from xae.control.instances import split_route
from xae.control.routes import RouteTable, Split
from xae.control.strategy import AppLocks
from xae.errors import DeployFailed
from xae.runtime.base import AppPlan, Orchestrator, Progress, SplitPlan

log = logging.getLogger("xae.control.cluster")
ROUTE_WAIT = 30.0


class ClusterStrategy:
    """`Strategy` for an `Orchestrator`: the cluster rolls the plan out, xae follows it."""

    def __init__(self, orchestrator: Orchestrator, routes: RouteTable) -> None:
        self.orchestrator = orchestrator
        self.routes = routes
        self.lock = AppLocks()
        self._routes_changed = threading.Condition()
        self._state = threading.Lock()
        self._splits: dict[str, tuple[int, SplitPlan]] = {}
        """App → (its current release, its split), from the last plan converged."""
        self._endpoints: dict[str, dict[int | None, list[str]]] = {}
        """App → ready endpoints of its web Service (None) and of each split release."""

    def converge(self, plan: AppPlan, progress: Progress, *, drain: bool = True) -> None:
        # `drain` is the instance strategy's: the cluster retires old pods itself, in its rollout.
        self._learn_split(plan)
        if self.orchestrator.in_sync(plan):
            return
        self.orchestrator.apply(plan, progress)
        self._wait_for_routes(plan, progress)

    def _learn_split(self, plan: AppPlan) -> None:
        """Remember the plan's split; if it changed, route the app by it at once (the
        endpoints of releases not running yet come with the watch)."""
        with self._state:
            before = self._splits.get(plan.app)
            if plan.split is None:
                self._splits.pop(plan.app, None)
            else:
                self._splits[plan.app] = (plan.release, plan.split)
            after = self._splits.get(plan.app)
            if before == after:
                return
            upstreams, split = self._route_of(plan.app)
        self.routes.set(plan.app, upstreams, split)

    def _route_of(self, app: str) -> tuple[list[str], Split | None]:
        """The app's upstreams and split from what the watch reported; under `_state`."""
        endpoints = self._endpoints.get(app, {})
        main = endpoints.get(None, [])
        known = self._splits.get(app)
        if known is None:
            return main, None
        release, split = known
        by_release = {r: a for r, a in endpoints.items() if r is not None}
        by_release[release] = main
        return main, split_route(split, by_release)

    def remove_app(self, app: str) -> None:
        with self._state:
            self._splits.pop(app, None)
            self._endpoints.pop(app, None)
        self.routes.drop(app)
        self.orchestrator.remove_app(app)

    def clear(self, app: str) -> None:
        self.routes.set(app, [])
        if app in self.orchestrator.apps():
            log.info("removing the objects of %s, which has no release", app)
            self.orchestrator.remove_app(app)

    def known_apps(self) -> set[str]:
        return self.orchestrator.apps() | set(self.routes.apps())

    def warm_start(self, plans: dict[str, AppPlan | None]) -> None:
        # The first list of the endpoint watch (in `start`) brings the routes.
        return None

    def start(self) -> None:
        self.orchestrator.watch(self._on_routes)

    def stop(self) -> None:
        self.orchestrator.close()

    # -- internals -------------------------------------------------------------------------

    def _on_routes(self, changes: dict[str, list[str]]) -> None:
        by_app: dict[str, dict[int | None, list[str]]] = {}
        for key, addresses in changes.items():
            app, _, release = key.partition("/v")
            by_app.setdefault(app, {})[int(release) if release.isdigit() else None] = addresses
        with self._state:
            self._endpoints.update(by_app)
            routes = {app: self._route_of(app) for app in by_app}
        try:
            self.routes.set_many(
                {app: upstreams for app, (upstreams, _) in routes.items()},
                known_only=True,
                splits={app: split for app, (_, split) in routes.items() if split is not None},
            )
        except Exception:
            # The router keeps its previous table; the next change or re-list applies again.
            log.exception("applying endpoint changes to the router failed")
        with self._routes_changed:
            self._routes_changed.notify_all()

    def _routes_match(self, plan: AppPlan) -> bool:
        wanted = sorted(self.orchestrator.ready_addresses(plan.app, plan))
        if not wanted:
            # The rollout is done, so a ready pod exists; the pod watch has not shown it yet
            # (it is a stream of its own). Until it does, "no pods, no routes" would match.
            return False
        if self.routes.upstreams(plan.app) != wanted:
            return False
        # A split's route has a backend per release with a weight; after it ends, none.
        return (self.routes.split(plan.app) is None) == (plan.split is None)

    def _wait_for_routes(self, plan: AppPlan, progress: Progress) -> None:
        """Return once the router sends the app's traffic to exactly the plan's ready pods."""
        if not any(
            p.process == "web" and p.quantity > 0 and p.spec.port is not None
            for p in plan.processes
        ):
            return
        deadline = time.monotonic() + ROUTE_WAIT
        with self._routes_changed:
            while not self._routes_match(plan):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeployFailed(
                        f"v{plan.release} of {plan.app} is ready in the cluster but the router "
                        f"did not pick up its endpoints within {ROUTE_WAIT:.0f} s: see "
                        "`xae status` and the control plane's log"
                    )
                self._routes_changed.wait(timeout=min(left, 1.0))
        progress("the router serves the new instances")
