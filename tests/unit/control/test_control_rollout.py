"""Rollouts and self-healing through `Platform.converge_app` on a fake runtime and router.

The order is the point: new web instances start, pass their health check, get the route, and
only then are the old ones drained; a release that never gets healthy leaves the old one serving.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select
from tests.unit.fakes import World, add_build, deploy

from xae.auth.policy import Principal
from xae.control.apps import get_app
from xae.control.formation import FormationChange, change
from xae.control.releases import release_build
from xae.errors import DeployFailed, RuntimeFailure
from xae.runtime.base import Instance
from xae.store.models import Event, Release


def upstream(instance: Instance) -> str:
    return f"{instance.address}:{instance.port}"


def release_statuses(world: World, name: str) -> dict[int, str]:
    with world.db.session() as session:
        app = get_app(session, name)
        rows = session.scalars(select(Release).where(Release.app_id == app.id))
        return {r.version: r.status for r in rows}


def current_version(world: World, name: str) -> int | None:
    with world.db.session() as session:
        release = get_app(session, name).current_release
        return release.version if release else None


def test_a_first_deploy_starts_one_web_instance_and_routes_to_it(world: World, shop: str) -> None:
    version = deploy(world.platform, shop, "img:1")

    [web] = world.runtime.of(shop, "web")
    assert web.release == version == 1
    assert world.runtime.of(shop, "worker") == []
    assert world.router.served() == {shop: [upstream(web)]}
    assert current_version(world, shop) == 1
    assert release_statuses(world, shop) == {1: "succeeded"}
    assert shop in world.runtime.networks


def test_a_route_names_the_app_host_under_the_base_domain(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [route] = world.router.applied[-1]
    assert route.hosts == ["shop.localhost"]


def test_a_rollout_routes_only_to_the_new_instance_then_stops_the_old(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    world.events.clear()

    deploy(world.platform, shop, "img:2")

    [new] = world.runtime.of(shop, "web")
    assert new.id != old.id
    assert new.release == 2
    assert world.runtime.spec_of(new).image == "img:2"
    assert world.router.served() == {shop: [upstream(new)]}
    assert world.events.items == [
        ("start", new.name),
        ("route", shop, (upstream(new),)),
        ("stop", old.name, 7.5),  # drained with the configured grace, after the route moved
    ]
    assert current_version(world, shop) == 2


def test_a_rollout_of_several_web_instances_swaps_the_route_once_before_any_stop(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    change(world.platform, alice, shop, [FormationChange("web", quantity=3)])
    old = {i.name for i in world.runtime.of(shop, "web")}
    world.events.clear()

    deploy(world.platform, shop, "img:2")

    new = world.runtime.of(shop, "web")
    assert len(new) == 3 and not old & {i.name for i in new}
    kinds = world.events.kinds()
    assert kinds == ["start"] * 3 + ["route"] + ["stop"] * 3
    assert world.events.items[3] == ("route", shop, tuple(sorted(upstream(i) for i in new)))
    assert {e[1] for e in world.events.items[4:]} == old


def test_an_unhealthy_release_fails_and_leaves_the_old_one_serving(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    routes_before = list(world.router.applied)
    world.runtime.unhealthy_images.add("img:2")
    world.events.clear()

    with pytest.raises(DeployFailed) as caught:
        deploy(world.platform, shop, "img:2")

    error = caught.value
    assert "did not pass the health check" in error.message
    assert "v1 keeps serving" in error.message
    assert "its last log lines are below" in error.message
    assert error.details["log_tail"] == world.runtime.log_lines
    assert error.details["instance"].startswith("shop-web-")
    assert world.runtime.of(shop) == [old]
    assert world.router.applied == routes_before
    assert world.router.served() == {shop: [upstream(old)]}
    assert world.events.kinds() == ["start", "stop"]  # only the new instance, at once
    assert world.events.items[1][2] == 0
    assert release_statuses(world, shop) == {1: "succeeded", 2: "failed"}
    assert current_version(world, shop) == 1


def test_a_failed_first_deploy_does_not_claim_a_previous_release_serves(
    world: World, shop: str
) -> None:
    world.runtime.unhealthy_images.add("img:1")
    with pytest.raises(DeployFailed) as caught:
        deploy(world.platform, shop, "img:1")
    message = caught.value.message
    assert "keeps serving" not in message
    assert "No earlier release was serving, so the app is not serving yet" in message
    assert "GET / with Host shop.localhost" in message


def test_a_failure_without_log_lines_does_not_point_below(world: World, shop: str) -> None:
    world.runtime.log_lines = []
    world.runtime.unhealthy_images.add("img:1")
    with pytest.raises(DeployFailed) as caught:
        deploy(world.platform, shop, "img:1")
    assert caught.value.details["log_tail"] == []
    assert "below" not in caught.value.message
    assert "it wrote nothing to its log" in caught.value.message


def test_a_failed_rollout_is_in_the_audit_trail(world: World, shop: str) -> None:
    world.runtime.unhealthy_images.add("img:1")
    with pytest.raises(DeployFailed):
        deploy(world.platform, shop, "img:1")
    with world.db.session() as session:
        event = session.scalars(select(Event).where(Event.action == "release.rollout")).one()
        assert (event.target, event.result, event.details["version"]) == (shop, "failed", 1)


def test_a_release_whose_instances_cannot_start_fails_without_touching_the_old(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    world.runtime.failing_images.add("img:2")

    with pytest.raises(DeployFailed, match="could not start web instances"):
        deploy(world.platform, shop, "img:2")

    assert world.runtime.of(shop) == [old]
    assert world.router.served() == {shop: [upstream(old)]}
    assert current_version(world, shop) == 1
    assert release_statuses(world, shop)[2] == "failed"


def test_a_first_deploy_that_is_unhealthy_leaves_the_app_undeployed(
    world: World, shop: str
) -> None:
    world.runtime.unhealthy_images.add("img:1")
    with pytest.raises(DeployFailed):
        deploy(world.platform, shop, "img:1")
    assert world.runtime.of(shop) == []
    assert current_version(world, shop) is None
    assert world.router.served().get(shop, []) == []


def test_converging_an_up_to_date_app_changes_nothing(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    world.events.clear()
    world.platform.converge_app(shop)
    assert world.events.items == []


def test_a_dead_instance_is_removed_and_replaced_on_converge(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [dead] = world.runtime.of(shop, "web")
    world.runtime.kill(dead.id)
    world.events.clear()

    world.platform.converge_app(shop)

    [fresh] = world.runtime.of(shop, "web")
    assert fresh.id != dead.id and fresh.running
    assert fresh.release == dead.release
    assert world.router.served() == {shop: [upstream(fresh)]}
    assert ("stop", dead.name, 0) in world.events.items


def test_a_running_instance_with_another_spec_is_drained(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [web] = world.runtime.of(shop, "web")
    stray = world.runtime.start(replace(world.runtime.spec_of(web), spec_hash="something-old"))
    world.events.clear()

    world.platform.converge_app(shop)

    assert world.runtime.of(shop) == [web]
    assert world.events.items == [("stop", stray.name, 7.5)]
    assert world.router.served() == {shop: [upstream(web)]}


def test_process_types_dropped_from_the_procfile_are_drained(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    change(world.platform, alice, shop, [FormationChange("worker", quantity=2)])
    assert len(world.runtime.of(shop, "worker")) == 2

    deploy(world.platform, shop, "img:2", processes={"web": "python app.py"})

    assert [i.process for i in world.runtime.of(shop)] == ["web"]


def test_an_instance_that_turns_unhealthy_is_taken_out_of_the_route(
    world: World, shop: str, alice: Principal
) -> None:
    deploy(world.platform, shop, "img:1")
    change(world.platform, alice, shop, [FormationChange("web", quantity=2)])
    sick, well = world.runtime.of(shop, "web")
    world.platform.health.mark(sick.id, False)
    world.runtime.set_healthy(sick.id, False)

    world.platform.converge_app(shop)

    assert world.router.served() == {shop: [upstream(well)]}


def test_a_healthy_instance_unknown_to_this_control_plane_is_probed_and_routed(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    [web] = world.runtime.of(shop, "web")
    world.platform.health.forget(web.id)
    world.platform.routes.set(shop, [])

    world.platform.converge_app(shop)

    assert world.router.served() == {shop: [upstream(web)]}
    assert world.platform.health.get(web.id) is True


def test_an_undeployed_app_converges_to_an_empty_route(world: World, shop: str) -> None:
    world.platform.converge_app(shop)
    assert world.router.served() == {shop: []}
    assert world.runtime.of(shop) == []


def test_a_deploy_that_asks_is_told_it_serves_before_the_old_instance_is_drained(
    world: World, shop: str
) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    build_id = add_build(world.platform, shop, "img:2")
    world.events.clear()
    seen: list[tuple[int, int | None, list[object]]] = []

    def serving(version: int) -> None:
        seen.append((version, current_version(world, shop), world.events.kinds()))

    version = release_build(world.platform, "alice", shop, build_id, "Deploy", on_serving=serving)

    [new] = world.runtime.of(shop, "web")
    # Told once the new release is current and routed, with the old instance still running...
    assert seen == [(2, 2, ["start", "route"])]
    # ...and drained, with its grace, before release_build returned.
    assert world.events.items[2:] == [("stop", old.name, 7.5)]
    assert version == 2 and world.router.served() == {shop: [upstream(new)]}
    assert release_statuses(world, shop) == {1: "succeeded", 2: "succeeded"}


def test_a_failed_drain_after_the_answer_is_logged_and_the_new_release_stays_current(
    world: World, shop: str, caplog: pytest.LogCaptureFixture
) -> None:
    deploy(world.platform, shop, "img:1")
    build_id = add_build(world.platform, shop, "img:2")
    told: list[int] = []

    def stop_fails(instance: Instance, grace: float) -> None:
        raise RuntimeFailure(f"stopping {instance.name} failed: the engine hung up")

    world.runtime.stop = stop_fails  # type: ignore[method-assign]
    release_build(world.platform, "alice", shop, build_id, "Deploy", on_serving=told.append)

    assert told == [2]
    assert current_version(world, shop) == 2
    assert release_statuses(world, shop) == {1: "succeeded", 2: "succeeded"}
    assert "draining the instances shop's new release replaced failed" in caplog.text


def test_an_unhealthy_release_is_never_said_to_serve(world: World, shop: str) -> None:
    deploy(world.platform, shop, "img:1")
    [old] = world.runtime.of(shop, "web")
    build_id = add_build(world.platform, shop, "img:2")
    world.runtime.unhealthy_images.add("img:2")
    told: list[int] = []

    with pytest.raises(DeployFailed):
        release_build(world.platform, "alice", shop, build_id, "Deploy", on_serving=told.append)

    assert told == []
    assert world.runtime.of(shop) == [old]
    assert world.router.served() == {shop: [upstream(old)]}
    assert release_statuses(world, shop) == {1: "succeeded", 2: "failed"}
