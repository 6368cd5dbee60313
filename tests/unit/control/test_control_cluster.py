"""The cluster strategy: hand plans to the orchestrator, follow its endpoints, wait for the
router. The orchestrator here is a small fake; the real one is tested against a real cluster
in tests/e2e (every e2e test runs on the kubernetes backend too)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from tests.unit.fakes import FakeRouter

from xae.control.cluster import ClusterStrategy
from xae.control.routes import RouteTable
from xae.errors import DeployFailed
from xae.runtime.base import (
    AppPlan,
    HealthCheck,
    Instance,
    InstanceSpec,
    OneOffResult,
    OneOffSpec,
    OutputLine,
    ProcessPlan,
    Progress,
    RoutesChanged,
)


def make_plan(app: str = "shop", quantity: int = 2, spec_hash: str = "v1") -> AppPlan:
    spec = InstanceSpec(
        app=app,
        process="web",
        release=1,
        image="i",
        command="",
        env={},
        port=5000,
        memory_bytes=1,
        cpus=1.0,
        pids_limit=1,
        spec_hash=spec_hash,
    )
    return AppPlan(
        app=app,
        owner="ann",
        release=1,
        processes=(ProcessPlan("web", quantity, spec),),
        health=HealthCheck("/", 1.0, 3, 0.1, False),
        drain_seconds=0,
    )


class FakeOrchestrator:
    name = "fake-cluster"

    def __init__(self) -> None:
        self.applied: list[AppPlan] = []
        self.synced: set[str] = set()
        self.ready: dict[str, list[str]] = {}
        self.on_routes: RoutesChanged | None = None
        self.publish_on_apply = True
        self.pods_lag = False
        """The rollout is done, but the pod and endpoint watches show the pods a moment
        later (they are separate streams, decoded by separate threads)."""

    def ping(self) -> None: ...
    def remove_app(self, app: str) -> None:
        self.ready.pop(app, None)

    def list_instances(self, app: str | None = None) -> list[Instance]:
        return []

    def logs(self, instance: Instance, *, tail: int = 100, follow: bool = False) -> Iterator[str]:
        return iter(())

    def run_oneoff(self, spec: OneOffSpec, on_line: OutputLine) -> OneOffResult:
        return OneOffResult(exit_code=0)

    def prune_oneoffs(self) -> int:
        return 0

    def apply(self, plan: AppPlan, progress: Progress) -> None:
        self.applied.append(plan)
        self.synced.add(plan.spec_hashes().pop())
        addresses = [f"10.0.0.{i + 1}:5000" for i in range(plan.processes[0].quantity)]
        if not self.pods_lag:
            self.ready[plan.app] = addresses
        if self.publish_on_apply:
            # The endpoint watch reports the new pods a moment later, from another thread.
            assert self.on_routes is not None
            on_routes = self.on_routes

            def publish() -> None:
                self.ready[plan.app] = addresses
                on_routes({plan.app: addresses})

            threading.Timer(0.2 if self.pods_lag else 0.05, publish).start()

    def in_sync(self, plan: AppPlan) -> bool:
        return plan.spec_hashes().pop() in self.synced

    def apps(self) -> set[str]:
        return set(self.ready)

    def ready_addresses(self, app: str, plan: AppPlan) -> list[str]:
        return sorted(self.ready.get(app, []))

    def watch(self, on_routes: RoutesChanged) -> None:
        self.on_routes = on_routes

    def close(self) -> None: ...


@pytest.fixture
def setup() -> tuple[ClusterStrategy, FakeOrchestrator, FakeRouter]:
    router = FakeRouter()
    orchestrator = FakeOrchestrator()
    strategy = ClusterStrategy(orchestrator, RouteTable(router, "localhost"))
    strategy.start()
    return strategy, orchestrator, router


def test_converge_returns_once_the_router_serves_the_ready_pods(
    setup: tuple[ClusterStrategy, FakeOrchestrator, FakeRouter],
) -> None:
    strategy, orchestrator, router = setup
    strategy.converge(make_plan(), lambda _: None)
    assert router.served() == {"shop": ["10.0.0.1:5000", "10.0.0.2:5000"]}


def test_a_deploy_waits_for_the_watch_to_show_the_ready_pods_the_rollout_reported(
    setup: tuple[ClusterStrategy, FakeOrchestrator, FakeRouter],
) -> None:
    strategy, orchestrator, router = setup
    orchestrator.pods_lag = True  # no ready pod seen and no route yet: they agree, on nothing
    strategy.converge(make_plan(), lambda _: None)
    assert router.served() == {"shop": ["10.0.0.1:5000", "10.0.0.2:5000"]}


def test_a_plan_already_in_sync_costs_nothing(
    setup: tuple[ClusterStrategy, FakeOrchestrator, FakeRouter],
) -> None:
    strategy, orchestrator, _ = setup
    strategy.converge(make_plan(), lambda _: None)
    strategy.converge(make_plan(), lambda _: None)
    assert len(orchestrator.applied) == 1


def test_endpoints_that_never_reach_the_router_fail_the_deploy(
    setup: tuple[ClusterStrategy, FakeOrchestrator, FakeRouter],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    strategy, orchestrator, _ = setup
    orchestrator.publish_on_apply = False
    monkeypatch.setattr("xae.control.cluster.ROUTE_WAIT", 0.3)
    with pytest.raises(DeployFailed, match="router did not pick up"):
        strategy.converge(make_plan(), lambda _: None)


def test_late_endpoint_events_do_not_bring_back_a_removed_app(
    setup: tuple[ClusterStrategy, FakeOrchestrator, FakeRouter],
) -> None:
    strategy, orchestrator, router = setup
    strategy.converge(make_plan(), lambda _: None)
    strategy.remove_app("shop")
    assert orchestrator.on_routes is not None
    orchestrator.on_routes({"shop": []})  # the slice's deletion arrives after the destroy
    assert "shop" not in router.served()
    assert strategy.known_apps() == set()


def test_a_split_routes_each_releases_endpoints_by_weight_and_ends_with_it(
    setup: tuple[ClusterStrategy, FakeOrchestrator, FakeRouter],
) -> None:
    from dataclasses import replace

    from xae.runtime.base import SplitPlan

    strategy, orchestrator, router = setup
    strategy.converge(make_plan(quantity=1), lambda _: None)
    other = ProcessPlan("web", 1, replace(make_plan().processes[0].spec, release=2))
    split = SplitPlan(weights=((1, 70), (2, 30)), sticky=True, web=(other,))
    orchestrator.publish_on_apply = False
    orchestrator.synced.add("v1")
    strategy.converge(replace(make_plan(quantity=1), split=split), lambda _: None)
    assert orchestrator.on_routes is not None
    orchestrator.on_routes({"shop": ["10.0.0.1:5000"], "shop/v2": ["10.0.1.1:5000"]})

    [route] = router.applied[-1]
    assert [(b.release, b.weight, b.upstreams) for b in route.backends] == [
        ("v1", 70, ["10.0.0.1:5000"]),
        ("v2", 30, ["10.0.1.1:5000"]),
    ]
    assert route.sticky

    strategy.converge(make_plan(quantity=1), lambda _: None)  # the split ended
    [route] = router.applied[-1]
    assert route.backends == [] and route.upstreams == ["10.0.0.1:5000"]
