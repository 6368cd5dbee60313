"""The instance strategy: making one app's instances and route match its plan, one instance at
a time, on an instance-level `Runtime` (docker). The heart of rollouts and self-healing there.

The order is what makes deploys zero-downtime: start what is missing, wait until new web
instances pass their health check, point the route at exactly the healthy up-to-date web
instances (the router confirms the swap), and only then drain what is out of date. If a new
instance never becomes healthy, the new instances are removed and nothing old was touched.
The same code runs for a deploy, a scale, a restart and the periodic reconcile, under one lock
per app.

Its sibling for backends that roll out by themselves (kubernetes) is `xae.control.cluster`;
both implement `xae.control.strategy.Strategy` for the same `AppPlan`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from xae.control.health import HealthTracker, Probe, Prober
from xae.control.routes import RouteTable, Split, release_name
from xae.control.strategy import AppLocks
from xae.domain.health import check_label, gate_failure
from xae.domain.policy import LOG_TAIL
from xae.domain.states import InstanceState
from xae.errors import DeployFailed, RuntimeFailure
from xae.router.base import Backend
from xae.runtime.base import AppPlan, Instance, ProcessPlan, Progress, Runtime, SplitPlan

DEAD_STATES = frozenset({InstanceState.EXITED, InstanceState.DEAD, InstanceState.CREATED})
MAX_PARALLEL = 16
"""Instances of one app started, probed or stopped at once."""

log = logging.getLogger("xae.control.instances")
T = TypeVar("T")
R = TypeVar("R")


def _quiet(_: str) -> None:
    return None


def _each(app: str, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`fn` on every item at once, in threads of this call only: one app's hanging health
    checks or slow stops never hold threads another app's rollout or healing waits for.
    Every call ends before this returns; the first exception is raised after that."""
    if not items:
        return []
    with ThreadPoolExecutor(
        max_workers=min(MAX_PARALLEL, len(items)), thread_name_prefix=f"xae-{app}"
    ) as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [future.result() for future in futures]


def split_route(split: SplitPlan, by_release: dict[int, list[str]]) -> Split:
    """The router's side of `split`: one backend per release with a weight, holding that
    release's healthy web instances (`by_release`).

    A release with no healthy instance right now (one crashed, a pod is being replaced) gets
    no traffic: its share goes to the others in proportion to theirs, as the router serves
    only backends that have instances. With none healthy at all, the split has no backend and
    the route falls back to its plain upstreams."""
    live = [
        (release, weight, sorted(by_release[release]))
        for release, weight in split.weights
        if weight > 0 and by_release.get(release)
    ]
    total = sum(weight for _, weight, _ in live)
    shares = [weight * 100 // total for _, weight, _ in live] if total else []
    if shares:
        # Whole percents that add up to 100: the rounding's remainder to the largest share.
        largest = max(range(len(shares)), key=lambda i: live[i][1])
        shares[largest] += 100 - sum(shares)
    backends = tuple(
        Backend(f"v{release}", share, upstreams)
        for (release, _, upstreams), share in zip(live, shares, strict=True)
    )
    return Split(backends, split.sticky)


class InstanceStrategy:
    """`Strategy` for a `Runtime`: xae starts, health-gates, routes and drains each instance."""

    def __init__(
        self, runtime: Runtime, routes: RouteTable, health: HealthTracker, prober: Prober
    ) -> None:
        self.runtime = runtime
        self.routes = routes
        self.health = health
        self.prober = prober
        self.lock = AppLocks()

    def converge(self, plan: AppPlan, progress: Progress = _quiet, *, drain: bool = True) -> None:
        self.runtime.ensure_network(plan.app)
        self._converge(plan, progress, drain=drain)

    def known_apps(self) -> set[str]:
        return {i.app for i in self.runtime.list_instances()} | set(self.routes.apps())

    def warm_start(self, plans: dict[str, AppPlan | None]) -> None:
        by_app: dict[str, dict[int, list[str]]] = {name: {} for name in plans}
        for instance in self.runtime.list_instances():
            plan = plans.get(instance.app)
            if plan is None or instance.process != "web" or not instance.running:
                continue
            if instance.spec_hash in plan.spec_hashes() and self.prober.probe_once(
                instance, plan.health
            ):
                self.health.mark(instance.id, True)
                address = f"{instance.address}:{instance.port}"
                by_app[instance.app].setdefault(instance.release, []).append(address)
        for name, by_release in by_app.items():
            plan = plans.get(name)
            upstreams = by_release.get(plan.release, []) if plan else []
            split = split_route(plan.split, by_release) if plan and plan.split else None
            release = f"v{plan.release}" if plan and upstreams and split is None else ""
            self.routes.seed(name, upstreams, split, release=release)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def remove_app(self, app: str) -> None:
        self.routes.drop(app)
        for instance in self.runtime.list_instances(app):
            self.health.forget(instance.id)
        self.runtime.remove_app(app)

    def clear(self, app: str) -> None:
        self.routes.set(app, [])
        instances = self.runtime.list_instances(app)
        if instances:
            log.info("removing %d instance(s) of %s, which has no release", len(instances), app)
            self._stop_all(instances, grace=0)

    # -- internals -------------------------------------------------------------------------

    def _converge(self, plan: AppPlan, progress: Progress, *, drain: bool = True) -> None:
        instances = self.runtime.list_instances(plan.app)
        dead = [i for i in instances if i.state in DEAD_STATES]
        if dead:
            progress(f"removing {len(dead)} stopped instance(s)")
            self._stop_all(dead, grace=0)
        live = [i for i in instances if i.state not in DEAD_STATES]

        current: dict[str, list[Instance]] = {}
        others: dict[int, list[Instance]] = {}
        started: list[Instance] = []
        try:
            for proc in plan.processes:
                current[proc.process] = self._ensure_process(plan, proc, live, started, progress)
            for proc in plan.split.web if plan.split else ():
                others[proc.spec.release] = self._ensure_process(
                    plan, proc, live, started, progress
                )
            healthy = [
                i for i in current.get("web", []) if i.running and self._known_healthy(i, plan)
            ]
            web = [f"{i.address}:{i.port}" for i in healthy]
            if plan.split is None:
                self.routes.set(plan.app, web, release=release_name(i.release for i in healthy))
            else:
                by_release = {r: self._healthy(group, plan) for r, group in others.items()}
                by_release[plan.release] = web
                self.routes.set(plan.app, web, split_route(plan.split, by_release))
        except BaseException:
            # Nothing this pass started may outlive its failure, whatever failed (a refused
            # start, a failed gate, a probe or router error): the old instances are untouched.
            self._remove_started(plan.app, started)
            raise

        if not drain:
            return  # the route left the stale instances already; the caller's next pass drains
        wanted = {i.id for group in [*current.values(), *others.values()] for i in group}
        stale = [i for i in live if i.id not in wanted]
        if stale:
            progress(f"draining {len(stale)} old instance(s)")
            self._stop_all(stale, grace=plan.drain_seconds)

    def _ensure_process(
        self,
        plan: AppPlan,
        proc: ProcessPlan,
        live: list[Instance],
        started: list[Instance],
        progress: Progress,
    ) -> list[Instance]:
        """Return the up-to-date instances of one process type, starting missing ones."""
        good = [i for i in live if i.process == proc.process and i.spec_hash == proc.spec.spec_hash]
        if len(good) > proc.quantity:
            return good[: proc.quantity]
        missing = proc.quantity - len(good)
        if missing == 0:
            return good
        progress(f"starting {missing} {proc.process} instance(s) of v{proc.spec.release}")
        new = self._start_many(proc, missing)
        started.extend(new)
        if proc.process == "web":
            self._gate(plan, proc.spec.release, new, progress)
            progress(f"{len(new)} new web instance(s) passed the health check")
        return good + new

    def _start_many(self, proc: ProcessPlan, count: int) -> list[Instance]:
        def start(_: int) -> Instance | RuntimeFailure:
            try:
                return self.runtime.start(proc.spec)
            except RuntimeFailure as e:
                return e

        results = _each(proc.spec.app, start, range(count))
        started = [r for r in results if isinstance(r, Instance)]
        errors = [r for r in results if isinstance(r, RuntimeFailure)]
        if errors:
            self._stop_all(started, grace=0)
            raise DeployFailed(
                f"could not start {proc.process} instances: {errors[0]}"
            ) from errors[0]
        return started

    def _gate(
        self, plan: AppPlan, release: int, started: list[Instance], progress: Progress
    ) -> None:
        check = plan.health
        progress(
            f"waiting for {len(started)} web instance(s) to pass GET {check.path} "
            f"(Host {check.host})"
        )
        results = _each(plan.app, lambda i: (i, self._wait(i, plan)), started)
        for instance, result in results:
            self.health.mark(instance.id, result.ok)
        for seen in sorted({result.describe(check) for _, result in results}):
            progress(seen)
        failed = [(i, result) for i, result in results if not result.ok]
        if not failed:
            return
        # Asked only now, for the message: probing starts as soon as the instances do (a
        # listing of the engine's containers is 10-80 ms of every rollout on a busy machine).
        serving = self._serving_release(plan.app, started)
        instance, result = failed[0]
        tail = self._log_tail(instance)
        raise DeployFailed(
            gate_failure(
                what=f"{len(failed)} new web instance(s) of v{release}",
                check=check_label(check.path, check.host, check.attempts),
                saw=result.describe(check),
                serving=serving,
                has_log=bool(tail),
                answered=result.status is not None,
            ),
            details={"log_tail": tail, "instance": instance.name},
        )

    def _serving_release(self, app: str, started: list[Instance]) -> str | None:
        """`vN` of the web instances that serve the app now (not the ones just started)."""
        if not self.routes.upstreams(app):
            return None
        new = {i.id for i in started}
        releases = {
            i.release
            for i in self.runtime.list_instances(app)
            if i.process == "web" and i.running and i.id not in new and self.health.get(i.id)
        }
        return ", ".join(f"v{r}" for r in sorted(releases)) or "the running release"

    def _wait(self, instance: Instance, plan: AppPlan) -> Probe:
        return self.prober.wait_healthy(instance, plan.health, lambda: self._alive(instance))

    def _alive(self, instance: Instance) -> bool:
        for other in self.runtime.list_instances(instance.app):
            if other.id == instance.id:
                return other.running
        return False

    def _healthy(self, instances: list[Instance], plan: AppPlan) -> list[str]:
        """`address:port` of those of `instances` that run and pass their health check."""
        return [
            f"{i.address}:{i.port}" for i in instances if i.running and self._known_healthy(i, plan)
        ]

    def _known_healthy(self, instance: Instance, plan: AppPlan) -> bool:
        if self.health.get(instance.id):
            return True
        # Not seen by this process yet (e.g. after xae restarted), or failing: probe once more.
        healthy = self.prober.probe_once(instance, plan.health)
        self.health.mark(instance.id, healthy)
        return healthy

    def _log_tail(self, instance: Instance) -> list[str]:
        try:
            return list(self.runtime.logs(instance, tail=LOG_TAIL))
        except RuntimeFailure:
            return []

    def _remove_started(self, app: str, started: list[Instance]) -> None:
        try:
            self._stop_all(started, grace=0)
        except Exception:
            # The original failure is what the caller reports; the next pass retries these.
            log.exception("removing the instances a failed pass of %s started failed", app)

    def _stop_all(self, instances: list[Instance], grace: float) -> None:
        def stop(instance: Instance) -> None:
            self.runtime.stop(instance, grace)
            self.health.forget(instance.id)

        if instances:
            _each(instances[0].app, stop, instances)
