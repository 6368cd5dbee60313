"""The background reconciler: heal apps, remove what no app owns, and rebuild routes at start."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from tests.unit.fakes import FakeRouter, World, deploy, make_platform

from xae.auth.policy import Principal
from xae.control.apps import create_app
from xae.control.formation import FormationChange, change
from xae.control.health import Prober, probe_client
from xae.control.platform import Platform
from xae.control.reconciler import Reconciler, describe
from xae.control.scheduler import AppScheduler
from xae.domain.states import InstanceState
from xae.errors import DeployFailed
from xae.runtime.base import HealthCheck, Instance, InstanceSpec


def _restarted(world: World, router: FakeRouter) -> Platform:
    """A new control plane on the same store and containers: fresh health memory and routes."""
    p = world.platform
    return make_platform(p.settings, p.db, world.runtime, router, world.health)


def ghost_spec() -> InstanceSpec:
    return InstanceSpec(
        app="ghost",
        process="web",
        release=1,
        image="ghost:1",
        command="x",
        env={},
        port=5000,
        memory_bytes=64 * 1024**2,
        cpus=1.0,
        pids_limit=256,
        spec_hash="ghost",
    )


def test_instances_of_apps_not_in_the_store_are_removed(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    world.runtime.start(ghost_spec())
    world.runtime.start(ghost_spec())
    [web] = world.runtime.of(shop)

    Reconciler(world.platform).run_once()

    assert world.runtime.of("ghost") == []
    assert ("remove_app", "ghost") in world.events.items
    assert world.runtime.of(shop) == [web]


def test_routes_of_apps_not_in_the_store_are_dropped(world: World, shop: str) -> None:
    world.platform.routes.set("ghost", ["10.9.9.9:5000"])

    Reconciler(world.platform).run_once()

    assert "ghost" not in world.router.served()
    assert shop in world.router.served()


def test_a_pass_replaces_dead_instances_of_every_app(
    world: World, shop: str, alice: Principal
) -> None:
    create_app(world.platform, alice, "blog")
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, "blog", "blog:1")
    for instance in world.runtime.list_instances():
        world.runtime.kill(instance.id, state=InstanceState.DEAD)
    reconciler = Reconciler(world.platform)

    reconciler.run_once()

    assert all(i.running for i in world.runtime.list_instances())
    assert len(world.runtime.of(shop)) == len(world.runtime.of("blog")) == 1
    assert reconciler.passes == 1
    assert reconciler.last_error is None


def test_one_failing_app_is_reported_and_does_not_stop_the_others(
    world: World, shop: str, alice: Principal
) -> None:
    create_app(world.platform, alice, "blog")
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, "blog", "blog:1")
    for instance in world.runtime.list_instances():
        world.runtime.kill(instance.id)
    world.runtime.failing_images.add("blog:1")
    reconciler = Reconciler(world.platform)

    reconciler.run_once()

    assert [i.running for i in world.runtime.of(shop)] == [True]
    assert world.runtime.of("blog") == []
    assert reconciler.last_error is not None
    assert reconciler.last_error.startswith("blog: could not start web instances")
    assert reconciler.passes == 1


def test_an_app_busy_with_a_deploy_is_skipped(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [web] = world.runtime.of(shop)
    world.runtime.kill(web.id)
    world.events.clear()

    with world.platform.strategy.lock(shop):
        Reconciler(world.platform).run_once()

    assert world.events.items == []


def test_warm_start_seeds_routes_from_running_healthy_web_instances(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    change(
        world.platform,
        alice,
        shop,
        [FormationChange("web", quantity=3), FormationChange("worker", quantity=1)],
    )
    healthy, sick, dead = world.runtime.of(shop, "web")
    world.runtime.set_healthy(sick.id, False)
    world.runtime.kill(dead.id)
    stale = world.runtime.start(replace(world.runtime.spec_of(healthy), spec_hash="older"))
    # xae restarts: a new control plane (fresh health memory and route table), same containers
    router = FakeRouter()
    restarted = _restarted(world, router)

    Reconciler(restarted).warm_start()

    assert restarted.routes.upstreams(shop) == [f"{healthy.address}:{healthy.port}"]
    assert router.applied == []  # seeded only; the first apply carries it
    assert restarted.health.get(healthy.id) is True
    assert restarted.health.get(stale.id) is None


def test_warm_start_gives_undeployed_apps_an_empty_route(world: World, shop: str) -> None:
    restarted = _restarted(world, FakeRouter())
    Reconciler(restarted).warm_start()
    assert restarted.routes.apps() == [shop]
    assert restarted.routes.upstreams(shop) == []


def test_after_a_restart_the_first_pass_restarts_nothing_and_reapplies_nothing(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    change(world.platform, alice, shop, [FormationChange("web", quantity=2)])
    before = world.runtime.of(shop)
    router = FakeRouter()
    restarted = _restarted(world, router)
    reconciler = Reconciler(restarted)
    world.events.clear()

    reconciler.warm_start()
    reconciler.run_once()

    assert world.runtime.of(shop) == before
    assert world.events.items == []
    assert router.applied == []  # the router keeps serving the table it had before the restart


def test_after_a_restart_the_first_apply_carries_every_app_that_was_serving(
    world: World, shop: str, alice: Principal
) -> None:
    create_app(world.platform, alice, "blog")
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, "blog", "blog:1")
    [blog] = world.runtime.of("blog")
    [shop_web] = world.runtime.of(shop)
    router = FakeRouter()
    restarted = _restarted(world, router)
    reconciler = Reconciler(restarted)
    reconciler.warm_start()
    world.runtime.kill(shop_web.id)

    reconciler.run_once()

    [fresh] = world.runtime.of(shop)
    assert router.applied[0] and {r.app for r in router.applied[0]} == {shop, "blog"}
    assert router.served() == {
        shop: [f"{fresh.address}:{fresh.port}"],
        "blog": [f"{blog.address}:{blog.port}"],
    }


def test_an_app_created_and_deployed_during_a_pass_is_not_taken_for_deleted(
    world: World, shop: str, alice: Principal
) -> None:
    platform = world.platform
    real_converge = platform.converge_app

    def converge_while_a_user_deploys(name: str, *args: Any, **kwargs: Any) -> bool:
        ran = real_converge(name, *args, **kwargs)
        if name == shop and not world.runtime.of("late"):
            create_app(platform, alice, "late")
            deploy(platform, "late", "late:1")
        return ran

    platform.converge_app = converge_while_a_user_deploys  # type: ignore[method-assign]

    Reconciler(platform).run_once()

    assert len(world.runtime.of("late")) == 1
    assert "late" in world.router.served()


# -- isolation: one app's failure or slowness never delays another's healing ---------------


def _wait_until(condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    pytest.fail(f"timed out waiting for {what}")


def _tick(reconciler: Reconciler) -> bool:
    reconciler.tick()
    return False


def _gate_by_app(world: World, behaviours: dict[str, Callable[[], bool]]) -> None:
    """Health checks of the apps in `behaviours` run that function; others are faked as usual."""
    world.health.by_app.update(behaviours)


def test_a_pass_that_raises_anything_is_caught_for_its_app_and_leaks_no_instance(
    world: World, shop: str, alice: Principal
) -> None:
    create_app(world.platform, alice, "bad")
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, "bad", "bad:1")
    for instance in world.runtime.list_instances():
        world.runtime.kill(instance.id)

    def crash() -> bool:
        raise ValueError("Invalid non-printable ASCII character in URL")

    _gate_by_app(world, {"bad": crash})
    reconciler = Reconciler(world.platform)
    world.events.clear()

    reconciler.run_once(timeout=5)

    assert [i.running for i in world.runtime.of(shop)] == [True]
    assert world.runtime.of("bad") == []  # the instance this pass started was removed
    starts = [e for e in world.events.items if e[0] == "start" and str(e[1]).startswith("bad-")]
    stops = [e for e in world.events.items if e[0] == "stop" and str(e[1]).startswith("bad-")]
    assert len(starts) == 1
    assert starts[0][1] in {e[1] for e in stops}
    failure = reconciler.failures()["bad"]
    assert failure.error.startswith("internal error (ValueError)")
    assert "non-printable" not in failure.error  # unknown exceptions' text is never shown
    assert set(reconciler.failures()) == {"bad"}


def test_a_failing_app_is_reported_until_a_pass_of_it_succeeds(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [web] = world.runtime.of(shop)
    world.runtime.kill(web.id)
    world.runtime.failing_images.add("img:1")
    now = [0.0]
    reconciler = Reconciler(world.platform, clock=lambda: now[0], rand=lambda: 0.0)

    reconciler.run_once(timeout=5)
    now[0] += 60  # past the backoff
    reconciler.run_once(timeout=5)

    failure = reconciler.failures()[shop]
    assert failure.passes == 2
    assert failure.error.startswith("could not start web instances")
    world.runtime.failing_images.clear()
    now[0] += 60
    reconciler.run_once(timeout=5)
    assert reconciler.failures() == {}
    assert reconciler.last_error is None
    assert [i.running for i in world.runtime.of(shop)] == [True]


def test_a_hanging_health_check_of_one_app_does_not_delay_healing_another(
    world: World, shop: str, alice: Principal
) -> None:
    create_app(world.platform, alice, "slow")
    deploy(world.platform, shop, "img:1")
    deploy(world.platform, "slow", "slow:1")
    release = threading.Event()
    _gate_by_app(world, {"slow": lambda: release.wait(10)})
    [slow_web] = world.runtime.of("slow")
    world.runtime.kill(slow_web.id)
    reconciler = Reconciler(world.platform)
    # One worker only: the healthy app gets a thread because the slow pass is past its deadline.
    reconciler.scheduler = AppScheduler(workers=1, max_workers=4, deadline=0.05)
    try:
        reconciler.tick()
        _wait_until(lambda: "slow" in reconciler.scheduler.running(), "the slow app's pass")
        [shop_web] = world.runtime.of(shop)
        world.runtime.kill(shop_web.id)
        killed_at = time.monotonic()

        def served() -> bool:
            running = [f"{i.address}:{i.port}" for i in world.runtime.of(shop) if i.running]
            return bool(running) and world.router.served().get(shop) == running

        _wait_until(
            lambda: _tick(reconciler) or served(), "the healthy app's instance to be replaced"
        )

        assert time.monotonic() - killed_at < 2.0
        [fresh] = world.runtime.of(shop)
        assert world.router.served()[shop] == [f"{fresh.address}:{fresh.port}"]
        assert "slow" in reconciler.scheduler.overdue()
        assert reconciler.scheduler.queued().count("slow") == 0  # never queued twice
    finally:
        release.set()
        reconciler.scheduler.wait_idle(5)
        reconciler.scheduler.stop()


def test_an_app_destroyed_while_its_pass_waited_is_not_a_failure(
    world: World, shop: str, alice: Principal
) -> None:
    reconciler = Reconciler(world.platform)
    reconciler.reconcile_app("gone-meanwhile")
    assert reconciler.failures() == {}


def test_failure_messages_carry_no_control_characters() -> None:
    message = describe(DeployFailed("did not pass GET /a\tb\r\nX: y"))
    assert "\t" not in message and "\r" not in message and "\n" not in message
    assert "/a\\tb\\r\\nX: y" in message


def test_a_probe_of_a_stored_malformed_path_fails_instead_of_raising() -> None:
    prober = Prober(probe_client(httpx.MockTransport(lambda request: httpx.Response(200))))
    instance = Instance(
        id="x",
        name="x",
        app="a",
        process="web",
        release=1,
        spec_hash="h",
        state=InstanceState.RUNNING,
        address="127.0.0.1",
        port=9,
        memory_bytes=1,
        cpus=1.0,
    )
    check = HealthCheck(path="/a\tb\r\n", timeout=0.5, attempts=1, interval=0.0, strict=True)
    assert prober.probe_once(instance, check) is False
